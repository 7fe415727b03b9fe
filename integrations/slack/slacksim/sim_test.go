package slacksim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	respondslack "github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const incidents = "C0INCIDENT"

func config(token string) slacksim.Config {
	return slacksim.Config{
		Token:    token,
		Channels: []slacksim.Channel{{ID: incidents, Name: "#security-incidents"}, {ID: "C0OTHER", Name: "general"}},
		Users: []slacksim.User{
			{ID: "U0ALICE", Name: "alice", RealName: "Alice Example"},
			{ID: "U0BOB", Name: "bob", RealName: "Bob Builder"},
		},
		Seed: 42,
	}
}

// start serves a sim and returns it with a plain slack-go client pointed at it.
func start(t *testing.T) (*slacksim.Sim, *slack.Client) {
	t.Helper()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(config(tok))
	t.Cleanup(srv.Close)
	return sim, slack.New(tok, slack.OptionAPIURL(sim.APIURL()))
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

// TestWireFormat drives the sim with slack-go itself, so the sim is known to read what the SDK
// sends and to answer what it parses.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	sim, api := start(t)
	ctx := t.Context()

	ch, ts, msg, err := api.PostMessageWithResponseContext(ctx, "#security-incidents",
		slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(section("*hello*")))
	if err != nil {
		t.Fatal(err)
	}
	if ch != incidents || ts != "1700000000.000100" || msg.Text != "fallback" || len(msg.Blocks.BlockSet) != 1 {
		t.Fatalf("postMessage answered channel %q ts %q message %+v", ch, ts, msg)
	}
	m, ok := sim.Lookup(incidents, ts)
	wantBlocks := `[{"type":"section","text":{"type":"mrkdwn","text":"*hello*"}}]`
	if !ok || string(m.Blocks) != wantBlocks || m.User != slacksim.DefaultBotUserID {
		t.Fatalf("recorded %+v, want blocks %s", m, wantBlocks)
	}

	_, replyTS, reply, err := api.PostMessageWithResponseContext(ctx, incidents, slack.MsgOptionText("reply", false), slack.MsgOptionTS(ts))
	if err != nil || reply.ThreadTimestamp != ts {
		t.Fatalf("reply: %v, thread_ts %q, want %q", err, reply.ThreadTimestamp, ts)
	}
	// A reply to a reply joins the parent's thread; a reply to nothing is posted un-threaded.
	_, _, nested, err := api.PostMessageWithResponseContext(ctx, incidents, slack.MsgOptionText("nested", false), slack.MsgOptionTS(replyTS))
	if err != nil || nested.ThreadTimestamp != ts {
		t.Fatalf("reply to a reply: %v, thread_ts %q, want %q", err, nested.ThreadTimestamp, ts)
	}
	_, _, orphan, err := api.PostMessageWithResponseContext(ctx, incidents, slack.MsgOptionText("orphan", false), slack.MsgOptionTS("1600000000.000100"))
	if err != nil || orphan.ThreadTimestamp != "" {
		t.Fatalf("reply to an unknown ts: %v, thread_ts %q, want un-threaded", err, orphan.ThreadTimestamp)
	}

	// The trap the wrapper avoids: MsgOptionBlocks() with nothing sends blocks=[] and wipes them.
	_, _, text, err := api.UpdateMessageContext(ctx, incidents, ts, slack.MsgOptionText("edited", false), slack.MsgOptionBlocks())
	if err != nil || text != "edited" {
		t.Fatalf("update: %v, text %q", err, text)
	}
	m, _ = sim.Lookup(incidents, ts)
	if m.Text != "edited" || m.Blocks != nil || len(m.History) != 1 || string(m.History[0].Blocks) != wantBlocks {
		t.Fatalf("after update: %+v", m)
	}

	ets, err := api.PostEphemeralContext(ctx, incidents, "U0ALICE", slack.MsgOptionText("psst", false), slack.MsgOptionTS(ts))
	if err != nil || ets == "" {
		t.Fatalf("ephemeral: %q, %v", ets, err)
	}
	if e := sim.Ephemerals(); len(e) != 1 || e[0].ThreadTS != ts || e[0].TS != ets {
		t.Fatalf("ephemerals = %+v", e)
	}

	u, err := api.GetUserInfoContext(ctx, "U0BOB")
	if err != nil || u.Name != "bob" || u.RealName != "Bob Builder" {
		t.Fatalf("users.info: %+v, %v", u, err)
	}
	auth, err := api.AuthTestContext(ctx)
	if err != nil || auth.UserID != slacksim.DefaultBotUserID || auth.TeamID != slacksim.DefaultTeamID {
		t.Fatalf("auth.test: %+v, %v", auth, err)
	}

	// Both ways slack-go posts to a response_url: PostWebhook and MsgOptionResponseURL.
	ru := sim.NewResponseURL("security-incidents", "U0ALICE", "")
	if err := slack.PostWebhookContext(ctx, ru, &slack.WebhookMessage{Text: "webhook", ResponseType: slack.ResponseTypeInChannel}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(ru, slack.ResponseTypeEphemeral),
		slack.MsgOptionText("via option", false), slack.MsgOptionBlocks(section("blocks too"))); err != nil {
		t.Fatal(err)
	}
	resps := sim.Responses()
	if len(resps) != 2 || resps[0].Text != "webhook" || resps[1].ResponseType != "ephemeral" || resps[1].Blocks == nil {
		t.Fatalf("responses = %+v", resps)
	}

	for _, c := range sim.Calls() {
		want := "form"
		if c.Method == slacksim.MethodResponseURL {
			want = ""
		}
		if c.Auth != want || c.Status != http.StatusOK || c.Error != "" {
			t.Errorf("call %+v, want auth %q, 200, no error", c, want)
		}
	}
}

func slackErrCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	sim, api := start(t)
	ctx := t.Context()
	_, ts, err := api.PostMessageContext(ctx, incidents, slack.MsgOptionText("x", false))
	if err != nil {
		t.Fatal(err)
	}
	tooLongHeader := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("h", 151), false, false))
	dupID := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "a", false, false), nil, nil, slack.SectionBlockOptionBlockID("same"))
	many := make([]slack.Block, 51)
	for i := range many {
		many[i] = slack.NewDividerBlock()
	}

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"post to unknown channel", func() error {
			_, _, err := api.PostMessageContext(ctx, "#nope", slack.MsgOptionText("x", false))
			return err
		}, "channel_not_found"},
		{"post nothing", func() error { _, _, err := api.PostMessageContext(ctx, incidents); return err }, "no_text"},
		{"header over 150", func() error {
			_, _, err := api.PostMessageContext(ctx, incidents, slack.MsgOptionBlocks(tooLongHeader))
			return err
		}, "invalid_blocks"},
		{"duplicate block_id", func() error {
			_, _, err := api.PostMessageContext(ctx, incidents, slack.MsgOptionBlocks(dupID, dupID))
			return err
		}, "invalid_blocks"},
		{"51 blocks", func() error {
			_, _, err := api.PostMessageContext(ctx, incidents, slack.MsgOptionBlocks(many...))
			return err
		}, "invalid_blocks"},
		{"update by channel name", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "security-incidents", ts, slack.MsgOptionText("y", false))
			return err
		}, "channel_not_found"},
		{"update unknown ts", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, incidents, "1.000001", slack.MsgOptionText("y", false))
			return err
		}, "message_not_found"},
		{"update with nothing", func() error { _, _, _, err := api.UpdateMessageContext(ctx, incidents, ts); return err }, "no_text"},
		{"ephemeral to unknown user", func() error {
			_, err := api.PostEphemeralContext(ctx, incidents, "U0NOBODY", slack.MsgOptionText("x", false))
			return err
		}, "user_not_found"},
		{"unknown user", func() error { _, err := api.GetUserInfoContext(ctx, "U0NOBODY"); return err }, "user_not_found"},
		{"wrong token", func() error {
			_, err := slack.New("xoxb-wrong", slack.OptionAPIURL(sim.APIURL())).AuthTestContext(ctx)
			return err
		}, "invalid_auth"},
		{"no token", func() error {
			_, err := slack.New("", slack.OptionAPIURL(sim.APIURL())).AuthTestContext(ctx)
			return err
		}, "not_authed"},
	}
	for _, tt := range tests {
		if got := slackErrCode(tt.call()); got != tt.want {
			t.Errorf("%s: error code %q, want %q", tt.name, got, tt.want)
		}
	}
	if m, _ := sim.Lookup(incidents, ts); m.Text != "x" || len(m.History) != 0 {
		t.Errorf("a refused call changed the message: %+v", m)
	}

	resp, err := http.PostForm(sim.APIURL()+"chat.delete", url.Values{"token": {"t"}})
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.Error != "unknown_method" {
		t.Errorf("unknown method answered %q", body.Error)
	}
}

