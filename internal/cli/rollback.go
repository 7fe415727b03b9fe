package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/engine"
)

func newRollbackCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "undo what a run's steps changed, from the values they recorded in the run's journal",
		ArgsUsage: "RUN|last",
		Description: "RUN is a run ID, a unique prefix of one, or last (the newest run). Without --step, every succeeded\n" +
			"step that can be undone is, newest first (a respond audit --fix run: every fix)." +
			envHelp("RESPOND_STATE_DIR", "RESPOND_USER", "OPENAI_ADMIN_KEY", "GITHUB_TOKEN"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "step", Usage: "the step `ID` to roll back (e.g. budgets); default: every step that can be"},
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
	ids := []string{stepID}
	if stepID == "" {
		if ids = st.Rollbackable(); len(ids) == 0 {
			return usageErr("run %s has no succeeded step that can be rolled back", runID)
		}
	}
	view := newTermSink(f.IO.Err, false, st.Playbook, f.Now)
	for i, id := range ids {
		err = f.newRunner(dir).Rollback(ctx, runID, id, view)
		var refused *engine.RollbackRefusedError
		switch {
		case errors.As(err, &refused):
			return usageErr("%v", refused)
		case err != nil && i > 0:
			return &exitError{code: ExitStepFailed, err: fmt.Errorf("%w (steps %s were rolled back; %s were not)",
				err, strings.Join(ids[:i], ", "), strings.Join(ids[i:], ", "))}
		case err != nil:
			return &exitError{code: ExitStepFailed, err: err}
		}
		fmt.Fprintf(f.IO.Err, "rolled back step %s of run %s\n", id, runID)
	}
	return nil
}
