package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/runner"
)

const temporalPlaybook = `name: on-temporal
inputs:
  fail: {type: bool, default: false}
steps:
  - id: first
    uses: exec
    with:
      argv: [echo, first]
  - id: gated
    uses: exec
    approval: {required: true, message: "go on?"}
    with:
      argv: [sh, -c, 'echo gated; test "$F" != true']
      env: {F: "{{ .inputs.fail }}"}
  - id: last
    uses: exec
    with:
      argv: [echo, last]
`

// normalizeRun keeps what a person reads of a run and drops what differs between two runs:
// times, durations, run IDs, where the journal is, and the line saying where the run was sent.
func normalizeRun(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "submitted to Temporal") {
			continue
		}
		keep = append(keep, l)
	}
	out = strings.Join(keep, "\n")
	for _, r := range []struct{ re, with string }{
		{`\d\d:\d\d:\d\d\.\d{3}`, "TIME"},
		{`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`, "DATE"},
		{`\d{8}T\d{6}Z-[0-9a-f]{6}`, "RUN"},
		{`\d+(\.\d+)?m?s\b`, "DUR"},
		{`Journal: \S+`, "Journal: J"},
	} {
		out = regexp.MustCompile(r.re).ReplaceAllString(out, r.with)
	}
	return strings.TrimSpace(out)
}

// A run submitted with --temporal prints what the same run prints locally, and exits with the
// same code: succeeded, a failed step, an approval nobody could give.
func TestRunOnTemporalPrintsWhatALocalRunPrints(t *testing.T) {
	addr := temporalServer(t)
	key := temporalKey(t)
	queue := "cli-" + runner.NewRunID(time.Now())
	state := t.TempDir()
	env := []string{"RESPOND_STATE_DIR=" + state, "RESPOND_TEMPORAL_KEY=" + key, "RESPOND_USER=oncall"}
	startWorker(t, env, "--temporal", addr, "--task-queue", queue)
	pb := writeFile(t, "on-temporal.yaml", temporalPlaybook)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"approved with --yes", []string{"--yes"}, 0},
		{"a step fails", []string{"--yes", "--input", "fail=true"}, 1},
		{"nobody to approve", nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lcode, local := runBinary(t, env, append([]string{"run", pb}, tt.args...)...)
			// The address from the environment, as a deployment sets it.
			tcode, remote := runBinary(t, append(env, "RESPOND_TEMPORAL_ADDRESS="+addr),
				append([]string{"run", "--task-queue", queue, pb}, tt.args...)...)
			if lcode != tt.code || tcode != tt.code {
				t.Fatalf("exit codes: local %d, temporal %d, want %d\nlocal:\n%s\ntemporal:\n%s", lcode, tcode, tt.code, local, remote)
			}
			if diff := cmp.Diff(normalizeRun(local), normalizeRun(remote)); diff != "" {
				t.Errorf("terminal output (-local +temporal):\n%s", diff)
			}
			if !strings.Contains(remote, "submitted to Temporal at "+addr) {
				t.Errorf("the run does not say where it went:\n%s", remote)
			}
		})
	}
}

// Without the payload key nothing talks to Temporal: a history in clear is not an option.
func TestTemporalRefusesToStartWithoutItsKey(t *testing.T) {
	pb := writeFile(t, "on-temporal.yaml", temporalPlaybook)
	for _, args := range [][]string{
		{"worker", "--temporal", "127.0.0.1:1"},
		{"run", "--temporal", "127.0.0.1:1", "--yes", pb},
		{"runs", "list", "--temporal", "127.0.0.1:1"},
	} {
		code, out := runBinary(t, []string{"RESPOND_STATE_DIR=" + t.TempDir(), "RESPOND_TEMPORAL_KEY="}, args...)
		if code != 2 || !strings.Contains(out, "RESPOND_TEMPORAL_KEY is not set") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// A run that failed on Temporal because its worker lacked a credential (here a file in the
// worker's HOME) is continued by `resume --temporal` once a worker has it: the failed step runs
// again, the step that succeeded does not, and the exit code is the resumed run's.
func TestResumeOnTemporalContinuesAFailedRun(t *testing.T) {
	addr := temporalServer(t)
	queue := "cli-" + runner.NewRunID(time.Now())
	dir := t.TempDir()
	ledger, bare, equipped := filepath.Join(dir, "ledger"), filepath.Join(dir, "bare"), filepath.Join(dir, "equipped")
	for _, d := range []string{bare, equipped} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(equipped, "credential"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"RESPOND_STATE_DIR=" + t.TempDir(), "RESPOND_TEMPORAL_KEY=" + temporalKey(t), "RESPOND_USER=oncall",
		"RESPOND_TEMPORAL_ADDRESS=" + addr}
	pb := writeFile(t, "fixable.yaml", `name: fixable
inputs:
  ledger: {required: true}
steps:
  - id: first
    uses: exec
    with:
      argv: [sh, -c, 'echo first >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
  - id: needy
    uses: exec
    with:
      argv: [sh, -c, 'test -f "$HOME/credential" && echo needy >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
`)
	w := startWorker(t, append(env, "HOME="+bare), "--task-queue", queue)
	code, out := runBinary(t, env, "run", "--task-queue", queue, "--input", "ledger="+ledger, pb)
	runID := regexp.MustCompile(`run (\d{8}T\d{6}Z-[0-9a-f]{6}) submitted`).FindStringSubmatch(out)
	if code != 1 || runID == nil {
		t.Fatalf("first run: exit %d, want 1 (the step lacks its credential)\n%s\nworker:\n%s", code, out, w.out.String())
	}
	_ = w.cmd.Process.Kill()
	err := <-w.done
	w.done <- err
	startWorker(t, append(env, "HOME="+equipped), "--task-queue", queue)
	code, out = runBinary(t, env, "resume", "--temporal", addr, "--task-queue", queue, runID[1])
	if code != 0 || !strings.Contains(out, "resumed on Temporal") {
		t.Fatalf("resume: exit %d, want 0\n%s", code, out)
	}
	b, _ := os.ReadFile(ledger)
	if got := strings.Join(strings.Fields(string(b)), " "); got != "first needy" {
		t.Errorf("ledger %q, want each step's line once", got)
	}
	if code, out = runBinary(t, env, "resume", "--temporal", addr, "--task-queue", queue, runID[1]); code != 0 {
		t.Errorf("resuming the succeeded run again: exit %d, want its summary\n%s", code, out)
	}
	if b2, _ := os.ReadFile(ledger); string(b2) != string(b) {
		t.Errorf("resuming a succeeded run ran steps again: %q", b2)
	}
}
