// Package temporal runs respond's playbooks as Temporal workflows, so a run outlives the machine
// that started it: the run is a workflow, its beginning (run.started and the preflights), each
// step and its end are activities that any worker may pick up, and the run's events — its
// journal — live in the workflow's history. It owns the workflow and its activities, the
// payload codec that keeps that history encrypted, the worker, and the client side that submits
// a run and follows it.
//
// Exactly-once is the engine's: an activity appends each event to the workflow with an update
// and acts only once the update (an intent, say) is in the history. A step retried on another
// worker starts from the history, so the engine reconciles the step's open intents with the
// real system before acting again, as `respond resume` does after a crash.
package temporal

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
)

// Names registered with Temporal. Running workflows refer to them: never rename one.
const (
	WorkflowName   = "respond.run"
	activityBegin  = "respond.begin"
	activityStep   = "respond.step"
	activityFinish = "respond.finish"
	// UpdateAppend adds one event to the run's history (activities call it before acting).
	UpdateAppend = "respond.append"
	// UpdateDecide records an approval decision for a step waiting for one.
	UpdateDecide = "respond.decide"
	// QueryEvents returns the run's events from an index on.
	QueryEvents = "respond.events"
	// QueryDecision returns the decision recorded for a step, or nil.
	QueryDecision = "respond.decision"
)

// DefaultTaskQueue is the task queue workers poll and runs are submitted to unless told otherwise.
const DefaultTaskQueue = "respond"

// How a run's approval-gated steps are decided (RunInput.Approve).
const (
	ApproveNobody = ""    // nobody can be asked: gated steps are skipped, as without a terminal
	ApproveAuto   = "yes" // approved as --yes, in the name of StartedBy
	ApproveAsk    = "ask" // asked: the decision arrives as an UpdateDecide (terminal, Slack)
)

// RunInput is a workflow's input. It never holds a secret input's value: Secrets says where a
// worker finds each one.
type RunInput struct {
	RunID string
	// Playbook is the playbook's name, shown by `respond runs list --temporal`.
	Playbook       string
	PlaybookFile   string
	PlaybookSource string
	// Inputs are the non-secret inputs' values.
	Inputs map[string]any
	// Secrets maps each given secret input to its source: SourceEnv (the worker's
	// RESPOND_INPUT_<NAME>), a value sealed for this run (Key.Seal), or a secret reference
	// (github-alert:OWNER/REPO#N) the worker resolves.
	Secrets   map[string]string
	Mode      string
	DryRun    bool
	StartedBy string
	Approve   string
	// HeartbeatTimeout is how soon a dead worker's step is given to another worker.
	HeartbeatTimeout time.Duration
	// SlackChannel, when set, is where the workers post the run's progress instead of the
	// playbook's channel (a run started from Slack reports where it was asked for).
	SlackChannel string
	// Origin says who submitted the run (OriginSlack: serve, which follows it again after a
	// restart); empty for a terminal.
	Origin string
	// Prior, set when a run that ended without succeeding is resumed (Resume), holds the events
	// of its previous execution: the workflow starts with them as its history, and the engine
	// continues the run from them as a local resume does. Activities are given the input without it.
	Prior []event.Event
}

// OriginSlack marks runs respond serve submitted.
const OriginSlack = "slack"

// SourceEnv is the source of a secret input that workers read from their environment.
const SourceEnv = "env"

// StepPolicy is how one step is scheduled as an activity, derived from its retry, timeout and
// approval by the worker that loaded the playbook (the workflow never parses playbooks).
type StepPolicy struct {
	ID           string
	StartToClose time.Duration
	Retry        temporal.RetryPolicy
}

// PhaseResult is what a phase activity reports. A non-empty Outcome means the run finished.
type PhaseResult struct {
	Outcome string
	Error   string
	// Credentials is set when the run failed for a missing credential (exit code 4).
	Credentials bool
	// Steps are the playbook's steps, from the begin phase.
	Steps []StepPolicy
}

// DecideRequest is an UpdateDecide's argument.
type DecideRequest struct {
	Step     string
	Decision engine.Decision
}

// defaultHeartbeat is how long a worker may be silent before its activity is retried elsewhere.
const defaultHeartbeat = 20 * time.Second

