// Package engine runs a playbook: preflight every step, then run the steps in order with their
// conditions, approvals, retries and timeouts, recording every state change as an event. Dry-run
// is enforced here and only here: a step that can Plan is planned, never Run. The engine knows
// step kinds only through the steps interfaces.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
)

// Errors the CLI maps to exit codes.
var (
	// ErrPreflight wraps preflight failures; errors.Is(err, steps.ErrCredentials) tells a
	// missing credential apart.
	ErrPreflight = errors.New("preflight failed")
	// ErrNoApprover means an approver was asked and reported that nobody can decide.
	ErrNoApprover = errors.New("approval needed but nobody can be asked")
	// ErrStepFailed means a step failed and the run stopped or finished with failures.
	ErrStepFailed = errors.New("a step failed")
	// ErrDenied means an approval was denied (the step was skipped).
	ErrDenied = errors.New("an approval was denied")
	// ErrCancelled means the run stopped before its end for want of something it cannot go on
	// without (an approver nobody can be, a journal that cannot be written).
	ErrCancelled = errors.New("run cancelled")
	// ErrInterrupted means the run's context was cancelled (Ctrl-C, SIGTERM, a server shutting
	// down): nothing failed, and resume continues from the last journaled point.
	ErrInterrupted = errors.New("run interrupted")
)

// Run outcomes, as Result.Outcome and the run.finished event's "outcome".
const (
	OutcomeSucceeded       = "succeeded"
	OutcomeFailed          = "failed"
	OutcomeDenied          = "denied"           // an approval was denied; the gated step was skipped
	OutcomeCancelled       = "cancelled"        // stopped for want of an approver or a writable journal
	OutcomeInterrupted     = "interrupted"      // Ctrl-C, SIGTERM or shutdown; resume continues
	OutcomePreflightFailed = "preflight-failed" // nothing changed
)

// SkippedForPreflight reports whether a step after containment was not run because its preflight
// failed (a missing credential or permission): the run went on without it, and resume runs it.
func SkippedForPreflight(sr *StepResult) bool {
	return sr != nil && sr.Status == event.Skipped && strings.HasPrefix(sr.Reason, PreflightFailedPrefix)
}

// PreflightFailedPrefix begins the reason of a step skipped for its preflight (events carry only
// the reason; SkippedForPreflight tests a StepResult).
const PreflightFailedPrefix = "not run: preflight failed: "

// errUnready is step's answer for a step skipped for its preflight: it counts as a failure of the
// run without stopping it.
var errUnready = errors.New("skipped: preflight failed")

// SkippedForApproval reports whether a step did not run because its approval was denied, timed
// out or could not be asked for.
func SkippedForApproval(sr *StepResult) bool {
	return sr != nil && sr.Status == event.Skipped && strings.HasPrefix(sr.Reason, ApprovalDeniedPrefix)
}

// ApprovalDeniedPrefix begins the reason of a step skipped for its approval.
const ApprovalDeniedPrefix = "approval denied"

// Emitter receives the run's events (an *event.Bus).
type Emitter interface {
	Emit(event.Event) (event.Event, error)
}

// Options configure one run.
type Options struct {
	Playbook *playbook.Playbook
	Inputs   map[string]any
	RunID    string
	Mode     string // ModeReal, ModeDryRun or ModeRehearsal
	DryRun   bool
	// StartedBy names who started the run (a user, a Slack user, "rehearsal").
	StartedBy string
	Approver  Approver
	Events    Emitter
	Secrets   *redact.Set
	Getenv    func(string) string
	Now       func() time.Time
	// WorkDir is the run's private directory for artefacts.
	WorkDir string
	// Prior holds the events already journaled when resuming.
	Prior []event.Event
	// Sleep waits between retries (tests make it instant).
	Sleep func(context.Context, time.Duration) error
	// SecretRefs are the references secret inputs were resolved from, recorded in run.started.
	SecretRefs map[string]string
	// Shared seeds the run-wide values steps read with Env.Shared (e.g. the run's Slack thread).
	Shared map[string]any
	// Phase is the part of the run this call executes; the zero value is all of it.
	Phase Phase
}

