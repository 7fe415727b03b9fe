package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/slack/notify"
	"github.com/respond-sec/respond/steps/slack/slackkit"
	"github.com/respond-sec/respond/steps/stepstest"
)

const incidents = "C0INCIDENT"

func setup(t *testing.T) (*slacksim.Sim, string) {
	t.Helper()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok,
		Channels: []slacksim.Channel{{ID: incidents, Name: "security-incidents"}, {ID: "C0OTHER", Name: "other"}}})
	t.Cleanup(srv.Close)
	return sim, tok
}

// env is a steps.Env whose shared values hold thread (when non-nil) and whose environment is vars.
func env(t *testing.T, thread *slackkit.Thread, vars map[string]string) *steps.Env {
	rec := stepstest.New(t, vars)
	if thread != nil {
		rec.Share(slackkit.Key, thread)
	}
	return rec.Env
}

func TestPostsIntoTheRunsThread(t *testing.T) {
	t.Parallel()
	sim, tok := setup(t)
	client, err := slack.New(slack.Config{Token: tok, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := client.PostMessage(t.Context(), incidents, slack.Message{Text: "run"})
	if err != nil {
		t.Fatal(err)
	}
	secrets := redact.New()
	secret := "corp-pass-" + fakekey.Random().Hex(20)
	secrets.Add(secret)
	th := &slackkit.Thread{Client: client, Redact: secrets.String,
		Wait: func(context.Context) (string, string, error) { return parent.Channel, parent.TS, nil }}

	n := &notify.Notify{Text: "Key revoked; the old value " + secret + " is dead"}
	out, err := n.Run(t.Context(), env(t, th, nil))
	if err != nil {
		t.Fatal(err)
	}
	replies := sim.Thread(incidents, parent.TS)
	if len(replies) != 1 {
		t.Fatalf("thread has %d replies, want 1", len(replies))
	}
	if diff := cmp.Diff(steps.Outputs{"channel": incidents, "ts": replies[0].TS}, out); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if strings.Contains(replies[0].Text, secret) || !strings.Contains(replies[0].Text, redact.Mask(secret)) {
		t.Errorf("posted %q: the secret is not masked", replies[0].Text)
	}
}

func TestChannelTargets(t *testing.T) {
	t.Parallel()
	sim, tok := setup(t)
	api := map[string]string{slackkit.EnvToken: tok, slackkit.EnvAPIURL: sim.APIURL()}
	leaked := fakekey.Random().OpenAIProjectKey()
	tests := []struct {
		name     string
		n        notify.Notify
		vars     map[string]string
		skip     string
		wantIn   string // channel that gets a top-level message
		wantText string
	}{
		{name: "channel with token", n: notify.Notify{Text: "hello " + leaked, Channel: "#other"}, vars: api,
			wantIn: "C0OTHER", wantText: "hello " + redact.Mask(leaked)},
		{name: "channel without token", n: notify.Notify{Text: "hello", Channel: "#other"},
			skip: "SLACK_BOT_TOKEN is not set"},
		{name: "no thread, no channel", n: notify.Notify{Text: "hello"}, vars: api, skip: "no Slack thread"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(sim.Channel("C0OTHER"))
			_, err := tc.n.Run(t.Context(), env(t, nil, tc.vars))
			if tc.skip != "" {
				sk, ok := steps.IsSkip(err)
				if !ok || !strings.Contains(sk.Reason, tc.skip) {
					t.Fatalf("Run = %v, want a skip saying %q", err, tc.skip)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msgs := sim.Channel(tc.wantIn)
			if len(msgs) != before+1 || msgs[len(msgs)-1].Text != tc.wantText {
				t.Errorf("channel %s holds %+v, want one more message %q", tc.wantIn, msgs, tc.wantText)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, n := range []notify.Notify{{Text: "  "}, {Text: "x", Channel: "two words"}} {
		if err := n.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", n)
		}
	}
	if err := (&notify.Notify{Text: "x", Channel: "#ok"}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestSlackErrorsAreTransient(t *testing.T) {
	t.Parallel()
	sim, tok := setup(t)
	sim.FailNext(slacksim.MethodPostMessage, 1, slacksim.Fault{Status: 429, RetryAfter: 3 * time.Second})
	n := &notify.Notify{Text: "x", Channel: incidents}
	_, err := n.Run(t.Context(), env(t, nil, map[string]string{slackkit.EnvToken: tok, slackkit.EnvAPIURL: sim.APIURL()}))
	if !steps.IsTransient(err) || steps.RetryAfter(err) != 3*time.Second {
		t.Fatalf("Run = %v, want a transient error asking for 3s", err)
	}
}

// TestDryRunDoesNotPost runs the step through the engine: planned in a dry run, posted for real.
func TestDryRunDoesNotPost(t *testing.T) {
	t.Parallel()
	sim, tok := setup(t)
	pb, err := playbook.Load("n.yaml", []byte(`
name: n
inputs:
  who: {default: alice}
steps:
  - id: tell
    uses: slack.notify
    with: {text: "responding, {{ .inputs.who }}", channel: "#security-incidents"}
`), func(uses string) (steps.Kind, bool) { return notify.Kind, uses == notify.Kind.Name })
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{slackkit.EnvToken: tok, slackkit.EnvAPIURL: sim.APIURL()}
	for _, dry := range []bool{true, false} {
		res, err := engine.Run(t.Context(), engine.Options{Playbook: pb, Inputs: map[string]any{"who": "alice"}, RunID: "r",
			DryRun: dry, Events: event.NewBus("r", nil, 0, nil), Getenv: func(k string) string { return vars[k] }})
		if err != nil {
			t.Fatalf("dry=%v: %v", dry, err)
		}
		want := event.Succeeded
		if dry {
			want = event.Planned
		}
		if res.Steps[0].Status != want {
			t.Errorf("dry=%v: status %s, want %s", dry, res.Steps[0].Status, want)
		}
		n := len(sim.Channel(incidents))
		if dry && n != 0 || !dry && n != 1 {
			t.Errorf("dry=%v: %d messages posted", dry, n)
		}
	}
	if got := sim.Channel(incidents)[0].Text; got != "responding, alice" {
		t.Errorf("posted %q", got)
	}
}

func TestPostsToAChannelTheBotIsNotIn(t *testing.T) {
	t.Parallel()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok, Channels: []slacksim.Channel{
		{ID: "C0PUBLIC", Name: "announce", WithoutBot: true}, {ID: "G0PRIVATE", Name: "leads", Private: true, WithoutBot: true}}})
	t.Cleanup(srv.Close)
	vars := map[string]string{slackkit.EnvToken: tok, slackkit.EnvAPIURL: sim.APIURL()}

	// A public channel: the step joins it and posts.
	out, err := (&notify.Notify{Text: "contained", Channel: "#announce"}).Run(t.Context(), env(t, nil, vars))
	if err != nil {
		t.Fatalf("post to a public channel the bot is not in: %v", err)
	}
	if got := sim.Channel("C0PUBLIC"); len(got) != 1 || got[0].TS != out["ts"] {
		t.Errorf("channel holds %+v, want the one message", got)
	}
	// A private one: it cannot, and says how to invite the bot.
	_, err = (&notify.Notify{Text: "contained", Channel: "#leads"}).Run(t.Context(), env(t, nil, vars))
	if err == nil || !strings.Contains(err.Error(), "/invite @respond` in #leads") {
		t.Errorf("post to a private channel the bot is not in: %v, want how to invite it", err)
	}
}
