package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/catalog"
)

// Journaled is a run as its journal tells it: the playbook it uses now (the newest one
// journaled), the fold of its events, and the events themselves.
type Journaled struct {
	Playbook *playbook.Playbook
	State    *engine.RunState
	Events   []event.Event
}

// Result is the run's result as far as its journal goes (for reports of runs that are over).
func (j *Journaled) Result() *engine.Result { return j.State.Result(j.Playbook) }

// Rollbackable lists the run's succeeded steps whose kind can undo what it did, newest first:
// the order in which `respond rollback RUN` undoes a whole run.
func (j *Journaled) Rollbackable() []string {
	var out []string
	for i := len(j.State.Steps) - 1; i >= 0; i-- {
		st := j.State.Steps[i]
		if st.Status != event.Succeeded {
			continue
		}
		for _, ps := range j.Playbook.Steps {
			if _, ok := ps.Kind.New().(steps.Rollbacker); ok && ps.ID == st.ID {
				out = append(out, st.ID)
			}
		}
	}
	return out
}

// UnusableError is a journal that cannot be continued or reported from: it fails verification,
// does not start a run, or holds an unreadable event.
type UnusableError struct{ Err error }

func (e *UnusableError) Error() string { return e.Err.Error() }
func (e *UnusableError) Unwrap() error { return e.Err }

// Load reads a run's journal after verifying it. A torn tail is tolerated (Read leaves it out):
// a report can be written from the intact events, and Repair makes the journal whole before
// anything is appended.
func (rn *Runner) Load(runID string) (*Journaled, error) {
	var torn *journal.TornTailError
	if _, err := journal.Verify(rn.Dir, runID); err != nil && !errors.As(err, &torn) {
		return nil, &UnusableError{fmt.Errorf("cannot resume %s: %w", runID, err)}
	}
	recs, err := journal.Read(rn.Dir, runID)
	if err != nil {
		return nil, &UnusableError{err}
	}
	if len(recs) == 0 || recs[0].Kind != event.RunStarted {
		return nil, &UnusableError{fmt.Errorf("cannot resume %s: its journal does not start with run.started", runID)}
	}
	evs := journal.Events(recs)
	st := engine.Fold(evs)
	if st.Err != nil {
		return nil, &UnusableError{fmt.Errorf("cannot read %s: %w", journal.Path(rn.Dir, runID), st.Err)}
	}
	pb, err := playbook.Load(st.File, []byte(st.Source), catalog.Lookup)
	if err != nil {
		return nil, fmt.Errorf("the playbook recorded in %s no longer loads: %w", runID, err)
	}
	return &Journaled{Playbook: pb, State: st, Events: evs}, nil
}

// Repair is done before anything is appended to a run's journal (resume, rollback). A crash in
// the middle of an append leaves a torn last line; it was never acknowledged, so nothing acted
// on it. It is dropped, on the record; the record is returned, or nil when nothing was torn.
func (rn *Runner) Repair(runID string) (*journal.Record, error) {
	if err := journal.CheckRunID(runID); err != nil {
		return nil, &UnusableError{err}
	}
	rec, err := journal.Repair(rn.Dir, runID, rn.Now())
	if err != nil {
		return nil, &UnusableError{fmt.Errorf("cannot continue %s: %w", runID, err)}
	}
	return rec, nil
}

// Rollback undoes what step stepID of run runID changed, from the values it recorded, and
// journals what it did. view, when not nil, follows the rollback's events. The caller repairs a
// torn tail first (Repair), and says so.
func (rn *Runner) Rollback(ctx context.Context, runID, stepID string, view event.Sink) error {
	jd, err := rn.Load(runID)
	if err != nil {
		return err
	}
	j, _, err := journal.Open(rn.Dir, runID)
	if err != nil {
		return err
	}
	defer j.Close()
	bus := event.NewBus(runID, rn.Secrets, len(jd.Events), rn.Now)
	bus.Require(j)
	if view != nil {
		bus.Attach(view)
	}
	return engine.Rollback(ctx, engine.RollbackOptions{Playbook: jd.Playbook, RunID: runID, StepID: stepID,
		Prior: jd.Events, Events: bus, Secrets: rn.Secrets, Getenv: rn.Getenv, Now: rn.Now})
}