// run is a workflow's state: the run's events as appended, and decisions waiting to be read.
type run struct {
	events    []event.Event
	waiting   map[string]bool
	decisions map[string]engine.Decision
}

// Workflow runs one playbook: begin, each step in order, finish. A phase that reports an outcome
// ended the run (preflight failed, a step failed and stops it).
func Workflow(ctx workflow.Context, in RunInput) (PhaseResult, error) {
	r := &run{events: in.Prior, waiting: map[string]bool{}, decisions: map[string]engine.Decision{}}
	in.Prior = nil // each activity reads the events from the workflow
	if err := r.register(ctx); err != nil {
		return PhaseResult{}, err
	}
	// The phases as they are today; a change to the commands this function issues branches on
	// a new version here, so runs started before it replay as they ran.
	_ = workflow.GetVersion(ctx, "respond.phases", 1, 1)
	hb := in.HeartbeatTimeout
	if hb <= 0 {
		hb = defaultHeartbeat
	}
	phase := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout: hb, RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: []string{errBadRun}}})
	var res PhaseResult
	if err := workflow.ExecuteActivity(phase, activityBegin, in).Get(ctx, &res); err != nil {
		return res, err
	}
	if res.Outcome != "" {
		return r.done(ctx, res)
	}
	abort := ""
	for _, p := range res.Steps {
		var sr PhaseResult
		retry := p.Retry
		retry.NonRetryableErrorTypes = []string{errBadRun}
		sctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: p.StartToClose,
			HeartbeatTimeout: hb, RetryPolicy: &retry})
		if err := workflow.ExecuteActivity(sctx, activityStep, in, p.ID).Get(ctx, &sr); err != nil {
			abort = fmt.Sprintf("step %s could not be run to its end: %v", p.ID, err)
			break
		}
		if sr.Outcome != "" {
			return r.done(ctx, sr)
		}
	}
	if err := workflow.ExecuteActivity(phase, activityFinish, in, abort).Get(ctx, &res); err != nil {
		return res, err
	}
	return r.done(ctx, res)
}

// done returns the run's result once every update handler has finished.
func (r *run) done(ctx workflow.Context, res PhaseResult) (PhaseResult, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return res, err
	}
	return res, nil
}

func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAppend, r.append,
		workflow.UpdateHandlerOptions{Validator: r.validAppend}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, r.decide,
		workflow.UpdateHandlerOptions{Validator: r.validDecide}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryEvents, func(from int) ([]event.Event, error) {
		if from < 0 || from > len(r.events) {
			return nil, nil
		}
		return r.events[from:], nil
	}); err != nil {
		return err
	}
	return workflow.SetQueryHandler(ctx, QueryDecision, func(step string) (*engine.Decision, error) {
		d, ok := r.decisions[step]
		if !ok {
			return nil, nil
		}
		return &d, nil
	})
}

// validAppend takes events in order only: an append numbered for a history that has moved on
// comes from a worker that lost its activity to another, and must not act.
func (r *run) validAppend(_ workflow.Context, e event.Event) error {
	if e.Seq != len(r.events)+1 {
		return fmt.Errorf("event %d (%s) does not follow the run's %d events: another worker has taken over this run", e.Seq, e.Kind, len(r.events))
	}
	return nil
}

func (r *run) append(_ workflow.Context, e event.Event) error {
	r.events = append(r.events, e)
	switch e.Kind {
	case event.ApprovalWaiting:
		r.waiting[e.Step] = true
		delete(r.decisions, e.Step)
	case event.StepApproved, event.StepDenied, event.StepSkipped, event.StepFailed, event.StepSucceeded:
		r.waiting[e.Step] = false
	}
	return nil
}

func (r *run) validDecide(_ workflow.Context, d DecideRequest) error {
	if !r.waiting[d.Step] {
		return fmt.Errorf("step %s is not waiting for an approval", d.Step)
	}
	if _, ok := r.decisions[d.Step]; ok {
		return fmt.Errorf("step %s has a decision already", d.Step)
	}
	return nil
}

func (r *run) decide(_ workflow.Context, d DecideRequest) error {
	r.decisions[d.Step] = d.Decision
	return nil
}
