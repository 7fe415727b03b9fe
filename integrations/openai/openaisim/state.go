package openaisim

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// State is a deep copy of everything the API can change. Slices are in listing order, so the
// JSON form (Snapshot) is deterministic. Secret values never appear: keys carry a fingerprint.
type State struct {
	Projects        []ProjectState        `json:"projects"`
	Keys            []KeyState            `json:"keys"`
	ServiceAccounts []ServiceAccountState `json:"service_accounts"`
	SpendLimits     []SpendLimitState     `json:"spend_limits"`
	// OrgSpendLimitCents is the organization's hard limit (0: none); organization alerts are
	// in SpendAlerts with an empty ProjectID.
	OrgSpendLimitCents int64             `json:"org_spend_limit_cents,omitempty"`
	SpendAlerts        []SpendAlertState `json:"spend_alerts"`
	RateLimits         []RateLimitState  `json:"rate_limits"`
}

// ProjectState is a project.
type ProjectState struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// KeyState is a project API key, deleted or not.
type KeyState struct {
	ID                 string    `json:"id"`
	ProjectID          string    `json:"project_id"`
	Name               string    `json:"name"`
	OwnerType          string    `json:"owner_type"` // user or service_account
	UserID             string    `json:"user_id,omitempty"`
	ServiceAccountID   string    `json:"service_account_id,omitempty"`
	OwnerProjectAccess string    `json:"owner_project_access"`
	RedactedValue      string    `json:"redacted_value"`
	Fingerprint        string    `json:"fingerprint"` // first 12 hex of SHA-256 of the value
	CreatedAt          time.Time `json:"created_at"`
	LastUsedAt         time.Time `json:"last_used_at,omitzero"` // zero: never used
	ExpiresAt          time.Time `json:"expires_at,omitzero"`   // zero: never expires
	// Scopes as last set: nil = never restricted; empty = explicitly all permissions.
	Scopes    []string  `json:"scopes"`
	Deleted   bool      `json:"deleted"`
	DeletedAt time.Time `json:"deleted_at,omitzero"`
}

// AllPermissions reports whether the key is unrestricted (no scopes, or an explicit empty list,
// which the API reads as all permissions).
func (k KeyState) AllPermissions() bool { return len(k.Scopes) == 0 }

// ServiceAccountState is a project service account.
type ServiceAccountState struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"project_id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Deleted   bool      `json:"deleted"`
}

// SpendLimitState is a project's hard spend limit.
type SpendLimitState struct {
	ProjectID string `json:"project_id"`
	Cents     int64  `json:"cents"`
}

// SpendAlertState is a project spend alert.
type SpendAlertState struct {
	ID            string   `json:"id"`
	ProjectID     string   `json:"project_id"`
	Cents         int64    `json:"cents"`
	Recipients    []string `json:"recipients"`
	SubjectPrefix string   `json:"subject_prefix"`
}

// RateLimitState is a project's rate limit for one model.
type RateLimitState struct {
	ID                          string `json:"id"`
	ProjectID                   string `json:"project_id"`
	Model                       string `json:"model"`
	MaxRequestsPer1Minute       int64  `json:"max_requests_per_1_minute"`
	MaxTokensPer1Minute         int64  `json:"max_tokens_per_1_minute"`
	MaxImagesPer1Minute         int64  `json:"max_images_per_1_minute"`
	MaxAudioMegabytesPer1Minute int64  `json:"max_audio_megabytes_per_1_minute"`
	MaxRequestsPer1Day          int64  `json:"max_requests_per_1_day"`
	Batch1DayMaxInputTokens     int64  `json:"batch_1_day_max_input_tokens"`
}

// State returns a copy of the mutable state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out State
	for _, p := range s.st.projects {
		out.Projects = append(out.Projects, ProjectState{ID: p.id, Name: p.name, Status: p.status, CreatedAt: p.created})
	}
	for _, k := range s.st.keys {
		out.Keys = append(out.Keys, s.keyState(k))
	}
	for _, sa := range s.st.sas {
		out.ServiceAccounts = append(out.ServiceAccounts, ServiceAccountState{ID: sa.id, ProjectID: sa.projectID,
			Name: sa.name, Role: sa.role, CreatedAt: sa.created, Deleted: sa.deleted})
	}
	for _, p := range s.st.projects {
		if l := s.st.limits[p.id]; l != nil {
			out.SpendLimits = append(out.SpendLimits, SpendLimitState{ProjectID: p.id, Cents: l.cents})
		}
	}
	if s.st.orgLimit != nil {
		out.OrgSpendLimitCents = s.st.orgLimit.cents
	}
	for _, a := range s.st.alerts {
		out.SpendAlerts = append(out.SpendAlerts, SpendAlertState{ID: a.id, ProjectID: a.projectID, Cents: a.cents,
			Recipients: slices.Clone(a.recipients), SubjectPrefix: a.subjectPrefix})
	}
	for _, rl := range s.st.rates {
		out.RateLimits = append(out.RateLimits, RateLimitState{ID: rl.id, ProjectID: rl.projectID, Model: rl.model,
			MaxRequestsPer1Minute: rl.reqPerMin, MaxTokensPer1Minute: rl.tokPerMin, MaxImagesPer1Minute: rl.imgPerMin,
			MaxAudioMegabytesPer1Minute: rl.audioMBPerMin, MaxRequestsPer1Day: rl.reqPerDay, Batch1DayMaxInputTokens: rl.batchInDay})
	}
	return out
}

func (s *Server) keyState(k *apiKey) KeyState {
	ks := KeyState{ID: k.id, ProjectID: k.projectID, Name: k.name, OwnerType: "service_account", ServiceAccountID: k.saID,
		OwnerProjectAccess: k.ownerAccess, RedactedValue: s.redacted(k.secret), Fingerprint: fingerprint(k.secret),
		CreatedAt: k.created, LastUsedAt: k.lastUsed, ExpiresAt: k.expires, Scopes: slices.Clone(k.scopes),
		Deleted: k.deleted, DeletedAt: k.deletedAt}
	if k.user != nil {
		ks.OwnerType, ks.UserID = "user", k.user.ID
	}
	return ks
}

// Key returns one key's state (deleted keys included).
func (s *Server) Key(id string) (KeyState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.st.keys {
		if k.id == id {
			return s.keyState(k), true
		}
	}
	return KeyState{}, false
}

// KeysOf returns the keys (deleted included) owned by a service account.
func (s *Server) KeysOf(serviceAccountID string) []KeyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []KeyState
	for _, k := range s.st.keys {
		if k.saID == serviceAccountID {
			out = append(out, s.keyState(k))
		}
	}
	return out
}

// Snapshot is the State as indented JSON, byte-for-byte stable while nothing changes: a dry run
// proves it changed nothing by comparing snapshots taken before and after.
func (s *Server) Snapshot() []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.State()); err != nil {
		panic("openaisim: snapshot: " + err.Error()) // plain data: cannot fail
	}
	return []byte(b.String())
}
