package github

import (
	"context"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// Token is what GitHub says about the token itself.
type Token struct {
	// Classic is true when GitHub listed the token's OAuth scopes (X-OAuth-Scopes): a classic
	// personal access token or an OAuth token. Fine-grained tokens and GitHub App tokens get no
	// such header; what they may do shows only by trying (Probe*).
	Classic bool
	Scopes  []string
	// Expires is when the token stops working (GitHub-Authentication-Token-Expiration), zero
	// when GitHub did not say.
	Expires time.Time
}

// HasScope reports whether a classic token has one of scopes.
func (t Token) HasScope(scopes ...string) bool {
	for _, want := range scopes {
		for _, have := range t.Scopes {
			if have == want {
				return true
			}
		}
	}
	return false
}

// TokenInfo reads the token's kind, scopes and expiry from the answer to GET /rate_limit (valid
// for every token, and free: it does not count against the rate limit).
func (c *Client) TokenInfo(ctx context.Context) (Token, error) {
	var hdr http.Header
	err := c.do(ctx, call{op: "check github token"}, func(g *gh.Client) (*gh.Response, error) {
		_, resp, err := g.RateLimit.Get(ctx)
		if resp != nil {
			hdr = resp.Header
		}
		return resp, err
	})
	if err != nil {
		return Token{}, err
	}
	var t Token
	if v, ok := hdr["X-Oauth-Scopes"]; ok {
		t.Classic, t.Scopes = true, []string{}
		for _, part := range v {
			for _, sc := range strings.Split(part, ",") {
				if sc = strings.TrimSpace(sc); sc != "" {
					t.Scopes = append(t.Scopes, sc)
				}
			}
		}
	}
	if v := hdr.Get("GitHub-Authentication-Token-Expiration"); v != "" {
		// GitHub writes it as "2026-12-31 06:00:00 UTC"; some answers carry a numeric offset.
		for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700"} {
			if e, err := time.Parse(layout, v); err == nil {
				t.Expires = e.UTC()
				break
			}
		}
	}
	return t, nil
}

// Access is the answer to a read-only probe: Err is nil when GitHub allowed the call. Needs is
// what GitHub said the call wants, when it refused: the fine-grained permission
// (X-Accepted-GitHub-Permissions, e.g. "actions=read") or the classic scopes it accepts
// (X-Accepted-OAuth-Scopes).
type Access struct {
	Err   error
	Needs string
}

// probe runs one read with per_page 1 and keeps what GitHub said it needs.
func (c *Client) probe(ctx context.Context, k call, fn func(g *gh.Client) (*gh.Response, error)) Access {
	var hdr http.Header
	err := c.do(ctx, k, func(g *gh.Client) (*gh.Response, error) {
		resp, err := fn(g)
		if resp != nil {
			hdr = resp.Header
		}
		return resp, err
	})
	a := Access{Err: err}
	if err != nil && hdr != nil {
		a.Needs = hdr.Get("X-Accepted-GitHub-Permissions")
		if a.Needs == "" {
			a.Needs = hdr.Get("X-Accepted-OAuth-Scopes")
		}
	}
	return a
}

// ProbeAlerts lists one secret-scanning alert of org (when set) or else of repo.
func (c *Client) ProbeAlerts(ctx context.Context, org, repo string) Access {
	opts := &gh.SecretScanningAlertListOptions{}
	opts.ListCursorOptions.PerPage = 1
	if org != "" {
		return c.probe(ctx, call{op: "list secret-scanning alerts for org " + org}, func(g *gh.Client) (*gh.Response, error) {
			_, resp, err := g.SecretScanning.ListAlertsForOrg(ctx, org, opts)
			return resp, err
		})
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return Access{Err: err}
	}
	return c.probe(ctx, call{op: "list secret-scanning alerts for " + repo}, func(g *gh.Client) (*gh.Response, error) {
		_, resp, err := g.SecretScanning.ListAlertsForRepo(ctx, owner, name, opts)
		return resp, err
	})
}

// ProbeRuns lists one Actions workflow run of repo.
func (c *Client) ProbeRuns(ctx context.Context, repo string) Access {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return Access{Err: err}
	}
	return c.probe(ctx, call{op: "list workflow runs of " + repo}, func(g *gh.Client) (*gh.Response, error) {
		_, resp, err := g.Actions.ListRepositoryWorkflowRuns(ctx, owner, name,
			&gh.ListWorkflowRunsOptions{ListOptions: gh.ListOptions{PerPage: 1}})
		return resp, err
	})
}

// ProbeSecrets reads repo's Actions public key, which writing a secret starts with.
func (c *Client) ProbeSecrets(ctx context.Context, repo string) Access {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return Access{Err: err}
	}
	return c.probe(ctx, call{op: "get the Actions public key of " + repo}, func(g *gh.Client) (*gh.Response, error) {
		_, resp, err := g.Actions.GetRepoPublicKey(ctx, owner, name)
		return resp, err
	})
}

// ProbeCodeSearch runs one code search (of the 10 a minute GitHub allows) for a word that names
// no secret, within org or repo.
func (c *Client) ProbeCodeSearch(ctx context.Context, org, repo string) Access {
	q := "respond"
	switch {
	case org != "":
		q += " org:" + org
	case repo != "":
		if _, _, err := splitRepo(repo); err != nil {
			return Access{Err: err}
		}
		q += " repo:" + repo
	}
	return c.probe(ctx, call{op: "search code", bucket: bucketCodeSearch}, func(g *gh.Client) (*gh.Response, error) {
		_, resp, err := g.Search.Code(ctx, q, &gh.SearchOptions{ListOptions: gh.ListOptions{PerPage: 1}})
		return resp, err
	})
}