func TestResponseURLLimits(t *testing.T) {
	t.Parallel()
	sim, _ := start(t)
	ctx := t.Context()
	var sc slack.StatusCodeError
	err := slack.PostWebhookContext(ctx, strings.TrimSuffix(sim.APIURL(), "api/")+"response/R9999", &slack.WebhookMessage{Text: "x"})
	if !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
		t.Fatalf("unknown response_url: %v, want 404", err)
	}
	u := sim.NewResponseURL(incidents, "U0ALICE", "")
	for i := range 5 {
		if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: fmt.Sprint("answer ", i)}); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "sixth"}); !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
		t.Fatalf("sixth use: %v, want 404", err)
	}
	if n := len(sim.Responses()); n != 5 {
		t.Errorf("%d responses recorded, want 5", n)
	}
}

func TestResponseURLReplaceAndDelete(t *testing.T) {
	t.Parallel()
	sim, _ := start(t)
	ctx := t.Context()
	// A slash command: an ephemeral answer, then replaced, then deleted.
	u := sim.NewResponseURL(incidents, "U0ALICE", "")
	steps := []slack.WebhookMessage{
		{Text: "working…"},
		{Text: "done", ReplaceOriginal: true},
	}
	for _, m := range steps {
		if err := slack.PostWebhookContext(ctx, u, &m); err != nil {
			t.Fatal(err)
		}
	}
	e := sim.Ephemerals()
	if len(e) != 1 || e[0].Text != "done" || len(e[0].History) != 1 || e[0].History[0].Text != "working…" {
		t.Fatalf("ephemerals = %+v", e)
	}
	if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{DeleteOriginal: true}); err != nil {
		t.Fatal(err)
	}
	if e := sim.Ephemerals(); !e[0].Deleted {
		t.Errorf("delete_original left %+v", e[0])
	}
}

