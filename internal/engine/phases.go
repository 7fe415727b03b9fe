package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps"
)

// Phases of a run, as Phase.Kind. A durable run (internal/temporal) executes its beginning, each
// step and its end as separate calls, each perhaps in another process, each from the events
// recorded so far (Options.Prior); the zero Phase runs all of it in one call.
const (
	// PhaseBegin records run.started (run.resumed when events exist) and runs the preflights.
	PhaseBegin = "begin"
	// PhaseStep runs one step, Phase.Step, unless its events say it ended already.
	PhaseStep = "step"
	// PhaseFinish concludes the run from its steps' results and records run.finished.
	PhaseFinish = "finish"
)

// Phase is the part of a run one call of Run executes. After any phase, a non-empty
// Result.Outcome means the run has finished (run.finished is recorded) and nothing more runs.
type Phase struct {
	Kind string
	Step string
	// Abort, for PhaseFinish, ends the run failed with this reason instead of concluding from
	// the steps (a step that could not be run to its end at all).
	Abort string
}

// unreadyKey is the step.log data key that records a later step's failed preflight: a step phase
// run elsewhere must skip that step as the run that ran the preflight would.
const unreadyKey = "preflight_failed"

func (r *runner) beginPhase(ctx context.Context) error {
	if err := r.begin(); err != nil {
		return err
	}
	if err := r.preflight(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped, not failed: the phase is run again elsewhere.
			return fmt.Errorf("%w during the preflights: %v", ErrInterrupted, err)
		}
		r.res.Outcome = OutcomePreflightFailed
		r.finish(err)
		return err
	}
	return nil
}

// adopt takes the recorded results of every step that ended and the recorded preflight failures;
// it reports whether the run has finished already.
func (r *runner) adopt() bool {
	r.prior = Fold(r.o.Prior)
	if !r.prior.Started.IsZero() {
		r.res.Started = r.prior.Started
	}
	// Before the last run.resumed, a step counts as resume's begin counted it (kept); since, as
	// recorded: a failed run continued on Temporal retries its failed step like a local resume.
	since, touched := r.sinceResumed()
	for _, p := range r.prior.Steps {
		ended := p.Done() && (touched[p.ID] || kept(p, r.pb))
		// A dry run's planned steps are as good as ended: later steps read their planned outputs.
		if sr, ok := r.results[p.ID]; ok && (ended || (r.prior.DryRun && p.Status == event.Planned)) {
			*sr = p.StepResult
		}
	}
	for _, e := range r.o.Prior[since:] {
		if msg, ok := e.Data[unreadyKey].(string); ok && e.Kind == event.StepLog {
			r.unready[e.Step] = errors.New(msg)
		}
	}
	if r.prior.Outcome != "" {
		r.res.Outcome = r.prior.Outcome
		return true
	}
	return false
}

// stepPhase runs step id. A step the events show ended (its process died before saying so) is not
// run again; one they show started resumes: its recorded attempts count, its open intents are
// reconciled, and its recorded approval stands.
func (r *runner) stepPhase(ctx context.Context, id string) error {
	if r.adopt() {
		return finishedError(r.prior)
	}
	s := r.stepByID(id)
	if s == nil {
		return fmt.Errorf("%w: the playbook has no step %q", ErrCancelled, id)
	}
	sr := r.results[id]
	if sr.Status != event.Pending {
		if sr.Status == event.Failed && s.OnFailure != "continue" {
			r.res.Outcome = OutcomeFailed
			err := fmt.Errorf("%w: %s: %s", ErrStepFailed, s.ID, sr.Error)
			r.finish(err)
			return err
		}
		return nil
	}
	if _, touched := r.sinceResumed(); touched[id] && r.prior.Step(id) != nil {
		sr.Attempts, r.continuing = r.prior.Step(id).Attempts, true
	}
	outcome, err := r.runStep(ctx, s)
	if outcome == OutcomeInterrupted {
		// The process is stopping, not the run: the step is picked up again from its events.
		return err
	}
	if outcome != "" {
		r.res.Outcome = outcome
		r.finish(err)
		return err
	}
	return nil
}

// sinceResumed is where the events since the run's last run.resumed start (0 when it never
// resumed), and the steps those events concern: the ones this execution of the run has touched.
func (r *runner) sinceResumed() (int, map[string]bool) {
	since := 0
	for i, e := range r.o.Prior {
		if e.Kind == event.RunResumed {
			since = i
		}
	}
	touched := map[string]bool{}
	for _, e := range r.o.Prior[since:] {
		if e.Step != "" {
			touched[e.Step] = true
		}
	}
	return since, touched
}

func (r *runner) finishPhase(abort string) error {
	if r.adopt() {
		return finishedError(r.prior)
	}
	var err error
	if abort != "" {
		r.res.Outcome = OutcomeFailed
		err = fmt.Errorf("%w: %s", ErrStepFailed, abort)
	} else {
		err = r.conclude()
	}
	r.finish(err)
	return err
}

// finishedError is the error of a run whose events say it finished, for a phase called again
// after its process died having recorded the end.
func finishedError(st *RunState) error {
	if st.Outcome == OutcomeSucceeded {
		return nil
	}
	return OutcomeError(st.Outcome, st.Error)
}

// OutcomeError is the error Run returns for a run that finished with outcome, rebuilt from the
// recorded outcome and error text (the exit code follows from it): nil when it succeeded.
func OutcomeError(outcome, msg string) error {
	var base error
	switch outcome {
	case OutcomeSucceeded:
		return nil
	case OutcomeDenied:
		base = ErrDenied
	case OutcomeCancelled:
		base = ErrCancelled
	case OutcomeInterrupted:
		base = ErrInterrupted
	case OutcomePreflightFailed:
		base = ErrPreflight
	default:
		base = ErrStepFailed
	}
	if msg == "" || msg == base.Error() {
		return base
	}
	return fmt.Errorf("%w: %s", base, msg)
}

func (r *runner) stepByID(id string) *playbook.Step {
	for _, s := range r.pb.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// decided is the step's approval: asked for, unless the step is continuing with a recorded
// approval (a worker died after a person approved: they are not asked twice).
func (r *runner) decided(ctx context.Context, s *playbook.Step, plan *steps.Plan) (Decision, error) {
	if p := r.priorStep(s.ID); r.continuing && p != nil && p.Approval != nil && p.Approval.Approved {
		return *p.Approval, nil
	}
	return r.approve(ctx, s, plan)
}
