package github

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// Kinds of failure, matched with errors.Is on any error a Client returns.
var (
	ErrNoCredentials = errors.New("no GitHub token (set GITHUB_TOKEN)")
	ErrUnauthorized  = errors.New("GitHub rejected the token")
	ErrForbidden     = errors.New("GitHub token lacks permission")
	ErrNotFound      = errors.New("not found on GitHub")
	ErrInvalid       = errors.New("GitHub rejected the request as invalid")
	ErrRateLimited   = errors.New("GitHub rate limit")
)

// Error is a failed GitHub call. Its text names the operation, the status and GitHub's message,
// never a request URL (a code-search query holds the leaked secret) nor a header.
type Error struct {
	Op         string // what was being done, e.g. "list secret-scanning alerts for org acme"
	StatusCode int    // HTTP status; 0 when no response arrived
	Message    string // GitHub's message, when it is safe to show

	kind       error
	transient  bool
	retryAfter time.Duration
	err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	switch {
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case e.err != nil && !isAPIError(e.err):
		// Transport and decoding errors; API errors print the URL and the (maybe quiet)
		// message, so they are left out.
		b.WriteString(": " + e.err.Error())
	}
	if e.retryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.retryAfter.Round(time.Second))
	}
	return b.String()
}

// Unwrap returns the underlying go-github or transport error, with request URLs stripped of
// their query.
func (e *Error) Unwrap() error { return e.err }

// Is matches the Err* kinds.
func (e *Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// Transient reports whether retrying later may succeed: rate limits, 5xx, timeouts and
// connection failures.
func (e *Error) Transient() bool { return e.transient }

// RetryAfter is how long GitHub asked to wait (zero when it did not say).
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

func newRateLimited(k call, hr *http.Response, wait time.Duration, err error) *Error {
	e := &Error{Op: k.op, kind: ErrRateLimited, transient: true, retryAfter: max(wait, 0), err: sanitize(err)}
	if hr != nil && hr.StatusCode != 0 {
		e.StatusCode = hr.StatusCode
	}
	if !k.quiet {
		e.Message = apiMessage(err)
	}
	if e.Message == "" {
		e.Message = "rate limit exceeded"
	}
	return e
}

// rateLimitWait recognises the three ways GitHub says "slow down" and how long to wait:
// RateLimitError (403, X-RateLimit-Remaining 0: until the reset), AbuseRateLimitError
// (secondary limit: Retry-After) and 429 (a plain ErrorResponse in go-github: Retry-After, else
// the reset). It also reads raw responses, for calls that bypass go-github's error parsing
// (run logs). bucket is "secondary" for secondary limits, else empty (the call's own bucket).
func rateLimitWait(err error, hr *http.Response, now time.Time) (wait time.Duration, bucket string, limited bool) {
	// GitHub's advice when it gives no time: wait at least a minute.
	const fallback = time.Minute
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		if rl.Rate.Reset.IsZero() {
			return fallback, "", true
		}
		return rl.Rate.Reset.Sub(now), "", true
	}
	var ab *gh.AbuseRateLimitError
	if errors.As(err, &ab) {
		if ab.RetryAfter == nil {
			return fallback, bucketSecondary, true
		}
		return *ab.RetryAfter, bucketSecondary, true
	}
	if hr == nil {
		return 0, "", false
	}
	switch {
	case hr.StatusCode == http.StatusTooManyRequests:
	case hr.StatusCode == http.StatusForbidden && hr.Header.Get("X-RateLimit-Remaining") == "0":
	case hr.StatusCode == http.StatusForbidden && hr.Header.Get("Retry-After") != "":
		if d, ok := retryAfterHeader(hr.Header, now); ok {
			return d, bucketSecondary, true
		}
		return fallback, bucketSecondary, true
	default:
		return 0, "", false
	}
	if d, ok := retryAfterHeader(hr.Header, now); ok {
		return d, "", true
	}
	if hr.Header.Get("X-RateLimit-Remaining") == "0" {
		if v, err := strconv.ParseInt(hr.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil && v > 0 {
			return time.Unix(v, 0).Sub(now), "", true
		}
	}
	return fallback, "", true
}

// retryAfterHeader reads Retry-After as seconds or an HTTP date.
func retryAfterHeader(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

// classify turns a failed call that is not a rate limit into an *Error.
func classify(ctx context.Context, k call, hr *http.Response, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("%s: %w", k.op, ctxErr)
	}
	e := &Error{Op: k.op, err: sanitize(err)}
	if !k.quiet {
		e.Message = apiMessage(err)
	}
	status := 0
	if hr != nil {
		status = hr.StatusCode
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		status = er.Response.StatusCode
	}
	e.StatusCode = status
	switch {
	case status == 0:
		e.transient = transportTransient(err)
	case status == http.StatusUnauthorized:
		e.kind = ErrUnauthorized
	case status == http.StatusForbidden:
		e.kind = ErrForbidden
	case status == http.StatusNotFound || status == http.StatusGone:
		e.kind = ErrNotFound
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		e.kind = ErrInvalid
	case status == http.StatusRequestTimeout || status >= 500:
		e.transient = true
		if hr != nil {
			if d, ok := retryAfterHeader(hr.Header, time.Now()); ok {
				e.retryAfter = d
			}
		}
	}
	return e
}

// transportTransient: no response arrived. Connection failures and timeouts are worth
// retrying; a malformed URL or an untrusted certificate is not.
func transportTransient(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Op == "parse" {
		return false
	}
	var cv *tls.CertificateVerificationError
	return !errors.As(err, &cv)
}

func isAPIError(err error) bool {
	var er *gh.ErrorResponse
	var rl *gh.RateLimitError
	var ab *gh.AbuseRateLimitError
	return errors.As(err, &er) || errors.As(err, &rl) || errors.As(err, &ab)
}

// apiMessage is GitHub's message from an error response, if any.
func apiMessage(err error) string {
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		return er.Message
	}
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		return rl.Message
	}
	var ab *gh.AbuseRateLimitError
	if errors.As(err, &ab) {
		return ab.Message
	}
	return ""
}

// sanitize strips query strings from the URLs inside err, in place: go-github's error texts
// print the request URL, and a code-search query carries the secret being searched for.
func sanitize(err error) error {
	if err == nil {
		return nil
	}
	strip := func(hr *http.Response) {
		if hr != nil && hr.Request != nil && hr.Request.URL != nil && hr.Request.URL.RawQuery != "" {
			u := *hr.Request.URL
			u.RawQuery = ""
			hr.Request.URL = &u
		}
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		strip(er.Response)
	}
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		strip(rl.Response)
	}
	var ab *gh.AbuseRateLimitError
	if errors.As(err, &ab) {
		strip(ab.Response)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			ue.URL = u.String()
		} else {
			ue.URL = "(url withheld)"
		}
	}
	return err
}
