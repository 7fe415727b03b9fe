package slackprogress

import (
	"context"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/redact"
)

// NewWithSleep is New with the wait between retries replaced, so tests control rate-limit waits.
func NewWithSleep(client *slack.Client, channel string, meta Meta, secrets *redact.Set, onError func(error),
	sleep func(context.Context, time.Duration) error) *Sink {
	return newSink(client, channel, meta, secrets, onError, sleep)
}
