package playbook_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/catalog"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/playbooks")

// repoRoot is where the shared playbook corpus lives. Files are named to the loader relative to
// it (testdata/playbooks/bad/NAME.yaml), so the goldens read the same as `respond validate` run
// from the checkout's root.
const repoRoot = "../.."

// corpus lists testdata/playbooks/DIR/*.yaml as names relative to repoRoot.
func corpus(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "playbooks", dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no playbooks in testdata/playbooks/%s", dir)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = filepath.ToSlash(rel)
	}
	return names
}

func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// golden compares got with NAME.golden next to NAME.yaml, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(repoRoot, filepath.FromSlash(strings.TrimSuffix(name, ".yaml")+".golden"))
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/playbook -run TestGolden -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, diff)
	}
}

var headRe = regexp.MustCompile(`^([^:]+):(\d+):(\d+): \S`)

// checkErrors asserts the shape every load error must have, whatever the input: a non-empty
// playbook.Errors whose every entry is positioned inside file and renders as file:line:col: msg.
func checkErrors(t testing.TB, file string, err error) playbook.Errors {
	t.Helper()
	var pe playbook.Errors
	if !errors.As(err, &pe) {
		t.Fatalf("Load(%q) error is %T, want playbook.Errors: %v", file, err, err)
	}
	if len(pe) == 0 {
		t.Fatalf("Load(%q) returned empty playbook.Errors", file)
	}
	for _, e := range pe {
		if e.File != file || e.Line < 1 || e.Col < 1 {
			t.Errorf("Load(%q): entry at %q:%d:%d, want the file and a position >= 1: %s", file, e.File, e.Line, e.Col, e.Msg)
		}
		if strings.TrimSpace(e.Msg) == "" {
			t.Errorf("Load(%q): entry at %d:%d has an empty message", file, e.Line, e.Col)
		}
		head, _, _ := strings.Cut(e.Error(), "\n")
		if want := fmt.Sprintf("%s:%d:%d: ", file, e.Line, e.Col); !strings.HasPrefix(head, want) || !headRe.MatchString(head) {
			t.Errorf("Load(%q): entry renders as %q, want it to start with %q", file, head, want)
		}
	}
	return pe
}

// knownBugs reads testdata/playbooks/bad/KNOWN-BUGS: bad playbooks the loader still accepts,
// by base name, with why.
func knownBugs(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "playbooks", "bad", "KNOWN-BUGS"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, why, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("KNOWN-BUGS: %q is not NAME: why", line)
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(why)
	}
	return out
}

func TestGoldenBad(t *testing.T) {
	t.Parallel()
	bugs := knownBugs(t)
	for _, name := range corpus(t, "bad") {
		base := strings.TrimSuffix(filepath.Base(name), ".yaml")
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			src := readCorpus(t, name)
			pb, err := playbook.Load(name, src, catalog.Lookup)
			if why, known := bugs[base]; known {
				if err != nil {
					t.Fatalf("Load(%q) now fails: remove %s from KNOWN-BUGS and run with -update:\n%v", name, base, err)
				}
				t.Skipf("known loader bug: %s", why)
			}
			if err == nil {
				t.Fatalf("Load(%q) = %q, nil; want an error", name, pb.Name)
			}
			if pb != nil {
				t.Errorf("Load(%q) returned a playbook with its error", name)
			}
			pe := checkErrors(t, name, err)
			seen := map[string]bool{}
			for _, e := range pe {
				if key := fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg); seen[key] {
					t.Errorf("Load(%q) reports %q twice", name, key)
				} else {
					seen[key] = true
				}
			}
			if !slices.IsSortedFunc(pe, func(a, b *playbook.Error) int {
				if a.Line != b.Line {
					return a.Line - b.Line
				}
				return a.Col - b.Col
			}) {
				t.Errorf("Load(%q) errors are not in source order", name)
			}
			golden(t, name, err.Error()+"\n")
		})
	}
}

func TestGoldenGood(t *testing.T) {
	t.Parallel()
	for _, name := range corpus(t, "good") {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".yaml"), func(t *testing.T) {
			t.Parallel()
			src := readCorpus(t, name)
			pb, err := playbook.Load(name, src, catalog.Lookup)
			if err != nil {
				t.Fatalf("Load(%q):\n%v", name, err)
			}
			if pb.File != name || string(pb.Source) != string(src) {
				t.Errorf("Load(%q) kept File %q and %d bytes of source", name, pb.File, len(pb.Source))
			}
			golden(t, name, describe(pb))
		})
	}
}

// TestNoOrphanGoldens catches a golden left behind when its playbook was renamed or removed.
func TestNoOrphanGoldens(t *testing.T) {
	t.Parallel()
	goldens, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "playbooks", "*", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".yaml"); err != nil {
			t.Errorf("%s has no playbook: %v", g, err)
		}
	}
}

// TestLoadIsDeterministic guards the goldens: the same file must give the same text every time
// (map iteration must not leak into the order or the wording of errors).
func TestLoadIsDeterministic(t *testing.T) {
	t.Parallel()
	for _, name := range slices.Concat(corpus(t, "bad"), corpus(t, "good")) {
		src := readCorpus(t, name)
		first := loadText(name, src)
		for range 5 {
			if again := loadText(name, src); again != first {
				t.Fatalf("Load(%q) is not deterministic:\n%s\n---\n%s", name, first, again)
			}
		}
	}
}

