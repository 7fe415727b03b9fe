// Package resolvealerts is the `github.resolve-alerts` step: close the GitHub secret-scanning
// alerts of the leaked value once it is revoked, as `revoked`, with a comment naming the respond
// run, so whoever opens an alert later finds who dealt with it and where the record is. Only
// open alerts whose secret is exactly the leaked value are touched.
package resolvealerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

// ResolveAlerts' parameters.
type ResolveAlerts struct {
	// Secret is the leaked value; an alert is resolved only when its secret equals it exactly.
	Secret string `yaml:"secret"`
	// Org and Repos (owner/name) say where the alerts are; at least one is needed.
	Org   string   `yaml:"org"`
	Repos []string `yaml:"repos"`
	// SecretType narrows the listing (default openai_api_key; "all" for every type).
	SecretType string `yaml:"secret_type"`
	// Resolution is revoked (default), false_positive, wont_fix or used_in_tests.
	Resolution string `yaml:"resolution"`
	// Comment is the resolution comment (default: names the run). It is published on GitHub,
	// so it must not hold the secret.
	Comment string `yaml:"comment"`

	client alertAPI // tests
}

type alertAPI interface {
	CheckAccess(ctx context.Context, repos ...string) error
	ListSecretAlerts(ctx context.Context, scope github.AlertScope, secretType, state string) ([]github.Alert, error)
	ResolveAlert(ctx context.Context, repo string, number int64, resolution, comment string) error
}

var _ alertAPI = (*github.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "github.resolve-alerts",
	New:     func() steps.Step { return &ResolveAlerts{} },
	Outputs: Outputs{},
	Summary: "resolve the open secret-scanning alerts of the leaked value as revoked, with a comment naming the run",
	Traits: steps.Traits{Needs: []steps.Permission{steps.GitHubAlertsRead, steps.GitHubAlertsWrite},
		Effects: []steps.Effect{steps.ResolvesAlerts}},
}

// Outputs are the step's results.
type Outputs struct {
	Resolved        int `json:"resolved"`
	AlreadyResolved int `json:"already_resolved"`
	// Alerts describe each alert resolved (or, in a plan, to resolve).
	Alerts []map[string]any `json:"alerts"`
}

const (
	defaultSecretType = "openai_api_key"
	allSecretTypes    = "all"
	concurrency       = 4
)

var resolutions = []string{github.ResolutionRevoked, github.ResolutionFalsePositive, github.ResolutionWontFix,
	github.ResolutionUsedInTests}

// Validate checks the parameters.
func (r *ResolveAlerts) Validate() error {
	var errs []error
	secret := strings.TrimSpace(r.Secret)
	switch {
	case secret == "":
		errs = append(errs, errors.New("secret: the leaked value is required"))
	case !openai.IsKeyID(secret) && len(secret) < redact.MinLen:
		errs = append(errs, fmt.Errorf("secret: shorter than %d characters, too short to match or to redact", redact.MinLen))
	}
	errs = append(errs, githubkit.ValidateScope(r.Org, r.Repos)...)
	if r.Resolution != "" && !slices.Contains(resolutions, r.Resolution) {
		errs = append(errs, fmt.Errorf("resolution: %q: want one of %s", r.Resolution, strings.Join(resolutions, ", ")))
	}
	if secret != "" && strings.Contains(r.Comment, secret) {
		errs = append(errs, errors.New("comment: holds the secret, and GitHub would publish it"))
	}
	return errors.Join(errs...)
}

// Preflight checks the token and that every named repository is visible to it. With no org
// and no repos the step will not touch GitHub, and a team without a token is not stopped.
func (r *ResolveAlerts) Preflight(ctx context.Context, env *steps.Env) error {
	return githubkit.Preflight(ctx, env, r.client, r.Org, r.Repos)
}

func (r *ResolveAlerts) api(env *steps.Env) (alertAPI, error) {
	if r.client != nil {
		return r.client, nil
	}
	return githubkit.Client(env)
}

