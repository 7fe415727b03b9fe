// Package github is respond's GitHub client: it wraps go-github v62 for the calls the incident
// response needs (secret-scanning alerts, code search, Actions run logs, Actions secrets) and owns
// what go-github leaves to its callers: cursor and page loops, waiting out every flavour of rate
// limit within a budget, and errors the engine can classify (Transient, RetryAfter) that never
// carry a secret.
package github

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// DefaultBaseURL is the github.com REST API.
const DefaultBaseURL = "https://api.github.com/"

// DefaultMaxWait is how long a call may spend waiting out rate limits before it gives up with a
// transient error.
const DefaultMaxWait = 2 * time.Minute

// Config configures a Client.
type Config struct {
	// Token authenticates every API call (steps read it from GITHUB_TOKEN).
	Token string
	// BaseURL is the REST API root (GitHub Enterprise: https://HOST/api/v3); with or without a
	// trailing slash. DefaultBaseURL when empty.
	BaseURL string
	// HTTPClient carries the requests; it must not add credentials itself, because it also
	// downloads pre-signed log URLs that must not receive the token. A client with a 60 s
	// response-header timeout when nil.
	HTTPClient *http.Client
	// MaxWait is the rate-limit wait budget per call (DefaultMaxWait when zero; negative means
	// never wait).
	MaxWait time.Duration
	// MaxLogBytes caps the size of a downloaded run-logs zip (512 MiB when zero).
	MaxLogBytes int64
	// MaxRetries is how often a call that failed with a 5xx or a dropped connection is sent
	// again before the error goes back to the caller (DefaultMaxRetries when zero; negative
	// means never). Every call this client makes is idempotent, so repeating one is safe.
	MaxRetries int
	// RetryDelay is the first wait before such a retry (200ms when zero); it doubles each time,
	// with full jitter, up to 2s.
	RetryDelay time.Duration
}

// DefaultMaxRetries is the retry count for transient failures: a search reads a dozen pages and
// logs, and one bad answer among them should not restart the whole step.
const DefaultMaxRetries = 3

// Client calls the GitHub REST API. It is safe for concurrent use.
type Client struct {
	token       string
	base        *url.URL
	httpClient  *http.Client
	maxWait     time.Duration
	maxLogBytes int64
	maxRetries  int
	retryDelay  time.Duration
	clk         clock

	mu      sync.Mutex
	gh      *gh.Client
	gates   map[string]time.Time
	repoIDs map[string]int64
}

// New returns a Client. It fails with ErrNoCredentials when cfg.Token is empty.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("github: %w", ErrNoCredentials)
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	if !strings.HasSuffix(raw, "/") {
		raw += "/"
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("github: base URL %q: want http(s)://host/path", cfg.BaseURL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 60 * time.Second
		hc = &http.Client{Transport: t}
	}
	c := &Client{
		token:       cfg.Token,
		base:        base,
		httpClient:  hc,
		maxWait:     cfg.MaxWait,
		maxLogBytes: cfg.MaxLogBytes,
		maxRetries:  cfg.MaxRetries,
		retryDelay:  cfg.RetryDelay,
		clk:         realClock{},
		gates:       map[string]time.Time{},
		repoIDs:     map[string]int64{},
	}
	if c.maxWait == 0 {
		c.maxWait = DefaultMaxWait
	}
	if c.maxLogBytes <= 0 {
		c.maxLogBytes = 512 << 20
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.retryDelay <= 0 {
		c.retryDelay = 200 * time.Millisecond
	}
	c.gh = c.newGH()
	return c, nil
}

func (c *Client) newGH() *gh.Client {
	g := gh.NewClient(c.httpClient).WithAuthToken(c.token)
	g.BaseURL = c.base
	g.UploadURL = c.base
	g.UserAgent = "respond"
	return g
}

func (c *Client) client() *gh.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gh
}

// forgetLimits drops go-github's memory of rate limits once this client has itself waited them
// out: go-github refuses calls locally until the remembered time (all calls, for a secondary
// limit), and the wait here is the authority on how long that is.
func (c *Client) forgetLimits() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gh = c.newGH()
}

// clock is injectable so tests wait out rate limits without sleeping.
type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Rate-limit buckets. GitHub counts code search, other searches and everything else apart;
// a secondary limit applies to all of them.
const (
	bucketCore       = "core"
	bucketCodeSearch = "code_search"
	bucketSecondary  = "secondary"
)

// call is one logical API call: op names it in errors (never with a secret), bucket is its
// rate-limit category, quiet drops GitHub's message from errors (search echoes the query).
type call struct {
	op     string
	bucket string
	quiet  bool
}

// maxAttempts bounds retries even when every wait is zero (a misbehaving server).
const maxAttempts = 20

