package slackserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/slackserver"
	"github.com/respond-sec/respond/steps"
)

// pressForm is a block_actions interaction as Slack posts it.
func pressForm(e *env, user string, approve bool, runID, stepID, msgTS, responseURL string) url.Values {
	action := slack.ActionApprove
	if !approve {
		action = slack.ActionDeny
	}
	payload := map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "name": strings.ToLower(user)},
		"channel":      map[string]any{"id": incidents},
		"container":    map[string]any{"type": "message", "message_ts": msgTS, "channel_id": incidents},
		"message":      map[string]any{"ts": msgTS},
		"response_url": responseURL,
		"actions": []any{map[string]any{"action_id": action, "block_id": slack.ApprovalBlockID,
			"value": slack.ApprovalValue(runID, stepID), "type": "button", "action_ts": "1.1"}},
	}
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}
}

type threader struct{ channel, ts string }

func (t threader) Thread(context.Context) (string, string, error) { return t.channel, t.ts, nil }

// asking is an approval request waiting in a thread.
type asking struct {
	e      *env
	parent string
	msgTS  string
	result chan decision
}

type decision struct {
	d   engine.Decision
	err error
}

func approvalRequest() engine.ApprovalRequest {
	return engine.ApprovalRequest{RunID: "run-1", Playbook: "openai-key-leak", StepID: "purge", Uses: "git.purge-history",
		Message: "Rewrite history of 2 repos", Requester: alice,
		Plan: &steps.Plan{Summary: "rewrite 2 repos", Actions: []steps.Action{{Method: "push", Target: "origin", Params: map[string]any{"force": true}}}}}
}

// ask starts an approval with approver and waits until its buttons are in the thread.
func ask(t *testing.T, e *env, ctx context.Context, wrap func(engine.Approver) engine.Approver) *asking {
	t.Helper()
	parent, err := e.client.PostMessage(t.Context(), incidents, slack.Message{Text: "run-1 in progress"})
	if err != nil {
		t.Fatal(err)
	}
	var ap engine.Approver = e.server.Approvals().Approver(slackserver.ApproverConfig{Playbook: "openai-key-leak",
		Thread: threader{incidents, parent.TS}, Approvers: []string{alice, bob, carol}, TwoPerson: true, Requester: alice})
	if wrap != nil {
		ap = wrap(ap)
	}
	a := &asking{e: e, parent: parent.TS, result: make(chan decision, 1)}
	go func() {
		d, err := ap.Approve(ctx, approvalRequest())
		a.result <- decision{d, err}
	}()
	eventually(t, "the approval request", func() bool { return e.server.Approvals().Waiting() == 1 })
	thread := e.sim.Thread(incidents, parent.TS)
	if len(thread) != 1 || !strings.Contains(string(thread[0].Blocks), slack.ActionApprove) {
		t.Fatalf("thread %+v, want the request with buttons", thread)
	}
	a.msgTS = thread[0].TS
	return a
}

func (a *asking) press(t *testing.T, user string, approve bool) {
	t.Helper()
	form := pressForm(a.e, user, approve, "run-1", "purge", a.msgTS, a.e.sim.NewResponseURL(incidents, user, a.msgTS))
	if status, body, _ := a.e.post("/slack/interactions", form, signing{}); status != http.StatusOK {
		t.Fatalf("press: %d %s", status, body)
	}
}

func (a *asking) message(t *testing.T) slacksim.Message {
	t.Helper()
	a.e.server.WaitBackground()
	m, ok := a.e.sim.Lookup(incidents, a.msgTS)
	if !ok {
		t.Fatal("request message gone")
	}
	return m
}

// told returns the private answers the presser got, in order.
func told(e *env) []string {
	var out []string
	for _, r := range e.sim.Responses() {
		if r.ResponseType == "ephemeral" {
			out = append(out, r.Text)
		}
	}
	return out
}

func TestApproverApproves(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := ask(t, e, t.Context(), nil)
	a.press(t, bob, true)
	r := <-a.result
	if r.err != nil || !r.d.Approved || r.d.By != bob || r.d.Via != "slack" || r.d.At.IsZero() {
		t.Fatalf("decision %+v, %v", r.d, r.err)
	}
	m := a.message(t)
	if !strings.Contains(m.Text, "approved by <@"+bob+">") || strings.Contains(string(m.Blocks), slack.ActionApprove) {
		t.Errorf("request not replaced by the decision: %s %s", m.Text, m.Blocks)
	}
	req := string(m.History[0].Blocks)
	for _, w := range []string{"Rewrite history of 2 repos", "push origin", "cannot approve"} {
		if !strings.Contains(req, w) {
			t.Errorf("request lacks %q: %s", w, req)
		}
	}
}

