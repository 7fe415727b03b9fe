package runner_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/steps/catalog"
)

const twoSteps = `name: two
steps:
  - id: one
    uses: exec
    with: {argv: [echo, one]}
  - id: two
    uses: exec
    with: {argv: [echo, two]}
`

func newRunner(t *testing.T, warnings *bytes.Buffer) *runner.Runner {
	t.Helper()
	return &runner.Runner{Dir: t.TempDir(), Secrets: redact.New(), Getenv: func(string) string { return "" },
		Now: time.Now, Warnings: warnings}
}

// A run is journaled, its summary says what happened, and Load reads back the same story.
func TestStartThenLoad(t *testing.T) {
	var warnings bytes.Buffer
	rn := newRunner(t, &warnings)
	pb, err := playbook.Load("two.yaml", []byte(twoSteps), catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	var seen []event.Kind
	view := event.SinkFunc(func(e event.Event) error { seen = append(seen, e.Kind); return nil })
	run, err := rn.Start(context.Background(), runner.Spec{Playbook: pb, Inputs: map[string]any{}, Mode: engine.ModeReal,
		StartedBy: "oncall", Sinks: []event.Sink{view}})
	if err != nil {
		t.Fatal(err)
	}
	run.Close()
	if run.Result.Outcome != engine.OutcomeSucceeded || run.Journal != journal.Path(rn.Dir, run.ID) {
		t.Fatalf("run %+v", run)
	}
	if _, err := os.Stat(run.Journal); err != nil {
		t.Fatal(err)
	}
	if seen[0] != event.RunStarted || seen[len(seen)-1] != event.RunFinished {
		t.Errorf("the caller's sink saw %v", seen)
	}
	jd, err := rn.Load(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Durations are kept to the millisecond in the journal.
	if diff := cmp.Diff(run.Result.Steps, jd.Result().Steps, cmpopts.IgnoreFields(engine.StepResult{}, "Duration")); diff != "" {
		t.Errorf("the journal's story differs from the run's (-run +journal):\n%s", diff)
	}
	if jd.State.StartedBy != "oncall" || jd.State.Mode != engine.ModeReal || warnings.Len() != 0 {
		t.Errorf("state %+v, warnings %q", jd.State, warnings.String())
	}
}

// Rollback refuses, changing nothing, when the step did not succeed or cannot undo its work.
func TestRollbackRefused(t *testing.T) {
	rn := newRunner(t, nil)
	pb, err := playbook.Load("two.yaml", []byte(twoSteps), catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	run, err := rn.Start(context.Background(), runner.Spec{Playbook: pb, Inputs: map[string]any{}, Mode: engine.ModeReal})
	if err != nil {
		t.Fatal(err)
	}
	run.Close()
	before, _ := os.ReadFile(run.Journal)
	for _, step := range []string{"one", "missing"} {
		err := rn.Rollback(context.Background(), run.ID, step, nil)
		var refused *engine.RollbackRefusedError
		if !errors.As(err, &refused) {
			t.Errorf("rollback of %s: %v; want a refusal", step, err)
		}
	}
	if after, _ := os.ReadFile(run.Journal); !bytes.Equal(before, after) {
		t.Error("a refused rollback wrote to the journal")
	}
}
