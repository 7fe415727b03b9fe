package temporal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/steps"
)

// WorkflowID is the workflow of run runID: one workflow per run, so a run cannot be started
// twice.
func WorkflowID(runID string) string { return "respond-" + runID }

// Submit starts the run's workflow on the task queue.
func Submit(ctx context.Context, c client.Client, taskQueue string, in RunInput) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: WorkflowID(in.RunID), TaskQueue: taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		Memo:                     map[string]any{memoPlaybook: in.Playbook, memoMode: in.Mode, memoOrigin: in.Origin}}, WorkflowName, in)
	if err != nil {
		return fmt.Errorf("submit run %s to Temporal: %w", in.RunID, err)
	}
	return nil
}

// Follower follows one run's workflow.
type Follower struct {
	Client     client.Client
	WorkflowID string
	// Sink receives every event of the run, in order, as it is recorded.
	Sink event.Sink
	// Ask, when set, decides the run's approvals (a terminal prompt); its decisions go to the
	// workflow, where a Slack button may have answered first.
	Ask engine.Approver
	// Every is how often the events are read (default 300 ms).
	Every time.Duration

	asking sync.WaitGroup
}

// Follow feeds the run's events to the sink until the workflow ends, and returns its result and
// every event. When ctx ends first, the run goes on on the workers.
func (f *Follower) Follow(ctx context.Context) (PhaseResult, []event.Event, error) {
	every := f.Every
	if every <= 0 {
		every = 300 * time.Millisecond
	}
	type ended struct {
		res PhaseResult
		err error
	}
	done := make(chan ended, 1)
	go func() {
		var res PhaseResult
		err := f.Client.GetWorkflow(ctx, f.WorkflowID, "").Get(ctx, &res)
		done <- ended{res, err}
	}()
	// Questions end with the follow: the run ended (decided elsewhere) or the follower stopped.
	askCtx, stopAsking := context.WithCancel(ctx)
	defer func() { stopAsking(); f.asking.Wait() }()
	var evs []event.Event
	asked := map[int]bool{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var end *ended
		select {
		case <-ctx.Done():
			return PhaseResult{}, evs, ctx.Err()
		case e := <-done:
			end = &e
		case <-t.C:
		}
		more, err := queryEvents(ctx, f.Client, f.WorkflowID, "", len(evs))
		if err != nil && end == nil {
			continue // a worker is being replaced; the next read catches up
		}
		for _, e := range more {
			evs = append(evs, e)
			if f.Sink != nil {
				_ = f.Sink.Emit(e)
			}
		}
		if len(more) > 0 && f.Ask != nil {
			f.askWaiting(askCtx, evs, asked)
		}
		if end != nil {
			if end.err != nil {
				return end.res, evs, fmt.Errorf("run workflow %s: %w", f.WorkflowID, end.err)
			}
			return end.res, evs, nil
		}
	}
}

// askWaiting asks, once each, the approvals the run is waiting for now: one already decided,
// which a follower that joined late reads in the history, is not asked again.
func (f *Follower) askWaiting(ctx context.Context, evs []event.Event, asked map[int]bool) {
	run := engine.Fold(evs)
	for _, st := range run.Steps {
		if st.Status != event.Waiting {
			continue
		}
		seq := 0
		for _, e := range evs {
			if e.Kind == event.ApprovalWaiting && e.Step == st.ID {
				seq = e.Seq
			}
		}
		if seq == 0 || asked[seq] {
			continue
		}
		asked[seq] = true
		f.asking.Add(1)
		go f.ask(ctx, engine.ApprovalRequest{RunID: run.RunID, Playbook: run.Playbook, StepID: st.ID, Uses: st.Uses,
			Requester: run.StartedBy, Plan: st.Plan})
	}
}

// ask puts the waiting step's question to the terminal and sends the answer; a decision from
// elsewhere (Slack) that came first wins, and the workflow refuses this one.
func (f *Follower) ask(ctx context.Context, req engine.ApprovalRequest) {
	defer f.asking.Done()
	d, err := f.Ask.Approve(ctx, req)
	if err != nil {
		return
	}
	_ = Decide(ctx, f.Client, f.WorkflowID, req.StepID, d)
}

