package slack_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	slackgo "github.com/slack-go/slack"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
)

const incidents = "C0INCIDENT"

func simConfig(token string) slacksim.Config {
	return slacksim.Config{
		Token:    token,
		Channels: []slacksim.Channel{{ID: incidents, Name: "security-incidents"}},
		Users: []slacksim.User{
			{ID: "U0ALICE", Name: "alice", RealName: "Alice Example", DisplayName: "ali"},
			{ID: "U0BOB", Name: "bob", RealName: "Bob Builder"},
			{ID: "U0CAROL", Name: "carol"},
		},
	}
}

// setup returns a client and the sim it talks to over 127.0.0.1.
func setup(t *testing.T) (*slack.Client, *slacksim.Sim, string) {
	t.Helper()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(simConfig(tok))
	t.Cleanup(srv.Close)
	// No trailing "/": New must add it.
	c, err := slack.New(slack.Config{Token: tok, APIURL: strings.TrimSuffix(sim.APIURL(), "/")})
	if err != nil {
		t.Fatal(err)
	}
	return c, sim, tok
}

func TestNewWithoutToken(t *testing.T) {
	t.Parallel()
	_, err := slack.New(slack.Config{})
	if !errors.Is(err, slack.ErrNoCredentials) {
		t.Fatalf("New without token: got %v, want ErrNoCredentials", err)
	}
}

func TestAuthTest(t *testing.T) {
	t.Parallel()
	c, sim, tok := setup(t)
	if err := c.AuthTest(t.Context()); err != nil {
		t.Fatalf("AuthTest: %v", err)
	}

	wrong := fakekey.Random().SlackBotToken()
	bad, err := slack.New(slack.Config{Token: wrong, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.AuthTest(t.Context())
	if !errors.Is(err, slack.ErrUnauthorized) {
		t.Fatalf("AuthTest with a wrong token: got %v, want ErrUnauthorized", err)
	}
	var se *slack.Error
	if !errors.As(err, &se) || se.Code != "invalid_auth" || se.Transient() {
		t.Fatalf("AuthTest with a wrong token: got %#v, want a non-transient invalid_auth *Error", se)
	}
	for _, secret := range []string{tok, wrong} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error message contains a token: %v", err)
		}
	}
	// slack-go must have sent the token in the form body, as Slack expects.
	for _, call := range sim.Calls() {
		if call.Auth != "form" {
			t.Errorf("call %s carried its token in %q, want form", call.Method, call.Auth)
		}
	}
}

func TestPostReplyAndUpdateInPlace(t *testing.T) {
	t.Parallel()
	c, sim, _ := setup(t)
	ctx := t.Context()

	view := slack.RunView{Title: "Leaked key", Playbook: "openai-key-leak", RunID: "run-1", Mode: slack.Live,
		Steps: []slack.StepView{{ID: "identify", Uses: "openai.find-key", Status: slack.StatusRunning}}}
	// Posted by name: the update below must still reach it although chat.update takes IDs only.
	posted, err := c.PostMessage(ctx, "#security-incidents", slack.RunMessage(view))
	if err != nil {
		t.Fatal(err)
	}
	if posted.Channel != incidents {
		t.Fatalf("PostMessage resolved the channel to %q, want %q", posted.Channel, incidents)
	}
	replyTS, err := c.Post(ctx, "#security-incidents", slack.Message{Text: "found key_abc", ThreadTS: posted.TS})
	if err != nil {
		t.Fatal(err)
	}
	view.Steps[0].Status, view.Steps[0].Duration = slack.StatusSucceeded, 1200*time.Millisecond
	view.Outcome, view.Tone = "succeeded", slack.Good
	final := slack.RunMessage(view)
	if err := c.Update(ctx, "#security-incidents", posted.TS, slack.RunMessage(slack.RunView{Title: "intermediate"})); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "#security-incidents", posted.TS, final); err != nil {
		t.Fatal(err)
	}

	ch := sim.Channel("security-incidents")
	if len(ch) != 1 {
		t.Fatalf("channel has %d top-level messages, want 1: %+v", len(ch), ch)
	}
	if ch[0].Text != final.Text {
		t.Errorf("final text = %q, want %q", ch[0].Text, final.Text)
	}
	if !strings.Contains(sim.Render(ch[0].Text, ch[0].Blocks), "✅ Run succeeded") {
		t.Errorf("final blocks do not show the outcome:\n%s", sim.Render(ch[0].Text, ch[0].Blocks))
	}
	if got := len(ch[0].History); got != 2 {
		t.Errorf("history has %d revisions, want 2", got)
	}
	thread := sim.Thread(incidents, posted.TS)
	if len(thread) != 1 || thread[0].TS != replyTS || thread[0].Text != "found key_abc" {
		t.Errorf("thread = %+v, want the one reply %s", thread, replyTS)
	}
}

