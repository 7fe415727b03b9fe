package engine

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
)

// RollbackRefusedError means the step cannot be rolled back: the run has no such succeeded
// step, or its kind cannot undo what it did. Nothing was changed or recorded.
type RollbackRefusedError struct{ Reason string }

func (e *RollbackRefusedError) Error() string { return e.Reason }

// RollbackOptions configure undoing one succeeded step of a run.
type RollbackOptions struct {
	Playbook *playbook.Playbook
	RunID    string
	StepID   string
	// Prior holds the run's journaled events: the step's recorded outputs come from their fold.
	Prior   []event.Event
	Events  Emitter
	Secrets *redact.Set
	Getenv  func(string) string
	Now     func() time.Time
	WorkDir string
}

// Rollback undoes what step StepID changed, from the outputs it recorded, through the same
// environment (secrets, intents, shared clients) a run gives its steps. Its intents, logs and
// result are recorded as the step's events, each message starting "rollback: ".
func Rollback(ctx context.Context, o RollbackOptions) error {
	st := Fold(o.Prior).Step(o.StepID)
	if st == nil || st.Status != event.Succeeded {
		return &RollbackRefusedError{fmt.Sprintf("run %s has no succeeded step %q to roll back", o.RunID, o.StepID)}
	}
	var ps *playbook.Step
	for _, s := range o.Playbook.Steps {
		if s.ID == o.StepID {
			ps = s
		}
	}
	var rb steps.Rollbacker
	if ps != nil {
		rb, _ = ps.Kind.New().(steps.Rollbacker)
	}
	if rb == nil {
		return &RollbackRefusedError{fmt.Sprintf("step %s (%s) cannot be rolled back", o.StepID, st.Uses)}
	}
	r := newRunner(Options{Playbook: o.Playbook, RunID: o.RunID, Events: o.Events, Secrets: o.Secrets,
		Getenv: o.Getenv, Now: o.Now, WorkDir: o.WorkDir})
	emit := func(e event.Event) error {
		e.Step, e.Uses = ps.ID, st.Uses
		return r.emit(e)
	}
	env := r.env(ps, 0)
	env.Log = func(msg string, data map[string]any) {
		_ = emit(event.Event{Kind: event.StepLog, Message: "rollback: " + msg, Data: data})
	}
	env.Intent = func(name string, data map[string]any) error {
		return emit(event.Event{Message: "rollback: " + name}.With(event.StepIntentData{Name: "rollback: " + name, Data: data}))
	}
	if err := env.Intent("restore recorded values", nil); err != nil {
		return err
	}
	start := r.o.Now()
	rerr := rb.Rollback(ctx, env, st.Outputs)
	res := event.Event{Kind: event.StepResult, Message: "rollback: ok", Duration: event.Duration(r.o.Now().Sub(start))}
	if rerr != nil {
		res.Message, res.Error = "rollback: error", rerr.Error()
	}
	if err := emit(res); err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("rollback of %s: %w", o.StepID, rerr)
	}
	return nil
}

// newRunner fills in o's defaults and returns a runner for it.
func newRunner(o Options) *runner {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Secrets == nil {
		o.Secrets = redact.New()
	}
	if o.Mode == "" {
		o.Mode = ModeReal
		if o.DryRun {
			o.Mode = ModeDryRun
		}
	}
	r := &runner{o: o, pb: o.Playbook, results: map[string]*StepResult{}, unready: map[string]error{}}
	for k, v := range o.Shared {
		r.shared.Store(k, v)
	}
	return r
}