// Decide sends a decision for a step waiting for an approval.
func Decide(ctx context.Context, c client.Client, workflowID, step string, d engine.Decision) error {
	if d.At.IsZero() {
		d.At = time.Now().UTC()
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflowID, UpdateName: UpdateDecide,
		Args: []any{DecideRequest{Step: step, Decision: d}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("send the decision for step %s: %w", step, err)
	}
	return nil
}

// Err is the error a run with this result ended with, for exit codes: the engine's, rebuilt.
func (r PhaseResult) Err() error {
	err := engine.OutcomeError(r.Outcome, r.Error)
	if err != nil && r.Credentials {
		return credentialsError{err}
	}
	return err
}

// credentialsError is a run's error that a missing credential caused (exit code 4); its text is
// the run's own.
type credentialsError struct{ error }

func (e credentialsError) Unwrap() []error { return []error{e.error, steps.ErrCredentials} }

// Events reads every event a run's workflow has recorded (running or not).
func Events(ctx context.Context, c client.Client, workflowID string) ([]event.Event, error) {
	evs, err := queryEvents(ctx, c, workflowID, "", 0)
	if err != nil {
		return nil, fmt.Errorf("read the events of workflow %s: %w", workflowID, err)
	}
	return evs, nil
}

// Memo fields of a run's workflow (sealed like every payload): what a listing shows without
// reading each run's events.
const (
	memoPlaybook = "playbook"
	memoMode     = "mode"
	memoOrigin   = "origin"
)

// Running lists the IDs of the runs still running that origin submitted.
func Running(ctx context.Context, c client.Client, key *Key, origin string) ([]string, error) {
	var ids []string
	var token []byte
	dc := DataConverter(key)
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token,
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", WorkflowName)})
		if err != nil {
			return nil, fmt.Errorf("list running runs on Temporal: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			var o string
			if p := ex.GetMemo().GetFields()[memoOrigin]; p == nil || dc.FromPayload(p, &o) != nil || o != origin {
				continue // another submitter's, or sealed with another key
			}
			ids = append(ids, strings.TrimPrefix(ex.GetExecution().GetWorkflowId(), "respond-"))
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return ids, nil
		}
	}
}

// List summarizes the newest runs on the service, newest first, at most limit of them: a run still
// running is "running", one that ended has its outcome.
func List(ctx context.Context, c client.Client, key *Key, limit int) ([]journal.Summary, error) {
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowType = '%s'", WorkflowName), PageSize: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list runs on Temporal: %w", err)
	}
	dc := DataConverter(key)
	var out []journal.Summary
	for _, ex := range resp.GetExecutions() {
		s := journal.Summary{RunID: strings.TrimPrefix(ex.GetExecution().GetWorkflowId(), "respond-"),
			Started: ex.GetStartTime().AsTime(), Status: strings.ToLower(ex.GetStatus().String())}
		for name, dst := range map[string]*string{memoPlaybook: &s.Playbook, memoMode: &s.Mode} {
			if p := ex.GetMemo().GetFields()[name]; p != nil {
				_ = dc.FromPayload(p, dst)
			}
		}
		if ex.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			var res PhaseResult
			if err := c.GetWorkflow(ctx, ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()).Get(ctx, &res); err == nil {
				s.Status = res.Outcome
			}
		}
		out = append(out, s)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// ErrSucceeded is Resume's answer for a run whose workflow ended with the run succeeded.
var ErrSucceeded = errors.New("the run already succeeded")

// Resume continues run runID when its workflow has ended without the run succeeding (a step
// failed because a worker lacked a credential, the run was denied, the workflow failed or was
// terminated): a new execution of the same workflow starts with the previous one's input and its
// events as its history, and the workers continue the run as a local resume does. It returns the
// new execution's input, or nil when the workflow is still running (its workers continue it by
// themselves). approve, when set, replaces how the run's approvals are decided.
func Resume(ctx context.Context, c client.Client, key *Key, taskQueue, runID, approve string) (*RunInput, error) {
	id := WorkflowID(runID)
	desc, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return nil, fmt.Errorf("read the state of workflow %s: %w", id, err)
	}
	info := desc.RawResponse.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return nil, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res PhaseResult
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			return nil, fmt.Errorf("read the result of workflow %s: %w", id, err)
		}
		if res.Outcome == engine.OutcomeSucceeded {
			return nil, ErrSucceeded
		}
	}
	in, err := startInput(ctx, c, key, id, info.GetExecution().GetRunId())
	if err != nil {
		return nil, err
	}
	// Read with the events query, which a closed workflow answers too; they stay sealed by the
	// codec on their way back to the server.
	if in.Prior, err = queryEvents(ctx, c, id, info.GetExecution().GetRunId(), 0); err != nil {
		return nil, fmt.Errorf("read the events of workflow %s: %w", id, err)
	}
	if approve != "" {
		in.Approve = approve
	}
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		Memo:                     map[string]any{memoPlaybook: in.Playbook, memoMode: in.Mode, memoOrigin: in.Origin}}, WorkflowName, in)
	if err != nil {
		return nil, fmt.Errorf("start run %s again on Temporal: %w", runID, err)
	}
	return &in, nil
}

// startInput is the input execution runID of workflow id was started with, opened with key.
func startInput(ctx context.Context, c client.Client, key *Key, id, runID string) (RunInput, error) {
	var in RunInput
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return in, fmt.Errorf("workflow %s has no history", id)
	}
	first, err := it.Next()
	if err != nil {
		return in, fmt.Errorf("read the history of workflow %s: %w", id, err)
	}
	attrs := first.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return in, fmt.Errorf("workflow %s: its history does not begin with its start", id)
	}
	if err := DataConverter(key).FromPayloads(attrs.GetInput(), &in); err != nil {
		return in, fmt.Errorf("open the input of workflow %s: %w", id, err)
	}
	return in, nil
}