// StepResult is one step's outcome.
type StepResult struct {
	ID       string        `json:"id"`
	Uses     string        `json:"uses"`
	Status   event.Status  `json:"status"`
	Attempts int           `json:"attempts"`
	Duration time.Duration `json:"-"`
	Reason   string        `json:"reason,omitempty"`
	Error    string        `json:"error,omitempty"`
	Outputs  steps.Outputs `json:"outputs,omitempty"`
	Plan     *steps.Plan   `json:"plan,omitempty"`
	Approval *Decision     `json:"approval,omitempty"`
}

// Result is a run's outcome.
type Result struct {
	RunID    string        `json:"run_id"`
	Playbook string        `json:"playbook"`
	Mode     string        `json:"mode"`
	Outcome  string        `json:"outcome"` // one of the Outcome… constants
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Steps    []*StepResult `json:"steps"`
}

type runner struct {
	o       Options
	pb      *playbook.Playbook
	results map[string]*StepResult
	unready map[string]error // preflight failures of steps after containment: skipped when reached
	res     *Result
	shared  sync.Map
	sharedM sync.Mutex
	prior   *RunState
	// continuing is set when a step phase picks up a step another process started: a decision
	// already recorded for it stands.
	continuing bool
}

// Run executes the playbook. The returned error is one of the Err* values (wrapped) when the run
// did not succeed; the Result is always returned.
func Run(ctx context.Context, o Options) (*Result, error) {
	r := newRunner(o)
	o = r.o
	r.res = &Result{RunID: o.RunID, Playbook: o.Playbook.Name, Mode: o.Mode, Started: o.Now().UTC()}
	for _, s := range r.pb.Steps {
		sr := &StepResult{ID: s.ID, Uses: s.Uses, Status: event.Pending}
		r.results[s.ID] = sr
		r.res.Steps = append(r.res.Steps, sr)
	}
	var err error
	switch o.Phase.Kind {
	case PhaseBegin:
		err = r.beginPhase(ctx)
	case PhaseStep:
		err = r.stepPhase(ctx, o.Phase.Step)
	case PhaseFinish:
		err = r.finishPhase(o.Phase.Abort)
	default:
		err = r.run(ctx)
	}
	r.res.Finished = o.Now().UTC()
	return r.res, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *runner) emit(e event.Event) error {
	if _, err := r.o.Events.Emit(e); err != nil {
		return fmt.Errorf("record event %s: %w", e.Kind, err)
	}
	return nil
}

func (r *runner) data() playbook.Data {
	d := playbook.Data{Inputs: r.o.Inputs, Steps: map[string]playbook.StepData{},
		Run: playbook.RunData{ID: r.o.RunID, Playbook: r.pb.Name, Mode: r.o.Mode, DryRun: r.o.DryRun, Started: r.res.Started}}
	for id, sr := range r.results {
		if sr.Status == event.Pending {
			continue
		}
		d.Steps[id] = playbook.StepData{Status: string(sr.Status), Outputs: sr.Outputs}
	}
	return d
}

func (r *runner) run(ctx context.Context) error {
	if err := r.begin(); err != nil {
		return err
	}
	if err := r.preflight(ctx); err != nil {
		r.res.Outcome = OutcomePreflightFailed
		r.finish(err)
		return err
	}
	for _, s := range r.pb.Steps {
		if r.results[s.ID].Status != event.Pending {
			continue // finished before a resume
		}
		if outcome, err := r.runStep(ctx, s); outcome != "" {
			r.res.Outcome = outcome
			r.finish(err)
			return err
		}
	}
	err := r.conclude()
	r.finish(err)
	return err
}

// runStep runs step s and judges how it ended: a non-empty outcome stops the run with err.
func (r *runner) runStep(ctx context.Context, s *playbook.Step) (outcome string, err error) {
	if err := ctx.Err(); err != nil {
		return OutcomeInterrupted, fmt.Errorf("%w before step %s: %v", ErrInterrupted, s.ID, err)
	}
	err = r.step(ctx, s, r.results[s.ID])
	switch {
	case err == nil, errors.Is(err, ErrDenied), errors.Is(err, errUnready):
		// a denial or a step its preflight held back is counted by conclude; the run goes on
		return "", nil
	case errors.Is(err, ErrInterrupted):
		return OutcomeInterrupted, err
	case errors.Is(err, ErrCancelled), errors.Is(err, ErrNoApprover), isJournalError(err):
		return OutcomeCancelled, err
	case s.OnFailure != "continue":
		return OutcomeFailed, fmt.Errorf("%w: %s: %v", ErrStepFailed, s.ID, err)
	}
	return "", nil
}

