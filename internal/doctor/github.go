package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

const fixGitHubToken = "create a token (fine-grained: Secret scanning alerts, Actions and Secrets read and write on the " +
	"repositories; classic: repo and security_events scopes) and export it as " + githubkit.EnvToken

// expiringSoon is when a token's expiry becomes worth a warning: the doctor runs before an
// incident, and the token must still work on the day.
const expiringSoon = 14 * 24 * time.Hour

// capability is one thing the GitHub steps do: the classic scopes that allow it, the
// fine-grained permission it takes, and the read-only probe that shows it (nil: only a change
// would).
type capability struct {
	need   need
	name   string
	scopes []string
	perm   string // fine-grained permission, as GitHub's settings page names it
	probe  func(ctx context.Context, c *github.Client, org, repo string) (github.Access, bool)
}

func checkGitHub(ctx context.Context, o Options, env *steps.Env, by map[need][]string) []Check {
	const svc = "GitHub"
	all := inOrder(o.Playbook, union(by, githubAlertsRead, githubAlertsWrite, githubCodeSearch, githubLogsRead, githubLogsDelete, githubSecretsWrite))
	c, err := githubkit.Client(env)
	if err != nil {
		return []Check{row(svc, "token ("+githubkit.EnvToken+")", all, Fail, notSet(o, githubkit.EnvToken, err), fixGitHubToken)}
	}
	tok, err := c.TokenInfo(ctx)
	if err != nil {
		detail, fix := oneLine(err), fixGitHubToken
		if !errors.Is(err, github.ErrUnauthorized) {
			fix = "check network access to the GitHub API (or " + githubkit.EnvBaseURL + "), then run respond doctor again"
		}
		return []Check{
			row(svc, "token ("+githubkit.EnvToken+")", all, Fail, detail, fix),
			row(svc, "everything else the GitHub steps do", all, Unknown, "not checked: the token was not accepted", "fix the token first"),
		}
	}
	kind := "fine-grained or GitHub App token (GitHub lists no scopes for it)"
	if tok.Classic {
		kind = "classic token, scopes: " + strings.Join(tok.Scopes, ", ")
		if len(tok.Scopes) == 0 {
			kind = "classic token with no scopes"
		}
	}
	rows := []Check{row(svc, "token ("+githubkit.EnvToken+") valid", all, OK, kind, "")}
	if !tok.Expires.IsZero() {
		left := tok.Expires.Sub(o.Now())
		if left < expiringSoon {
			rows[0].Status, rows[0].Detail = Warn, fmt.Sprintf("%s; expires %s (in %s)", kind,
				tok.Expires.Format(time.RFC3339), left.Round(time.Hour))
			rows[0].Fix = "renew the token before it expires: on the day of an incident it must still work"
		}
	}
	repo := ""
	if len(o.GitHubRepos) > 0 {
		repo = o.GitHubRepos[0]
	}
	for _, cp := range capabilities {
		steps := by[cp.need]
		if len(steps) == 0 {
			continue
		}
		rows = append(rows, checkCapability(ctx, c, tok, cp, o.GitHubOrg, repo, steps))
	}
	return rows
}

var capabilities = []capability{
	{need: githubAlertsRead, name: "read secret-scanning alerts", scopes: []string{"repo", "security_events"},
		perm: "Secret scanning alerts: Read", probe: func(ctx context.Context, c *github.Client, org, repo string) (github.Access, bool) {
			if org == "" && repo == "" {
				return github.Access{}, false
			}
			return c.ProbeAlerts(ctx, org, repo), true
		}},
	{need: githubAlertsWrite, name: "resolve secret-scanning alerts", scopes: []string{"repo", "security_events"},
		perm: "Secret scanning alerts: Read and write"},
	// Code search sees a private repository only with a token that may read it.
	{need: githubCodeSearch, name: "code search", scopes: []string{"repo"}, perm: "Contents: Read", probe: func(ctx context.Context, c *github.Client, org, repo string) (github.Access, bool) {
		if org == "" && repo == "" {
			return github.Access{}, false
		}
		return c.ProbeCodeSearch(ctx, org, repo), true
	}},
	{need: githubLogsRead, name: "read Actions runs and logs", scopes: []string{"repo"}, perm: "Actions: Read",
		probe: func(ctx context.Context, c *github.Client, _, repo string) (github.Access, bool) {
			if repo == "" {
				return github.Access{}, false
			}
			return c.ProbeRuns(ctx, repo), true
		}},
	{need: githubLogsDelete, name: "delete Actions run logs", scopes: []string{"repo"}, perm: "Actions: Read and write"},
	{need: githubSecretsWrite, name: "write Actions secrets", scopes: []string{"repo"}, perm: "Secrets: Read and write",
		probe: func(ctx context.Context, c *github.Client, _, repo string) (github.Access, bool) {
			if repo == "" {
				return github.Access{}, false
			}
			return c.ProbeSecrets(ctx, repo), true
		}},
}