// TestUpdateNeverClearsBlocks: slack-go's MsgOptionBlocks() with no blocks sends "blocks=[]",
// which wipes a message; Update must only do that when asked by name.
func TestUpdateNeverClearsBlocks(t *testing.T) {
	t.Parallel()
	original := slack.ApprovalRequest(slack.ApprovalView{RunID: "r", StepID: "purge", Title: "purge"})
	tests := []struct {
		name       string
		update     slack.Message
		wantText   string
		wantBlocks bool
		wantErr    bool
	}{
		{name: "text only keeps blocks", update: slack.Message{Text: "new text"}, wantText: "new text", wantBlocks: true},
		{name: "empty block slice keeps blocks", update: slack.Message{Text: "t2", Blocks: []slack.Block{}}, wantText: "t2", wantBlocks: true},
		{name: "blocks only keeps text", update: slack.Message{Blocks: original.Blocks}, wantText: original.Text, wantBlocks: true},
		{name: "ClearBlocks clears", update: slack.Message{Text: "plain now", ClearBlocks: true}, wantText: "plain now"},
		{name: "nothing to change", update: slack.Message{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, sim, _ := setup(t)
			ts, err := c.Post(t.Context(), incidents, original)
			if err != nil {
				t.Fatal(err)
			}
			calls := len(sim.Calls())
			err = c.Update(t.Context(), incidents, ts, tt.update)
			if tt.wantErr {
				if err == nil || len(sim.Calls()) != calls {
					t.Fatalf("Update(%+v): err %v after %d calls, want a local error", tt.update, err, len(sim.Calls())-calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, _ := sim.Lookup(incidents, ts)
			if m.Text != tt.wantText {
				t.Errorf("text = %q, want %q", m.Text, tt.wantText)
			}
			if got := m.Blocks != nil; got != tt.wantBlocks {
				t.Errorf("has blocks = %v, want %v (blocks %s)", got, tt.wantBlocks, m.Blocks)
			}
		})
	}
}

func TestPostEphemeral(t *testing.T) {
	t.Parallel()
	c, sim, _ := setup(t)
	if err := c.PostEphemeral(t.Context(), "#security-incidents", "U0ALICE", slack.Message{Text: "only you"}); err != nil {
		t.Fatal(err)
	}
	got := sim.Ephemerals()
	if len(got) != 1 || got[0].User != "U0ALICE" || got[0].Channel != incidents || got[0].Text != "only you" {
		t.Fatalf("ephemerals = %+v", got)
	}
	if len(sim.Channel(incidents)) != 0 {
		t.Error("an ephemeral message shows in the channel")
	}
	err := c.PostEphemeral(t.Context(), incidents, "U0NOBODY", slack.Message{Text: "x"})
	var se *slack.Error
	if !errors.As(err, &se) || se.Code != "user_not_found" {
		t.Fatalf("ephemeral to an unknown user: got %v, want user_not_found", err)
	}
}

func TestRespond(t *testing.T) {
	t.Parallel()
	c, sim, _ := setup(t)
	ctx := t.Context()

	// A slash command's response_url: the bot answers at once, to the caller only.
	cmdURL := sim.NewResponseURL(incidents, "U0ALICE", "")
	if err := c.Respond(ctx, cmdURL, slack.Message{Text: "Starting run r-1"}, true, false); err != nil {
		t.Fatal(err)
	}
	// An approval button's response_url: the decision replaces the request.
	req := slack.ApprovalRequest(slack.ApprovalView{RunID: "r-1", StepID: "purge", Uses: "git.purge-history", Title: "Rewrite history"})
	reqTS, err := c.Post(ctx, incidents, req)
	if err != nil {
		t.Fatal(err)
	}
	btnURL := sim.NewResponseURL(incidents, "U0BOB", reqTS)
	decision := slack.ApprovalDecision(slack.DecisionView{RunID: "r-1", StepID: "purge", Approved: true, By: "U0BOB"})
	if err := c.Respond(ctx, btnURL, decision, false, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Respond(ctx, btnURL, slack.Message{Text: "Purge started"}, false, false); err != nil {
		t.Fatal(err)
	}

	eph := sim.Ephemerals()
	if len(eph) != 1 || eph[0].User != "U0ALICE" || eph[0].Text != "Starting run r-1" || eph[0].Via != slacksim.MethodResponseURL {
		t.Errorf("ephemerals = %+v", eph)
	}
	m, _ := sim.Lookup(incidents, reqTS)
	if m.Text != decision.Text || len(m.History) != 1 || m.History[0].Text != req.Text {
		t.Errorf("approval message = %+v, want the decision replacing the request", m)
	}
	if strings.Contains(sim.Render(m.Text, m.Blocks), "[Approve]") {
		t.Error("the decision still shows the Approve button")
	}
	ch := sim.Channel(incidents)
	if len(ch) != 2 || ch[1].Text != "Purge started" {
		t.Errorf("channel = %+v, want the request and the in-channel response", ch)
	}
	resps := sim.Responses()
	want := []slacksim.Response{
		{ID: "R0001", Channel: incidents, User: "U0ALICE", ResponseType: "ephemeral", Text: "Starting run r-1"},
		{ID: "R0002", Channel: incidents, User: "U0BOB", MessageTS: reqTS, ResponseType: "in_channel", ReplaceOriginal: true, Text: decision.Text},
		{ID: "R0002", Channel: incidents, User: "U0BOB", MessageTS: reqTS, ResponseType: "in_channel", Text: "Purge started"},
	}
	if diff := cmp.Diff(want, resps, cmpIgnoreBlocks); diff != "" {
		t.Errorf("responses (-want +got):\n%s", diff)
	}
}

var cmpIgnoreBlocks = cmp.Transformer("noBlocks", func(r slacksim.Response) slacksim.Response {
	r.Blocks = nil
	return r
})

func TestRespondRefusesForeignPlainHTTP(t *testing.T) {
	t.Parallel()
	c, _, _ := setup(t)
	const secretPath = "/commands/T1/B2/thisisthecredential"
	err := c.Respond(t.Context(), "http://hooks.example.invalid"+secretPath, slack.Message{Text: "x"}, true, false)
	if err == nil {
		t.Fatal("Respond to a plain-http foreign URL succeeded")
	}
	if strings.Contains(err.Error(), "thisisthecredential") {
		t.Errorf("error shows the response_url's path: %v", err)
	}
}

func TestRespondErrorHidesURL(t *testing.T) {
	t.Parallel()
	c, sim, _ := setup(t)
	u := sim.NewResponseURL(incidents, "U0ALICE", "")
	sim.FailNext(slacksim.MethodResponseURL, 1, slacksim.Fault{Drop: true})
	err := c.Respond(t.Context(), u, slack.Message{Text: "x"}, true, false)
	if err == nil {
		t.Fatal("Respond over a dropped connection succeeded")
	}
	if strings.Contains(err.Error(), "/response/") {
		t.Errorf("error shows the response_url: %v", err)
	}
}

// transient is what the engine looks for; declared here as the engine would, without importing.
type transient interface {
	Transient() bool
	RetryAfter() time.Duration
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		fault          *slacksim.Fault
		channel        string
		respond        bool
		cancel         bool
		wantTransient  bool
		wantRetryAfter time.Duration
		wantRateLimit  bool
		wantCode       string
		wantStatus     int
	}{
		{name: "429 with Retry-After", fault: &slacksim.Fault{Status: 429, RetryAfter: 7 * time.Second},
			wantTransient: true, wantRetryAfter: 7 * time.Second, wantRateLimit: true, wantCode: "ratelimited", wantStatus: 429},
		{name: "429 Retry-After rounds up", fault: &slacksim.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond},
			wantTransient: true, wantRetryAfter: 2 * time.Second, wantRateLimit: true, wantCode: "ratelimited", wantStatus: 429},
		{name: "429 without Retry-After", fault: &slacksim.Fault{Status: 429}, wantTransient: true, wantStatus: 429},
		{name: "500", fault: &slacksim.Fault{Status: 500}, wantTransient: true, wantStatus: 500},
		{name: "503", fault: &slacksim.Fault{Status: 503}, wantTransient: true, wantStatus: 503},
		{name: "dropped connection", fault: &slacksim.Fault{Drop: true}, wantTransient: true},
		{name: "unknown channel", channel: "#nope", wantCode: "channel_not_found"},
		{name: "caller cancelled", cancel: true},
		{name: "response_url 429", respond: true, fault: &slacksim.Fault{Status: 429, RetryAfter: 3 * time.Second},
			wantTransient: true, wantRetryAfter: 3 * time.Second, wantRateLimit: true, wantCode: "ratelimited", wantStatus: 429},
		{name: "response_url 500", respond: true, fault: &slacksim.Fault{Status: 500}, wantTransient: true, wantStatus: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, sim, _ := setup(t)
			ctx := t.Context()
			if tt.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			channel := incidents
			if tt.channel != "" {
				channel = tt.channel
			}
			var err error
			if tt.respond {
				if tt.fault != nil {
					sim.FailNext(slacksim.MethodResponseURL, 1, *tt.fault)
				}
				err = c.Respond(ctx, sim.NewResponseURL(incidents, "U0ALICE", ""), slack.Message{Text: "hi"}, true, false)
			} else {
				if tt.fault != nil {
					sim.FailNext(slacksim.MethodPostMessage, 1, *tt.fault)
				}
				_, err = c.Post(ctx, channel, slack.Message{Text: "hi"})
			}
			if err == nil {
				t.Fatal("no error")
			}
			var tr transient
			if !errors.As(err, &tr) {
				t.Fatalf("%v: no Transient/RetryAfter in the chain", err)
			}
			if tr.Transient() != tt.wantTransient || tr.RetryAfter() != tt.wantRetryAfter {
				t.Errorf("%v: Transient %v RetryAfter %v, want %v %v", err, tr.Transient(), tr.RetryAfter(), tt.wantTransient, tt.wantRetryAfter)
			}
			var rl *slackgo.RateLimitedError
			if got := errors.As(err, &rl); got != tt.wantRateLimit {
				t.Errorf("%v: errors.As RateLimitedError = %v, want %v", err, got, tt.wantRateLimit)
			} else if got && rl.RetryAfter != tt.wantRetryAfter {
				t.Errorf("RateLimitedError.RetryAfter = %v, want %v", rl.RetryAfter, tt.wantRetryAfter)
			}
			var se *slack.Error
			if errors.As(err, &se) && (se.Code != tt.wantCode || se.StatusCode != tt.wantStatus) {
				t.Errorf("%v: Code %q StatusCode %d, want %q %d", err, se.Code, se.StatusCode, tt.wantCode, tt.wantStatus)
			}
			if errors.Is(err, slack.ErrUnauthorized) {
				t.Errorf("%v matches ErrUnauthorized", err)
			}
		})
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	u := srv.URL + "/api/"
	srv.Close() // nothing listens there any more
	c, err := slack.New(slack.Config{Token: fakekey.Random().SlackBotToken(), APIURL: u})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Post(t.Context(), incidents, slack.Message{Text: "hi"})
	var tr transient
	if !errors.As(err, &tr) || !tr.Transient() {
		t.Fatalf("post to a closed port: %v, want a transient error", err)
	}
}

func TestUserName(t *testing.T) {
	t.Parallel()
	c, _, _ := setup(t)
	tests := []struct{ id, want string }{
		{"U0ALICE", "ali"},       // display name first
		{"U0BOB", "Bob Builder"}, // then real name
		{"U0CAROL", "carol"},     // then account name
		{slacksim.DefaultBotUserID, slacksim.DefaultBotName},
	}
	for _, tt := range tests {
		got, err := c.UserName(t.Context(), tt.id)
		if err != nil || got != tt.want {
			t.Errorf("UserName(%s) = %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
	if _, err := c.UserName(t.Context(), "U0NOBODY"); err == nil {
		t.Error("UserName of an unknown user succeeded")
	}
}