// conclude sets the outcome of a run that went through all its steps, from every step's result,
// those finished before a resume included: a failure the run continued past, a step its
// preflight held back, or a denial.
func (r *runner) conclude() error {
	var failed, denied bool
	var unready []string
	for _, sr := range r.res.Steps {
		failed = failed || sr.Status == event.Failed
		denied = denied || SkippedForApproval(sr)
		if SkippedForPreflight(sr) {
			unready = append(unready, sr.ID)
		}
	}
	switch {
	case len(unready) > 0:
		r.res.Outcome = OutcomeFailed
		return fmt.Errorf("%w: not run for want of a credential or permission: %s", ErrStepFailed, strings.Join(unready, ", "))
	case failed:
		r.res.Outcome = OutcomeFailed
		return fmt.Errorf("%w (on_failure: continue let the run finish)", ErrStepFailed)
	case denied:
		r.res.Outcome = OutcomeDenied
		return ErrDenied
	}
	r.res.Outcome = OutcomeSucceeded
	return nil
}

// begin records the run's start, or its resume with the steps the journal says are done.
// run.started has this one writer.
func (r *runner) begin() error {
	if len(r.o.Prior) == 0 {
		return r.emit(event.Event{Message: fmt.Sprintf("%s (%s)", r.pb.Name, r.o.Mode)}.With(event.RunStartedData{
			Playbook: r.pb.Name, File: r.pb.File, Source: string(r.pb.Source), Mode: r.o.Mode, StartedBy: r.o.StartedBy,
			Inputs: r.o.Inputs, SecretInputs: SecretFingerprints(r.pb, r.o.Inputs), SecretRefs: r.o.SecretRefs, DryRun: r.o.DryRun}))
	}
	r.prior = Fold(r.o.Prior)
	for _, p := range r.prior.Steps {
		sr, ok := r.results[p.ID]
		if !ok || !kept(p, r.pb) {
			continue
		}
		*sr = p.StepResult
	}
	// A playbook edited for the resume is journaled, so a later resume and the report use it.
	var d event.RunResumedData
	if r.prior.Source != string(r.pb.Source) {
		d = event.RunResumedData{PlaybookFile: r.pb.File, PlaybookSource: string(r.pb.Source)}
	}
	return r.emit(event.Event{Message: "resuming " + r.pb.Name}.With(d))
}

// SecretFingerprints are the keyed fingerprints of pb's secret inputs among inputs: what a resume
// checks the values it is given again against.
func SecretFingerprints(pb *playbook.Playbook, inputs map[string]any) map[string]string {
	fps := map[string]string{}
	for _, in := range pb.Inputs {
		if v, ok := inputs[in.Name].(string); ok && in.Secret {
			fps[in.Name] = redact.Fingerprint(v)
		}
	}
	return fps
}

func (r *runner) priorStep(id string) *StepState {
	if r.prior == nil {
		return nil
	}
	return r.prior.Step(id)
}

type journalError struct{ error }

func (e journalError) Unwrap() error { return e.error }

func isJournalError(err error) bool {
	var j journalError
	return errors.As(err, &j)
}

func (r *runner) finish(runErr error) {
	counts := map[string]int{}
	for _, sr := range r.res.Steps {
		counts[string(sr.Status)]++
	}
	e := event.Event{Message: r.res.Outcome, Duration: event.Duration(r.o.Now().Sub(r.res.Started))}.
		With(event.RunFinishedData{Outcome: r.res.Outcome, Steps: counts})
	if runErr != nil {
		e.Error = runErr.Error()
	}
	_ = r.emit(e) // the run is over either way; a journal failure here was already reported
}

