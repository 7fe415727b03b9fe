package openaisim

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

// RouteListAuditLogs lists the organization's audit log. The simulator records api_key.deleted
// events: the ones the API makes (actor: the admin key) and the ones RevokeByHand stands in for
// (actor: a person's dashboard session).
const RouteListAuditLogs = "GET /v1/organization/audit_logs"

type auditUser struct {
	ID    string `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
}

type auditActor struct {
	Type    string `json:"type"`
	Session *struct {
		User      auditUser `json:"user"`
		IPAddress string    `json:"ip_address,omitempty"`
	} `json:"session,omitempty"`
	APIKey *struct {
		ID   string    `json:"id"`
		Type string    `json:"type"`
		User auditUser `json:"user"`
	} `json:"api_key,omitempty"`
}

type auditLogJSON struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	EffectiveAt int64  `json:"effective_at"`
	Project     *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"project,omitempty"`
	Actor         *auditActor `json:"actor,omitempty"`
	APIKeyDeleted *struct {
		ID string `json:"id"`
	} `json:"api_key.deleted,omitempty"`
}

// RevokeByHand deletes a key as a teammate would in the dashboard: no API call reaches the
// simulator's request log, and the audit log names the person.
func (s *Server) RevokeByHand(keyID, email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.st.keys {
		if k.id == keyID && !k.deleted {
			k.deleted, k.deletedAt, k.deletedBy = true, s.now().Add(-time.Hour), email
			return true
		}
	}
	return false
}

func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	types := arrayParam(q, "event_types")
	resources := arrayParam(q, "resource_ids")
	var since int64
	if v := q.Get("effective_at[gte]"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			badRequest(w, "effective_at", "Invalid 'effective_at[gte]': expected Unix seconds, got %q.", v)
			return
		}
		since = n
	}
	var deleted []*apiKey
	for _, k := range s.st.keys {
		if k.deleted {
			deleted = append(deleted, k)
		}
	}
	slices.SortFunc(deleted, func(a, b *apiKey) int { return b.deletedAt.Compare(a.deletedAt) }) // newest first
	items := []auditLogJSON{}
	if len(types) == 0 || slices.Contains(types, "api_key.deleted") {
		for _, k := range deleted {
			if len(resources) > 0 && !slices.Contains(resources, k.id) || k.deletedAt.Unix() < since {
				continue
			}
			e := auditLogJSON{ID: "audit_log-" + k.id, Type: "api_key.deleted", EffectiveAt: k.deletedAt.Unix()}
			e.APIKeyDeleted = &struct {
				ID string `json:"id"`
			}{k.id}
			if i := slices.IndexFunc(s.st.projects, func(p *project) bool { return p.id == k.projectID }); i >= 0 {
				p := s.st.projects[i]
				e.Project = &struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				}{p.id, p.name}
			}
			e.Actor = &auditActor{Type: "api_key"}
			if k.deletedBy != "" {
				e.Actor = &auditActor{Type: "session", Session: &struct {
					User      auditUser `json:"user"`
					IPAddress string    `json:"ip_address,omitempty"`
				}{User: auditUser{Email: k.deletedBy}}}
			} else {
				e.Actor.APIKey = &struct {
					ID   string    `json:"id"`
					Type string    `json:"type"`
					User auditUser `json:"user"`
				}{ID: "key_admin", Type: "user", User: auditUser{Email: "admin@example.com"}}
			}
			items = append(items, e)
		}
	}
	if env, ok := cursorPage(w, r, items, func(e auditLogJSON) string { return e.ID }, 20, 100); ok {
		writeJSON(w, http.StatusOK, env)
	}
}