func TestNonApproverIsRefusedPrivately(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := ask(t, e, t.Context(), nil)
	a.press(t, mallory, true)
	e.server.WaitBackground()
	if got := told(e); len(got) != 1 || !strings.Contains(got[0], "not an approver") {
		t.Fatalf("mallory was told %q", got)
	}
	if e.server.Approvals().Waiting() != 1 {
		t.Fatal("a refused press decided the request")
	}
	if m := a.message(t); len(m.History) != 0 {
		t.Error("a refused press changed the request")
	}
	a.press(t, carol, false)
	if r := <-a.result; r.err != nil || r.d.Approved || r.d.By != carol {
		t.Fatalf("decision %+v, %v", r.d, r.err)
	}
}

func TestSecondPressIsANoOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := ask(t, e, t.Context(), nil)
	a.press(t, bob, true)
	<-a.result
	before := a.message(t)
	a.press(t, carol, false)
	a.press(t, bob, true)
	after := a.message(t)
	if len(after.History) != len(before.History) || after.Text != before.Text {
		t.Errorf("a second press changed the message: %q → %q", before.Text, after.Text)
	}
	got := told(e)
	if len(got) != 2 || !strings.Contains(got[0], "no longer waiting") {
		t.Errorf("late pressers were told %q", got)
	}
}

func TestTwoPersonRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := ask(t, e, t.Context(), nil)
	a.press(t, alice, true) // alice started the run
	e.server.WaitBackground()
	if got := told(e); len(got) != 1 || !strings.Contains(got[0], "Two-person rule") {
		t.Fatalf("alice was told %q", got)
	}
	if e.server.Approvals().Waiting() != 1 {
		t.Fatal("the requester approved her own run")
	}
	a.press(t, bob, true)
	if r := <-a.result; !r.d.Approved || r.d.By != bob {
		t.Fatalf("decision %+v", r.d)
	}
}

func TestNoDecisionInTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := &deadlineCtx{Context: t.Context(), done: make(chan struct{})}
	a := ask(t, e, ctx, nil)
	close(ctx.done) // the deadline passes once the request is waiting, however loaded the machine
	r := <-a.result
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("Approve = %+v, %v; want the deadline's error (the engine turns it into a denial)", r.d, r.err)
	}
	if m := a.message(t); !strings.Contains(m.Text, "No decision in time") || len(m.Blocks) != 0 {
		t.Errorf("request not closed: %q %s", m.Text, m.Blocks)
	}
	a.press(t, bob, true)
	e.server.WaitBackground()
	if got := told(e); len(got) != 1 || !strings.Contains(got[0], "no longer waiting") {
		t.Errorf("a press after the timeout: told %q", got)
	}
}

// terminal answers once the Slack request is visible, like a person at the TTY.
type terminal struct{ e *env }

func (tt terminal) Approve(ctx context.Context, _ engine.ApprovalRequest) (engine.Decision, error) {
	for tt.e.server.Approvals().Waiting() == 0 {
		select {
		case <-ctx.Done():
			return engine.Decision{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return engine.Decision{Approved: true, By: "alice", Via: "terminal"}, nil
}

func TestDecidedElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	parent, err := e.client.PostMessage(t.Context(), incidents, slack.Message{Text: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	slackAp := e.server.Approvals().Approver(slackserver.ApproverConfig{Playbook: "openai-key-leak",
		Thread: threader{incidents, parent.TS}, Approvers: []string{bob}})
	d, err := engine.FirstOf{slackAp, terminal{e}}.Approve(t.Context(), approvalRequest())
	if err != nil || d.Via != "terminal" {
		t.Fatalf("FirstOf = %+v, %v", d, err)
	}
	eventually(t, "the Slack approver to close its request", func() bool {
		th := e.sim.Thread(incidents, parent.TS)
		return len(th) == 1 && strings.Contains(th[0].Text, "Decided elsewhere")
	})
	if n := e.server.Approvals().Waiting(); n != 0 {
		t.Errorf("%d requests still waiting", n)
	}
}

func TestAvailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	hub := e.server.Approvals()
	if err := hub.Approver(slackserver.ApproverConfig{Playbook: "p", Thread: threader{}}).Available(); err == nil {
		t.Error("an approver with nobody allowed to approve says it is available")
	}
	if err := hub.Approver(slackserver.ApproverConfig{Approvers: []string{bob}}).Available(); err == nil {
		t.Error("an approver without a thread says it is available")
	}
	if err := hub.Approver(slackserver.ApproverConfig{Approvers: []string{bob}, Thread: threader{}}).Available(); err != nil {
		t.Errorf("Available: %v", err)
	}
	if slackserver.NewApprovals(nil, nil, nil).Approver(slackserver.ApproverConfig{Approvers: []string{bob}, Thread: threader{}}).Available() == nil {
		t.Error("an approver without a Slack client says it is available")
	}
}

// deadlineCtx passes its deadline when the test closes done, not after a fixed time: on a loaded
// machine a short timeout could expire before the request is even posted.
type deadlineCtx struct {
	context.Context
	done chan struct{}
}

func (c *deadlineCtx) Done() <-chan struct{} { return c.done }

func (c *deadlineCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