// env builds the steps.Env for one step attempt.
func (r *runner) env(s *playbook.Step, attempt int) *steps.Env {
	return &steps.Env{
		RunID: r.o.RunID, StepID: s.ID, Attempt: attempt, DryRun: r.o.DryRun,
		Getenv: r.o.Getenv, Now: r.o.Now, WorkDir: r.workDir(),
		Secret:  func(values ...string) { r.o.Secrets.Add(values...) },
		Secrets: r.o.Secrets,
		Log: func(msg string, data map[string]any) {
			_ = r.emit(event.Event{Kind: event.StepLog, Step: s.ID, Uses: s.Uses, Attempt: attempt, Message: msg, Data: data})
		},
		Intent: func(name string, data map[string]any) error {
			e := event.Event{Step: s.ID, Uses: s.Uses, Attempt: attempt, Message: name}.With(event.StepIntentData{Name: name, Data: data})
			if err := r.emit(e); err != nil {
				return journalError{err}
			}
			return nil
		},
		Shared: r.sharedValue,
	}
}

func (r *runner) workDir() string {
	if r.o.WorkDir == "" {
		return ""
	}
	_ = os.MkdirAll(r.o.WorkDir, 0o700)
	return r.o.WorkDir
}

func (r *runner) sharedValue(key string, build func() (any, error)) (any, error) {
	r.sharedM.Lock()
	defer r.sharedM.Unlock()
	if v, ok := r.shared.Load(key); ok {
		return v, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	r.shared.Store(key, v)
	return v, nil
}

// preflight binds every pending step with what is known before the run (inputs) and runs the
// read-only checks of all of them, concurrently and before the first step, so a missing
// credential fails in second one and costs the time of the slowest check, not their sum.
func (r *runner) preflight(ctx context.Context) error {
	var (
		mu           sync.Mutex
		errs         []error
		wg           sync.WaitGroup
		needApproval bool
	)
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	gate := r.containmentIndex()
	for i, s := range r.pb.Steps {
		if r.results[s.ID].Status != event.Pending {
			continue
		}
		if p := r.priorStep(s.ID); p != nil && p.OpenIntent {
			// It passed preflight before it started acting; its own side effects (a key file it
			// wrote) would now fail the checks. Reconcile decides what is left to do.
			continue
		}
		fail := fail
		if i > gate {
			fail = r.afterContainment(s, &mu, fail)
		}
		if s.Approval != nil && s.Approval.Required && !r.o.DryRun {
			needApproval = true
		}
		st := s.Kind.New()
		if err := playbook.Bind(r.pb.File, s, r.data(), st, true); err != nil {
			fail(fmt.Errorf("step %s: %w", s.ID, err))
			continue
		}
		if d, ok := st.(steps.Defaulter); ok {
			d.Default()
		}
		if p, ok := st.(steps.Preflighter); ok {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.preflightDone(ctx, s, r.preflightOne(ctx, s, p), fail)
			}()
		}
	}
	wg.Wait()
	if needApproval && r.approverMissing() != nil {
		// Revocation must not wait for a person: the run goes on, and each gated step is
		// refused when it is reached. Say so now, before anything changes.
		for _, s := range r.pb.Steps {
			if s.Approval != nil && s.Approval.Required && r.results[s.ID].Status == event.Pending {
				_ = r.emit(event.Event{Kind: event.StepLog, Step: s.ID, Uses: s.Uses,
					Message: "needs an approval and nobody can be asked (" + r.approverMissing().Error() + "): it will be skipped"})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	// Report in playbook order whatever order the checks finished in.
	order := map[string]int{}
	for i, s := range r.pb.Steps {
		order["step "+s.ID+" "] = i
		order["step "+s.ID+":"] = i
	}
	rank := func(err error) int {
		msg := err.Error()
		for prefix, i := range order {
			if strings.HasPrefix(msg, prefix) {
				return i
			}
		}
		return len(r.pb.Steps)
	}
	sort.SliceStable(errs, func(i, j int) bool { return rank(errs[i]) < rank(errs[j]) })
	joined := errors.Join(errs...)
	if errors.Is(joined, ErrNoApprover) && len(errs) == 1 {
		return joined
	}
	return fmt.Errorf("%w:\n%w", ErrPreflight, joined)
}

// preflightDone judges step s's preflight result err.
func (r *runner) preflightDone(ctx context.Context, s *playbook.Step, err error, fail func(error)) {
	switch {
	case err == nil:
	case steps.IsTransient(err) && ctx.Err() == nil:
		// A flaky or rate-limited API is no reason to delay revoking a key: the step will meet
		// the same API when it runs, with its own retry policy.
		_ = r.emit(event.Event{Kind: event.StepLog, Step: s.ID, Uses: s.Uses,
			Message: "preflight could not finish (" + err.Error() + "); going on, the step will retry when it runs"})
	default:
		fail(fmt.Errorf("step %s (%s): %w", s.ID, s.Uses, err))
	}
}

// afterContainment is how a preflight failure of step s, which comes after containment, is
// handled: its missing credential or permission must not hold back the revocation. It is said
// now; the step is skipped when reached, and resume runs it. A failed precondition of the
// revocation (steps.ErrBeforeContainment) still goes to blocking.
func (r *runner) afterContainment(s *playbook.Step, mu *sync.Mutex, blocking func(error)) func(error) {
	return func(err error) {
		if errors.Is(err, steps.ErrBeforeContainment) {
			blocking(err)
			return
		}
		mu.Lock()
		r.unready[s.ID] = err
		mu.Unlock()
		_ = r.emit(event.Event{Kind: event.StepLog, Step: s.ID, Uses: s.Uses, Data: map[string]any{unreadyKey: err.Error()},
			Message: "preflight: " + err.Error() + " — containment goes ahead; this step will be skipped (fix it, then respond resume)"})
	}
}

// containmentIndex is the index of the first step whose kind contains the incident, or the last
// step's when none does (then every step's preflight must pass before anything changes).
func (r *runner) containmentIndex() int {
	for i, s := range r.pb.Steps {
		if s.Kind.New == nil {
			continue
		}
		if _, ok := s.Kind.New().(steps.Container); ok {
			return i
		}
	}
	return len(r.pb.Steps) - 1
}

// preflightAttempts is the least number of tries a preflight gets: a flaky API must not stop a
// run before it has revoked anything.
const preflightAttempts = 3

// preflightTimeout bounds one preflight try: a check that waits out a rate limit must not hold
// back the revocation for minutes.
const preflightTimeout = 5 * time.Second

// preflightOne runs one step's checks, retrying transient errors like the step would.
func (r *runner) preflightOne(ctx context.Context, s *playbook.Step, p steps.Preflighter) error {
	pol := s.Retry
	pol.Attempts = max(pol.Attempts, preflightAttempts)
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, preflightTimeout)
		err := p.Preflight(pctx, r.env(s, 0))
		if err != nil && pctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = steps.Transient(fmt.Errorf("no answer within %s: %w", preflightTimeout, err))
		}
		cancel()
		if err == nil || !steps.IsTransient(err) || attempt >= pol.Attempts || ctx.Err() != nil {
			return err
		}
		if err := r.o.Sleep(ctx, backoff(pol, attempt, steps.RetryAfter(err))); err != nil {
			return err
		}
	}
}

