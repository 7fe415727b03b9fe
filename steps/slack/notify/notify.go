// Package notify is the `slack.notify` step: post a free-form message (its text is a template)
// into the run's Slack thread, or into a given channel.
//
// Posting is a side effect, if a harmless one, so the step is a Planner: a dry run shows the
// message instead of posting it. It has no Preflight on purpose: a Slack outage or a bad Slack
// token must never stop a run before the key is revoked; the step fails (or skips) on its own.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/slack/slackkit"
)

// Notify posts Text (mrkdwn) into the run's thread, or as a new message in Channel when set.
type Notify struct {
	Text    string `yaml:"text"`
	Channel string `yaml:"channel"`
}

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "slack.notify",
	New:     func() steps.Step { return &Notify{} },
	Outputs: Outputs{},
	Summary: "post a message in the run's Slack thread (or a channel); outputs channel and ts",
	Traits: steps.Traits{Needs: []steps.Permission{steps.SlackPost}, Effects: []steps.Effect{steps.PostsToSlack},
		SlackChannelParam: "channel"},
}

// Outputs are the step's results.
type Outputs struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// maxText is Slack's recommended maximum for a message's text.
const maxText = 4000

// clientKey shares one client per run when the step builds its own from SLACK_BOT_TOKEN.
const clientKey = "slack.notify.client"

// Validate checks the parameters.
func (n *Notify) Validate() error {
	if strings.TrimSpace(n.Text) == "" {
		return errors.New("text: a message is required")
	}
	if c := n.Channel; c != "" && strings.ContainsAny(c, " \t\n") {
		return fmt.Errorf("channel: %q is not a channel ID or #name", c)
	}
	return nil
}

func (n *Notify) target() string {
	if n.Channel != "" {
		return n.Channel
	}
	return "the run's Slack thread"
}

// Plan shows the message that would be posted.
func (n *Notify) Plan(_ context.Context, env *steps.Env) (*steps.Plan, error) {
	return &steps.Plan{
		Summary: "post a message to " + n.target(),
		Actions: []steps.Action{{Method: "POST", Target: "chat.postMessage " + n.target(),
			Params: map[string]any{"text": n.text(env)}}},
		Outputs: steps.Outputs{"channel": n.Channel, "ts": ""},
	}, nil
}

// text is the message as it will be posted: masked with the run's secrets when the run lends
// its redaction, and always for known key shapes (a template can reach a secret input).
func (n *Notify) text(env *steps.Env) string {
	mask := redact.New().String
	if th, err := slackkit.FromEnv(env); err == nil && th.Redact != nil {
		mask = func(s string) string { return redact.New().String(th.Redact(s)) }
	}
	t := mask(n.Text)
	if r := []rune(t); len(r) > maxText {
		t = string(r[:maxText-1]) + "…"
	}
	return t
}

// Run posts the message.
func (n *Notify) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	text := n.text(env)
	th, thErr := slackkit.FromEnv(env)
	var (
		client *slack.Client
		msg    = slack.Message{Text: text}
		where  = n.Channel
	)
	switch {
	case thErr == nil && n.Channel == "":
		ch, ts, err := th.Locate(ctx)
		if err != nil {
			return nil, fmt.Errorf("find the run's slack thread: %w", err)
		}
		client, where, msg.ThreadTS = th.Client, ch, ts
	case thErr == nil:
		client = th.Client
	case n.Channel == "":
		return nil, &steps.Skip{Reason: "the run has no Slack thread (no notify.slack.channel) and no channel was given"}
	default:
		c, err := ownClient(env)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, &steps.Skip{Reason: "no Slack thread for this run and " + slackkit.EnvToken + " is not set"}
		}
		client = c
	}
	p, err := client.PostMessage(ctx, where, msg)
	if errors.Is(err, slack.ErrNotInChannel) && msg.ThreadTS == "" {
		// A bot outside a public channel may join it (channels:join); otherwise the error says
		// how to invite it.
		if _, jerr := client.CheckMembership(ctx, where, true); jerr != nil {
			err = fmt.Errorf("%w; %w", err, jerr)
		} else {
			p, err = client.PostMessage(ctx, where, msg)
		}
	}
	if err != nil {
		// *slack.Error carries Transient/RetryAfter: the step's retry policy handles 429s.
		return nil, fmt.Errorf("post message to %s: %w", n.target(), err)
	}
	env.Logf("posted a message to %s", n.target())
	return steps.Outputs{"channel": p.Channel, "ts": p.TS}, nil
}

// ownClient builds (once per run) a client from SLACK_BOT_TOKEN; nil when the token is unset.
func ownClient(env *steps.Env) (*slack.Client, error) {
	tok := env.Getenv(slackkit.EnvToken)
	if tok == "" {
		return nil, nil
	}
	build := func() (any, error) {
		if env.Secret != nil {
			env.Secret(tok)
		}
		return slack.New(slack.Config{Token: tok, APIURL: env.Getenv(slackkit.EnvAPIURL)})
	}
	if env.Shared == nil {
		c, err := build()
		if err != nil {
			return nil, err
		}
		return c.(*slack.Client), nil
	}
	v, err := env.Shared(clientKey, build)
	if err != nil {
		return nil, fmt.Errorf("slack client: %w", err)
	}
	return v.(*slack.Client), nil
}
