// Package openaisim is an in-memory, stateful simulator of the OpenAI admin API (projects,
// project API keys, service accounts and their keys, spend limits, spend alerts, rate limits,
// usage and costs) and of GET /v1/models for checking whether a key is live. It speaks the real
// wire format, so the real openai-go client is pointed at it (base URL: server URL + "/v1") in
// tests and in `respond rehearse`. Its answers follow OpenAI's published OpenAPI document; the
// tests check every exchange against it (package contract).
//
// Choices where the real API is undocumented (kept in one place so they are easy to revisit):
//   - redacted_value is the first 8 characters of the secret, "...", and the last 4
//     (World.Redaction changes the counts).
//   - The admin key is the only credential accepted by admin endpoints (401 invalid_api_key
//     otherwise; a live project key gets 403 insufficient_permissions).
//   - GET /v1/models (the key check) authenticates the key in the Authorization header:
//     401 invalid_api_key for a deleted, expired or unknown key — the only answer that means
//     "dead". A live key is refused with other 401s: mismatched_organization when an
//     OpenAI-Organization header names another organisation than the world's; mismatched_project
//     when an OpenAI-Project header names another project than the key's (code chosen here;
//     the real code is undocumented); and, with code null and an "insufficient permissions ...
//     Missing scopes" message, when the key's scopes include neither api.model.read nor
//     api.all.read, or its service account has role none (its keys are limited by scopes and
//     the owner's access, and role none has none). It does not touch last_used_at, so a dry run
//     that checks a key leaves Snapshot unchanged.
//   - DELETE api_keys/{id} on a service-account key deletes it (openai-go v3.98.0), or with
//     Options.RefuseServiceAccountKeyDelete answers 400 as the August 2026 document says.
//   - GET api_keys without owner_project_access lists only keys whose owner has access
//     ("active"); "any" lists every live key. The real default is "membership-based visibility".
//   - Key scopes are recorded and visible through State, never in the wire format (the real
//     ProjectAPIKey object has no scopes field).
//   - Usage buckets are aligned to the bucket width in UTC; usage is counted for minutes whose
//     start lies in [start_time, end_time). History is generated per hour and split evenly
//     over minutes for 1m buckets. Costs are counted per hour.
//   - Cost line items are "<model>, input_tokens", "<model>, output_tokens", and "<model>,
//     images" (or the kind, for tool calls and sessions).
//   - group_by accepts, of the document's values, project_id, api_key_id, model, user_id
//     (usage) and project_id, api_key_id, line_item (costs); the others (batch, size, ...)
//     answer 400 rather than a made-up split.
//   - Deleting a service account deletes its keys (neither the document nor the SDK says so;
//     the revoke step checks it).
//   - POST .../service_accounts/{id}/api_keys honours expires_in_seconds (openai-go v3.98.0),
//     or with Options.IgnoreKeyExpiry ignores it as the document, which lacks it, would.
//   - spend limit enforcement.status (document: inactive | enforcing) is "enforcing" when the
//     month-to-date cost of the project has reached the threshold, "inactive" otherwise.
//   - An unset spend limit answers GET and DELETE with 404 (code "not_found"), or, with
//     Options.UnsetSpendLimitAnswers200, with 200: GET with threshold_amount null, DELETE with
//     deleted false. The document says neither, so a client must handle both.
//   - Usage endpoints follow the document's group_by and filter lists per endpoint;
//     vector_stores and code_interpreter_sessions are per project only (no api_key_id).
package openaisim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/respond-sec/respond/internal/fakekey"
)

// Options configure a Server.
type Options struct {
	// Seed makes key values, generated IDs and usage jitter reproducible.
	Seed uint64
	// AdminKey is the credential admin endpoints demand; generated from Seed when empty.
	AdminKey string
	// Now is the simulator's clock (default time.Now); it must be safe for concurrent use. The
	// world's history ends at the hour Now() falls in when New is called.
	Now func() time.Time
	// RefuseServiceAccountKeyDelete follows the published document (August 2026) for
	// DELETE /organization/projects/{p}/api_keys/{k}: a key owned by a service account answers
	// 400 and stays live. Off, the simulator follows openai-go v3.98.0, which says such keys are
	// deleted like any other. Both readings are in use; tests run both.
	RefuseServiceAccountKeyDelete bool
	// IgnoreKeyExpiry follows the published document for POST
	// .../service_accounts/{id}/api_keys, which has no expires_in_seconds: the field is ignored
	// and the key never expires (no expires_at). Off, the simulator follows openai-go v3.98.0.
	IgnoreKeyExpiry bool
	// UnsetSpendLimitAnswers200 answers GET/DELETE spend_limit of a project without a limit
	// with 200 (no amount; deleted false) instead of 404.
	UnsetSpendLimitAnswers200 bool
}

