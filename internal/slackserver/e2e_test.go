package slackserver_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/slackprogress"
	"github.com/respond-sec/respond/internal/slackserver"
	"github.com/respond-sec/respond/steps"
)

// engineRunner is what the CLI's serve command does, minus journals: each run gets a progress
// sink in the command's channel and the server's Slack approver, and runs the real engine.
type engineRunner struct {
	*fakeRunner
	e    *env
	runs *slackserver.Runs
	pb   *playbook.Playbook
}

func (r *engineRunner) Start(ctx context.Context, req slackserver.RunRequest) (string, error) {
	return r.runs.Start(ctx, req.Playbook, func(runCtx context.Context, track event.Sink) error {
		meta := slackprogress.Meta{Playbook: r.pb.Name, StartedBy: req.User, Mode: "real"}
		for _, s := range r.pb.Steps {
			meta.Steps = append(meta.Steps, slackprogress.StepMeta{ID: s.ID, Uses: s.Uses})
		}
		sink := slackprogress.New(r.e.client, req.Channel, meta, r.e.secrets, func(err error) { r.e.logs.logf("%v", err) })
		bus := event.NewBus("e2e-run", r.e.secrets, 0, nil)
		bus.Attach(track)
		bus.Attach(sink)
		inputs := map[string]any{}
		for k, v := range req.Inputs {
			inputs[k] = v
		}
		_, err := engine.Run(runCtx, engine.Options{Playbook: r.pb, Inputs: inputs, RunID: "e2e-run", StartedBy: req.User,
			Events: bus, Secrets: r.e.secrets, Approver: engine.FirstOf{req.Approver(sink)}})
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), 10*time.Second)
		defer cancel()
		return errors.Join(err, sink.Close(closeCtx))
	})
}

func (r *engineRunner) Shutdown(ctx context.Context) ([]slackserver.Interrupted, error) {
	return r.runs.Shutdown(ctx), nil
}

func TestSlashCommandToApprovedRun(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Load("e.yaml", []byte(`
name: exec-example
inputs:
  ticket: {default: INC-0}
steps:
  - {id: greet, uses: test.held}
  - {id: stamp, uses: test.held, approval: {required: true, message: "Print the date?"}}
`), func(uses string) (steps.Kind, bool) {
		return steps.Kind{Name: uses, New: func() steps.Step { return &heldStep{} }}, uses == "test.held"
	})
	if err != nil {
		t.Fatal(err)
	}
	runner := &engineRunner{fakeRunner: &fakeRunner{}, runs: slackserver.NewRuns(), pb: pb}
	// exec-example has no approvers in the shared config; this test's server allows bob.
	e := newEnvConfig(t, runner, configYAML+"    approvers: [U0BOB]\n")
	runner.e = e
	srv := e.server

	status, body, _ := e.post("/slack/commands", e.commandForm(alice, incidents, "run exec-example ticket=INC-42"), signing{})
	if status != http.StatusOK {
		t.Fatalf("command: %d %s", status, body)
	}
	eventually(t, "the approval request", func() bool { return srv.Approvals().Waiting() == 1 })
	parent := e.sim.Channel(incidents)[0]
	if !strings.Contains(parent.Text, "waiting for approval of stamp") {
		t.Errorf("parent while waiting: %q", parent.Text)
	}
	thread := e.sim.Thread(incidents, parent.TS)
	var reqTS string
	for _, m := range thread {
		if strings.Contains(string(m.Blocks), "respond_approve") {
			reqTS = m.TS
		}
	}
	if reqTS == "" {
		t.Fatalf("no approval request in the run's thread: %+v", thread)
	}
	form := pressForm(e, bob, true, "e2e-run", "stamp", reqTS, e.sim.NewResponseURL(incidents, bob, reqTS))
	if status, _, _ := e.post("/slack/interactions", form, signing{}); status != http.StatusOK {
		t.Fatalf("press: %d", status)
	}
	eventually(t, "the run to finish", func() bool { return len(runner.runs.Active()) == 0 })
	srv.WaitBackground()

	parent, _ = e.sim.Lookup(incidents, parent.TS)
	if !strings.Contains(parent.Text, "succeeded (2/2 steps finished)") {
		t.Errorf("final parent: %q", parent.Text)
	}
	var all string
	for _, m := range e.sim.Thread(incidents, parent.TS) {
		all += m.Text + "\n"
	}
	for _, w := range []string{"approved by <@U0BOB>", "waiting for approval", "exec-example: succeeded"} {
		if !strings.Contains(all, w) {
			t.Errorf("thread lacks %q:\n%s", w, all)
		}
	}
	if resps := e.sim.Responses(); len(resps) == 0 || !strings.Contains(resps[0].Text, "Run `e2e-run`") {
		t.Errorf("follow-ups %+v", resps)
	}
}
