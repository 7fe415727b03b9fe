package openaisim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

type projectJSON struct {
	Object     string `json:"object"`
	ID         string `json:"id"`
	Name       string `json:"name"`
	CreatedAt  int64  `json:"created_at"`
	ArchivedAt *int64 `json:"archived_at"`
	Status     string `json:"status"`
}

func (s *Server) projectJSON(p *project) projectJSON {
	out := projectJSON{Object: "organization.project", ID: p.id, Name: p.name, CreatedAt: p.created.Unix(), Status: p.status}
	if p.status == "archived" {
		out.ArchivedAt = unixOrNull(p.created.Add(24 * time.Hour))
	}
	return out
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	archived := r.URL.Query().Get("include_archived") == "true"
	var items []projectJSON
	for _, p := range s.st.projects {
		if p.status == "archived" && !archived {
			continue
		}
		items = append(items, s.projectJSON(p))
	}
	if env, ok := cursorPage(w, r, items, func(p projectJSON) string { return p.ID }, 20, 100); ok {
		writeJSON(w, http.StatusOK, env)
	}
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	if p := s.mustProject(w, r); p != nil {
		writeJSON(w, http.StatusOK, s.projectJSON(p))
	}
}

type serviceAccountJSON struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	CreatedAt int64  `json:"created_at"`
}

// ownerUserJSON and ownerSAJSON are the document's ProjectApiKeyOwnerUser and
// ProjectApiKeyOwnerServiceAccount: the owner objects have no "object" field.
type ownerUserJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt int64  `json:"created_at"`
}

type ownerSAJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	CreatedAt int64  `json:"created_at"`
}

type ownerJSON struct {
	Type           string         `json:"type"`
	User           *ownerUserJSON `json:"user,omitempty"`
	ServiceAccount *ownerSAJSON   `json:"service_account,omitempty"`
}

type keyJSON struct {
	Object             string    `json:"object"`
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	RedactedValue      string    `json:"redacted_value"`
	CreatedAt          int64     `json:"created_at"`
	LastUsedAt         *int64    `json:"last_used_at"`
	ExpiresAt          *int64    `json:"expires_at"`
	Owner              ownerJSON `json:"owner"`
	OwnerProjectAccess string    `json:"owner_project_access"`
}

func (s *Server) saJSON(sa *serviceAccount) serviceAccountJSON {
	return serviceAccountJSON{Object: "organization.project.service_account", ID: sa.id, Name: sa.name, Role: sa.role, CreatedAt: sa.created.Unix()}
}

func (s *Server) keyJSON(k *apiKey) keyJSON {
	out := keyJSON{
		Object: "organization.project.api_key", ID: k.id, Name: k.name, RedactedValue: s.redacted(k.secret),
		CreatedAt: k.created.Unix(), LastUsedAt: unixOrNull(k.lastUsed), ExpiresAt: unixOrNull(k.expires),
		OwnerProjectAccess: k.ownerAccess,
	}
	if k.user != nil {
		created := k.created
		if p := s.project(k.projectID); p != nil {
			created = p.created
		}
		out.Owner = ownerJSON{Type: "user", User: &ownerUserJSON{ID: k.user.ID,
			Name: k.user.Name, Email: k.user.Email, Role: k.user.Role, CreatedAt: created.Unix()}}
	} else {
		for _, sa := range s.st.sas {
			if sa.id == k.saID {
				out.Owner = ownerJSON{Type: "service_account", ServiceAccount: &ownerSAJSON{ID: sa.id, Name: sa.name,
					Role: sa.role, CreatedAt: sa.created.Unix()}}
			}
		}
	}
	return out
}

func (s *Server) findKey(w http.ResponseWriter, r *http.Request) *apiKey {
	p := s.mustProject(w, r)
	if p == nil {
		return nil
	}
	id := r.PathValue("api_key_id")
	for _, k := range s.st.keys {
		if k.id == id && k.projectID == p.id && !k.deleted {
			return k
		}
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "api_key_id",
		fmt.Sprintf("No API key found with ID %s in project %s.", id, p.id))
	return nil
}

func (s *Server) listProjectKeys(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	access := r.URL.Query().Get("owner_project_access")
	if !slices.Contains([]string{"", "active", "inactive", "any"}, access) {
		badRequest(w, "owner_project_access", "Invalid 'owner_project_access': %q is not one of active, inactive, any.", access)
		return
	}
	if access == "" {
		// Without the filter the real endpoint applies membership-based visibility; keys of
		// owners who lost access are the ones it hides.
		access = "active"
	}
	var items []keyJSON
	for _, k := range s.st.keys {
		if k.projectID != p.id || k.deleted || (access != "any" && k.ownerAccess != access) {
			continue
		}
		items = append(items, s.keyJSON(k))
	}
	if env, ok := cursorPage(w, r, items, func(k keyJSON) string { return k.ID }, 20, 100); ok {
		writeJSON(w, http.StatusOK, env)
	}
}