// approverMissing says why no approval can be asked for, or nil when one can.
func (r *runner) approverMissing() error {
	if r.o.Approver == nil {
		return errors.New("no terminal to ask; pass --yes or start the run from Slack")
	}
	if a, ok := r.o.Approver.(interface{ Available() error }); ok {
		return a.Available()
	}
	return nil
}

// step runs one step through condition, binding, plan or approval, and attempts.
func (r *runner) step(ctx context.Context, s *playbook.Step, sr *StepResult) error {
	start := r.o.Now()
	if err := r.emit(event.Event{Kind: event.StepStarted, Step: s.ID, Uses: s.Uses}); err != nil {
		return journalError{err}
	}
	sr.Status = event.Running
	fail := func(err error) error { return r.failStep(s, sr, start, err) }
	skip := func(reason string) error { return r.skipStep(s, sr, start, reason) }

	if s.If != "" {
		ok, err := playbook.EvalIf(r.pb.File, s, r.data())
		if err != nil {
			return fail(err)
		}
		if !ok {
			return skip("condition is false: " + s.If)
		}
	}
	if err := r.unready[s.ID]; err != nil {
		if e := skip(PreflightFailedPrefix + r.o.Secrets.String(err.Error())); e != nil {
			return e
		}
		return errUnready
	}
	st := s.Kind.New()
	if err := playbook.Bind(r.pb.File, s, r.data(), st, false); err != nil {
		return fail(err)
	}
	r.defaults(s, st)
	if v, ok := st.(steps.Validator); ok {
		if err := v.Validate(); err != nil {
			return fail(fmt.Errorf("%s:%d:%d: with: %w", r.pb.File, s.Line, s.Col, err))
		}
	}
	planner, mutating := st.(steps.Planner)

	// A mutating step shows its plan before anything happens: in a dry run that is all it does,
	// and in a real run the plan is what an approver approves.
	var plan *steps.Plan
	if mutating && (r.o.DryRun || (s.Approval != nil && s.Approval.Required)) {
		p, err := r.plan(ctx, s, planner)
		if isJournalError(err) {
			return err
		} else if err != nil {
			return fail(err)
		}
		plan, sr.Plan = p, p
		if r.o.DryRun {
			sr.Status = event.Planned
			sr.Outputs = r.normalize(p.Outputs)
			sr.Duration = r.o.Now().Sub(start)
			return nil
		}
	}

	if s.Approval != nil && s.Approval.Required && !r.o.DryRun {
		d, err := r.decided(ctx, s, plan)
		if err != nil {
			return fail(err)
		}
		sr.Approval = &d
		if !d.Approved {
			if err := skip(fmt.Sprintf("%s by %s via %s: %s", ApprovalDeniedPrefix, d.By, d.Via, d.Reason)); err != nil {
				return err
			}
			return ErrDenied
		}
	}

	out, err := r.attempts(ctx, s, sr, st, mutating)
	sr.Duration = r.o.Now().Sub(start)
	if err != nil {
		return r.unsuccessful(ctx, s, sr, start, err)
	}
	sr.Status = event.Succeeded
	sr.Outputs = r.normalize(out)
	if err := r.checkOutputs(s, sr.Outputs); err != nil {
		return err
	}
	return r.emitJ(event.Event{Step: s.ID, Uses: s.Uses, Attempt: sr.Attempts, Duration: event.Duration(sr.Duration)}.
		With(event.StepSucceededData{Outputs: sr.Outputs}))
}

