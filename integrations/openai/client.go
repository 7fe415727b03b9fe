// Package openai wraps the OpenAI admin API (github.com/openai/openai-go/v3) for the steps that
// contain a leaked key: finding, revoking and checking project keys, minting scoped
// service-account keys, reading usage and costs, and tightening spend limits, spend alerts and
// rate limits. It owns the translation from SDK types to small plain types, and from SDK errors
// to *Error, which keeps the API's message (the SDK's own Error() hides it) and says whether
// the failure is worth retrying.
//
// Retry policy: reads keep the SDK's retries (Config.MaxRetries). Calls that create something
// (service accounts, their keys, spend alerts) are sent exactly once: the admin API has no
// idempotency key, so a retried create after a lost response would mint a second key. Callers
// reconcile instead (FindServiceAccount, FindKeysByName) when an *Error reports
// OutcomeUnknown.
package openai

import (
	"context"
	"errors"
	"net/http"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// ErrNoCredentials is returned by New when no admin key is configured.
var ErrNoCredentials = errors.New("openai: no admin API key (set OPENAI_ADMIN_KEY)")

// Config configures a Client.
type Config struct {
	// AdminKey is the organisation admin key (sk-admin-...). Required.
	AdminKey string
	// BaseURL overrides the API root, e.g. "http://127.0.0.1:1234/v1" for a simulator. Empty:
	// the SDK default (OPENAI_BASE_URL or https://api.openai.com/v1).
	BaseURL string
	// HTTPClient is used for every request when set.
	HTTPClient *http.Client
	// MaxRetries is the SDK retry count for reads and idempotent writes: -1 keeps the SDK
	// default (2), 0 disables retries. Creates never retry.
	MaxRetries int
	// RequestTimeout bounds each attempt (0: no per-attempt timeout beyond ctx).
	RequestTimeout time.Duration
	// MaxRetryDelay caps the SDK's wait between retries, server-directed or not (0: the SDK's
	// own caps, 8s for backoff and 2m for Retry-After). Rehearsals shorten it.
	MaxRetryDelay time.Duration
	// PageSize is the page size of cursor-paged lists (1..100; 0 means 100). Smaller pages
	// only mean more requests; tests use them to exercise paging.
	PageSize int
}

// Client is the admin API wrapper. Safe for concurrent use.
type Client struct {
	sdk      sdk.Client
	pageSize int64
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.AdminKey == "" {
		return nil, ErrNoCredentials
	}
	opts := []option.RequestOption{option.WithAdminAPIKey(cfg.AdminKey)}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.MaxRetries >= 0 {
		opts = append(opts, option.WithMaxRetries(cfg.MaxRetries))
	}
	if cfg.RequestTimeout > 0 {
		opts = append(opts, option.WithRequestTimeout(cfg.RequestTimeout))
	}
	if cfg.MaxRetryDelay > 0 {
		opts = append(opts, option.WithMaxRetryDelay(cfg.MaxRetryDelay))
	}
	c := &Client{sdk: sdk.NewClient(opts...), pageSize: 100}
	if cfg.PageSize > 0 && cfg.PageSize < 100 {
		c.pageSize = int64(cfg.PageSize)
	}
	return c, nil
}

// noRetry is applied to every create call (see the package doc).
var noRetry = option.WithMaxRetries(0)

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// CheckAdmin makes the cheapest admin read (one project) to prove the admin key works; for
// preflight checks.
func (c *Client) CheckAdmin(ctx context.Context) error {
	_, err := c.sdk.Admin.Organization.Projects.List(ctx, sdk.AdminOrganizationProjectListParams{Limit: sdk.Int(1)})
	return wrap("check admin key", err, false)
}
