package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	slackgo "github.com/slack-go/slack"
)

// ErrNoCredentials is returned by New when no bot token was given.
var ErrNoCredentials = errors.New("slack: no bot token (set SLACK_BOT_TOKEN)")

// ErrUnauthorized matches (errors.Is) an *Error whose Slack error code says the token is missing,
// wrong, revoked or lacks a scope, so a caller can map it to "credentials or permission missing"
// without comparing strings.
var ErrUnauthorized = errors.New("slack: token rejected or missing a permission")

// ErrNotInChannel matches (errors.Is) a refusal to post because the bot is not a member of the
// channel: not_in_channel for a public channel, channel_not_found for a private one (which a bot
// outside it cannot see) or one that does not exist. CheckMembership says which, and how to fix it.
var ErrNotInChannel = errors.New("slack: the bot is not in the channel")

// membershipCodes are the posting errors ErrNotInChannel matches.
var membershipCodes = map[string]bool{"not_in_channel": true, "channel_not_found": true}

// authCodes are the Slack error codes that mean the token, not the request, is at fault.
var authCodes = map[string]bool{
	"not_authed":             true,
	"invalid_auth":           true,
	"account_inactive":       true,
	"token_revoked":          true,
	"token_expired":          true,
	"missing_scope":          true,
	"not_allowed_token_type": true,
	"no_permission":          true,
	"ekm_access_denied":      true,
}

// transientCodes are ok:false error codes Slack documents as temporary on its side.
var transientCodes = map[string]bool{
	"ratelimited":         true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// Error is every failed call of this package. It keeps slack-go's error in its chain
// (errors.As(err, new(*slackgo.RateLimitedError)) still works) and adds the two methods the engine
// looks for: Transient and RetryAfter.
type Error struct {
	// Method is the Slack API method ("chat.update") or "response_url".
	Method string
	// Code is Slack's error code from an ok:false answer ("channel_not_found"), or "".
	Code string
	// StatusCode is the HTTP status when the server answered with a non-200 status, or 0.
	StatusCode int
	// Err is the underlying error (slack-go's or the transport's).
	Err error

	transient  bool
	retryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("slack %s: %v", e.Method, e.Err) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether trying again later may succeed: HTTP 429 or 5xx, Slack's
// ratelimited/internal_error family, or a connection that failed, reset or timed out.
func (e *Error) Transient() bool { return e.transient }

// RetryAfter is how long Slack asked us to wait (Retry-After on a 429), or 0.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// Is makes errors.Is(err, ErrUnauthorized) true for token and permission failures, and
// errors.Is(err, ErrNotInChannel) for a channel the bot may not post to.
func (e *Error) Is(target error) bool {
	return (target == ErrUnauthorized && authCodes[e.Code]) || (target == ErrNotInChannel && membershipCodes[e.Code])
}

// classify turns whatever slack-go or net/http returned into an *Error. ctx is the caller's:
// when it is done, the failure is the caller giving up, which is never worth retrying.
func classify(ctx context.Context, method string, err error) *Error {
	e := &Error{Method: method, Err: err}
	var (
		rl  *slackgo.RateLimitedError
		sc  slackgo.StatusCodeError
		ser slackgo.SlackErrorResponse
		ne  net.Error
	)
	switch {
	case errors.As(err, &rl):
		e.StatusCode = 429
		e.Code = "ratelimited"
		e.transient = true
		e.retryAfter = rl.RetryAfter
	case errors.As(err, &sc):
		e.StatusCode = sc.Code
		e.transient = sc.Retryable()
	case errors.As(err, &ser):
		e.Code = ser.Err
		e.transient = transientCodes[ser.Err]
	case ctx.Err() != nil:
		// The caller cancelled or its deadline passed: not the server's fault, do not retry.
	case errors.As(err, &ne) && ne.Timeout():
		e.transient = true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		e.transient = true
	default:
		var ue *url.Error
		// Any other failure to get an answer at all (DNS, TLS handshake cut short) is worth a
		// retry; a url.Error wrapping one of the cases above was already handled.
		e.transient = errors.As(err, &ue) && !errors.Is(err, context.Canceled)
	}
	return e
}

// redactedErr hides a value (a response_url: whoever holds it can post as the app) from an
// error's message while keeping the chain for errors.As.
type redactedErr struct {
	msg string
	err error
}

func (r *redactedErr) Error() string { return r.msg }
func (r *redactedErr) Unwrap() error { return r.err }

func hideURL(err error, raw string) error {
	if err == nil || raw == "" || !strings.Contains(err.Error(), raw) {
		return err
	}
	return &redactedErr{msg: strings.ReplaceAll(err.Error(), raw, redactURL(raw)), err: err}
}

// redactURL keeps scheme and host of a response_url and drops the path, which is the credential.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<response_url>"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
