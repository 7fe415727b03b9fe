package cli_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/rehearsal"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenClock is the fixed instant of the golden runs: every timestamp, the simulators' history,
// the planted commits and so their hashes follow from it.
var goldenClock = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// goldenWorld is a seeded rehearsal world on the fixed clock, with the built-in playbook's
// inputs in files and the environment that points a run at its simulators.
type goldenWorld struct {
	w     *rehearsal.World
	env   map[string]string
	state string
	dir   string   // the input files
	args  []string // the --input and --input-file flags
}

func newGoldenWorld(t *testing.T) *goldenWorld {
	t.Helper()
	fixed := func() time.Time { return goldenClock }
	w, err := rehearsal.Start(t.Context(), rehearsal.Options{Seed: 11, Dir: t.TempDir(), Clock: fixed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	g := &goldenWorld{w: w, env: map[string]string{}, state: t.TempDir()}
	for k, v := range w.Handle().Env {
		g.env[k] = v
	}
	g.env["RESPOND_STATE_DIR"] = g.state
	inputs := map[string]any{}
	for _, name := range w.InputNames() {
		if name != "key" {
			inputs[name], _ = w.Input(name)
		}
	}
	b, err := yaml.Marshal(inputs)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g.dir = dir
	inputFile, keyFile := filepath.Join(dir, "inputs.yaml"), filepath.Join(dir, "key")
	if err := os.WriteFile(inputFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(w.LeakedKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.args = []string{"--input-file", inputFile, "--input", "key=@" + keyFile}
	return g
}

// respond runs the CLI in-process on the fixed clock.
func (g *goldenWorld) respond(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	f := &cli.Factory{
		IO:     cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb},
		Getenv: func(k string) string { return g.env[k] },
		Now:    func() time.Time { return goldenClock },
	}
	code := cli.Main(t.Context(), append([]string{"respond"}, args...), f)
	return result{code, out.String(), errb.String()}
}

// The terminal output of a plan and of a run of the built-in playbook, and the Markdown report
// of that run, are what an on-call engineer reads: a change to them shows up here as a diff to
// review. Rewrite with `go test ./internal/cli -run TestGolden -update`.
func TestGoldenRunPlanAndReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built-in playbook twice against the simulators")
	}
	g := newGoldenWorld(t)
	plan := g.respond(t, append(append([]string{"plan"}, g.args...), "openai-key-leak")...)
	if plan.code != 0 {
		t.Fatalf("plan: exit %d\n%s", plan.code, plan.stderr)
	}
	run := g.respond(t, append(append([]string{"run", "--yes"}, g.args...), "openai-key-leak")...)
	if run.code != 0 {
		t.Fatalf("run: exit %d\n%s", run.code, run.stderr)
	}
	m := runIDLineRe.FindStringSubmatch(run.stdout)
	if m == nil {
		t.Fatalf("run: no run ID in\n%s", run.stdout)
	}
	report := g.respond(t, "runs", "report", m[1])
	if report.code != 0 {
		t.Fatalf("runs report: exit %d\n%s", report.code, report.stderr)
	}
	norm := g.normalizer()
	for _, c := range []struct{ file, got string }{
		{"plan.txt", terminal(plan, norm)},
		{"run.txt", terminal(run, norm)},
		{"report.md", sortConcurrent(norm(report.stdout))},
	} {
		t.Run(c.file, func(t *testing.T) { golden(t, filepath.Join("testdata", "golden", c.file), c.got) })
	}
}

// terminal is what a person sees: the progress on stderr, then the summary on stdout.
func terminal(r result, norm func(string) string) string {
	return "--- stderr\n" + sortConcurrent(norm(r.stderr)) + "--- stdout\n" + norm(r.stdout)
}

var (
	fingerprintRe = regexp.MustCompile(`#[0-9a-f]{6}\b`)
	runIDRe       = regexp.MustCompile(`(\d{8}T\d{6}Z)-[0-9a-f]{6}\b`)
	loopbackRe    = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	runIDLineRe   = regexp.MustCompile(`run (\S+): succeeded`)
)

// normalizer replaces what differs from one run to the next and nothing else: the temporary
// directories, the random part of the run ID, the fingerprints (keyed per state directory) and
// the simulators' ports.
func (g *goldenWorld) normalizer() func(string) string { return g.normalizerFor(g.w.Dir) }

func (g *goldenWorld) normalizerFor(world string) func(string) string {
	return func(s string) string {
		s = strings.ReplaceAll(s, world, "$WORLD")
		s = strings.ReplaceAll(s, g.state, "$STATE")
		s = strings.ReplaceAll(s, g.dir, "$INPUTS")
		// The purge names its work directory after the repository's path.
		s = strings.ReplaceAll(s, strings.ReplaceAll(strings.TrimPrefix(world, "/"), "/", "_"), "WORLD")
		s = runIDRe.ReplaceAllString(s, "$1-RUNID")
		s = fingerprintRe.ReplaceAllString(s, "#FPRINT")
		return loopbackRe.ReplaceAllString(s, "127.0.0.1:PORT")
	}
}

// concurrentRe matches the progress lines whose order is not fixed: preflight checks run
// concurrently, and the Slack sink posts the run's message while the run goes on.
var concurrentRe = regexp.MustCompile(`precondition: |progress posted in Slack|preflight`)

// sortConcurrent moves the lines whose order depends on goroutine scheduling to a sorted block
// at the end, so the golden fixes what they say and the order of everything else.
func sortConcurrent(s string) string {
	var fixed, moved []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if concurrentRe.MatchString(l) {
			moved = append(moved, l)
		} else {
			fixed = append(fixed, l)
		}
	}
	slices.Sort(moved)
	if len(moved) == 0 {
		return strings.Join(fixed, "")
	}
	return strings.Join(fixed, "") + "--- concurrent lines, sorted\n" + strings.Join(moved, "")
}

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if string(want) == got {
		return
	}
	// Line by line: a changed line reads as itself, not as a run of changed characters.
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	at := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return "(no line)"
	}
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 10; i++ {
		if at(wl, i) != at(gl, i) {
			t.Errorf("%s:%d\nwant %s\ngot  %s", path, i+1, at(wl, i), at(gl, i))
			shown++
		}
	}
	t.Log("if the change is intended, rerun with -update and review the diff")
}

// A rehearsal's terminal output, with its verifications, and its Markdown report, for a real
// run and a dry run (the dry-run proof). The Slack transcript goes to a file: how many times the
// sink edited the message depends on timing.
func TestGoldenRehearsal(t *testing.T) {
	if testing.Short() {
		t.Skip("rehearses the built-in playbook twice")
	}
	for _, tc := range []struct{ name, flag string }{{"rehearse", ""}, {"rehearse-dry-run", "--dry-run"}} {
		t.Run(tc.name, func(t *testing.T) {
			g := &goldenWorld{env: map[string]string{}, state: t.TempDir(), dir: t.TempDir()}
			g.env["RESPOND_STATE_DIR"] = g.state
			world, report := filepath.Join(g.dir, "world"), filepath.Join(g.dir, "report.md")
			args := []string{"rehearse", "--seed", "11", "--dir", world, "--report", report,
				"--slack-transcript", filepath.Join(g.dir, "slack.txt")}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			r := g.respond(t, append(args, "openai-key-leak")...)
			if r.code != 0 {
				t.Fatalf("rehearse: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			md, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			norm := g.normalizerFor(world)
			golden(t, filepath.Join("testdata", "golden", tc.name+".txt"), terminal(r, norm))
			golden(t, filepath.Join("testdata", "golden", tc.name+".md"), sortConcurrent(norm(string(md))))
		})
	}
}
