// Package githubkit is what the GitHub step kinds share: their run-wide GitHub client (also used
// by the github-actions-secret delivery of a new key), built once from the environment, and what
// those steps share in using it: the read-only preflight, what GitHub's refusals mean (a credential problem, or a
// gap to note), the checks of the parameters they have in common (secret, org and repos, since,
// max_runs and concurrency), and the listing of secret-scanning alerts across an organization
// and named repositories.
package githubkit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
)

// Environment variables read.
const (
	EnvToken = "GITHUB_TOKEN"
	// EnvBaseURL points the steps at another REST API root (GitHub Enterprise, a simulator).
	EnvBaseURL = "RESPOND_GITHUB_API_URL"
)

// Client returns the run's GitHub client.
func Client(env *steps.Env) (*github.Client, error) {
	v, err := env.Shared("github.client", func() (any, error) {
		tok := env.Getenv(EnvToken)
		if tok == "" {
			return nil, steps.CredentialError(EnvToken+" is not set",
				"create a fine-grained token with the permissions listed in the README and export it")
		}
		env.Secret(tok)
		return github.New(github.Config{Token: tok, BaseURL: env.Getenv(EnvBaseURL)})
	})
	if err != nil {
		return nil, err
	}
	return v.(*github.Client), nil
}

// AccessChecker is the client method Preflight calls.
type AccessChecker interface {
	CheckAccess(ctx context.Context, repos ...string) error
}

// Preflight checks the token and that every named repository is visible to it. With no org and
// no repos the step will not touch GitHub, and a team without a token is not stopped. c is the
// step's own client when a test gave it one; nil means the run's.
func Preflight(ctx context.Context, env *steps.Env, c AccessChecker, org string, repos []string) error {
	if org == "" && len(repos) == 0 {
		return nil
	}
	if c == nil {
		run, err := Client(env)
		if err != nil {
			return err
		}
		c = run
	}
	if err := c.CheckAccess(ctx, repos...); err != nil {
		return fmt.Errorf("GitHub: %w", Credential(err))
	}
	return nil
}

// Credential marks a rejected token as a credential error (exit code 4).
func Credential(err error) error {
	if errors.Is(err, github.ErrUnauthorized) || errors.Is(err, github.ErrForbidden) {
		return fmt.Errorf("%w: %w", steps.ErrCredentials, err)
	}
	return err
}

// Refused reports whether GitHub would not show a source (404 or 403): a repository without
// secret scanning or Actions, or one the token may not read. A step that only looks notes such a
// gap rather than fail.
func Refused(err error) bool {
	return errors.Is(err, github.ErrNotFound) || errors.Is(err, github.ErrForbidden)
}

// ValidRepo reports whether r is an owner/name repository reference.
func ValidRepo(r string) bool {
	owner, name, ok := strings.Cut(r, "/")
	return ok && owner != "" && name != "" && !strings.ContainsAny(name, "/ \t") && !strings.ContainsAny(owner, " \t")
}

// ValidateSecret checks the secret parameter of a step that looks for the leaked value (space
// around it ignored): it is required and, unless it is only a key ID, long enough to search for
// and to redact, and on one line.
func ValidateSecret(secret string) []error {
	secret = strings.TrimSpace(secret)
	switch {
	case secret == "":
		return []error{errors.New("secret: the leaked value is required")}
	case !openai.IsKeyID(secret) && len(secret) < redact.MinLen:
		return []error{fmt.Errorf("secret: shorter than %d characters, too short to search for or to redact", redact.MinLen)}
	case strings.ContainsAny(secret, "\r\n"):
		return []error{errors.New("secret: contains a line break")}
	}
	return nil
}

// ValidateScope checks the org (a login) and repos (owner/name) parameters.
func ValidateScope(org string, repos []string) []error {
	var errs []error
	if strings.ContainsAny(org, "/ \t") {
		errs = append(errs, fmt.Errorf("org: %q is not an organization login", org))
	}
	for i, r := range repos {
		if !ValidRepo(r) {
			errs = append(errs, fmt.Errorf("repos[%d]: %q: want owner/name", i, r))
		}
	}
	return errs
}

// ValidateRunLimits checks the since, max_runs and concurrency parameters of a step that lists
// Actions runs (zero max_runs and concurrency mean the step's defaults).
func ValidateRunLimits(since string, maxRuns, concurrency int) []error {
	var errs []error
	if _, err := ParseSince(since); err != nil {
		errs = append(errs, err)
	}
	if maxRuns < 0 {
		errs = append(errs, errors.New("max_runs: must be positive"))
	}
	if concurrency < 0 || concurrency > 32 {
		errs = append(errs, errors.New("concurrency: between 1 and 32"))
	}
	return errs
}

// ParseSince reads a since parameter: an RFC 3339 time or a date; empty means no limit.
func ParseSince(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("since: %q: want an RFC 3339 time (2024-05-01T10:00:00Z) or a date", v)
}

// AlertLister is the client method ListAlerts calls.
type AlertLister interface {
	ListSecretAlerts(ctx context.Context, scope github.AlertScope, secretType, state string) ([]github.Alert, error)
}

// AlertQuery says whose secret-scanning alerts ListAlerts lists and what a refusal means.
type AlertQuery struct {
	Org   string
	Repos []string
	// SecretType narrows the listing; empty lists every type.
	SecretType string
	// Workers bounds the repositories listed at once: GitHub answers bursts with secondary
	// rate limits.
	Workers int
	// Refused is called, one call at a time, for a listing GitHub refused (see Refused): the
	// org's (scope.Org set) or one repository's (scope.Repos[0]). nil goes on without that
	// listing; an error stops ListAlerts with it. A nil Refused stops on every refusal.
	Refused func(scope github.Scope, err error) error
}

// ListAlerts lists, in every state, the alerts of the org and of each named repository, each
// alert once. When the org listing is refused (it needs an org admin or security manager) the
// named repositories of that org are listed one by one instead. Any other failure stops it.
func ListAlerts(ctx context.Context, c AlertLister, q AlertQuery) ([]github.Alert, error) {
	var mu sync.Mutex
	refused := func(scope github.Scope, err error) error {
		if q.Refused == nil {
			return Credential(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return q.Refused(scope, err)
	}
	var orgAlerts []github.Alert
	orgListed := false
	if q.Org != "" {
		scope := github.Scope{Org: q.Org}
		as, err := c.ListSecretAlerts(ctx, scope, q.SecretType, "")
		switch {
		case Refused(err):
			if err := refused(scope, err); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, Credential(err)
		default:
			orgListed = true
			orgAlerts = as
		}
	}
	var rest []string
	for _, r := range q.Repos {
		owner, _, _ := strings.Cut(r, "/")
		if orgListed && strings.EqualFold(owner, q.Org) {
			continue
		}
		rest = append(rest, r)
	}
	per := make([][]github.Alert, len(rest))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(q.Workers, 1))
	for i, r := range rest {
		g.Go(func() error {
			scope := github.Scope{Repos: []string{r}}
			as, err := c.ListSecretAlerts(gctx, scope, q.SecretType, "")
			switch {
			case Refused(err):
				return refused(scope, err)
			case err != nil:
				return Credential(err)
			}
			per[i] = as
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var all []github.Alert
	seen := map[string]bool{}
	for _, as := range append([][]github.Alert{orgAlerts}, per...) {
		for _, a := range as {
			if k := fmt.Sprintf("%s#%d", strings.ToLower(a.Repo), a.Number); !seen[k] {
				seen[k] = true
				all = append(all, a)
			}
		}
	}
	return all, nil
}
