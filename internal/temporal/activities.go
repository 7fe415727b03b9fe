package temporal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/catalog"
)

// errBadRun is the error type of a run no worker can execute (its playbook does not load, a
// secret input cannot be found): retrying elsewhere would not help.
const errBadRun = "respond.BadRun"

// ResolveFunc replaces secret references among inputs with their values, registered with
// secrets, and returns the references by input name (the CLI's resolver, shared by every run).
type ResolveFunc func(ctx context.Context, pb *playbook.Playbook, inputs map[string]any, getenv func(string) string,
	secrets *redact.Set) (map[string]any, map[string]string, error)

// Activities execute a run's phases on a worker.
type Activities struct {
	Client client.Client
	Key    *Key
	// Dir is the worker's state directory: runs' work directories live under it.
	Dir     string
	Getenv  func(string) string
	Now     func() time.Time
	Resolve ResolveFunc
	// Warnings receives what goes wrong beside a run (Slack unavailable).
	Warnings io.Writer
	// AfterAppend is called once an event is in the history (tests crash the worker with it).
	AfterAppend func(event.Event)
}

// Begin records the run's start and runs the preflights; it returns how each step is scheduled.
func (a *Activities) Begin(ctx context.Context, in RunInput) (PhaseResult, error) {
	res, pb, err := a.phase(ctx, in, engine.Phase{Kind: engine.PhaseBegin})
	if err != nil || res.Outcome != "" {
		return res, err
	}
	for _, s := range pb.Steps {
		res.Steps = append(res.Steps, policy(s))
	}
	return res, nil
}

// Step runs one step.
func (a *Activities) Step(ctx context.Context, in RunInput, id string) (PhaseResult, error) {
	res, _, err := a.phase(ctx, in, engine.Phase{Kind: engine.PhaseStep, Step: id})
	return res, err
}

// Finish concludes the run; abort, when set, says why a step could not be run to its end.
func (a *Activities) Finish(ctx context.Context, in RunInput, abort string) (PhaseResult, error) {
	res, _, err := a.phase(ctx, in, engine.Phase{Kind: engine.PhaseFinish, Abort: abort})
	return res, err
}

// phase runs one phase of the run through the runner, with the workflow's history as its record.
func (a *Activities) phase(ctx context.Context, in RunInput, ph engine.Phase) (PhaseResult, *playbook.Playbook, error) {
	secrets := redact.New()
	pb, err := playbook.Load(in.PlaybookFile, []byte(in.PlaybookSource), catalog.Lookup)
	if err != nil {
		return PhaseResult{}, nil, badRun(secrets, fmt.Errorf("load the run's playbook: %w", err))
	}
	if in.SlackChannel != "" {
		pb.Notify.SlackChannel = in.SlackChannel
	}
	inputs, refs, err := a.inputs(ctx, in, pb, secrets)
	if err != nil {
		return PhaseResult{}, nil, err
	}
	info := activity.GetInfo(ctx)
	h := &history{client: a.Client, workflowID: info.WorkflowExecution.ID, runID: info.WorkflowExecution.RunID,
		updatePrefix: fmt.Sprintf("%s-%d", info.ActivityID, info.Attempt), after: a.AfterAppend}
	prior, err := h.events(ctx)
	if err != nil {
		return PhaseResult{}, nil, fmt.Errorf("read the run's events: %w", err)
	}
	stop := heartbeat(ctx, in.HeartbeatTimeout)
	defer stop()
	rn := &runner.Runner{Dir: a.Dir, Secrets: secrets, Getenv: a.Getenv, Now: a.Now, Warnings: a.Warnings}
	run, runErr := rn.Start(ctx, runner.Spec{Playbook: pb, Inputs: inputs, SecretRefs: refs, DryRun: in.DryRun,
		Mode: in.Mode, StartedBy: in.StartedBy, Approver: a.approver(ctx, in, h), RunID: in.RunID, Prior: prior,
		Record: h, Phase: ph})
	if run != nil {
		run.Close()
	}
	if err := h.failure(); err != nil {
		return PhaseResult{}, nil, fmt.Errorf("record the run's events: %s", secrets.String(err.Error()))
	}
	if ctx.Err() != nil {
		// The worker is stopping or lost the activity: the step is not over, another worker
		// picks it up from the history.
		return PhaseResult{}, nil, fmt.Errorf("%s interrupted on this worker: %w", ph.Kind, ctx.Err())
	}
	res := PhaseResult{Outcome: run.Result.Outcome, Credentials: errors.Is(runErr, steps.ErrCredentials)}
	if runErr != nil {
		res.Error = secrets.String(runErr.Error())
	}
	return res, pb, nil
}