func loadText(name string, src []byte) string {
	pb, err := playbook.Load(name, src, catalog.Lookup)
	if err != nil {
		return err.Error()
	}
	return describe(pb)
}

// TestErrorsListEveryProblem pins, independently of the goldens' wording, that one file with
// many problems reports each of them rather than stopping at the first.
func TestErrorsListEveryProblem(t *testing.T) {
	t.Parallel()
	const name = "testdata/playbooks/bad/multiple-errors.yaml"
	src := readCorpus(t, name)
	_, err := playbook.Load(name, src, catalog.Lookup)
	got := map[int]int{}
	for _, e := range checkErrors(t, name, err) {
		got[e.Line]++
	}
	// Line of each planted problem: how many problems it holds.
	want := map[int]int{
		2:  1, // name with capitals
		4:  1, // secret input with a default
		5:  1, // input name with a dash
		7:  1, // empty slack channel
		10: 1, // uess
		13: 1, // timeout without unit
		14: 2, // attempts 0, backoff linear
		15: 1, // on_failure ignore
		17: 1, // argv a string
		18: 1, // env a list
		19: 1, // duplicate id
		22: 3, // undeclared input, later step, undeclared output
		24: 1, // unknown kind
	}
	for line, n := range want {
		if got[line] < n {
			t.Errorf("line %d: %d errors reported, want %d", line, got[line], n)
		}
	}
	if t.Failed() {
		t.Logf("all errors:\n%v", err)
	}
}

// describe renders what the loader understood of a playbook, so the good goldens show that every
// option was read (an approval written `true` is required, defaults are typed, and so on).
func describe(pb *playbook.Playbook) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", pb.Name)
	if pb.Description != "" {
		fmt.Fprintf(&b, "description: %q\n", pb.Description)
	}
	if pb.Notify.SlackChannel != "" {
		fmt.Fprintf(&b, "notify.slack.channel: %s\n", pb.Notify.SlackChannel)
	}
	for _, in := range pb.Inputs {
		fmt.Fprintf(&b, "input %s (line %d): type=%s secret=%t required=%t default=%#v", in.Name, in.Line, in.Type, in.Secret, in.Required, in.Default)
		if in.Description != "" {
			fmt.Fprintf(&b, " description=%q", in.Description)
		}
		b.WriteString("\n")
	}
	for _, s := range pb.Steps {
		fmt.Fprintf(&b, "step %s (%d:%d): uses=%s kind=%s with=%t", s.ID, s.Line, s.Col, s.Uses, s.Kind.Name, s.With != nil)
		if s.If != "" {
			fmt.Fprintf(&b, " if=%q@%d:%d", s.If, s.IfLine, s.IfCol)
		}
		r := s.Retry
		fmt.Fprintf(&b, " retry={%d %s %s %s}", r.Attempts, r.Backoff, r.Delay, r.MaxDelay)
		if s.Timeout != 0 {
			fmt.Fprintf(&b, " timeout=%s", s.Timeout)
		}
		fmt.Fprintf(&b, " on_failure=%s", s.OnFailure)
		if a := s.Approval; a != nil {
			fmt.Fprintf(&b, " approval={required=%t approvers=%q message=%q timeout=%s two_person=%t}", a.Required, a.Approvers, a.Message, a.Timeout, a.TwoPerson)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestGoodPlaybooksRender binds every step of every good playbook against plausible run data, so
// a "good" file is one that also runs: templates the loader accepted must render, and `if` must
// come out true or false.
func TestGoodPlaybooksRender(t *testing.T) {
	t.Parallel()
	for _, name := range corpus(t, "good") {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".yaml"), func(t *testing.T) {
			t.Parallel()
			pb, err := playbook.Load(name, readCorpus(t, name), catalog.Lookup)
			if err != nil {
				t.Fatal(err)
			}
			d := playbook.Data{
				Inputs: map[string]any{},
				Steps:  map[string]playbook.StepData{},
				Run:    playbook.RunData{ID: "run-1", Playbook: pb.Name, Mode: "run"},
			}
			for _, in := range pb.Inputs {
				d.Inputs[in.Name] = map[string]any{"string": "v", "list": []any{"a", "b"}, "bool": true, "number": 1.5}[in.Type]
			}
			for _, s := range pb.Steps {
				if err := playbook.Bind(name, s, d, s.Kind.New(), true); err != nil {
					t.Errorf("step %s, inputs only: %v", s.ID, err)
				}
				step := s.Kind.New()
				if err := playbook.Bind(name, s, d, step, false); err != nil {
					t.Errorf("step %s: %v", s.ID, err)
				} else if v, ok := step.(steps.Validator); ok {
					if err := v.Validate(); err != nil {
						t.Errorf("step %s rendered to invalid parameters: %v", s.ID, err)
					}
				}
				if s.If != "" {
					if _, err := playbook.EvalIf(name, s, d); err != nil {
						t.Errorf("step %s: %v", s.ID, err)
					}
				}
				d.Steps[s.ID] = playbook.StepData{Status: "ok", Outputs: map[string]any{"stdout": "out\n", "exit_code": 0}}
			}
		})
	}
}

// The CLI lists the known kinds for "did you mean" hints; the goldens must read the same.
func init() { playbook.KindNames = catalog.Names }
