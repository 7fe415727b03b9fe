package githubsim

import (
	"net/http"
	"slices"
	"strings"
)

// What a token may do, as github.com decides it (docs.github.com: "Scopes for OAuth apps" for
// classic tokens, "Permissions required for fine-grained personal access tokens"). A classic
// token's scopes come back in X-OAuth-Scopes on every answer and each endpoint names what it
// accepts in X-Accepted-OAuth-Scopes; a fine-grained token gets no X-OAuth-Scopes, and a refusal
// names the permission in X-Accepted-GitHub-Permissions. Both refusals are 403 "Resource not
// accessible by personal access token".

// need is what one route requires: any of the classic scopes (none: any token; privateOnly: only
// for a private repository), or the fine-grained permission at a level ("read", "write").
type need struct {
	scopes      []string
	privateOnly bool
	perm, level string
}

var routeNeeds = map[string]need{
	RouteRepo:             {scopes: []string{"repo"}, privateOnly: true, perm: "metadata", level: "read"},
	RouteBlob:             {scopes: []string{"repo"}, privateOnly: true, perm: "contents", level: "read"},
	RouteOrgAlerts:        {scopes: []string{"repo", "security_events"}, perm: "secret_scanning_alerts", level: "read"},
	RouteRepoAlerts:       {scopes: []string{"repo", "security_events"}, perm: "secret_scanning_alerts", level: "read"},
	RouteAlert:            {scopes: []string{"repo", "security_events"}, perm: "secret_scanning_alerts", level: "read"},
	RouteAlertLocations:   {scopes: []string{"repo", "security_events"}, perm: "secret_scanning_alerts", level: "read"},
	RouteAlertUpdate:      {scopes: []string{"repo", "security_events"}, perm: "secret_scanning_alerts", level: "write"},
	RouteRuns:             {scopes: []string{"repo"}, privateOnly: true, perm: "actions", level: "read"},
	RouteRunLogs:          {scopes: []string{"repo"}, privateOnly: true, perm: "actions", level: "read"},
	RouteRunLogsDelete:    {scopes: []string{"repo"}, perm: "actions", level: "write"},
	RouteRepoPublicKey:    {scopes: []string{"repo"}, perm: "secrets", level: "read"},
	RouteRepoSecret:       {scopes: []string{"repo"}, perm: "secrets", level: "read"},
	RouteRepoSecretPut:    {scopes: []string{"repo"}, perm: "secrets", level: "write"},
	RouteRepoSecretDelete: {scopes: []string{"repo"}, perm: "secrets", level: "write"},
	RouteOrgPublicKey:     {scopes: []string{"admin:org"}, perm: "organization_secrets", level: "read"},
	RouteOrgSecret:        {scopes: []string{"admin:org"}, perm: "organization_secrets", level: "read"},
	RouteOrgSecretPut:     {scopes: []string{"admin:org"}, perm: "organization_secrets", level: "write"},
	RouteOrgSecretDelete:  {scopes: []string{"admin:org"}, perm: "organization_secrets", level: "write"},
	RouteEnvPublicKey:     {scopes: []string{"repo"}, perm: "environments", level: "read"},
	RouteEnvSecret:        {scopes: []string{"repo"}, perm: "environments", level: "read"},
	RouteEnvSecretPut:     {scopes: []string{"repo"}, perm: "environments", level: "write"},
	RouteEnvSecretDelete:  {scopes: []string{"repo"}, perm: "environments", level: "write"},
	RouteRepoSecrets:      {scopes: []string{"repo"}, perm: "secrets", level: "read"},
	RouteOrgSecrets:       {scopes: []string{"admin:org"}, perm: "organization_secrets", level: "read"},
}

// permits answers the request with 403 and reports false when the token may not use route.
func (s *Server) permits(w http.ResponseWriter, r *http.Request, route string) bool {
	if s.scopes == nil && s.permissions == nil {
		return true // a token with every permission
	}
	if s.scopes != nil {
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.scopes, ", "))
	}
	n, ok := routeNeeds[route]
	if !ok {
		return true
	}
	if s.scopes != nil {
		w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(n.scopes, ", "))
		if n.privateOnly && !s.routeRepoPrivate(r) {
			return true
		}
		for _, sc := range n.scopes {
			if slices.Contains(s.scopes, sc) {
				return true
			}
		}
	} else {
		have := s.permissions[n.perm]
		if have == "write" || (have == "read" && n.level == "read") {
			return true
		}
		w.Header().Set("X-Accepted-GitHub-Permissions", n.perm+"="+n.level)
	}
	writeErrorDoc(w, http.StatusForbidden, "Resource not accessible by personal access token", "https://docs.github.com/rest")
	return false
}

// routeRepoPrivate reports whether the repository the path names is private (unknown ones count
// as private: the scope check comes before the 404).
func (s *Server) routeRepoPrivate(r *http.Request) bool {
	// Path values are not set yet: the mux has not dispatched the request.
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) < 3 || parts[0] != "repos" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(parts[1], parts[2])
	return rp == nil || rp.private
}
