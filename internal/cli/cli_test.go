package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/journal"
)

type result struct {
	code           int
	stdout, stderr string
}

// respond runs the CLI in-process with an isolated state directory and environment.
func respond(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["RESPOND_STATE_DIR"]; !ok {
		env["RESPOND_STATE_DIR"] = t.TempDir()
	}
	f := &cli.Factory{
		IO:     cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb},
		Getenv: func(k string) string { return env[k] },
	}
	code := cli.Main(t.Context(), append([]string{"respond"}, args...), f)
	return result{code, out.String(), errb.String()}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const echoPlaybook = `name: echo
inputs:
  key: {description: the leaked key, secret: true, required: true}
  note: {description: a note, required: true}
  tags: {type: list, default: [a]}
steps:
  - id: say
    uses: exec
    with:
      argv: [echo, "{{ .inputs.note }} {{ join \",\" .inputs.tags }}"]
`

func TestSecretInputOnCommandLineIsRefused(t *testing.T) {
	pb := writeFile(t, "p.yaml", echoPlaybook)
	key := fakekey.New(7).OpenAIProjectKey()
	r := respond(t, nil, "", "run", "--input", "key="+key, "--input", "note=x", pb)
	if r.code != cli.ExitUsage {
		t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `input "key" is secret and was given on the command line`) ||
		!strings.Contains(r.stderr, "key=@FILE") {
		t.Errorf("stderr does not explain why and how:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, key) {
		t.Error("the refused secret was printed")
	}
}

func TestInputSources(t *testing.T) {
	key := fakekey.New(8).OpenAIProjectKey()
	keyFile := writeFile(t, "key.txt", key+"\n")
	inputFile := writeFile(t, "in.yaml", "note: from-file\ntags: [x, y]\n")
	pb := writeFile(t, "p.yaml", echoPlaybook)
	tests := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		want  string
	}{
		{"@file and arg", nil, "", []string{"--input", "key=@" + keyFile, "--input", "note=hello"}, "hello a"},
		{"stdin", nil, key + "\n", []string{"--input", "key=-", "--input", "note=hi", "--input", "tags=p,q"}, "hi p,q"},
		{"input file", nil, "", []string{"--input", "key=@" + keyFile, "--input-file", inputFile}, "from-file x,y"},
		{"environment", map[string]string{"RESPOND_INPUT_KEY": key, "RESPOND_INPUT_NOTE": "envnote"}, "", nil, "envnote a"},
		{"arg beats env", map[string]string{"RESPOND_INPUT_KEY": key, "RESPOND_INPUT_NOTE": "envnote"}, "", []string{"--input", "note=argnote"}, "argnote a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run", "--output", "json"}, tt.args...), pb)
			r := respond(t, tt.env, tt.stdin, args...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			var sum struct {
				Steps []struct {
					Outputs map[string]any `json:"outputs"`
				} `json:"steps"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
				t.Fatalf("json: %v\n%s", err, r.stdout)
			}
			if got := strings.TrimSpace(sum.Steps[0].Outputs["stdout"].(string)); got != tt.want {
				t.Errorf("stdout %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMissingAndUnknownInputsAreNamed(t *testing.T) {
	pb := writeFile(t, "p.yaml", echoPlaybook)
	r := respond(t, nil, "", "run", pb)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "missing required inputs") ||
		!strings.Contains(r.stderr, "key: the leaked key") || !strings.Contains(r.stderr, "note: a note") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	r = respond(t, nil, "", "run", "--input", "nope=1", pb)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, `has no input "nope" (it has: key, note, tags)`) {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	fail := writeFile(t, "fail.yaml", "name: f\nsteps:\n  - {id: a, uses: exec, with: {argv: [false]}}\n")
	gated := writeFile(t, "gated.yaml", "name: g\nsteps:\n  - {id: a, uses: exec, approval: true, with: {argv: [true]}}\n")
	bad := writeFile(t, "bad.yaml", "name: b\nsteps:\n  - {id: a, uses: nope}\n")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"ok", []string{"run", "--yes", gated}, cli.ExitOK},
		{"step failed", []string{"run", fail}, cli.ExitStepFailed},
		{"approval impossible without a terminal", []string{"run", gated}, cli.ExitDenied},
		{"invalid playbook", []string{"run", bad}, cli.ExitUsage},
		{"unknown flag", []string{"run", "--bogus", gated}, cli.ExitUsage},
		{"unknown playbook", []string{"run", "no-such-playbook"}, cli.ExitUsage},
		{"plan needs no approval", []string{"plan", gated}, cli.ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := respond(t, nil, "", tt.args...)
			if r.code != tt.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.want, r.stdout, r.stderr)
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, cmd := range [][]string{{"run"}, {"plan"}, {"validate"}, {"playbooks", "list"}, {"playbooks", "show"},
		{"runs", "list"}, {"runs", "show"}, {"runs", "verify"}, {"resume"}, {"version"}, {"rehearse"}, {"rollback"},
		{"scan", "git"}, {"scan", "logs"}, {"purge"}, {"serve"}, {"playbooks", "kinds"}, {"runs", "report"}} {
		r := respond(t, nil, "", append(cmd, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "USAGE") {
			t.Errorf("%v --help: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
}

func TestRunsListShowVerify(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	pb := writeFile(t, "p.yaml", "name: p\nsteps:\n  - {id: a, uses: exec, with: {argv: [echo, hi]}}\n")
	if r := respond(t, env, "", "run", pb); r.code != 0 {
		t.Fatal(r.stderr)
	}
	runs, err := journal.List(state)
	if err != nil || len(runs) != 1 {
		t.Fatalf("%v %v", runs, err)
	}
	id := runs[0].RunID
	if r := respond(t, env, "", "runs", "list"); !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "succeeded") {
		t.Errorf("runs list:\n%s", r.stdout)
	}
	if r := respond(t, env, "", "runs", "show", id); !strings.Contains(r.stdout, "a                  ok") {
		t.Errorf("runs show:\n%s", r.stdout)
	}
	if r := respond(t, env, "", "runs", "verify", id); r.code != 0 || !strings.Contains(r.stdout, "hash chain intact") {
		t.Errorf("runs verify: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// Tamper with one line: verify must fail and say where.
	path := journal.Path(state, id)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(`"echo exited 0`), []byte(`"echo exited 1`), 1), 0o600)
	if r := respond(t, env, "", "runs", "verify", id); r.code == 0 || !strings.Contains(r.stderr, "hash chain broken") {
		t.Errorf("tampered journal verified: %d %s", r.code, r.stderr)
	}
}

// respondB is respond for benchmarks.
func respondB(b *testing.B, env map[string]string, args ...string) result {
	b.Helper()
	var out, errb bytes.Buffer
	f := &cli.Factory{
		IO:     cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb},
		Getenv: func(k string) string { return env[k] },
	}
	code := cli.Main(b.Context(), append([]string{"respond"}, args...), f)
	return result{code, out.String(), errb.String()}
}

func writeBenchFile(b *testing.B, path, content string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
}

func TestCLIConventions(t *testing.T) {
	pb := writeFile(t, "p.yaml", "name: p\ninputs:\n  note: {description: a note, required: true}\nsteps:\n  - {id: a, uses: exec, with: {argv: [echo, \"said {{ .inputs.note }}\"]}}\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"flags after the playbook", []string{"run", pb, "--input", "note=hello"}, cli.ExitOK, "said hello"},
		{"did you mean a command", []string{"reherse"}, cli.ExitUsage, `Did you mean "rehearse"?`},
		{"did you mean a subcommand", []string{"runs", "lst"}, cli.ExitUsage, `Did you mean "list"?`},
		{"did you mean a flag", []string{"rehearse", "--sed", "3", "openai-key-leak"}, cli.ExitUsage, `Did you mean "--seed"?`},
		{"--version", []string{"--version"}, cli.ExitOK, "respond version"},
		{"completion bash", []string{"completion", "bash"}, cli.ExitOK, "complete -o bashdefault"},
		{"completion zsh", []string{"completion", "zsh"}, cli.ExitOK, "#compdef respond"},
		{"completion fish", []string{"completion", "fish"}, cli.ExitOK, "complete -c respond"},
		{"completion needs a shell", []string{"completion", "tcsh"}, cli.ExitUsage, `unknown shell "tcsh"`},
		{"playbooks list as JSON", []string{"playbooks", "list", "-o", "json"}, cli.ExitOK, `"name": "openai-key-leak"`},
		{"playbooks show as JSON", []string{"playbooks", "show", "openai-key-leak", "--output", "json"}, cli.ExitOK, `"secret": true`},
		{"kinds as JSON", []string{"playbooks", "kinds", "-o", "json"}, cli.ExitOK, `"mutating": true`},
		{"unknown output format", []string{"playbooks", "list", "-o", "yaml"}, cli.ExitUsage, `--output must be text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := respond(t, nil, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.contains) {
				t.Errorf("exit %d (want %d), want %q in output\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, tt.contains, r.stdout, r.stderr)
			}
		})
	}
}