// Server is the simulator. It is an http.Handler; mount it at the root of an httptest.Server
// and point clients at URL + "/v1". Safe for concurrent use.
type Server struct {
	mux               *http.ServeMux
	now               func() time.Time
	anchor            time.Time // world "now": history ends at anchor
	seed              uint64
	adminKey          string
	org               string
	leakedID          string
	refuseSAKeyDelete bool
	unsetLimit200     bool
	ignoreKeyExpiry   bool
	redact            Redaction
	models            map[string]Model
	catalog           []Model
	usage             *usageModel

	mu     sync.Mutex
	st     *state
	keySrc *fakekey.Source // values of keys created at run time
	idSrc  *fakekey.Source // IDs of objects created at run time
	faults faultState
	counts map[string]int
	log    []RequestRecord
}

type state struct {
	projects []*project
	sas      []*serviceAccount
	keys     []*apiKey
	limits   map[string]*spendLimit // by project ID
	orgLimit *spendLimit            // the organization's own hard limit
	alerts   []*spendAlert          // project alerts, and organization alerts (projectID "")
	rates    []*rateLimit
}

type project struct {
	id, name, status string
	created          time.Time
}

type serviceAccount struct {
	id, projectID, name, role string
	created                   time.Time
	deleted                   bool
}

type userInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

type apiKey struct {
	id, projectID, name string
	secret              string
	user                *userInfo // user-owned
	saID                string    // service-account-owned
	ownerAccess         string
	created, lastUsed   time.Time
	expires             time.Time // zero = never
	scopes              []string  // nil = unrestricted, [] = explicitly all permissions
	deleted             bool
	deletedAt           time.Time
	deletedBy           string // a person's email when RevokeByHand deleted it; "" for the API
}

type spendLimit struct {
	cents int64
}

type spendAlert struct {
	id, projectID string
	cents         int64
	recipients    []string
	subjectPrefix string
}

type rateLimit struct {
	id, projectID, model                                                  string
	reqPerMin, tokPerMin, imgPerMin, audioMBPerMin, reqPerDay, batchInDay int64
}

// New builds a simulator from a world. It panics if the world is invalid (ParseWorld and
// LoadWorld validate; a World built in code can be checked with Validate first).
func New(w World, opts Options) *Server {
	if err := w.Validate(); err != nil {
		panic("openaisim: invalid world: " + err.Error())
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		now:               now,
		anchor:            now().UTC().Truncate(time.Hour),
		seed:              opts.Seed,
		adminKey:          opts.AdminKey,
		org:               w.Organization,
		leakedID:          w.LeakedKey,
		refuseSAKeyDelete: opts.RefuseServiceAccountKeyDelete,
		unsetLimit200:     opts.UnsetSpendLimitAnswers200,
		ignoreKeyExpiry:   opts.IgnoreKeyExpiry,
		redact:            w.redaction(),
		catalog:           w.models(),
		models:            map[string]Model{},
		keySrc:            fakekey.New(opts.Seed),
		idSrc:             fakekey.New(opts.Seed ^ 0x5bd1e995),
		counts:            map[string]int{},
	}
	if s.adminKey == "" {
		s.adminKey = fakekey.New(opts.Seed ^ 0xad31).OpenAIAdminKey()
	}
	for _, m := range s.catalog {
		s.models[m.Name] = m
	}
	s.st = s.seedState(w)
	s.usage = newUsageModel(w, s)
	for _, k := range s.st.keys {
		k.lastUsed = s.usage.lastUsed(k.id)
	}
	s.routes()
	return s
}

func (s *Server) daysAgo(d int) time.Time { return s.anchor.Add(-time.Duration(d) * 24 * time.Hour) }

