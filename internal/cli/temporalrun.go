package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/internal/secretref"
	"github.com/respond-sec/respond/internal/temporal"
	"github.com/respond-sec/respond/internal/todo"
	"github.com/respond-sec/respond/steps/catalog"
)

// runInput is the workflow input of spec's run: non-secret inputs as they are, each secret input
// sealed for this run with the deployment's key, or, when it names where the value lives (a
// GitHub alert), that reference, which the worker resolves.
func runInput(key *temporal.Key, runID string, s runner.Spec) temporal.RunInput {
	in := temporal.RunInput{RunID: runID, Playbook: s.Playbook.Name, PlaybookFile: s.Playbook.File, PlaybookSource: string(s.Playbook.Source),
		Inputs: map[string]any{}, Secrets: map[string]string{}, Mode: s.Mode, DryRun: s.DryRun, StartedBy: s.StartedBy}
	for _, pi := range s.Playbook.Inputs {
		v, ok := s.Inputs[pi.Name]
		if !ok {
			continue
		}
		str, isString := v.(string)
		switch {
		case !pi.Secret:
			in.Inputs[pi.Name] = v
		case !isString || str == "":
		case isRef(str):
			in.Secrets[pi.Name] = str
		default:
			in.Secrets[pi.Name] = key.Seal(runID, pi.Name, str)
		}
	}
	return in
}

func isRef(s string) bool {
	_, err := secretref.Parse(s)
	return err == nil
}

// submitTemporal submits spec's run to Temporal and follows it to its end with the terminal
// view, the prompt and the summary a local run has; the exit code is the run's.
func (f *Factory) submitTemporal(ctx context.Context, t temporalOptions, s runSpec, yes bool) error {
	key, c, err := f.dialTemporal(ctx, t)
	if err != nil {
		return err
	}
	defer c.Close()
	runID := runner.NewRunID(f.Now())
	in := runInput(key, runID, s.Spec)
	switch {
	case yes:
		in.Approve = temporal.ApproveAuto
	case f.IO.InTTY && f.IO.ErrTTY:
		in.Approve = temporal.ApproveAsk
	}
	if err := temporal.Submit(ctx, c, t.TaskQueue, in); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Err, "run %s submitted to Temporal at %s (workflow %s, task queue %s)\n\n",
		runID, t.Address, temporal.WorkflowID(runID), t.TaskQueue)
	return f.followTemporal(ctx, c, t, runID, s.Playbook, s.output, in.Approve == temporal.ApproveAsk)
}

// followTemporal shows run runID's events as the workers record them and prints its summary.
// Interrupting it leaves the run to the workers.
func (f *Factory) followTemporal(ctx context.Context, c client.Client, t temporalOptions, runID string, pb *playbook.Playbook,
	output string, ask bool) error {
	var term *termSink
	fol := &temporal.Follower{Client: c, WorkflowID: temporal.WorkflowID(runID)}
	if output == "text" {
		term = newTermSink(f.IO.Err, f.IO.ErrTTY, pb, f.Now)
		term.size = f.IO.ErrSize
		defer term.Close()
		fol.Sink = term
	}
	if ask {
		tty := &ttyApprover{in: bufio.NewReader(f.IO.In), out: f.IO.Err, term: term, user: currentUser(f.Getenv)}
		fol.Ask = stepApprover{pb: pb, next: tty}
	}
	res, evs, err := fol.Follow(ctx)
	if term != nil {
		term.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(f.IO.Err, "\nstopped following run %s; it goes on on the workers: respond resume --temporal %s %s follows it again\n",
				runID, t.Address, runID)
			return &reported{code: ExitInterrupted, err: fmt.Errorf("%w: stopped following", engine.ErrInterrupted)}
		}
		return err
	}
	result := engine.Fold(evs).Result(pb)
	if output == "json" {
		b, _ := json.MarshalIndent(jsonSummary(result), "", "  ")
		fmt.Fprintln(f.IO.Out, f.Secrets.String(string(b)))
	} else {
		printSummary(f.IO.Out, result, "temporal:"+temporal.WorkflowID(runID), todo.FromEvents(evs))
	}
	if runErr := res.Err(); runErr != nil {
		return &reported{code: ExitCode(runErr), err: runErr}
	}
	return nil
}

// stepApprover completes a request from the history (step and plan) with what the playbook says
// about the step's approval, before asking.
type stepApprover struct {
	pb   *playbook.Playbook
	next engine.Approver
}

func (a stepApprover) Approve(ctx context.Context, req engine.ApprovalRequest) (engine.Decision, error) {
	for _, s := range a.pb.Steps {
		if s.ID == req.StepID && s.Approval != nil {
			req.Message, req.Approvers, req.TwoPerson, req.Playbook = s.Approval.Message, s.Approval.Approvers, s.Approval.TwoPerson, a.pb.Name
		}
	}
	return a.next.Approve(ctx, req)
}

// temporalRun reads run runID's events from its workflow and the playbook they record.
func temporalRun(ctx context.Context, c client.Client, runID string) (*playbook.Playbook, []event.Event, error) {
	evs, err := temporal.Events(ctx, c, temporal.WorkflowID(runID))
	if err != nil {
		return nil, nil, err
	}
	st := engine.Fold(evs)
	if st.Source == "" {
		return nil, evs, errors.New("run " + runID + " has not started yet: no worker has picked it up")
	}
	pb, err := playbook.Load(st.File, []byte(st.Source), catalog.Lookup)
	if err != nil {
		return nil, evs, fmt.Errorf("the playbook recorded in %s no longer loads: %w", runID, err)
	}
	return pb, evs, nil
}

// resumeTemporal continues a run on Temporal. One that ended without succeeding starts again
// from its events, as a local resume continues it (its failed step retried, the steps that
// succeeded not run again); one still running is followed again from its first event on, with
// its approvals asked here; one that succeeded is summarized.
func resumeTemporal(ctx context.Context, f *Factory, t temporalOptions, runID, output string, yes bool) error {
	if output != "text" && output != "json" {
		return usageErr("--output must be text or json, got %q", output)
	}
	key, c, err := f.dialTemporal(ctx, t)
	if err != nil {
		return err
	}
	defer c.Close()
	ask := f.IO.InTTY && f.IO.ErrTTY
	approve := ""
	switch {
	case yes:
		approve = temporal.ApproveAuto
	case ask:
		approve = temporal.ApproveAsk
	}
	in, err := temporal.Resume(ctx, c, key, t.TaskQueue, runID, approve)
	if err != nil && !errors.Is(err, temporal.ErrSucceeded) {
		return err
	}
	if in == nil {
		pb, _, err := temporalRun(ctx, c, runID)
		if err != nil {
			return usageErr("%v", err)
		}
		return f.followTemporal(ctx, c, t, runID, pb, output, ask)
	}
	pb, err := playbook.Load(in.PlaybookFile, []byte(in.PlaybookSource), catalog.Lookup)
	if err != nil {
		return fmt.Errorf("load the playbook of run %s: %w", runID, err)
	}
	fmt.Fprintf(f.IO.Err, "run %s ended without succeeding; resumed on Temporal at %s (workflow %s, task queue %s)\n\n",
		runID, t.Address, temporal.WorkflowID(runID), t.TaskQueue)
	return f.followTemporal(ctx, c, t, runID, pb, output, in.Approve == temporal.ApproveAsk)
}