// do runs fn, waiting out rate limits within the budget and retrying transient failures. fn
// must be safe to repeat: a rate-limited request was not processed by GitHub, and every call
// this client makes is idempotent.
func (c *Client) do(ctx context.Context, k call, fn func(g *gh.Client) (*gh.Response, error)) error {
	return c.retryTransient(ctx, func() error { return c.doLimited(ctx, k, fn) })
}

// retryTransient repeats fn while it fails with a transient error other than a rate limit
// (those doLimited already waited out within its budget), up to maxRetries times.
func (c *Client) retryTransient(ctx context.Context, fn func() error) error {
	for retry := 0; ; retry++ {
		err := fn()
		var e *Error
		if err == nil || retry >= c.maxRetries || ctx.Err() != nil || !errors.As(err, &e) || !e.Transient() || errors.Is(err, ErrRateLimited) {
			return err
		}
		ceiling := min(c.retryDelay<<retry, 2*time.Second)
		if err := c.clk.Sleep(ctx, time.Duration(rand.Int64N(int64(ceiling)+1))); err != nil {
			return err
		}
	}
}

func (c *Client) doLimited(ctx context.Context, k call, fn func(g *gh.Client) (*gh.Response, error)) error {
	if k.bucket == "" {
		k.bucket = bucketCore
	}
	var waited time.Duration
	var last *Error // the last rate-limit answer, returned when the budget runs out
	for attempt := 1; ; attempt++ {
		if err := c.waitGates(ctx, k, &waited, last); err != nil {
			return err
		}
		g := c.client()
		resp, err := fn(g)
		if err == nil {
			return nil
		}
		var hr *http.Response
		if resp != nil {
			hr = resp.Response
		}
		wait, bucket, limited := rateLimitWait(err, hr, c.clk.Now())
		if !limited {
			return classify(ctx, k, hr, err)
		}
		if bucket == "" {
			bucket = k.bucket
		}
		last = newRateLimited(k, hr, wait, err)
		if attempt >= maxAttempts {
			return last
		}
		c.raiseGate(bucket, c.clk.Now().Add(wait))
		if wait <= 0 {
			c.forgetLimits()
		}
	}
}

// waitGates sleeps until the rate-limit gates of k's bucket are open, or fails with a transient
// error when that would exceed the wait budget.
func (c *Client) waitGates(ctx context.Context, k call, waited *time.Duration, last *Error) error {
	for {
		c.mu.Lock()
		until := c.gates[k.bucket]
		if s := c.gates[bucketSecondary]; s.After(until) {
			until = s
		}
		c.mu.Unlock()
		d := until.Sub(c.clk.Now())
		if d <= 0 {
			return nil
		}
		if c.maxWait < 0 || *waited+d > c.maxWait {
			if last == nil {
				last = newRateLimited(k, nil, d, nil)
			}
			last.retryAfter = d
			return last
		}
		if err := c.clk.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: waiting out rate limit: %w", k.op, err)
		}
		*waited += d
		c.forgetLimits()
	}
}

func (c *Client) raiseGate(bucket string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.After(c.gates[bucket]) {
		c.gates[bucket] = until
	}
}

// splitRepo splits owner/name.
func splitRepo(full string) (string, string, error) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("github: repository %q: want owner/name", full)
	}
	return owner, name, nil
}

// CheckAccess is the read-only preflight: the token is valid (GET /rate_limit, which does not
// count against the limit) and every repository given (owner/name) is visible to it.
func (c *Client) CheckAccess(ctx context.Context, repos ...string) error {
	err := c.do(ctx, call{op: "check github token"}, func(g *gh.Client) (*gh.Response, error) {
		_, resp, err := g.RateLimit.Get(ctx)
		return resp, err
	})
	if err != nil {
		return err
	}
	for _, r := range repos {
		if _, err := c.RepoID(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// repository reads owner/name (repo is how errors name it).
func (c *Client) repository(ctx context.Context, repo, owner, name string) (*gh.Repository, error) {
	var r *gh.Repository
	err := c.do(ctx, call{op: "get repository " + repo}, func(g *gh.Client) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		r, resp, err = g.Repositories.Get(ctx, owner, name)
		return resp, err
	})
	return r, err
}

// RepoID returns the numeric ID of owner/name (environment secrets are addressed by it).
func (c *Client) RepoID(ctx context.Context, repo string) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	key := strings.ToLower(repo)
	c.mu.Lock()
	id, ok := c.repoIDs[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	r, err := c.repository(ctx, repo, owner, name)
	if err != nil {
		return 0, err
	}
	if r.GetID() == 0 {
		return 0, fmt.Errorf("get repository %s: response has no id", repo)
	}
	c.mu.Lock()
	c.repoIDs[key] = r.GetID()
	c.mu.Unlock()
	return r.GetID(), nil
}