// checkOutputs logs outputs that s's kind does not declare. That is a kind's bug, not the
// incident's: the step did its work, so the run goes on, but the log says what later steps and the
// journal's readers will not see. The error is the journal's.
func (r *runner) checkOutputs(s *playbook.Step, out steps.Outputs) error {
	bad := s.Kind.CheckOutputs(out)
	if bad == nil {
		return nil
	}
	return r.emitJ(event.Event{Kind: event.StepLog, Step: s.ID, Uses: s.Uses, Message: "respond bug (please report): " + bad.Error()})
}

// failStep records that step s failed with err, and returns err.
func (r *runner) failStep(s *playbook.Step, sr *StepResult, start time.Time, err error) error {
	sr.Status = event.Failed
	sr.Error = r.o.Secrets.String(err.Error())
	sr.Duration = r.o.Now().Sub(start)
	if e := r.emit(event.Event{Kind: event.StepFailed, Step: s.ID, Uses: s.Uses, Attempt: sr.Attempts,
		Error: err.Error(), Duration: event.Duration(sr.Duration)}); e != nil {
		return journalError{e}
	}
	return err
}

// skipStep records that step s was skipped for reason.
func (r *runner) skipStep(s *playbook.Step, sr *StepResult, start time.Time, reason string) error {
	sr.Status = event.Skipped
	sr.Reason = reason
	sr.Duration = r.o.Now().Sub(start)
	if e := r.emit(event.Event{Kind: event.StepSkipped, Step: s.ID, Uses: s.Uses, Message: reason,
		Duration: event.Duration(sr.Duration)}); e != nil {
		return journalError{e}
	}
	return nil
}

// plan asks a changing step what it would do and records the plan; a journal failure comes back
// as a journalError, the step's own as "plan: …".
func (r *runner) plan(ctx context.Context, s *playbook.Step, planner steps.Planner) (*steps.Plan, error) {
	p, err := planner.Plan(ctx, r.env(s, 0))
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	raw, _ := json.Marshal(p)
	if err := r.emit(event.Event{Step: s.ID, Uses: s.Uses, Message: p.Summary}.With(event.StepPlannedData{Plan: raw})); err != nil {
		return nil, journalError{err}
	}
	return p, nil
}

