package githubsim

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// What `respond audit` reads: repositories' security_and_analysis settings (in every repository
// answer, GET /repos/{owner}/{repo} and the organization listing), and the names and update times of Actions secrets (docs.github.com REST: "List
// organization repositories", "Get a repository", "List repository secrets", "List organization
// secrets"). github.com shows security_and_analysis only to a token with admin rights on the
// repository; this simulator shows it to every token that may read the repository (the
// permission model here has no per-repository admin), which the audit must not rely on: it
// reports a missing object as "unknown", never as "off".

// Route patterns of those reads.
const (
	RouteRepoSecrets = "GET /repos/{owner}/{repo}/actions/secrets"
	RouteOrgSecrets  = "GET /orgs/{org}/actions/secrets"
)

// Values of Repo.SecretScanning and Repo.PushProtection, as security_and_analysis reports them.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Secret seeds an Actions secret: Repo.Secrets, or AddSecret for an organization.
type Secret struct {
	Name  string `yaml:"name" json:"name"`
	Value string `yaml:"value" json:"-"`
	// UpdatedAt is when the value was last set; the simulator's now when zero.
	UpdatedAt time.Time `yaml:"updated_at" json:"updated_at"`
}

func (s *Server) securityJSON(rp *repo) map[string]any {
	st := func(v string) map[string]any { return map[string]any{"status": cmp.Or(v, StatusEnabled)} }
	return map[string]any{
		"secret_scanning":                 st(rp.secretScanning),
		"secret_scanning_push_protection": st(rp.pushProtection),
	}
}

// handleListSecrets lists a repository's or an organization's secrets by name, never a value.
func (s *Server) handleListSecrets(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopeOr404Locked(w, r)
	if sc == nil {
		return
	}
	secs := make([]*secret, 0, len(sc.secrets))
	for _, sec := range sc.secrets {
		secs = append(secs, sec)
	}
	slices.SortFunc(secs, func(a, b *secret) int { return strings.Compare(a.name, b.name) })
	page, per := pageParam(r), perPage(r)
	lo, hi := pageBounds(page, per, len(secs))
	items := make([]map[string]any, 0, hi-lo)
	for _, sec := range secs[lo:hi] {
		items = append(items, s.secretJSON(r, sec, sc.org))
	}
	pageLinks(w, r, page, per, len(secs))
	s.writeJSON(w, r, http.StatusOK, map[string]any{"total_count": len(secs), "secrets": items})
}

// seedSecretLocked stores a seeded secret as if it had been PUT at sec.UpdatedAt.
func (s *Server) seedSecretLocked(secrets map[string]*secret, sec Secret) error {
	if !validSecretName(sec.Name) {
		return fmt.Errorf("secret %q: not a valid Actions secret name", sec.Name)
	}
	at := sec.UpdatedAt
	if at.IsZero() {
		at = s.now()
	}
	key := strings.ToUpper(sec.Name)
	secrets[key] = &secret{name: key, value: []byte(sec.Value), created: at, updated: at, visibility: "all"}
	return nil
}

// AddSecret seeds an Actions secret of a repository (ref.Repo) or an organization (ref.Org).
func (s *Server) AddSecret(ref SecretRef, sec Secret) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref.Org != "" {
		s.orgLocked(ref.Org)
	}
	sc, err := s.refScopeLocked(ref)
	if err != nil {
		return fmt.Errorf("add secret %s: %w", sec.Name, err)
	}
	return s.seedSecretLocked(sc.secrets, sec)
}
