package slackserver_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/slackserver"
	"github.com/respond-sec/respond/steps"
)

// gates lets a test hold a step until it says so; the step ignores cancellation while held, as a
// step in the middle of an API call would.
var gates sync.Map // name → chan struct{}

type heldStep struct {
	Gate string `yaml:"gate"`
}

func (h *heldStep) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	if v, ok := gates.Load(h.Gate); ok {
		<-v.(chan struct{})
	}
	env.Logf("done")
	return steps.Outputs{}, nil
}

// noAnswer never decides: only the end of ctx ends the wait.
type noAnswer struct{}

func (noAnswer) Approve(ctx context.Context, _ engine.ApprovalRequest) (engine.Decision, error) {
	<-ctx.Done()
	return engine.Decision{}, ctx.Err()
}

// startHeld starts a two-step run through rs whose first step waits for the gate named after
// the test; it returns the run ID, the gate and the events the run emits.
func startHeld(t *testing.T, rs interface {
	Start(context.Context, string, func(context.Context, event.Sink) error) (string, error)
}, approval bool) (string, chan struct{}, *eventLog) {
	t.Helper()
	gate := make(chan struct{})
	gates.Store(t.Name(), gate)
	t.Cleanup(func() { gates.Delete(t.Name()) })
	appr := ""
	if approval {
		appr = ", approval: {required: true}"
	}
	pb, err := playbook.Load("held.yaml", []byte(`
name: held
steps:
  - {id: first, uses: test.held, with: {gate: "`+t.Name()+`"}}
  - {id: second, uses: test.held`+appr+`}
`), func(uses string) (steps.Kind, bool) {
		return steps.Kind{Name: uses, New: func() steps.Step { return &heldStep{} }}, uses == "test.held"
	})
	if err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	id, err := rs.Start(t.Context(), "held", func(ctx context.Context, track event.Sink) error {
		bus := event.NewBus(t.Name()+"-run", nil, 0, nil)
		bus.Attach(track)
		bus.Attach(log)
		_, err := engine.Run(ctx, engine.Options{Playbook: pb, RunID: t.Name() + "-run", Events: bus, Approver: noAnswer{}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, gate, log
}

type eventLog struct {
	mu     sync.Mutex
	events []event.Event
}

func (l *eventLog) Emit(e event.Event) error {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	return nil
}

func (l *eventLog) ran(step string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Kind == event.StepSucceeded && e.Step == step {
			return true
		}
	}
	return false
}

func TestShutdownWaitsForTheStepInHand(t *testing.T) {
	t.Parallel()
	rs := slackserver.NewRuns()
	id, gate, log := startHeld(t, rs, false)
	if !strings.HasSuffix(id, "-run") {
		t.Fatalf("Start returned %q", id)
	}
	eventually(t, "the first step", func() bool { a := rs.Active(); return len(a) == 1 && a[0].Step == "first" })
	done := make(chan []string, 1)
	go func() {
		var ids []string
		for _, in := range rs.Shutdown(t.Context()) {
			ids = append(ids, in.RunID+": "+in.State)
		}
		done <- ids
	}()
	eventually(t, "the shutdown to begin", rs.Stopping)
	if _, err := rs.Start(t.Context(), "held", nil); !errors.Is(err, slackserver.ErrShuttingDown) {
		t.Errorf("Start during shutdown: %v", err)
	}
	close(gate) // the step in hand finishes and is journaled
	got := <-done
	if diff := cmp.Diff([]string{id + ": stopped at a journaled point (outcome interrupted)"}, got); diff != "" {
		t.Errorf("interrupted (-want +got):\n%s", diff)
	}
	if !log.ran("first") || log.ran("second") {
		t.Error("want the step in hand finished and the next one not started")
	}
}

func TestShutdownCancelsAWaitForApproval(t *testing.T) {
	t.Parallel()
	rs := slackserver.NewRuns()
	_, gate, log := startHeld(t, rs, true)
	close(gate)
	eventually(t, "the approval wait", func() bool { a := rs.Active(); return len(a) == 1 && a[0].Waiting })
	got := rs.Shutdown(t.Context())
	if len(got) != 1 || !strings.Contains(got[0].State, "outcome interrupted") {
		t.Errorf("interrupted %+v", got)
	}
	if log.ran("second") {
		t.Error("the step waiting for approval ran")
	}
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	rs := slackserver.NewRuns()
	rs.SetLastGasp(10 * time.Millisecond)
	id, gate, _ := startHeld(t, rs, false)
	defer close(gate)
	eventually(t, "the first step", func() bool { a := rs.Active(); return len(a) == 1 && a[0].Step == "first" })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	got := rs.Shutdown(ctx)
	want := []string{id + ": interrupted in step first (its journal has no end)"}
	var ids []string
	for _, in := range got {
		ids = append(ids, in.RunID+": "+in.State)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("interrupted (-want +got):\n%s", diff)
	}
}

func TestStartReportsEarlyFailure(t *testing.T) {
	t.Parallel()
	rs := slackserver.NewRuns()
	_, err := rs.Start(t.Context(), "p", func(context.Context, event.Sink) error { return errors.New("no such playbook") })
	if err == nil || err.Error() != "no such playbook" {
		t.Errorf("Start = %v", err)
	}
	if got := rs.Shutdown(t.Context()); len(got) != 0 {
		t.Errorf("a run that never started is reported: %+v", got)
	}
}
