// Package secretref owns secret references: a secret input that names where its value lives
// instead of holding it. Today that is a GitHub secret-scanning alert, written
// github-alert:OWNER/REPO#N or as the alert's web or API URL. Resolve fetches the value
// server-side with the run's GitHub client and registers it with the run's redaction set before
// returning it, so a person never types, pastes or sees the leaked key and the journal keeps only
// the reference.
package secretref

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/internal/redact"
)

// Scheme prefixes the short form of an alert reference.
const Scheme = "github-alert:"

// Ref names one secret-scanning alert.
type Ref struct {
	Repo   string // owner/name
	Number int64
}

// String is the reference's canonical form, the one journaled.
func (r Ref) String() string { return fmt.Sprintf("%s%s#%d", Scheme, r.Repo, r.Number) }

// Owner is the repository's owner: the organization whose alert list may hold the alert.
func (r Ref) Owner() string { owner, _, _ := strings.Cut(r.Repo, "/"); return owner }

var (
	nameRe = `[A-Za-z0-9_.-]{1,100}`
	// shortRe is github-alert:OWNER/REPO#N.
	shortRe = regexp.MustCompile(`^` + regexp.QuoteMeta(Scheme) + `(` + nameRe + `)/(` + nameRe + `)#([0-9]{1,12})$`)
	// webPathRe is the alert's html_url path; apiPathRe its url path (after an optional /api/v3
	// on GitHub Enterprise Server).
	webPathRe = regexp.MustCompile(`^/(` + nameRe + `)/(` + nameRe + `)/security/secret-scanning/([0-9]{1,12})/?$`)
	apiPathRe = regexp.MustCompile(`^(?:/api/v3)?/repos/(` + nameRe + `)/(` + nameRe + `)/secret-scanning/alerts/([0-9]{1,12})/?$`)
)

// ErrNotRef means a value is not a reference at all (it is the secret itself, or a key ID).
var ErrNotRef = errors.New("not a secret reference")

// Parse reads a reference. It returns ErrNotRef for a value that does not claim to be one, and
// an error saying the accepted forms for one that does but is malformed.
func Parse(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	var m []string
	switch {
	case strings.HasPrefix(s, Scheme):
		m = shortRe.FindStringSubmatch(s)
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return Ref{}, malformed()
		}
		if m = webPathRe.FindStringSubmatch(u.Path); m == nil {
			m = apiPathRe.FindStringSubmatch(u.Path)
		}
	default:
		return Ref{}, ErrNotRef
	}
	if m == nil {
		return Ref{}, malformed()
	}
	n, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil || n <= 0 {
		return Ref{}, malformed()
	}
	return Ref{Repo: m[1] + "/" + m[2], Number: n}, nil
}

func malformed() error {
	return errors.New("a secret reference is " + Scheme + "OWNER/REPO#N or a secret-scanning alert's URL " +
		"(https://github.com/OWNER/REPO/security/secret-scanning/N)")
}

// IsRef reports whether s is a well-formed reference.
func IsRef(s string) bool { _, err := Parse(s); return err == nil }

// AlertReader is what Resolve needs of the GitHub client.
type AlertReader interface {
	GetAlert(ctx context.Context, repo string, number int64) (github.Alert, error)
	ListSecretAlerts(ctx context.Context, scope github.AlertScope, secretType, state string) ([]github.Alert, error)
}

var _ AlertReader = (*github.Client)(nil)

// Resolved is a reference's value and what GitHub said of the alert (never the value).
type Resolved struct {
	Value      string
	SecretType string
	State      string
	HTMLURL    string
}

// Resolve fetches the alert's secret and registers it with secrets before returning. When the
// repository's own alert endpoint is closed to the token (an organization-level credential, such
// as a security manager's or a GitHub App's installed on the organization), the alert is looked
// up in the owner's organization-wide list instead. Only the one value is registered: the others
// that list holds are dropped unseen.
func Resolve(ctx context.Context, c AlertReader, r Ref, secrets *redact.Set) (Resolved, error) {
	a, err := c.GetAlert(ctx, r.Repo, r.Number)
	if errors.Is(err, github.ErrNotFound) || errors.Is(err, github.ErrForbidden) {
		a, err = fromOrgList(ctx, c, r, err)
	}
	if err != nil {
		return Resolved{}, fmt.Errorf("resolve %s: %w", r, err)
	}
	if a.Secret == "" {
		return Resolved{}, fmt.Errorf("resolve %s: GitHub returned the alert without its secret; the token needs "+
			"read access to secret-scanning alerts (fine-grained: \"Secret scanning alerts: read\"; classic: security_events or repo)", r)
	}
	secrets.Add(a.Secret)
	return Resolved{Value: a.Secret, SecretType: a.SecretType, State: a.State, HTMLURL: a.HTMLURL}, nil
}

// fromOrgList finds the alert in its owner's organization-wide list; repoErr is the repository
// endpoint's refusal, returned when the list cannot be read either (the owner is a user, or the
// token sees neither).
func fromOrgList(ctx context.Context, c AlertReader, r Ref, repoErr error) (github.Alert, error) {
	all, err := c.ListSecretAlerts(ctx, github.AlertScope{Org: r.Owner()}, "", "")
	if err != nil {
		return github.Alert{}, repoErr
	}
	for _, a := range all {
		if strings.EqualFold(a.Repo, r.Repo) && a.Number == r.Number {
			return a, nil
		}
	}
	return github.Alert{}, fmt.Errorf("no alert %d in %s, nor in organization %s's list: %w", r.Number, r.Repo, r.Owner(), repoErr)
}
