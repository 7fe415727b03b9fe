package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/cli"
)

// Ctrl-C is not a failure and not a denial: the run ends "interrupted" with exit 130 and says how
// to continue, and the resume finishes the run.
func TestInterruptEndsAsInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("real process")
	}
	dir := t.TempDir()
	marker, done := filepath.Join(dir, "started"), filepath.Join(dir, "done")
	pb := writeFile(t, "p.yaml", `name: slow
steps:
  - id: wait
    uses: exec
    with:
      argv: [sh, -c, '[ -e "$D" ] && exit 0; touch "$M"; exec sleep 30']
      env: {M: "`+marker+`", D: "`+done+`"}
  - {id: after, uses: exec, with: {argv: [echo, after]}}
`)
	state := t.TempDir()
	cmd := exec.Command(binary, "run", pb)
	cmd.Env = append(os.Environ(), "RESPOND_STATE_DIR="+state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("step never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != cli.ExitInterrupted {
		t.Errorf("exit %d, want %d\n%s", code, cli.ExitInterrupted, out.String())
	}
	text := out.String()
	if !strings.Contains(text, ": interrupted.") || !strings.Contains(text, "respond resume ") {
		t.Errorf("the output does not say interrupted and how to resume:\n%s", text)
	}
	if strings.Contains(text, "FAILED") || strings.Contains(text, "denied") {
		t.Errorf("an interrupt reported as a failure or denial:\n%s", text)
	}
	id := text[strings.LastIndex(text, "respond resume ")+len("respond resume "):]
	id = strings.TrimSpace(strings.SplitN(id, "\n", 2)[0])
	// The resumed step runs again (an interrupt leaves it unfinished); this time it is quick.
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, rout := runBinary(t, []string{"RESPOND_STATE_DIR=" + state}, "resume", id)
	if code != 0 {
		t.Errorf("resume after the interrupt: exit %d\n%s", code, rout)
	}
}

// A step skipped because nobody could approve it is asked again on resume: with --yes it runs
// and the run succeeds. The first run says exactly that instead of a bare "resume".
func TestResumeAsksAgainForASkippedApproval(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	ledger := filepath.Join(t.TempDir(), "ledger")
	pb := writeFile(t, "gated.yaml", `name: g
steps:
  - {id: first, uses: exec, with: {argv: [sh, -c, 'echo first >> "$L"'], env: {L: "`+ledger+`"}}}
  - {id: purge, uses: exec, approval: true, with: {argv: [sh, -c, 'echo purge >> "$L"'], env: {L: "`+ledger+`"}}}
`)
	r := respond(t, env, "", "run", pb)
	if r.code != cli.ExitDenied {
		t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitDenied, r.stderr)
	}
	i := strings.Index(r.stdout, "Step purge needs an approval nobody could give here: respond resume ")
	if i < 0 {
		t.Fatalf("no next move for the skipped approval on stdout:\n%s", r.stdout)
	}
	id := strings.Fields(r.stdout[i+len("Step purge needs an approval nobody could give here: respond resume "):])[0]
	r = respond(t, env, "", "resume", "--yes", id)
	if r.code != 0 {
		t.Fatalf("resume --yes: exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "first\npurge\n" {
		t.Errorf("ledger %q: want first once and purge once", got)
	}
}