// unsuccessful records how the attempts at step s ended when they did not succeed.
func (r *runner) unsuccessful(ctx context.Context, s *playbook.Step, sr *StepResult, start time.Time, err error) error {
	if sk, ok := steps.IsSkip(err); ok {
		return r.skipStep(s, sr, start, sk.Reason)
	}
	if isJournalError(err) {
		return err
	}
	if ctx.Err() != nil {
		// An interrupt is not the step's failure: leave it unfinished in the journal, as a
		// crash would, so resume reconciles its intents and runs it again.
		return fmt.Errorf("%w during step %s: %v", ErrInterrupted, s.ID, err)
	}
	return r.failStep(s, sr, start, err)
}

// defaults fills a step's defaulted parameters and logs those it filled with their values: the
// journal, the terminal and a plan then show what the step really uses, not only what the
// playbook wrote.
func (r *runner) defaults(s *playbook.Step, st steps.Step) {
	d, ok := st.(steps.Defaulter)
	if !ok {
		return
	}
	set := d.Default()
	if len(set) == 0 {
		return
	}
	parts := make([]string, 0, len(set))
	for n, v := range set {
		parts = append(parts, fmt.Sprintf("%s=%v", n, v))
	}
	sort.Strings(parts)
	r.env(s, 0).Log("defaults: "+strings.Join(parts, ", "), map[string]any{"defaults": set})
}

// normalize makes outputs what later templates, the journal and a resumed run all see alike:
// redacted (outputs never carry a secret) and JSON-shaped.
func (r *runner) normalize(out steps.Outputs) steps.Outputs {
	if out == nil {
		return steps.Outputs{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return steps.Outputs{"error": r.o.Secrets.String(err.Error())}
	}
	var n steps.Outputs
	_ = json.Unmarshal([]byte(r.o.Secrets.String(string(b))), &n)
	return n
}

func (r *runner) emitJ(e event.Event) error {
	if err := r.emit(e); err != nil {
		return journalError{err}
	}
	return nil
}

// attempts runs the step with its retry policy. A mutating step records an intent before each
// attempt and a result after it; on resume, an intent without a result is reconciled first.
func (r *runner) attempts(ctx context.Context, s *playbook.Step, sr *StepResult, st steps.Step, mutating bool) (steps.Outputs, error) {
	if p := r.priorStep(s.ID); p != nil && p.OpenIntent && mutating {
		sr.Attempts = p.Attempts
		if rc, ok := st.(steps.Reconciler); ok {
			out, done, err := rc.Reconcile(ctx, r.env(s, p.Attempts), p.Intents)
			if err != nil {
				return nil, fmt.Errorf("reconcile after interruption: %w", err)
			}
			msg := "interrupted work is not done; running it again"
			if done {
				msg = "interrupted work had completed; not repeating it"
			}
			if err := r.emitJ(event.Event{Step: s.ID, Uses: s.Uses, Message: msg}.With(event.StepReconciledData{Done: done})); err != nil {
				return nil, err
			}
			if done {
				if err := r.emitJ(event.Event{Kind: event.StepResult, Step: s.ID, Uses: s.Uses, Attempt: p.Attempts,
					Message: "reconciled"}); err != nil {
					return nil, err
				}
				return out, nil
			}
		} else if err := r.emitJ(event.Event{Kind: event.StepReconciled, Step: s.ID, Uses: s.Uses,
			Message: "step cannot reconcile; running it again"}); err != nil {
			return nil, err
		}
	}
	pol := s.Retry
	for attempt := sr.Attempts + 1; ; attempt++ {
		sr.Attempts = attempt
		if mutating {
			if err := r.emitJ(event.Event{Step: s.ID, Uses: s.Uses, Attempt: attempt, Message: "attempt"}.
				With(event.StepIntentData{Name: "attempt"})); err != nil {
				return nil, err
			}
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if s.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, s.Timeout)
		}
		out, err := st.Run(actx, r.env(s, attempt))
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if timedOut && err != nil {
			err = steps.Transient(fmt.Errorf("timed out after %s: %w", s.Timeout, err))
		}
		if mutating {
			res := event.Event{Kind: event.StepResult, Step: s.ID, Uses: s.Uses, Attempt: attempt, Message: "ok"}
			if err != nil {
				res.Message = "error"
				res.Error = err.Error()
			}
			if jerr := r.emitJ(res); jerr != nil {
				return nil, jerr
			}
		}
		if err == nil {
			return out, nil
		}
		if _, ok := steps.IsSkip(err); ok {
			return nil, err
		}
		if isJournalError(err) || ctx.Err() != nil || !steps.IsTransient(err) || attempt >= pol.Attempts {
			if steps.IsTransient(err) && attempt >= pol.Attempts && pol.Attempts > 1 {
				err = fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			}
			return nil, err
		}
		delay := backoff(pol, attempt, steps.RetryAfter(err))
		if e := r.emitJ(event.Event{Step: s.ID, Uses: s.Uses, Attempt: attempt, Error: err.Error(),
			Message: fmt.Sprintf("transient error; attempt %d of %d in %s", attempt+1, pol.Attempts, delay.Round(time.Millisecond))}.
			With(event.StepRetriedData{DelayMS: delay.Milliseconds()})); e != nil {
			return nil, e
		}
		if err := r.o.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("waiting to retry: %w", err)
		}
	}
}

