package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/engine"
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
	view := newTermSink(f.IO.Err, false, st.Playbook, f.Now)
	err = f.newRunner(dir).Rollback(ctx, runID, stepID, view)
	var refused *engine.RollbackRefusedError
	switch {
	case errors.As(err, &refused):
		return usageErr("%v", refused)
	case err != nil:
		return &exitError{code: ExitStepFailed, err: err}
	}
	fmt.Fprintf(f.IO.Err, "rolled back step %s of run %s\n", stepID, runID)
	return nil
}
