package cli

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/steps"
)

func newRollbackCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "undo what a step changed, from the values it recorded in the run's journal",
		ArgsUsage: "RUN|last",
		Description: "RUN is a run ID, a unique prefix of one, or last (the newest run)." +
			envHelp("RESPOND_STATE_DIR", "RESPOND_USER", "OPENAI_ADMIN_KEY", "GITHUB_TOKEN"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "step", Required: true, Usage: "the step `ID` to roll back (e.g. budgets)"},
		},
		Action: func(c *cli.Context) error {
			_, id, err := f.runArg(c)
			if err != nil {
				return err
			}
			return runRollback(c.Context, f, id, c.String("step"))
		},
	}
}

func runRollback(ctx context.Context, f *Factory, runID, stepID string) error {
	dir, err := f.stateDir()
	if err != nil {
		return err
	}
	if err := repairTornTail(f, dir, runID); err != nil {
		return err
	}
	st, err := loadResume(dir, runID)
	if err != nil {
		return err
	}
	var (
		uses     string
		recorded steps.Outputs
	)
	for _, e := range st.prior {
		if e.Step == stepID && e.Kind == event.StepSucceeded {
			uses = e.Uses
			if o, ok := e.Data["outputs"].(map[string]any); ok {
				recorded = o
			}
		}
	}
	if uses == "" {
		return usageErr("run %s has no succeeded step %q to roll back", runID, stepID)
	}
	var kindNew func() steps.Step
	for _, s := range st.pb.Steps {
		if s.ID == stepID {
			kindNew = s.Kind.New
		}
	}
	rb, ok := kindNew().(steps.Rollbacker)
	if !ok {
		return usageErr("step %s (%s) cannot be rolled back", stepID, uses)
	}
	j, _, err := journal.Open(dir, runID)
	if err != nil {
		return err
	}
	defer j.Close()
	bus := event.NewBus(runID, f.Secrets, len(st.prior), f.Now)
	bus.Require(j)
	bus.Attach(newTermSink(f.IO.Err, false, st.pb, f.Now))
	emit := func(e event.Event) error {
		e.Step, e.Uses = stepID, uses
		_, err := bus.Emit(e)
		return err
	}
	var shared sync.Map
	var sharedMu sync.Mutex
	env := &steps.Env{
		RunID: runID, StepID: stepID, Getenv: f.Getenv, Now: f.Now,
		Secret: func(v ...string) { f.Secrets.Add(v...) },
		Log: func(msg string, data map[string]any) {
			_ = emit(event.Event{Kind: event.StepLog, Message: "rollback: " + msg, Data: data})
		},
		Intent: func(name string, data map[string]any) error {
			return emit(event.Event{Kind: event.StepIntent, Message: "rollback: " + name, Data: map[string]any{"name": "rollback: " + name, "data": data}})
		},
		Shared: func(key string, build func() (any, error)) (any, error) {
			sharedMu.Lock()
			defer sharedMu.Unlock()
			if v, ok := shared.Load(key); ok {
				return v, nil
			}
			v, err := build()
			if err == nil {
				shared.Store(key, v)
			}
			return v, err
		},
	}
	if err := env.Intent("restore recorded values", nil); err != nil {
		return err
	}
	start := f.Now()
	rerr := rb.Rollback(ctx, env, recorded)
	res := event.Event{Kind: event.StepResult, Message: "rollback: ok", Duration: event.Duration(time.Since(start))}
	if rerr != nil {
		res.Message, res.Error = "rollback: error", rerr.Error()
	}
	if err := emit(res); err != nil {
		return err
	}
	if rerr != nil {
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("rollback of %s: %w", stepID, rerr)}
	}
	fmt.Fprintf(f.IO.Err, "rolled back step %s of run %s\n", stepID, runID)
	return nil
}
