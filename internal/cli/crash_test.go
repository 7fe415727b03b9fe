package cli_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/journal"
)

// The side-effect playbook: each step appends its name to a ledger file exactly once when run
// once; `check` tells a resumed run whether the append already happened.
const ledgerPlaybook = `name: ledger
inputs:
  ledger: {required: true}
steps:
  - id: first
    uses: exec
    with:
      argv: [sh, -c, 'echo first >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
      check: [grep, -qx, first, "{{ .inputs.ledger }}"]
  - id: effect
    uses: exec
    with:
      argv: [sh, -c, 'echo effect >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
      check: [grep, -qx, effect, "{{ .inputs.ledger }}"]
  - id: last
    uses: exec
    with:
      argv: [sh, -c, 'echo last >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
      check: [grep, -qx, last, "{{ .inputs.ledger }}"]
`

func runBinary(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal()), out.String()
		}
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("run respond: %v", err)
	return 0, ""
}

func TestCrashAndResumeDoEachSideEffectOnce(t *testing.T) {
	tests := []struct {
		name       string
		crashAfter string
		ledger     []string // what the ledger holds right after the crash
	}{
		{"after the intent, before the effect", "step.intent:effect", []string{"first"}},
		{"after the effect, before its result", "step.log:effect", []string{"first", "effect"}},
		{"at a step boundary", "step.succeeded:first", []string{"first"}},
		{"before the last result", "step.log:last", []string{"first", "effect", "last"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state := t.TempDir()
			ledger := filepath.Join(t.TempDir(), "ledger")
			pb := writeFile(t, "ledger.yaml", ledgerPlaybook)
			env := []string{"RESPOND_STATE_DIR=" + state}

			code, out := runBinary(t, append(env, "RESPOND_TEST_CRASH_AFTER="+tt.crashAfter), "run", "--input", "ledger="+ledger, pb)
			if code != -int(syscall.SIGKILL) {
				t.Fatalf("the run was not killed (exit %d):\n%s", code, out)
			}
			if diff := cmp.Diff(tt.ledger, readLines(t, ledger)); diff != "" {
				t.Fatalf("ledger after crash (-want +got):\n%s", diff)
			}
			runs, err := journal.List(state)
			if err != nil || len(runs) != 1 || runs[0].Status != "interrupted" {
				t.Fatalf("runs = %+v, %v", runs, err)
			}
			id := runs[0].RunID

			code, out = runBinary(t, env, "resume", id)
			if code != 0 {
				t.Fatalf("resume exit %d:\n%s", code, out)
			}
			if diff := cmp.Diff([]string{"first", "effect", "last"}, readLines(t, ledger)); diff != "" {
				t.Errorf("ledger after resume (-want +got):\n%s\n%s", diff, out)
			}
			if _, err := journal.Verify(state, id); err != nil {
				t.Errorf("journal after resume: %v", err)
			}
			if code, out := runBinary(t, env, "resume", id); code != 2 || !strings.Contains(out, "already succeeded") {
				t.Errorf("second resume: exit %d\n%s", code, out)
			}
		})
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}