func (s *Server) getProjectKey(w http.ResponseWriter, r *http.Request) {
	if k := s.findKey(w, r); k != nil {
		writeJSON(w, http.StatusOK, s.keyJSON(k))
	}
}

func (s *Server) updateProjectKey(w http.ResponseWriter, r *http.Request) {
	k := s.findKey(w, r)
	if k == nil {
		return
	}
	var body struct {
		ExpiresInSeconds *int64   `json:"expires_in_seconds"`
		Scopes           []string `json:"scopes"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	switch {
	case body.ExpiresInSeconds == nil && body.Scopes == nil:
		badRequest(w, "", "Provide at least one of 'scopes' or 'expires_in_seconds'.")
		return
	case !k.expires.IsZero() && !s.now().Before(k.expires):
		badRequest(w, "api_key_id", "Expired API keys cannot be updated.")
		return
	case body.ExpiresInSeconds != nil && *body.ExpiresInSeconds <= 0:
		badRequest(w, "expires_in_seconds", "'expires_in_seconds' must be a positive integer.")
		return
	}
	if body.ExpiresInSeconds != nil {
		k.expires = s.now().Add(time.Duration(*body.ExpiresInSeconds) * time.Second).Truncate(time.Second)
	}
	if body.Scopes != nil {
		k.scopes = slices.Clone(body.Scopes)
	}
	writeJSON(w, http.StatusOK, s.keyJSON(k))
}

func (s *Server) deleteProjectKey(w http.ResponseWriter, r *http.Request) {
	k := s.findKey(w, r)
	if k == nil {
		return
	}
	if k.saID != "" && s.refuseSAKeyDelete {
		badRequest(w, "api_key_id", "API key %s belongs to a service account and cannot be deleted here; delete the service account instead.", k.id)
		return
	}
	k.deleted, k.deletedAt = true, s.now()
	writeJSON(w, http.StatusOK, map[string]any{"object": "organization.project.api_key.deleted", "id": k.id, "deleted": true})
}

func (s *Server) listServiceAccounts(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	var items []serviceAccountJSON
	for _, sa := range s.st.sas {
		if sa.projectID == p.id && !sa.deleted {
			items = append(items, s.saJSON(sa))
		}
	}
	if env, ok := cursorPage(w, r, items, func(sa serviceAccountJSON) string { return sa.ID }, 20, 100); ok {
		writeJSON(w, http.StatusOK, env)
	}
}

func (s *Server) findServiceAccount(w http.ResponseWriter, r *http.Request) *serviceAccount {
	p := s.mustProject(w, r)
	if p == nil {
		return nil
	}
	id := r.PathValue("service_account_id")
	if sa := s.serviceAccount(p.id, id); sa != nil {
		return sa
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "service_account_id",
		fmt.Sprintf("No service account found with ID %s in project %s.", id, p.id))
	return nil
}

func (s *Server) getServiceAccount(w http.ResponseWriter, r *http.Request) {
	if sa := s.findServiceAccount(w, r); sa != nil {
		writeJSON(w, http.StatusOK, s.saJSON(sa))
	}
}

func (s *Server) updateServiceAccount(w http.ResponseWriter, r *http.Request) {
	sa := s.findServiceAccount(w, r)
	if sa == nil {
		return
	}
	var body struct {
		Name *string `json:"name"`
		Role *string `json:"role"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	switch {
	case body.Role != nil && *body.Role != "member" && *body.Role != "owner":
		badRequest(w, "role", "Invalid 'role': %q is not one of member, owner.", *body.Role)
		return
	case body.Name != nil && *body.Name == "":
		badRequest(w, "name", "Invalid 'name': must not be empty.")
		return
	}
	if body.Role != nil {
		sa.role = *body.Role
	}
	if body.Name != nil {
		sa.name = *body.Name
	}
	writeJSON(w, http.StatusOK, s.saJSON(sa))
}

func (s *Server) deleteServiceAccount(w http.ResponseWriter, r *http.Request) {
	sa := s.findServiceAccount(w, r)
	if sa == nil {
		return
	}
	sa.deleted = true
	for _, k := range s.st.keys {
		if k.saID == sa.id && !k.deleted {
			k.deleted, k.deletedAt = true, s.now()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "organization.project.service_account.deleted", "id": sa.id, "deleted": true})
}

type newKeyJSON struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Value     string `json:"value"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt *int64 `json:"expires_at"`
}

// mintKey creates a service-account key; called with s.mu held.
func (s *Server) mintKey(sa *serviceAccount, name string, scopes []string, expiresIn *int64) newKeyJSON {
	now := s.now().Truncate(time.Second)
	k := &apiKey{id: s.idSrc.ID("key_", 16), projectID: sa.projectID, name: name, saID: sa.id,
		secret: s.keySrc.OpenAIServiceAccountKey(), ownerAccess: "active", created: now, scopes: scopes}
	if expiresIn != nil {
		k.expires = now.Add(time.Duration(*expiresIn) * time.Second)
	}
	s.st.keys = append(s.st.keys, k)
	return newKeyJSON{Object: "organization.project.service_account.api_key", ID: k.id, Name: k.name, Value: k.secret,
		CreatedAt: k.created.Unix(), ExpiresAt: unixOrNull(k.expires)}
}

func (s *Server) createServiceAccount(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	var body struct {
		Name                     string `json:"name"`
		CreateServiceAccountOnly *bool  `json:"create_service_account_only"`
		ExpiresInSeconds         *int64 `json:"expires_in_seconds"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	only := body.CreateServiceAccountOnly != nil && *body.CreateServiceAccountOnly
	switch {
	case body.Name == "":
		badRequest(w, "name", "Missing required parameter: 'name'.")
		return
	case only && body.ExpiresInSeconds != nil:
		badRequest(w, "expires_in_seconds", "'expires_in_seconds' cannot be used when 'create_service_account_only' is true.")
		return
	case body.ExpiresInSeconds != nil && *body.ExpiresInSeconds <= 0:
		badRequest(w, "expires_in_seconds", "'expires_in_seconds' must be a positive integer.")
		return
	}
	sa := &serviceAccount{id: s.idSrc.ID("svc_acct_", 16), projectID: p.id, name: body.Name, role: "member",
		created: s.now().Truncate(time.Second)}
	if only {
		sa.role = "none"
	}
	s.st.sas = append(s.st.sas, sa)
	out := struct {
		serviceAccountJSON
		APIKey *newKeyJSON `json:"api_key"`
	}{serviceAccountJSON: s.saJSON(sa)}
	if !only {
		k := s.mintKey(sa, "Secret Key", nil, body.ExpiresInSeconds)
		out.APIKey = &k
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createServiceAccountKey(w http.ResponseWriter, r *http.Request) {
	sa := s.findServiceAccount(w, r)
	if sa == nil {
		return
	}
	var body struct {
		Name             *string   `json:"name"`
		Scopes           *[]string `json:"scopes"`
		ExpiresInSeconds *int64    `json:"expires_in_seconds"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.ExpiresInSeconds != nil && *body.ExpiresInSeconds <= 0 {
		badRequest(w, "expires_in_seconds", "'expires_in_seconds' must be a positive integer.")
		return
	}
	var scopes []string
	if body.Scopes != nil {
		// An explicit [] is kept as an empty, non-nil list: the real API reads it as "all
		// permissions", which State reports as such.
		scopes = append([]string{}, (*body.Scopes)...)
		for _, sc := range scopes {
			if sc == "" {
				badRequest(w, "scopes", "Invalid 'scopes': empty scope.")
				return
			}
		}
	}
	name := "Secret Key"
	if body.Name != nil && *body.Name != "" {
		name = *body.Name
	}
	if s.ignoreKeyExpiry {
		body.ExpiresInSeconds = nil
	}
	writeJSON(w, http.StatusOK, s.mintKey(sa, name, scopes, body.ExpiresInSeconds))
}

type modelJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// listModels is the one non-admin endpoint: it answers according to the key in the
// Authorization header, which is how a leaked value is checked for liveness.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
		return
	}
	k, _ := s.liveKeyBySecret(tok)
	if k == nil {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
			fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.", maskForMessage(tok)))
		return
	}
	if org := r.Header.Get("OpenAI-Organization"); org != "" && s.org != "" && org != s.org {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "mismatched_organization", "",
			"OpenAI-Organization header should match organization for API key")
		return
	}
	if proj := r.Header.Get("OpenAI-Project"); proj != "" && proj != k.projectID {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "mismatched_project", "",
			"OpenAI-Project header should match project for API key")
		return
	}
	noRole := false
	if k.saID != "" {
		if sa := s.serviceAccount(k.projectID, k.saID); sa == nil || sa.role == "none" {
			noRole = true
		}
	}
	if noRole || (len(k.scopes) > 0 && !slices.Contains(k.scopes, "api.model.read") && !slices.Contains(k.scopes, "api.all.read")) {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "",
			"You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.")
		return
	}
	data := make([]modelJSON, 0, len(s.catalog))
	for _, m := range s.catalog {
		data = append(data, modelJSON{ID: m.Name, Object: "model", Created: s.anchor.AddDate(-1, 0, 0).Unix(), OwnedBy: "system"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}
