package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	sdk "github.com/openai/openai-go/v3"
)

// Error is a failed admin API call: either an HTTP error answer (StatusCode > 0, with the API's
// Code, Type, Param and Message) or a transport failure (StatusCode 0, Err set).
//
// Message is the API's own text. It is not a secret, but it may quote part of a key the way
// OpenAI does ("sk-proj-****abcd"); the redaction layer above masks key patterns.
type Error struct {
	Op         string // what was being done, e.g. "delete key key_abc in project proj_x"
	StatusCode int
	Code       string
	Type       string
	Param      string
	Message    string
	Err        error // transport or context error; nil for HTTP error answers

	retryAfter    time.Duration
	hasRetryAfter bool
	mutating      bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.StatusCode == 0 {
		b.WriteString("openai request failed: ")
		if e.Err != nil {
			b.WriteString(e.Err.Error())
		}
		return b.String()
	}
	fmt.Fprintf(&b, "openai API %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether trying again may succeed: 408, 429, 5xx and connection failures
// (reset, refused, EOF, timeouts). Cancellation of the caller's context is not transient.
func (e *Error) Transient() bool {
	if e.StatusCode != 0 {
		return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests ||
			e.StatusCode >= 500
	}
	return transientTransport(e.Err)
}

// RetryAfter is the wait the server asked for (Retry-After-Ms or Retry-After); 0 when it did
// not say.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// HasRetryAfter reports whether the server sent a Retry-After header.
func (e *Error) HasRetryAfter() bool { return e.hasRetryAfter }

// OutcomeUnknown reports whether a mutating call may have been applied although it failed: no
// answer arrived (connection dropped, timeout) or the server failed with 5xx/408. Before trying
// again, reconcile with a read (is the key gone? does the service account or key exist?).
func (e *Error) OutcomeUnknown() bool {
	if !e.mutating {
		return false
	}
	if e.StatusCode == 0 {
		return e.Err != nil && !errors.Is(e.Err, context.Canceled)
	}
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}

func transientTransport(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A per-attempt timeout (RequestTimeout) is worth retrying; the caller's own
		// deadline is checked by the caller before it retries.
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// wrap turns an SDK error into *Error (nil stays nil). mutating marks calls that change state.
func wrap(op string, err error, mutating bool) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, mutating: mutating}
	var apiErr *sdk.Error
	if errors.As(err, &apiErr) {
		e.StatusCode, e.Code, e.Type, e.Param, e.Message = apiErr.StatusCode, apiErr.Code, apiErr.Type, apiErr.Param, apiErr.Message
		if apiErr.Response != nil {
			e.retryAfter, e.hasRetryAfter = retryAfter(apiErr.Response.Header)
		}
		return e
	}
	e.Err = err
	return e
}

func retryAfter(h http.Header) (time.Duration, bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return time.Duration(s * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0), true
		}
	}
	return 0, false
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports whether err is an API 404 answer.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsUnauthorized reports whether err is an API 401 answer (missing, wrong or revoked credential).
func IsUnauthorized(err error) bool { return statusOf(err) == http.StatusUnauthorized }

// IsPermissionDenied reports whether err is an API 403 answer (valid credential lacking a
// permission, e.g. a project key used on an admin endpoint).
func IsPermissionDenied(err error) bool { return statusOf(err) == http.StatusForbidden }

// IsBadRequest reports whether err is an API 400 answer (the request was refused as invalid).
func IsBadRequest(err error) bool { return statusOf(err) == http.StatusBadRequest }
