package cli_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/rehearsal"
	"github.com/respond-sec/respond/playbooks"
	"github.com/respond-sec/respond/steps/catalog"
)

// TestRehearsalSurvivesACrashAnywhere kills the rehearsal run (SIGKILL) at every step boundary
// and inside every step that changes something, resumes it, and checks the world ends exactly
// as an uninterrupted run leaves it: one replacement key, delivered, and every other check.
// The simulators live in this test process, as real APIs outlive a crashed responder.
func TestRehearsalSurvivesACrashAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("crash matrix: skipped with -short")
	}
	var points []string
	for _, s := range []string{"identify", "revoke", "verify", "replace", "search_github", "search_history",
		"search_logs", "purge_history", "purge_actions_logs", "review", "budgets", "resolve_alerts"} {
		points = append(points, "step.succeeded:"+s)
	}
	// Inside mutating steps: right after the step's own first intent (before its side effect),
	// and after side effects whose results were not yet recorded.
	for _, s := range []string{"revoke", "replace", "purge_history", "purge_actions_logs", "budgets", "resolve_alerts"} {
		points = append(points, "step.intent:"+s+":2")
	}
	points = append(points,
		"step.intent:replace:3",    // after "create key", before the key exists
		"step.log:replace:5",       // the new key is in the file, not yet in the Actions secret (after 2 preflight lines, the account, its role)
		"step.log:purge_history:2", // history rewritten and verified, not yet pushed
		"step.log:revoke:1",        // the key is deleted, the result not recorded
	)
	src, _ := playbooks.Source("openai-key-leak")
	builtin, err := playbook.Load("openai-key-leak.yaml", src, catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	for i, point := range points {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			w, err := rehearsal.Start(t.Context(), rehearsal.Options{Seed: uint64(100 + i), Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			handle := filepath.Join(t.TempDir(), "world.json")
			if err := rehearsal.WriteHandle(handle, w.Handle()); err != nil {
				t.Fatal(err)
			}
			before := w.OpenAIState()
			state := t.TempDir()
			env := []string{"RESPOND_STATE_DIR=" + state}

			code, out := runBinary(t, append(env, "RESPOND_TEST_CRASH_AFTER="+point), "rehearse", "--world", handle, "openai-key-leak")
			if code != -int(syscall.SIGKILL) {
				t.Fatalf("not killed at %s (exit %d):\n%s", point, code, out)
			}
			runs, err := journal.List(state)
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs %v %v", runs, err)
			}
			code, out = runBinary(t, env, "resume", "--world", handle, runs[0].RunID)
			if code != 0 {
				t.Fatalf("resume exit %d:\n%s", code, out)
			}
			var failed []string
			for _, v := range w.VerifyFor(t.Context(), before, rehearsal.ScopeOf(builtin)) {
				if !v.OK {
					failed = append(failed, fmt.Sprintf("%s (%s)", v.Name, v.Detail))
				}
			}
			if len(failed) > 0 {
				t.Errorf("after a crash at %s and a resume:\n  %s\nresume output:\n%s", point, strings.Join(failed, "\n  "), out)
			}
			if _, err := journal.Verify(state, runs[0].RunID); err != nil {
				t.Errorf("journal: %v", err)
			}
		})
	}
}