func (r *ResolveAlerts) resolution() string {
	if r.Resolution != "" {
		return r.Resolution
	}
	return github.ResolutionRevoked
}

func (r *ResolveAlerts) comment(env *steps.Env) string {
	if c := strings.TrimSpace(r.Comment); c != "" {
		return c
	}
	return fmt.Sprintf("Resolved by respond run %s: the key was revoked and replaced.", env.RunID)
}

func (r *ResolveAlerts) secretType() string {
	switch r.SecretType {
	case "":
		return defaultSecretType
	case allSecretTypes:
		return ""
	}
	return r.SecretType
}

// prepare registers the secret and validates. A reason to do nothing comes back as a Skip.
func (r *ResolveAlerts) prepare(env *steps.Env) (string, error) {
	secret := strings.TrimSpace(r.Secret)
	if secret != "" && !openai.IsKeyID(secret) {
		env.Secret(secret)
	}
	if err := r.Validate(); err != nil {
		return "", err
	}
	switch {
	case openai.IsKeyID(secret):
		return "", &steps.Skip{Reason: "only a key ID was given; matching alerts needs the leaked value itself"}
	case r.Org == "" && len(r.Repos) == 0:
		return "", &steps.Skip{Reason: "no org or repos whose alerts to resolve"}
	}
	return secret, nil
}

// find is where every entry point starts: prepare, then list the alerts that hold the secret. A
// reason to do nothing comes back as a Skip.
func (r *ResolveAlerts) find(ctx context.Context, env *steps.Env) (secret string, c alertAPI, open, done []github.Alert, err error) {
	if secret, err = r.prepare(env); err != nil {
		return "", nil, nil, nil, err
	}
	if c, err = r.api(env); err != nil {
		return "", nil, nil, nil, err
	}
	open, done, err = r.matching(ctx, env, c, secret)
	return secret, c, open, done, err
}

func path(a github.Alert) string {
	return fmt.Sprintf("/repos/%s/secret-scanning/alerts/%d", a.Repo, a.Number)
}

func describe(as []github.Alert) []map[string]any {
	out := []map[string]any{}
	for _, a := range as {
		out = append(out, map[string]any{"repo": a.Repo, "number": a.Number, "url": a.HTMLURL})
	}
	return out
}

// Plan lists the PATCH calls Run would make, from a read-only listing of the alerts.
func (r *ResolveAlerts) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	secret, _, open, done, err := r.find(ctx, env)
	if sk, ok := steps.IsSkip(err); ok {
		// A plan is never skipped by the engine; an empty one says why nothing would happen.
		return &steps.Plan{Summary: "nothing to resolve: " + sk.Reason, Outputs: steps.Outputs{"resolved": 0,
			"already_resolved": 0, "alerts": describe(nil)}}, nil
	}
	if err != nil {
		return nil, err
	}
	comment := r.comment(env)
	var actions []steps.Action
	for _, a := range open {
		actions = append(actions, steps.Action{Method: "PATCH", Target: path(a),
			Params: map[string]any{"state": "resolved", "resolution": r.resolution(), "resolution_comment": comment}})
	}
	return &steps.Plan{
		Summary: fmt.Sprintf("resolve %d open secret-scanning alert(s) of %s as %s (%d already resolved)",
			len(open), redact.Mask(secret), r.resolution(), len(done)),
		Actions: actions,
		Outputs: steps.Outputs{"resolved": len(open), "already_resolved": len(done), "alerts": describe(open)},
	}, nil
}

