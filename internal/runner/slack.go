package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/slackprogress"
	"github.com/respond-sec/respond/steps/slack/slackkit"
)

// attachSlack attaches the progress sink of the playbook's channel to bus, adopting the thread a
// resumed run already has, and puts the thread in the run's shared values. It returns what
// closes the sink at the end of the run, or nil when Slack is unavailable: that never stops a
// response, it is said and the run goes on.
func (rn *Runner) attachSlack(ctx context.Context, bus *event.Bus, s *Spec, runID string, getenv func(string) string) func() {
	channel := s.Playbook.Notify.SlackChannel
	client, err := rn.slackClient(getenv)
	if err != nil {
		rn.warnf("no Slack progress in %s: %v", channel, rn.Secrets.String(err.Error()))
		return nil
	}
	sink := NewSlackSink(client, channel, s.Playbook, runID, s.StartedBy, s.Mode, rn.Secrets, func(err error) {
		rn.warnf("Slack: %v", rn.Secrets.String(err.Error()))
	})
	if s.Prior != nil {
		if th := engine.Fold(s.Prior).Thread; th.TS != "" {
			sink.Adopt(th.Channel, th.TS)
		}
		sink.Seed(s.Prior)
	}
	sink.OnParent(func(ch, ts string) {
		_, _ = bus.Emit(event.Event{Message: channel}.With(event.SlackThreadData{Channel: ch, TS: ts}))
	})
	bus.Attach(sink)
	s.Shared = withShared(s.Shared, slackkit.Key, SlackThread(sink, client, rn.Secrets))
	return func() {
		// A reachable Slack gets time to show the final state (rate limits); one that never
		// took the run's message costs a few seconds at most. The Sink reports what it could
		// not deliver itself, once.
		wait := 30 * time.Second
		if !sink.Posted() {
			wait = 3 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
		defer cancel()
		_ = sink.Close(ctx)
	}
}

// slackClient is the bot's client of a run's environment.
func (rn *Runner) slackClient(getenv func(string) string) (*slack.Client, error) {
	return SlackClient(getenv, rn.Secrets)
}

// SlackClient is the bot's client from SLACK_BOT_TOKEN (and RESPOND_SLACK_API_URL, for
// simulators), the token registered with secrets before anything can print it. The one way
// respond reaches Slack outside a step: run progress, and respond audit --slack.
func SlackClient(getenv func(string) string, secrets *redact.Set) (*slack.Client, error) {
	tok := getenv(slackkit.EnvToken)
	if tok == "" {
		return nil, fmt.Errorf("%s is not set", slackkit.EnvToken)
	}
	secrets.Add(tok)
	return slack.New(slack.Config{Token: tok, APIURL: getenv(slackkit.EnvAPIURL)})
}

// NewSlackSink is the progress sink of one run of pb in channel (runID may be empty until the
// run's first event names it).
func NewSlackSink(client *slack.Client, channel string, pb *playbook.Playbook, runID, startedBy, mode string,
	secrets *redact.Set, onError func(error)) *slackprogress.Sink {
	meta := slackprogress.Meta{Playbook: pb.Name, RunID: runID, StartedBy: startedBy, Mode: mode}
	for _, st := range pb.Steps {
		meta.Steps = append(meta.Steps, slackprogress.StepMeta{ID: st.ID, Uses: st.Uses})
	}
	return slackprogress.New(client, channel, meta, secrets, onError)
}

// SlackThread is the value slack.notify steps read from the run's shared values (slackkit.Key).
func SlackThread(sink *slackprogress.Sink, client *slack.Client, secrets *redact.Set) *slackkit.Thread {
	return &slackkit.Thread{Client: client, Wait: sink.Thread, Redact: secrets.String}
}

func withShared(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for key, val := range m {
		out[key] = val
	}
	return out
}
