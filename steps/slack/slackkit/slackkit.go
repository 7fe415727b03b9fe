// Package slackkit is the contract between the CLI and the steps that post to Slack: where a
// run's Slack thread is (the progress sink's parent message) and how to reach Slack when there is
// none. The CLI stores a *Thread under Key in the run's shared values; steps read it with
// FromEnv. It is its own tiny package so neither side imports the other.
package slackkit

import (
	"context"
	"errors"
	"fmt"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/steps"
)

// Key is the steps.Env.Shared key of the run's *Thread.
const Key = "slack.thread"

// Environment variables a step reads when the run has no thread.
const (
	EnvToken  = "SLACK_BOT_TOKEN"
	EnvAPIURL = "RESPOND_SLACK_API_URL" // a simulator's Web API root
)

// ErrNoThread means the run reports to no Slack thread (its playbook has no notify.slack.channel,
// or Slack could not be reached when the run started).
var ErrNoThread = errors.New("this run has no Slack thread")

// Thread is where a run's Slack messages go.
type Thread struct {
	// Channel and TS locate the parent message once it is posted.
	Channel, TS string
	// Wait, when set, is asked for Channel and TS instead: the progress sink posts its parent
	// message asynchronously, so a step may run before it exists.
	Wait func(ctx context.Context) (channel, ts string, err error)
	// Client posts with the run's bot token.
	Client *slack.Client
	// Redact masks the run's secrets in text a step is about to post. Nil masks known key shapes
	// only.
	Redact func(string) string
}

// Locate returns the channel and ts of the thread's parent message.
func (t *Thread) Locate(ctx context.Context) (channel, ts string, err error) {
	if t.Wait != nil {
		return t.Wait(ctx)
	}
	if t.Channel == "" || t.TS == "" {
		return "", "", ErrNoThread
	}
	return t.Channel, t.TS, nil
}

// FromEnv returns the run's thread, or an error matching ErrNoThread.
func FromEnv(env *steps.Env) (*Thread, error) {
	if env == nil || env.Shared == nil {
		return nil, ErrNoThread
	}
	v, err := env.Shared(Key, func() (any, error) { return nil, ErrNoThread })
	if err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case *Thread:
		if t != nil && t.Client != nil {
			return t, nil
		}
	case Thread:
		if t.Client != nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%w (the value under %q is %T)", ErrNoThread, Key, v)
}