// Run resolves the open alerts that hold the secret. The intent lists them all before the first
// PATCH; a retry lists again and finds the ones already resolved no longer open.
func (r *ResolveAlerts) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	secret, c, open, done, err := r.find(ctx, env)
	if err != nil {
		return nil, err
	}
	if len(open) == 0 {
		env.Logf("no open secret-scanning alert holds %s (%d already resolved)", redact.Mask(secret), len(done))
		return steps.Outputs{"resolved": 0, "already_resolved": len(done), "alerts": describe(nil)}, nil
	}
	var targets []string
	for _, a := range open {
		targets = append(targets, fmt.Sprintf("%s#%d", a.Repo, a.Number))
	}
	if err := env.Intent("resolve alerts", map[string]any{"method": "PATCH", "alerts": targets,
		"resolution": r.resolution()}); err != nil {
		return nil, err
	}
	comment := r.comment(env)
	var resolved []github.Alert
	for _, a := range open {
		err := c.ResolveAlert(ctx, a.Repo, a.Number, r.resolution(), comment)
		if errors.Is(err, github.ErrNotFound) {
			// Deleted (with its repository, or by an admin) since it was listed: nothing to close.
			env.Logf("%s#%d is gone (404); nothing to resolve", a.Repo, a.Number)
			continue
		}
		if err != nil {
			if len(resolved) > 0 {
				env.Logf("resolved %d of %d alerts before the failure; a retry resolves the rest", len(resolved), len(open))
			}
			return nil, fmt.Errorf("resolve secret-scanning alert %s#%d: %w", a.Repo, a.Number, githubkit.Credential(err))
		}
		resolved = append(resolved, a)
		env.Logf("resolved %s#%d as %s", a.Repo, a.Number, r.resolution())
	}
	env.Log(fmt.Sprintf("resolved %d secret-scanning alert(s) of %s as %s (%d were already resolved)",
		len(resolved), redact.Mask(secret), r.resolution(), len(done)),
		map[string]any{"resolved": len(resolved), "already_resolved": len(done)})
	return steps.Outputs{"resolved": len(resolved), "already_resolved": len(done), "alerts": describe(resolved)}, nil
}

// Reconcile lists the alerts again and always lets Run go again (done=false). Resolving is
// idempotent and Run only touches alerts that are still open, so repeating it after a crash
// resolves exactly the ones the interrupted attempt did not reach; reporting done from here
// would need the outputs of the interrupted attempt, which died with it.
func (r *ResolveAlerts) Reconcile(ctx context.Context, env *steps.Env, _ []steps.Intent) (steps.Outputs, bool, error) {
	_, _, open, done, err := r.find(ctx, env)
	if _, ok := steps.IsSkip(err); ok {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	env.Logf("after the interruption %d matching alert(s) are resolved and %d still open; running again resolves only those",
		len(done), len(open))
	return nil, false, nil
}

// matching lists the alerts of the scope and splits those whose secret is exactly the leaked
// value into open and already resolved. A repository without secret scanning (404) has no
// alerts to resolve and is logged past; any other failure stops the step.
func (r *ResolveAlerts) matching(ctx context.Context, env *steps.Env, c alertAPI, secret string) (open, done []github.Alert, err error) {
	var skipped []string
	all, err := githubkit.ListAlerts(ctx, c, githubkit.AlertQuery{Org: r.Org, Repos: r.Repos, SecretType: r.secretType(),
		Workers: concurrency, Refused: func(scope github.Scope, err error) error {
			switch {
			case scope.Org != "" && len(r.Repos) == 0:
				return fmt.Errorf("list secret-scanning alerts of org %s (name the repositories in repos if the token may read only those): %w", r.Org, githubkit.Credential(err))
			case scope.Org != "":
				// Listing an org's alerts needs an org admin or security manager; the named
				// repositories are listed one by one instead.
				env.Logf("org %s: %v; listing the named repositories one by one instead", r.Org, err)
				return nil
			case errors.Is(err, github.ErrNotFound):
				skipped = append(skipped, scope.Repos[0])
				return nil
			}
			return githubkit.Credential(err)
		}})
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(skipped)
	for _, repo := range skipped {
		env.Logf("%s: no secret-scanning alerts to read (404: secret scanning off, or the token cannot see them)", repo)
	}
	for _, a := range all {
		if a.Secret != secret {
			continue
		}
		if a.State == "open" {
			open = append(open, a)
		} else {
			done = append(done, a)
		}
	}
	return open, done, nil
}
