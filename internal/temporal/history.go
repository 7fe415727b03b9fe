package temporal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
)

// history is a run's record in its workflow: the runner's required sink. Emit returns only once
// the workflow has taken the event into its history, so an intent is durable before the step
// acts on it, as with a journal's fsync.
type history struct {
	client       client.Client
	workflowID   string
	runID        string
	updatePrefix string // the activity and attempt: an update ID retried is applied once
	after        func(event.Event)

	mu  sync.Mutex
	err error
}

// appendTries bounds how often one append is tried when the server does not answer.
const appendTries = 5

func (h *history) Emit(e event.Event) error {
	if err := h.failure(); err != nil {
		return err
	}
	id := fmt.Sprintf("%s-event-%d", h.updatePrefix, e.Seq)
	var err error
	for try := 1; try <= appendTries; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var handle client.WorkflowUpdateHandle
		handle, err = h.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{UpdateID: id, WorkflowID: h.workflowID,
			RunID: h.runID, UpdateName: UpdateAppend, Args: []any{e}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = handle.Get(ctx, nil)
		}
		cancel()
		if err == nil || isRejected(err) {
			break
		}
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
	}
	if err != nil {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
		return fmt.Errorf("append event %d to workflow %s: %w", e.Seq, h.workflowID, err)
	}
	if h.after != nil {
		h.after(e)
	}
	return nil
}

// isRejected tells a validator's refusal (another worker owns the run) from a transport error.
func isRejected(err error) bool {
	var app interface{ Type() string }
	return errors.As(err, &app)
}

func (h *history) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// events reads the run's events recorded so far.
func (h *history) events(ctx context.Context) ([]event.Event, error) {
	return queryEvents(ctx, h.client, h.workflowID, h.runID, 0)
}

func queryEvents(ctx context.Context, c client.Client, workflowID, runID string, from int) ([]event.Event, error) {
	v, err := c.QueryWorkflow(ctx, workflowID, runID, QueryEvents, from)
	if err != nil {
		return nil, err
	}
	var evs []event.Event
	if err := v.Get(&evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// approver asks through the workflow: the step's approval.waiting is in the history, and the
// decision arrives as an UpdateDecide from whoever answers (the terminal that submitted the run,
// a Slack button).
type approver struct {
	h *history
}

func (a approver) Available() error { return nil }

func (a approver) Approve(ctx context.Context, req engine.ApprovalRequest) (engine.Decision, error) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		v, err := a.h.client.QueryWorkflow(ctx, a.h.workflowID, a.h.runID, QueryDecision, req.StepID)
		if err == nil {
			var d *engine.Decision
			if err := v.Get(&d); err == nil && d != nil {
				return *d, nil
			}
		}
		select {
		case <-ctx.Done():
			return engine.Decision{}, ctx.Err()
		case <-t.C:
		}
	}
}

func (a *Activities) approver(_ context.Context, in RunInput, h *history) engine.Approver {
	switch in.Approve {
	case ApproveAuto:
		return engine.AutoApprover{By: in.StartedBy, Via: "--yes"}
	case ApproveAsk:
		return approver{h: h}
	}
	return nil
}