// maxServerWait caps how long a Retry-After may hold a step.
const maxServerWait = 2 * time.Minute

// backoff is the wait before the attempt after `attempt`: constant, or exponential with full
// jitter (a uniform draw in [0, min(max_delay, delay·2^(attempt-1))]); a server's Retry-After is
// honoured as a floor.
func backoff(p playbook.Retry, attempt int, serverWait time.Duration) time.Duration {
	d := p.Delay
	if p.Backoff != "constant" {
		ceiling := p.Delay << min(attempt-1, 30)
		if ceiling > p.MaxDelay || ceiling <= 0 {
			ceiling = p.MaxDelay
		}
		d = time.Duration(rand.Int64N(int64(ceiling) + 1))
	}
	if serverWait > d {
		d = min(serverWait, maxServerWait)
	}
	return d
}

func (r *runner) approve(ctx context.Context, s *playbook.Step, plan *steps.Plan) (Decision, error) {
	req := ApprovalRequest{RunID: r.o.RunID, Playbook: r.pb.Name, StepID: s.ID, Uses: s.Uses,
		Message: s.Approval.Message, Approvers: s.Approval.Approvers, TwoPerson: s.Approval.TwoPerson,
		Requester: r.o.StartedBy, Plan: plan, Timeout: s.Approval.Timeout}
	if err := r.approverMissing(); err != nil {
		d := Decision{Approved: false, By: "nobody", Via: "none", Reason: err.Error(), At: r.o.Now().UTC()}
		if err := r.emitJ(event.Event{Step: s.ID, Uses: s.Uses, Message: "nobody via none"}.
			With(event.StepDeniedData{Decision: d.record()})); err != nil {
			return Decision{}, err
		}
		return d, nil
	}
	if err := r.emitJ(event.Event{Step: s.ID, Uses: s.Uses, Message: "waiting for approval"}.
		With(event.ApprovalWaitingData{Approvers: s.Approval.Approvers})); err != nil {
		return Decision{}, err
	}
	actx := ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	d, err := r.o.Approver.Approve(actx, req)
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, fmt.Errorf("%w while waiting for approval", ErrInterrupted)
		}
		if actx.Err() != nil {
			d = Decision{Approved: false, By: "nobody", Via: "timeout", Reason: fmt.Sprintf("no decision within %s", req.Timeout)}
		} else if errors.Is(err, ErrNoApprover) {
			return Decision{}, err
		} else {
			return Decision{}, fmt.Errorf("approval: %w", err)
		}
	}
	if d.At.IsZero() {
		d.At = r.o.Now().UTC()
	}
	var p event.Payload = event.StepApprovedData{Decision: d.record()}
	if !d.Approved {
		p = event.StepDeniedData{Decision: d.record()}
	}
	if err := r.emitJ(event.Event{Step: s.ID, Uses: s.Uses, Message: fmt.Sprintf("%s via %s", d.By, d.Via)}.With(p)); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// RunDir is a run's artefact directory under the state dir.
func RunDir(stateDir, runID string) string { return filepath.Join(stateDir, "runs", runID+".d") }
