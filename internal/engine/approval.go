package engine

import (
	"context"
	"errors"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/steps"
)

// ApprovalRequest is what an approver is asked to decide.
type ApprovalRequest struct {
	RunID     string
	Playbook  string
	StepID    string
	Uses      string
	Message   string
	Approvers []string
	TwoPerson bool
	Requester string
	Plan      *steps.Plan
	Timeout   time.Duration
}

// Decision is an approver's answer: who, how and when.
type Decision struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Via      string    `json:"via"` // terminal | slack | --yes | rehearsal | timeout
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// Approver decides approvals. It may block until a person answers or ctx ends.
type Approver interface {
	Approve(ctx context.Context, req ApprovalRequest) (Decision, error)
}

// AutoApprover approves everything, recording who it stands for (--yes, rehearsal).
type AutoApprover struct {
	By, Via string
}

// Approve approves.
func (a AutoApprover) Approve(_ context.Context, req ApprovalRequest) (Decision, error) {
	return Decision{Approved: true, By: a.By, Via: a.Via, Reason: "approved automatically"}, nil
}

// FirstOf asks every approver at once and takes the first decision: the same run can be
// approved from the terminal or from Slack, whichever answers first.
type FirstOf []Approver

// Approve returns the first decision (or, if all fail, the first error).
func (f FirstOf) Approve(ctx context.Context, req ApprovalRequest) (Decision, error) {
	if len(f) == 0 {
		return Decision{}, ErrNoApprover
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		d   Decision
		err error
	}
	ch := make(chan answer, len(f))
	for _, a := range f {
		go func() {
			d, err := a.Approve(ctx, req)
			ch <- answer{d, err}
		}()
	}
	var errs []error
	for range f {
		a := <-ch
		if a.err == nil {
			return a.d, nil
		}
		errs = append(errs, a.err)
	}
	return Decision{}, errors.Join(errs...)
}

// Available reports an error only when no member can ask anybody.
func (f FirstOf) Available() error {
	var errs []error
	for _, a := range f {
		av, ok := a.(interface{ Available() error })
		if !ok {
			return nil
		}
		err := av.Available()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return ErrNoApprover
	}
	return errors.Join(errs...)
}

// record is the decision as the journal keeps it (approved or denied is the event's kind).
func (d Decision) record() event.Decision {
	return event.Decision{By: d.By, Via: d.Via, Reason: d.Reason, At: d.At}
}
