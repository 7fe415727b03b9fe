package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.temporal.io/sdk/client"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/internal/slackserver"
	"github.com/respond-sec/respond/internal/temporal"
)

// temporalServeRunner starts Slack-requested runs as Temporal workflows: the workers run them and
// post their progress in the channel the command came from, and this server follows each one to
// put its approvals to Slack and send the answers back. A bot that crashes or is redeployed loses
// no run: the workers go on without it.
type temporalServeRunner struct {
	*serveRunner
	client client.Client
	key    *temporal.Key
	t      temporalOptions
}

var _ slackserver.Runner = (*temporalServeRunner)(nil)

// serveBackend is what runs serve's runs: local, or with --temporal the workers; the returned
// function releases it.
func (f *Factory) serveBackend(ctx context.Context, t temporalOptions, local *serveRunner) (slackserver.Runner, func(), error) {
	if t.Address == "" {
		return local, func() {}, nil
	}
	key, c, err := f.dialTemporal(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	local.logf("runs go to Temporal at %s (task queue %s)", t.Address, t.TaskQueue)
	return &temporalServeRunner{serveRunner: local, client: c, key: key, t: t}, c.Close, nil
}

func (r *temporalServeRunner) Start(ctx context.Context, req slackserver.RunRequest) (string, error) {
	pb, err := loadPlaybook(req.Playbook)
	if err != nil {
		return "", err
	}
	inputs, err := slackInputs(pb, req.Inputs)
	if err != nil {
		return "", err
	}
	mode := engine.ModeReal
	if req.DryRun {
		mode = engine.ModeDryRun
	}
	runID := runner.NewRunID(r.f.Now())
	in := runInput(r.key, runID, runner.Spec{Playbook: pb, Inputs: inputs, DryRun: req.DryRun, Mode: mode, StartedBy: req.User})
	for k, v := range req.Secrets {
		clean, _ := normalizeSecret(v)
		r.f.Secrets.Add(v, clean)
		in.Secrets[k] = r.key.Seal(runID, k, clean)
	}
	in.SlackChannel, in.Origin = req.Channel, temporal.OriginSlack
	if req.Approver != nil {
		in.Approve = temporal.ApproveAsk
	}
	if err := temporal.Submit(ctx, r.client, r.t.TaskQueue, in); err != nil {
		return "", err
	}
	return r.follow(ctx, runID, pb, req.Approver)
}

// follow tracks run runID for /respond status and list and, with approver, puts its approvals
// to Slack in the run's thread.
func (r *temporalServeRunner) follow(ctx context.Context, runID string, pb *playbook.Playbook, approver func(slackserver.Threader) engine.Approver) (string, error) {
	return r.runs.Start(ctx, pb.Name, func(runCtx context.Context, track event.Sink) error {
		// The run exists from now on, whether or not a worker has picked it up yet.
		_ = track.Emit(event.Event{RunID: runID})
		th := &eventThread{ready: make(chan struct{})}
		fol := &temporal.Follower{Client: r.client, WorkflowID: temporal.WorkflowID(runID),
			Sink: event.SinkFunc(func(e event.Event) error { th.see(e); return track.Emit(e) })}
		if approver != nil {
			fol.Ask = stepApprover{pb: pb, next: approver(th)}
		}
		res, _, err := fol.Follow(runCtx)
		if err != nil {
			return err
		}
		return res.Err()
	})
}

// adopt follows again the runs this server (or the one it replaces) submitted that are still
// running: a restarted bot asks their pending approvals anew.
func (r *temporalServeRunner) adopt(ctx context.Context, approverFor func(playbook, requester string) func(slackserver.Threader) engine.Approver) {
	ids, err := temporal.Running(ctx, r.client, r.key, temporal.OriginSlack)
	if err != nil {
		r.logf("cannot list the runs in flight on Temporal: %v", err)
		return
	}
	for _, id := range ids {
		pb, evs, err := temporalRun(ctx, r.client, id)
		if err != nil {
			r.logf("run %s: %v", id, err)
			continue
		}
		if _, err := r.follow(ctx, id, pb, approverFor(pb.Name, engine.Fold(evs).StartedBy)); err != nil {
			r.logf("run %s: %v", id, err)
			continue
		}
		r.logf("following run %s (%s) again", id, pb.Name)
	}
}

// eventThread is a run's Slack thread as its events record it (the workers post the message).
type eventThread struct {
	once    sync.Once
	ready   chan struct{}
	channel string
	ts      string
}

func (th *eventThread) see(e event.Event) {
	if e.Kind != event.SlackThread {
		return
	}
	d, err := event.Decode[event.SlackThreadData](e)
	if err != nil || d.TS == "" {
		return
	}
	th.once.Do(func() {
		th.channel, th.ts = d.Channel, d.TS
		close(th.ready)
	})
}

func (th *eventThread) Thread(ctx context.Context) (string, string, error) {
	select {
	case <-th.ready:
		return th.channel, th.ts, nil
	case <-ctx.Done():
		return "", "", fmt.Errorf("the run's Slack message was never posted (do the workers have SLACK_BOT_TOKEN?): %w", ctx.Err())
	}
}

func (r *temporalServeRunner) Status(runID string) (string, error) {
	evs, err := temporal.Events(context.Background(), r.client, temporal.WorkflowID(runID))
	if err != nil {
		return "", err
	}
	run := engine.Fold(evs)
	status := run.Status()
	if run.Outcome == "" {
		status = "running"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %s  %s\nstarted %s\n", runID, run.Playbook, run.Mode, status,
		run.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	for _, st := range run.Steps {
		fmt.Fprintf(&b, "  %-20s %s\n", st.ID, serveStatus(st))
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func (r *temporalServeRunner) List() ([]string, error) {
	runs, err := temporal.List(context.Background(), r.client, r.key, listLimit)
	var lines []string
	for _, s := range runs {
		lines = append(lines, fmt.Sprintf("%s  %s  %s  %s", s.RunID, s.Playbook, s.Mode, s.Status))
	}
	return lines, err
}

// Shutdown stops following: the runs go on on the workers, nothing is left unfinished.
func (r *temporalServeRunner) Shutdown(ctx context.Context) ([]slackserver.Interrupted, error) {
	if left := r.runs.Shutdown(ctx); len(left) > 0 {
		r.logf("%d runs go on on the Temporal workers", len(left))
	}
	return nil, nil
}