func TestTimestampsUniqueUnderConcurrency(t *testing.T) {
	t.Parallel()
	sim, api := start(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, _, err := api.PostMessageContext(t.Context(), incidents, slack.MsgOptionText(fmt.Sprint(i), false)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	msgs := sim.Channel(incidents)
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	for i := 1; i < n; i++ {
		if msgs[i].TS <= msgs[i-1].TS {
			t.Fatalf("ts not strictly increasing: %s then %s", msgs[i-1].TS, msgs[i].TS)
		}
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	post := func(api *slack.Client) error {
		_, _, err := api.PostMessageContext(t.Context(), incidents, slack.MsgOptionText("x", false))
		return err
	}
	t.Run("next N per method", func(t *testing.T) {
		t.Parallel()
		sim, api := start(t)
		sim.FailNext(slacksim.MethodPostMessage, 2, slacksim.Fault{Status: 429, RetryAfter: 30 * time.Second})
		if _, err := api.AuthTestContext(t.Context()); err != nil {
			t.Fatalf("another method was faulted: %v", err)
		}
		for i := range 2 {
			var rl *slack.RateLimitedError
			if err := post(api); !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
				t.Fatalf("call %d: %v, want RateLimitedError 30s", i+1, err)
			}
		}
		if err := post(api); err != nil {
			t.Fatalf("third call: %v", err)
		}
		if n := len(sim.Channel(incidents)); n != 1 {
			t.Errorf("%d messages, want 1: faulted calls must not change state", n)
		}
		var faulted []slacksim.Call
		for _, c := range sim.Calls() {
			if c.Fault {
				faulted = append(faulted, c)
			}
		}
		want := []slacksim.Call{{Method: "chat.postMessage", Status: 429, Error: "ratelimited", Fault: true},
			{Method: "chat.postMessage", Status: 429, Error: "ratelimited", Fault: true}}
		if diff := cmp.Diff(want, faulted); diff != "" {
			t.Errorf("faulted calls (-want +got):\n%s", diff)
		}
	})
	t.Run("any method, 500 and drop", func(t *testing.T) {
		t.Parallel()
		sim, api := start(t)
		sim.FailNext(slacksim.AnyMethod, 1, slacksim.Fault{Status: 500})
		sim.FailNext(slacksim.AnyMethod, 1, slacksim.Fault{Drop: true})
		var sc slack.StatusCodeError
		if _, err := api.AuthTestContext(t.Context()); !errors.As(err, &sc) || sc.Code != 500 {
			t.Fatalf("first call: %v, want a 500", err)
		}
		if err := post(api); err == nil {
			t.Fatal("dropped connection gave no error")
		}
		if err := post(api); err != nil {
			t.Fatalf("after the faults: %v", err)
		}
	})
	t.Run("rate is repeatable from the seed", func(t *testing.T) {
		t.Parallel()
		pattern := func() string {
			sim, api := start(t)
			sim.FailRate(slacksim.MethodPostMessage, 0.3, slacksim.Fault{Status: 503})
			var b strings.Builder
			for range 30 {
				if post(api) != nil {
					b.WriteByte('x')
				} else {
					b.WriteByte('.')
				}
			}
			return b.String()
		}
		first, second := pattern(), pattern()
		if first != second || !strings.Contains(first, "x") || !strings.Contains(first, ".") {
			t.Errorf("fault patterns %s and %s: want equal, with both outcomes", first, second)
		}
	})
	t.Run("rates for one method add up", func(t *testing.T) {
		t.Parallel()
		sim, api := start(t)
		sim.FailRate(slacksim.MethodPostMessage, 0.5, slacksim.Fault{Status: 429})
		sim.FailRate(slacksim.MethodPostMessage, 1, slacksim.Fault{Status: 500})
		seen := map[int]int{}
		for range 40 {
			var sc slack.StatusCodeError
			if err := post(api); errors.As(err, &sc) {
				seen[sc.Code]++
			} else {
				t.Fatalf("post = %v, want a status error (the second rate is 1)", err)
			}
		}
		if seen[429] == 0 || seen[500] == 0 {
			t.Errorf("status counts %v: want both the 429s and the 500s", seen)
		}
	})
	t.Run("latency and clear", func(t *testing.T) {
		t.Parallel()
		sim, api := start(t)
		sim.SetLatency(slacksim.AnyMethod, time.Millisecond)
		sim.FailRate(slacksim.AnyMethod, 1, slacksim.Fault{Status: 500})
		if err := post(api); err == nil {
			t.Fatal("rate 1 did not fail")
		}
		sim.ClearFaults()
		if err := post(api); err != nil {
			t.Fatalf("after ClearFaults: %v", err)
		}
	})
}

// scenario plays a short rehearsal through the wrapper: the slash command's answer, the parent
// message edited as steps progress, details and an approval in its thread, the approval pressed,
// and the summary.
func scenario(t *testing.T) *slacksim.Sim {
	t.Helper()
	tok := fakekey.New(7).SlackBotToken()
	sim, srv := slacksim.NewServer(config(tok))
	t.Cleanup(srv.Close)
	c, err := respondslack.New(respondslack.Config{Token: tok, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const ch = "#security-incidents"

	must(c.Respond(ctx, sim.NewResponseURL(ch, "U0ALICE", ""),
		respondslack.Message{Text: "Starting `openai-key-leak` as run `run-1`; progress in #security-incidents."}, true, false))

	view := respondslack.RunView{Title: "Leaked OpenAI API key sk-proj-…abcd", Playbook: "openai-key-leak", RunID: "run-1",
		StartedBy: "U0ALICE", Mode: respondslack.Rehearsal, Steps: []respondslack.StepView{
			{ID: "identify", Uses: "openai.find-key", Status: respondslack.StatusRunning},
			{ID: "revoke", Uses: "openai.revoke-key", Status: respondslack.StatusPending},
			{ID: "purge", Uses: "git.purge-history", Status: respondslack.StatusPending},
		}}
	parent, err := c.Post(ctx, ch, respondslack.RunMessage(view))
	must(err)
	reply := func(text string) {
		_, err := c.Post(ctx, ch, respondslack.Message{Text: text, ThreadTS: parent})
		must(err)
	}

	view.Steps[0].Status, view.Steps[0].Duration, view.Steps[0].Note = respondslack.StatusSucceeded, 1200*time.Millisecond, "key_abc in proj_123"
	view.Steps[1].Status = respondslack.StatusRunning
	must(c.Update(ctx, ch, parent, respondslack.RunMessage(view)))
	reply("*identify*: found `key_abc` in project `proj_123` (owner: <@U0BOB>)")

	view.Steps[1].Status, view.Steps[1].Duration = respondslack.StatusSucceeded, 400*time.Millisecond
	view.Steps[2].Status = respondslack.StatusWaiting
	must(c.Update(ctx, ch, parent, respondslack.RunMessage(view)))
	must(c.PostEphemeral(ctx, ch, "U0ALICE", respondslack.Message{Text: "You started this run, so someone else must approve the purge.", ThreadTS: parent}))

	approval := respondslack.ApprovalView{RunID: "run-1", StepID: "purge", Uses: "git.purge-history",
		Title: "Rewrite history of acme/api and force-push", Details: "refs/heads/main: 3 commits rewritten",
		RequestedBy: "U0ALICE", Approvers: []string{"U0BOB"}, TwoPerson: true}
	approvalTS, err := c.Post(ctx, ch, withThread(respondslack.ApprovalRequest(approval), parent))
	must(err)
	must(c.Respond(ctx, sim.NewResponseURL(ch, "U0BOB", approvalTS), respondslack.ApprovalDecision(respondslack.DecisionView{
		RunID: "run-1", StepID: "purge", Uses: "git.purge-history", Title: approval.Title, Approved: true, By: "U0BOB",
		At: time.Date(2024, 5, 6, 7, 10, 0, 0, time.UTC)}), false, true))

	view.Steps[2].Status, view.Steps[2].Duration = respondslack.StatusSucceeded, 95*time.Second
	view.Outcome, view.Tone = "succeeded", respondslack.Good
	must(c.Update(ctx, ch, parent, respondslack.RunMessage(view)))
	summary := respondslack.Summary(respondslack.SummaryView{Title: view.Title, Playbook: "openai-key-leak", RunID: "run-1",
		Mode: respondslack.Rehearsal, Outcome: "succeeded", Tone: respondslack.Good, Duration: 97 * time.Second, TimeToRevoke: 1600 * time.Millisecond,
		Changed: []string{"revoked key_abc", "rewrote acme/api history"}, NeedsHuman: []string{"GitHub may still serve refs/pull/12/head"}})
	_, err = c.Post(ctx, ch, withThread(summary, parent))
	must(err)
	return sim
}

func withThread(m respondslack.Message, ts string) respondslack.Message {
	m.ThreadTS = ts
	return m
}

func TestTranscriptGolden(t *testing.T) {
	t.Parallel()
	sim := scenario(t)
	golden(t, "transcript.golden", sim.Transcript("security-incidents"))
	if got := sim.Transcript("C0OTHER"); got != "#general\n" {
		t.Errorf("empty channel transcript = %q", got)
	}
}

func TestSnapshotDeterministic(t *testing.T) {
	t.Parallel()
	first, second := scenario(t).Snapshot(), scenario(t).Snapshot()
	if !bytes.Equal(first, second) {
		t.Fatalf("two runs of the same scenario gave different snapshots:\n%s", cmp.Diff(string(first), string(second)))
	}
	if !json.Valid(first) {
		t.Fatal("snapshot is not JSON")
	}
	golden(t, "snapshot.golden", string(first))
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); run go test -update and review the diff:\n%s", path, diff)
	}
}