func TestRunIDsLastAndPrefixes(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	pb := writeFile(t, "p.yaml", "name: p\nsteps:\n  - {id: a, uses: exec, with: {argv: [echo, hi]}}\n")
	for range 2 {
		if r := respond(t, env, "", "run", pb); r.code != 0 {
			t.Fatal(r.stderr)
		}
	}
	runs, err := journal.List(state)
	if err != nil || len(runs) != 2 {
		t.Fatalf("%v %v", runs, err)
	}
	newest := runs[0].RunID
	if r := respond(t, env, "", "runs", "verify", "last"); r.code != 0 || !strings.Contains(r.stdout, newest+": ok") {
		t.Errorf("verify last: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := respond(t, env, "", "runs", "show", newest[:len(newest)-3], "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `"run_id":"`+newest+`"`) {
		t.Errorf("show by unique prefix as JSON: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := respond(t, env, "", "runs", "show", "2"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "matches several runs") {
		t.Errorf("ambiguous prefix: %d %s", r.code, r.stderr)
	}
	if r := respond(t, env, "", "runs", "show", "1999"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, `no run "1999"`) {
		t.Errorf("unknown run: %d %s", r.code, r.stderr)
	}
	if r := respond(t, env, "", "runs", "show", "../x"); r.code != cli.ExitUsage {
		t.Errorf("a path as run ID: %d %s", r.code, r.stderr)
	}
	r := respond(t, env, "", "runs", "list", "--output", "json")
	var listed []journal.Summary
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 2 || listed[0].RunID != newest {
		t.Errorf("runs list -o json: %v\n%s", err, r.stdout)
	}
	if r := respond(t, env, "", "runs", "list"); !strings.Contains(r.stdout, " UTC ") {
		t.Errorf("runs list does not show the zone:\n%s", r.stdout)
	}
}