func (s *Server) seedState(w World) *state {
	st := &state{limits: map[string]*spendLimit{}}
	if w.OrgSpendLimitCents > 0 {
		st.orgLimit = &spendLimit{cents: w.OrgSpendLimitCents}
	}
	for _, a := range w.OrgSpendAlerts {
		st.alerts = append(st.alerts, s.seedAlert(a, ""))
	}
	for _, ps := range w.Projects {
		p := &project{id: ps.ID, name: ps.Name, status: ps.Status, created: s.daysAgo(ps.CreatedDaysAgo)}
		if p.status == "" {
			p.status = "active"
		}
		st.projects = append(st.projects, p)
		if ps.SpendLimitCents > 0 {
			st.limits[p.id] = &spendLimit{cents: ps.SpendLimitCents}
		}
		for _, a := range ps.SpendAlerts {
			st.alerts = append(st.alerts, s.seedAlert(a, p.id))
		}
		for _, m := range s.catalog {
			if !isModel(m.Kind) {
				continue
			}
			rl := &rateLimit{id: "rl-" + m.Name, projectID: p.id, model: m.Name,
				reqPerMin: m.MaxRequestsPer1Minute, tokPerMin: m.MaxTokensPer1Minute,
				imgPerMin: m.MaxImagesPer1Minute, reqPerDay: m.MaxRequestsPer1Day}
			for _, o := range ps.RateLimits {
				if o.Model != m.Name {
					continue
				}
				setIf(&rl.reqPerMin, o.MaxRequestsPer1Minute)
				setIf(&rl.tokPerMin, o.MaxTokensPer1Minute)
				setIf(&rl.imgPerMin, o.MaxImagesPer1Minute)
				setIf(&rl.reqPerDay, o.MaxRequestsPer1Day)
				setIf(&rl.batchInDay, o.Batch1DayMaxInputTokens)
			}
			st.rates = append(st.rates, rl)
		}
		for _, sa := range ps.ServiceAccounts {
			role := sa.Role
			if role == "" {
				role = "member"
			}
			st.sas = append(st.sas, &serviceAccount{id: sa.ID, projectID: p.id, name: sa.Name, role: role,
				created: s.daysAgo(sa.CreatedDaysAgo)})
		}
		for _, ks := range ps.Keys {
			k := &apiKey{id: ks.ID, projectID: p.id, name: ks.Name, ownerAccess: ks.OwnerProjectAccess,
				created: s.daysAgo(ks.CreatedDaysAgo)}
			if k.id == "" {
				k.id = s.idSrc.ID("key_", 16)
			}
			if k.ownerAccess == "" {
				k.ownerAccess = "active"
			}
			if ks.User != nil {
				u := userInfo{ID: ks.User.ID, Name: ks.User.Name, Email: ks.User.Email, Role: ks.User.Role}
				if u.Role == "" {
					u.Role = "member"
				}
				k.user = &u
				k.secret = s.keySrc.OpenAIProjectKey()
			} else {
				k.saID = ks.ServiceAccount
				k.secret = s.keySrc.OpenAIServiceAccountKey()
			}
			if ks.ExpiresInDays != 0 {
				k.expires = s.daysAgo(-ks.ExpiresInDays)
			}
			if ks.Scopes != nil {
				k.scopes = slices.Clone(ks.Scopes)
			}
			st.keys = append(st.keys, k)
		}
	}
	return st
}

func (s *Server) seedAlert(a SpendAlertSpec, projectID string) *spendAlert {
	id := a.ID
	if id == "" {
		id = s.idSrc.ID("alert_", 16)
	}
	return &spendAlert{id: id, projectID: projectID, cents: a.Cents, recipients: slices.Clone(a.Recipients), subjectPrefix: a.SubjectPrefix}
}

func setIf(dst *int64, v int64) {
	if v != 0 {
		*dst = v
	}
}

// AdminKey is the admin credential the simulator accepts.
func (s *Server) AdminKey() string { return s.adminKey }

// LeakedKeyID is the world's leaked key ID ("" if the world names none).
func (s *Server) LeakedKeyID() string { return s.leakedID }

// LeakedKeySecret is the value of the leaked key.
func (s *Server) LeakedKeySecret() string { return s.KeySecret(s.leakedID) }

// KeySecret returns the value of a key (including deleted ones; "" if unknown). It exists for
// rehearsals and tests; the wire format never returns a value except once, at creation.
func (s *Server) KeySecret(keyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.st.keys {
		if k.id == keyID {
			return k.secret
		}
	}
	return ""
}

// Now is the simulator's clock.
func (s *Server) Now() time.Time { return s.now() }

// HistoryEnd is the world's "now": usage history ends here (the hour Now() was in at New).
func (s *Server) HistoryEnd() time.Time { return s.anchor }

// ExposureWindow is the span in which the leaked key was abused: [HistoryEnd - Exposure.Days,
// HistoryEnd). Rehearsals plant the leak before start.
func (s *Server) ExposureWindow() (start, end time.Time) {
	return s.usage.exposureStart, s.anchor
}

func (s *Server) redacted(secret string) string {
	r := s.redact
	if len(secret) <= r.Prefix+r.Suffix {
		return secret[:min(len(secret), 3)] + "..."
	}
	return secret[:r.Prefix] + "..." + secret[len(secret)-r.Suffix:]
}

func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}

func (s *Server) project(id string) *project {
	for _, p := range s.st.projects {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (s *Server) serviceAccount(projectID, id string) *serviceAccount {
	for _, sa := range s.st.sas {
		if sa.id == id && sa.projectID == projectID && !sa.deleted {
			return sa
		}
	}
	return nil
}

func (s *Server) liveKeyBySecret(secret string) (*apiKey, string) {
	for _, k := range s.st.keys {
		if k.secret != secret {
			continue
		}
		switch {
		case k.deleted:
			return nil, "deleted"
		case !k.expires.IsZero() && !s.now().Before(k.expires):
			return nil, "expired"
		}
		return k, ""
	}
	return nil, "unknown"
}

func (s *Server) mustProject(w http.ResponseWriter, r *http.Request) *project {
	id := r.PathValue("project_id")
	p := s.project(id)
	if p == nil {
		writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "project_id",
			fmt.Sprintf("No project found with ID %s.", id))
	}
	return p
}
