package slackserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// NewSocketModeClient returns a Socket Mode client for the app token (SLACK_APP_TOKEN, xapp-…)
// and bot token. apiURL overrides https://slack.com/api/ (tests); empty keeps it.
func NewSocketModeClient(botToken, appToken, apiURL string) (*socketmode.Client, error) {
	if !strings.HasPrefix(appToken, "xapp-") {
		return nil, errors.New("socket mode needs an app-level token (xapp-…) in SLACK_APP_TOKEN")
	}
	opts := []slackgo.Option{slackgo.OptionAppLevelToken(appToken)}
	if apiURL != "" {
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/"
		}
		opts = append(opts, slackgo.OptionAPIURL(apiURL))
	}
	return socketmode.New(slackgo.New(botToken, opts...)), nil
}

// acker is the part of *socketmode.Client that answers an envelope (tests fake it).
type acker interface {
	Ack(req socketmode.Request, payload ...any) error
}

// ServeSocketMode runs the same command and button handling over a Socket Mode connection (no
// public URL, no request signatures: the connection is authenticated by the app token) until ctx
// ends, then shuts down like Serve.
func (s *Server) ServeSocketMode(ctx context.Context, sm *socketmode.Client) ([]Interrupted, error) {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(runCtx) }()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			if err != nil && ctx.Err() == nil {
				runErr = fmt.Errorf("socket mode: %w", err)
			}
			break loop
		case evt, ok := <-sm.Events:
			if !ok {
				break loop
			}
			s.dispatchSocket(evt, sm)
		}
	}
	stop()
	grace, cancel := context.WithTimeout(context.Background(), s.o.ShutdownGrace)
	defer cancel()
	interrupted, err := s.shutdown(grace)
	return interrupted, errors.Join(runErr, err)
}

// dispatchSocket handles one Socket Mode event: slash commands are acknowledged with the same
// ephemeral answer the HTTP endpoint gives; button presses are acknowledged first, then applied.
// Slack redelivers an envelope it thinks was not acknowledged, so envelope IDs are deduplicated.
func (s *Server) dispatchSocket(evt socketmode.Event, ack acker) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		s.logf("socket mode: connecting")
		return
	case socketmode.EventTypeConnected:
		s.logf("socket mode: connected")
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth, socketmode.EventTypeIncomingError:
		s.logf("socket mode: %s", evt.Type)
		return
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
	default:
		return
	}
	if evt.Request == nil {
		return
	}
	if evt.Request.EnvelopeID != "" {
		if s.seen.add("env:"+evt.Request.EnvelopeID, time.Now().Add(replayWindow), time.Now()) == seenBefore {
			_ = ack.Ack(*evt.Request) // it was handled: make Slack stop redelivering
			return
		}
	}
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slackgo.SlashCommand)
		if !ok {
			_ = ack.Ack(*evt.Request)
			return
		}
		if err := ack.Ack(*evt.Request, ephemeral{ResponseType: slackgo.ResponseTypeEphemeral, Text: s.command(cmd)}); err != nil {
			s.logf("socket mode: acknowledge a command: %v", err)
		}
	case socketmode.EventTypeInteractive:
		if err := ack.Ack(*evt.Request); err != nil {
			s.logf("socket mode: acknowledge an interaction: %v", err)
		}
		if cb, ok := evt.Data.(slackgo.InteractionCallback); ok {
			s.interaction(cb)
		}
	}
}