// checkCapability decides one capability: a classic token's scopes answer for it; a probe (when
// there is a repository or org to try) shows what GitHub really allows; a write a fine-grained
// token may or may not have stays Unknown.
func checkCapability(ctx context.Context, c *github.Client, tok github.Token, cp capability, org, repo string, steps []string) Check {
	const svc = "GitHub"
	r := row(svc, cp.name, steps, OK, "", "")
	if tok.Classic && len(cp.scopes) > 0 && !tok.HasScope(cp.scopes...) {
		r.Status, r.Detail = Fail, "the classic token has none of the scopes "+strings.Join(cp.scopes, ", ")
		r.Fix = "add the " + cp.scopes[0] + " scope to the token (github.com → Settings → Developer settings → Tokens)"
		return r
	}
	var probed bool
	if cp.probe != nil {
		var a github.Access
		if a, probed = cp.probe(ctx, c, org, repo); probed {
			where := repo
			if org != "" && cp.need != githubLogsRead && cp.need != githubSecretsWrite {
				where = "org " + org
			}
			if a.Err != nil {
				r.Status, r.Detail = Fail, fmt.Sprintf("refused on %s: %s", where, oneLine(a.Err))
				r.Fix = githubFix(cp, a, where)
				return r
			}
			r.Detail = "tried on " + where
		}
	}
	switch {
	case tok.Classic:
		if r.Detail == "" && len(cp.scopes) > 0 {
			r.Detail = "allowed by the token's scopes"
		}
		if r.Detail == "" {
			r.Detail = "any valid token may"
		}
	case cp.need == githubSecretsWrite && probed:
		r.Status, r.Detail = Unknown, "reading the repository's public key works; writing "+notReadOnly
		r.Fix = "make sure the token has " + cp.perm
	case cp.probe == nil:
		r.Status, r.Detail = Unknown, notReadOnly+" with a fine-grained token"
		r.Fix = "make sure the token has " + cp.perm
	case !probed:
		r.Status, r.Detail = Unknown, "no repository to try it on"
		r.Fix = "name the org and repositories the playbook searches: respond doctor --github-org ORG --github-repo OWNER/NAME"
		if cp.perm != "" {
			r.Fix += " (the token needs " + cp.perm + ")"
		}
	}
	return r
}

// githubFix says what to change after GitHub refused a probe.
func githubFix(cp capability, a github.Access, where string) string {
	switch {
	case errors.Is(a.Err, github.ErrNotFound):
		return fmt.Sprintf("GitHub answers 404 for %s: it does not exist, the token cannot see it, or the feature is off there "+
			"(secret scanning alerts need GitHub Advanced Security on private repositories and an owner or security manager for an org)", where)
	case errors.Is(a.Err, github.ErrInvalid):
		return fmt.Sprintf("GitHub cannot search %s: it does not exist or the token cannot see it; check the name and the token's repository access", where)
	case errors.Is(a.Err, github.ErrForbidden) && a.Needs != "":
		return fmt.Sprintf("GitHub wants %s: give the token %s", a.Needs, permOr(cp))
	case errors.Is(a.Err, github.ErrForbidden):
		return "give the token " + permOr(cp)
	}
	return "see the error; run respond doctor again once it is fixed"
}

func permOr(cp capability) string {
	switch {
	case cp.perm != "" && len(cp.scopes) > 0:
		return cp.perm + " (fine-grained) or the " + strings.Join(cp.scopes, " or ") + " scope (classic)"
	case cp.perm != "":
		return cp.perm
	case len(cp.scopes) > 0:
		return "the " + strings.Join(cp.scopes, " or ") + " scope"
	}
	return "access to the repository"
}