// badRun is a non-retryable error, its message masked.
func badRun(secrets *redact.Set, err error) error {
	return temporal.NewApplicationErrorWithOptions(secrets.String(err.Error()), errBadRun, temporal.ApplicationErrorOptions{NonRetryable: true})
}

// inputs are the run's inputs with each secret input's value found on this worker.
func (a *Activities) inputs(ctx context.Context, in RunInput, pb *playbook.Playbook, secrets *redact.Set) (map[string]any, map[string]string, error) {
	inputs := make(map[string]any, len(in.Inputs)+len(in.Secrets))
	for k, v := range in.Inputs {
		inputs[k] = v
	}
	for name, src := range in.Secrets {
		var v string
		switch {
		case src == SourceEnv:
			env := "RESPOND_INPUT_" + strings.ToUpper(name)
			if v = strings.TrimSpace(a.Getenv(env)); v == "" {
				return nil, nil, badRun(secrets, fmt.Errorf("secret input %s: %s is not set on this worker", name, env))
			}
		case strings.HasPrefix(src, sealedPrefix):
			var err error
			if v, err = a.Key.Open(in.RunID, name, src); err != nil {
				return nil, nil, badRun(secrets, err)
			}
		default:
			v = src // a reference: Resolve fetches the value
		}
		secrets.Add(v)
		inputs[name] = v
	}
	// Bound here as the CLI binds them, whoever submitted the run: coerced, defaults filled.
	inputs, missing, err := pb.Bind(inputs, func(string) string { return "the workflow's input" })
	if err != nil {
		return nil, nil, badRun(secrets, err)
	}
	if len(missing) > 0 {
		return nil, nil, badRun(secrets, fmt.Errorf("required inputs not given: %s", strings.Join(missing, ", ")))
	}
	if a.Resolve == nil {
		return inputs, nil, nil
	}
	inputs, refs, err := a.Resolve(ctx, pb, inputs, a.Getenv, secrets)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve secret inputs: %s", secrets.String(err.Error()))
	}
	return inputs, refs, nil
}

// heartbeat tells the server this worker is alive until stop is called; a worker that dies stops
// telling it, and the activity goes to another worker after the heartbeat timeout.
func heartbeat(ctx context.Context, timeout time.Duration) (stop func()) {
	if timeout <= 0 {
		timeout = defaultHeartbeat
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(timeout / 4)
		defer t.Stop()
		for {
			activity.RecordHeartbeat(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// policy is how step s is scheduled: its timeout bounds each attempt inside the activity, and
// the activity's own bound leaves room for every attempt, the waits between them and an
// approval. The engine retries the step's transient errors itself (recording each attempt, with
// the server's Retry-After honoured); Temporal's retry, shaped like the step's policy, retries
// the activity when a worker dies or loses it, a few times beyond the step's attempts.
func policy(s *playbook.Step) StepPolicy {
	attempts := max(s.Retry.Attempts, 1)
	per := s.Timeout
	if per <= 0 {
		per = 24 * time.Hour
	}
	total := time.Duration(attempts)*per + time.Duration(attempts-1)*max(s.Retry.MaxDelay, 2*time.Minute) + time.Minute
	if s.Approval != nil && s.Approval.Required {
		wait := s.Approval.Timeout
		if wait <= 0 {
			wait = 7 * 24 * time.Hour
		}
		total += wait
	}
	initial := max(s.Retry.Delay, time.Second)
	coefficient := 2.0
	if s.Retry.Backoff == "constant" {
		coefficient = 1
	}
	return StepPolicy{ID: s.ID, StartToClose: total, Retry: temporal.RetryPolicy{InitialInterval: initial,
		BackoffCoefficient: coefficient, MaximumInterval: max(s.Retry.MaxDelay, initial), MaximumAttempts: int32(attempts + 3)}}
}
