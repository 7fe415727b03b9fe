package openaisim

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// World is the seed of a simulator: the organisation's projects, their keys and service accounts,
// budgets, and a usage profile from which 60 days of history are generated deterministically.
// Every time in a World is relative to the simulator's clock ("days ago"), so a world file never
// goes stale.
type World struct {
	// Organization is the organisation ID shown in diagnostics only.
	Organization string `yaml:"organization"`
	// HistoryDays is how many days of usage history exist before "now" (default 60).
	HistoryDays int `yaml:"history_days"`
	// LeakedKey is the ID of the key the rehearsal treats as leaked; it gets the Exposure spike.
	LeakedKey string `yaml:"leaked_key"`
	// Exposure is the attacker's usage of the leaked key during the last Exposure.Days days.
	Exposure Exposure `yaml:"exposure"`
	// Redaction sets how redacted_value is built (default: first 8 characters, "...", last 4).
	Redaction Redaction `yaml:"redaction"`
	// Models is the model catalogue with prices and default rate limits (default DefaultModels()).
	Models []Model `yaml:"models"`
	// OrgSpendLimitCents is the organization's monthly hard limit (0: none).
	OrgSpendLimitCents int64 `yaml:"org_spend_limit_cents"`
	// OrgSpendAlerts are the organization-level spend alerts.
	OrgSpendAlerts []SpendAlertSpec `yaml:"org_spend_alerts"`
	// Projects in listing order.
	Projects []ProjectSpec `yaml:"projects"`
}

// Exposure describes the leaked key's abuse: extra requests per hour during the last Days days,
// typically at night and on models the owner never used.
type Exposure struct {
	Days            int      `yaml:"days"`
	RequestsPerHour float64  `yaml:"requests_per_hour"`
	Hours           []int    `yaml:"hours"` // UTC hours of day the attacker is active; empty = all day
	Models          []string `yaml:"models"`
	// Per request.
	InputTokens  int64 `yaml:"input_tokens"`
	OutputTokens int64 `yaml:"output_tokens"`
	Images       int64 `yaml:"images"`
}

// Redaction controls the simulated redacted_value: Prefix leading characters, "...", Suffix
// trailing characters. The real format is not documented (see the package doc).
type Redaction struct {
	Prefix int `yaml:"prefix"`
	Suffix int `yaml:"suffix"`
}

// Model is one entry of the model catalogue. Prices are illustrative, in USD.
type Model struct {
	Name string `yaml:"name"`
	// Kind is the usage endpoint the model reports under (one of Kinds()). Tools (web search,
	// file search, vector store storage, code interpreter) are catalogue entries too.
	Kind             string  `yaml:"kind"`
	InputPerMillion  float64 `yaml:"input_per_million"`
	OutputPerMillion float64 `yaml:"output_per_million"`
	PerImage         float64 `yaml:"per_image"`
	// Default project rate limits for this model.
	MaxRequestsPer1Minute int64 `yaml:"max_requests_per_1_minute"`
	MaxTokensPer1Minute   int64 `yaml:"max_tokens_per_1_minute"`
	MaxImagesPer1Minute   int64 `yaml:"max_images_per_1_minute"`
	MaxRequestsPer1Day    int64 `yaml:"max_requests_per_1_day"`
}

// ProjectSpec seeds one project.
type ProjectSpec struct {
	ID              string               `yaml:"id"`
	Name            string               `yaml:"name"`
	Status          string               `yaml:"status"` // active (default) or archived
	CreatedDaysAgo  int                  `yaml:"created_days_ago"`
	SpendLimitCents int64                `yaml:"spend_limit_cents"` // 0 = no hard limit
	SpendAlerts     []SpendAlertSpec     `yaml:"spend_alerts"`
	RateLimits      []RateLimitSpec      `yaml:"rate_limits"` // overrides of the catalogue defaults
	ServiceAccounts []ServiceAccountSpec `yaml:"service_accounts"`
	Keys            []KeySpec            `yaml:"keys"`
}

// SpendAlertSpec seeds an existing project spend alert.
type SpendAlertSpec struct {
	ID            string   `yaml:"id"`
	Cents         int64    `yaml:"cents"`
	Recipients    []string `yaml:"recipients"`
	SubjectPrefix string   `yaml:"subject_prefix"`
}

// RateLimitSpec overrides a model's project rate limit.
type RateLimitSpec struct {
	Model                   string `yaml:"model"`
	MaxRequestsPer1Minute   int64  `yaml:"max_requests_per_1_minute"`
	MaxTokensPer1Minute     int64  `yaml:"max_tokens_per_1_minute"`
	MaxImagesPer1Minute     int64  `yaml:"max_images_per_1_minute"`
	MaxRequestsPer1Day      int64  `yaml:"max_requests_per_1_day"`
	Batch1DayMaxInputTokens int64  `yaml:"batch_1_day_max_input_tokens"`
}

// ServiceAccountSpec seeds a project service account.
type ServiceAccountSpec struct {
	ID             string `yaml:"id"`
	Name           string `yaml:"name"`
	Role           string `yaml:"role"` // member (default), owner or none
	CreatedDaysAgo int    `yaml:"created_days_ago"`
}

// UserSpec is the human owner of a user key.
type UserSpec struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	Role  string `yaml:"role"` // owner or member (default)
}

// KeySpec seeds a project API key. Exactly one of User and ServiceAccount is set.
type KeySpec struct {
	ID             string    `yaml:"id"` // generated from the seed when empty
	Name           string    `yaml:"name"`
	User           *UserSpec `yaml:"user"`
	ServiceAccount string    `yaml:"service_account"` // ID of a ServiceAccountSpec of the same project
	// OwnerProjectAccess is active (default) or inactive (owner left the project: the key is
	// hidden from listings that do not ask for owner_project_access=any|inactive).
	OwnerProjectAccess string   `yaml:"owner_project_access"`
	CreatedDaysAgo     int      `yaml:"created_days_ago"`
	ExpiresInDays      int      `yaml:"expires_in_days"` // 0 = never; negative = already expired
	Scopes             []string `yaml:"scopes"`          // nil = unrestricted
	// ActiveHours is [from, to) in UTC hours when the owner's traffic runs (default [0, 24)).
	ActiveHours []int `yaml:"active_hours"`
	// WeekendFactor scales weekend traffic (default 0.35; 1 = no weekly pattern).
	WeekendFactor float64     `yaml:"weekend_factor"`
	Usage         []UsageSpec `yaml:"usage"`
}

// UsageSpec is a key's normal daily traffic on one model.
type UsageSpec struct {
	Model          string  `yaml:"model"`
	RequestsPerDay float64 `yaml:"requests_per_day"`
	// Per request.
	InputTokens  int64 `yaml:"input_tokens"`
	OutputTokens int64 `yaml:"output_tokens"`
	Images       int64 `yaml:"images"`
}

//go:embed default_world.yaml
var defaultWorldYAML []byte

// DefaultWorldYAML returns the embedded default world file (a copy also lives at
// testdata/openaisim/world.yaml in the repository root; a test keeps them identical).
func DefaultWorldYAML() []byte { return bytes.Clone(defaultWorldYAML) }

// DefaultWorld returns the embedded default world: three projects, user and service-account
// keys, a leaked key with a 3-day night-time spike on models it never used, an inactive owner,
// an existing spend limit and alert.
func DefaultWorld() World {
	w, err := ParseWorld(defaultWorldYAML)
	if err != nil {
		panic("openaisim: embedded default world is invalid: " + err.Error())
	}
	return w
}

// LoadWorld reads and validates a world file.
func LoadWorld(path string) (World, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return World{}, fmt.Errorf("load world: %w", err)
	}
	w, err := ParseWorld(b)
	if err != nil {
		return World{}, fmt.Errorf("load world %s: %w", path, err)
	}
	return w, nil
}

// ParseWorld decodes a world strictly (unknown keys are errors) and validates it.
func ParseWorld(b []byte) (World, error) {
	var w World
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		return World{}, fmt.Errorf("parse world: %w", err)
	}
	if err := w.Validate(); err != nil {
		return World{}, err
	}
	return w, nil
}

// DefaultModels is the catalogue used when a world lists no models.
func DefaultModels() []Model {
	return []Model{
		{Name: "gpt-4o-mini", Kind: KindCompletions, InputPerMillion: 0.15, OutputPerMillion: 0.60, MaxRequestsPer1Minute: 5000, MaxTokensPer1Minute: 2000000, MaxRequestsPer1Day: 1000000},
		{Name: "gpt-4o", Kind: KindCompletions, InputPerMillion: 2.50, OutputPerMillion: 10.00, MaxRequestsPer1Minute: 5000, MaxTokensPer1Minute: 800000},
		{Name: "gpt-4.1", Kind: KindCompletions, InputPerMillion: 2.00, OutputPerMillion: 8.00, MaxRequestsPer1Minute: 5000, MaxTokensPer1Minute: 800000},
		{Name: "o3", Kind: KindCompletions, InputPerMillion: 2.00, OutputPerMillion: 8.00, MaxRequestsPer1Minute: 5000, MaxTokensPer1Minute: 800000},
		{Name: "text-embedding-3-small", Kind: KindEmbeddings, InputPerMillion: 0.02, MaxRequestsPer1Minute: 5000, MaxTokensPer1Minute: 5000000},
		{Name: "text-embedding-3-large", Kind: KindEmbeddings, InputPerMillion: 0.13, MaxRequestsPer1Minute: 5000, MaxTokensPer1Minute: 5000000},
		{Name: "gpt-image-1", Kind: KindImages, InputPerMillion: 5.00, PerImage: 0.04, MaxRequestsPer1Minute: 50, MaxTokensPer1Minute: 100000, MaxImagesPer1Minute: 50},
		{Name: "omni-moderation-latest", Kind: KindModerations, MaxRequestsPer1Minute: 1000, MaxTokensPer1Minute: 100000},
		{Name: "tts-1", Kind: KindAudioSpeeches, InputPerMillion: 15.00, MaxRequestsPer1Minute: 500},
		{Name: "whisper-1", Kind: KindAudioTranscriptions, InputPerMillion: 100.00, MaxRequestsPer1Minute: 500},
		// Tools, not models: usage lines name them like models; they have no rate limits.
		{Name: "web-search", Kind: KindWebSearchCalls, PerImage: 0.01},
		{Name: "file-search", Kind: KindFileSearchCalls, PerImage: 0.0025},
		{Name: "vector-store-storage", Kind: KindVectorStores, InputPerMillion: 0.10},
		{Name: "code-interpreter", Kind: KindCodeInterpreterSessions, PerImage: 0.03},
	}
}

// Usage kinds, as in the usage endpoint paths (/v1/organization/usage/<kind>).
const (
	KindCompletions             = "completions"
	KindEmbeddings              = "embeddings"
	KindImages                  = "images"
	KindModerations             = "moderations"
	KindAudioSpeeches           = "audio_speeches"
	KindAudioTranscriptions     = "audio_transcriptions"
	KindWebSearchCalls          = "web_search_calls"
	KindFileSearchCalls         = "file_search_calls"
	KindVectorStores            = "vector_stores"
	KindCodeInterpreterSessions = "code_interpreter_sessions"
)

// Kinds lists every usage kind the simulator serves, in the document's order of paths.
func Kinds() []string {
	return []string{KindAudioSpeeches, KindAudioTranscriptions, KindCodeInterpreterSessions, KindCompletions,
		KindEmbeddings, KindFileSearchCalls, KindImages, KindModerations, KindVectorStores, KindWebSearchCalls}
}

// isModel reports whether the kind's usage lines are model requests (they get project rate
// limits); the others are tool calls, sessions and storage.
func isModel(kind string) bool {
	return !slices.Contains([]string{KindWebSearchCalls, KindFileSearchCalls, KindVectorStores, KindCodeInterpreterSessions}, kind)
}

func (w World) models() []Model {
	if len(w.Models) == 0 {
		return DefaultModels()
	}
	return w.Models
}

func (w World) historyDays() int {
	if w.HistoryDays <= 0 {
		return 60
	}
	return w.HistoryDays
}

func (w World) redaction() Redaction {
	r := w.Redaction
	if r.Prefix <= 0 {
		r.Prefix = 8
	}
	if r.Suffix <= 0 {
		r.Suffix = 4
	}
	return r
}

// Validate checks references and values; ParseWorld calls it, and New panics on an invalid world.
func (w World) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	models := map[string]Model{}
	for _, m := range w.models() {
		if m.Name == "" {
			bad("model with empty name")
		}
		if !slices.Contains(Kinds(), m.Kind) {
			bad("model %q: kind %q is not one of %v", m.Name, m.Kind, Kinds())
		}
		if _, dup := models[m.Name]; dup {
			bad("model %q listed twice", m.Name)
		}
		models[m.Name] = m
	}
	if len(w.Projects) == 0 {
		bad("world has no projects")
	}
	ids := map[string]string{}
	seen := func(id, what string) {
		if id == "" {
			return
		}
		if prev, ok := ids[id]; ok {
			bad("id %q used by %s and %s", id, prev, what)
		}
		ids[id] = what
	}
	if w.OrgSpendLimitCents < 0 {
		bad("negative org_spend_limit_cents")
	}
	for _, a := range w.OrgSpendAlerts {
		seen(a.ID, "spend alert")
		if a.Cents <= 0 || len(a.Recipients) == 0 {
			bad("organization spend alert needs cents > 0 and recipients")
		}
	}
	leakedFound := false
	for _, p := range w.Projects {
		if p.ID == "" {
			bad("project %q has no id", p.Name)
		}
		seen(p.ID, "project")
		if p.Status != "" && p.Status != "active" && p.Status != "archived" {
			bad("project %s: status %q is not active or archived", p.ID, p.Status)
		}
		if p.SpendLimitCents < 0 {
			bad("project %s: negative spend limit", p.ID)
		}
		for _, a := range p.SpendAlerts {
			seen(a.ID, "spend alert")
			if a.Cents <= 0 || len(a.Recipients) == 0 {
				bad("project %s: spend alert needs cents > 0 and recipients", p.ID)
			}
		}
		for _, rl := range p.RateLimits {
			if _, ok := models[rl.Model]; !ok {
				bad("project %s: rate limit for unknown model %q", p.ID, rl.Model)
			}
		}
		sas := map[string]bool{}
		for _, sa := range p.ServiceAccounts {
			if sa.ID == "" || sa.Name == "" {
				bad("project %s: service account needs id and name", p.ID)
			}
			seen(sa.ID, "service account")
			sas[sa.ID] = true
		}
		for _, k := range p.Keys {
			label := k.ID
			if label == "" {
				label = k.Name
			}
			seen(k.ID, "key")
			if k.ID != "" && k.ID == w.LeakedKey {
				leakedFound = true
			}
			switch {
			case (k.User == nil) == (k.ServiceAccount == ""):
				bad("key %s: set exactly one of user and service_account", label)
			case k.User != nil && k.User.ID == "":
				bad("key %s: user needs an id", label)
			case k.ServiceAccount != "" && !sas[k.ServiceAccount]:
				bad("key %s: service account %q is not in project %s", label, k.ServiceAccount, p.ID)
			}
			if a := k.OwnerProjectAccess; a != "" && a != "active" && a != "inactive" {
				bad("key %s: owner_project_access %q is not active or inactive", label, a)
			}
			if h := k.ActiveHours; h != nil && (len(h) != 2 || h[0] < 0 || h[1] > 24 || h[0] >= h[1]) {
				bad("key %s: active_hours must be [from, to) with 0 <= from < to <= 24", label)
			}
			for _, u := range k.Usage {
				if _, ok := models[u.Model]; !ok {
					bad("key %s: usage of unknown model %q", label, u.Model)
				}
				if u.RequestsPerDay < 0 {
					bad("key %s: negative requests_per_day", label)
				}
			}
		}
	}
	if w.LeakedKey != "" && !leakedFound {
		bad("leaked_key %q is not a key id of the world", w.LeakedKey)
	}
	for _, m := range w.Exposure.Models {
		if _, ok := models[m]; !ok {
			bad("exposure: unknown model %q", m)
		}
	}
	for _, h := range w.Exposure.Hours {
		if h < 0 || h > 23 {
			bad("exposure: hour %d out of range", h)
		}
	}
	if w.Exposure.Days < 0 || w.Exposure.Days > w.historyDays() {
		bad("exposure: days must be between 0 and history_days")
	}
	return errors.Join(errs...)
}

// SyntheticWorld builds a world with n projects (for benchmarks of 1, 10, 50 projects): each has
// two user keys and one service-account key with ordinary traffic; the leaked key is in the last
// project, so a search by secret has to look at every project.
func SyntheticWorld(n int) World {
	if n < 1 {
		n = 1
	}
	w := World{
		Organization: "org-synthetic",
		Exposure: Exposure{
			Days: 3, RequestsPerHour: 300, Hours: []int{0, 1, 2, 3, 4, 5},
			Models: []string{"o3"}, InputTokens: 2500, OutputTokens: 1200,
		},
	}
	for i := 1; i <= n; i++ {
		pid := fmt.Sprintf("proj_synth%03d", i)
		sa := fmt.Sprintf("svc_acct_synth%03d", i)
		p := ProjectSpec{
			ID: pid, Name: fmt.Sprintf("Synthetic %03d", i), CreatedDaysAgo: 300 + i,
			ServiceAccounts: []ServiceAccountSpec{{ID: sa, Name: "deployer", CreatedDaysAgo: 200}},
			Keys: []KeySpec{
				{
					ID: fmt.Sprintf("key_synth%03da", i), Name: "backend", CreatedDaysAgo: 150,
					User:        &UserSpec{ID: fmt.Sprintf("user_synth%03da", i), Name: "Dev A", Email: fmt.Sprintf("dev-a-%03d@example.com", i)},
					ActiveHours: []int{8, 20},
					Usage:       []UsageSpec{{Model: "gpt-4o-mini", RequestsPerDay: 400, InputTokens: 700, OutputTokens: 200}},
				},
				{
					ID: fmt.Sprintf("key_synth%03db", i), Name: "notebook", CreatedDaysAgo: 90,
					User:        &UserSpec{ID: fmt.Sprintf("user_synth%03db", i), Name: "Dev B", Email: fmt.Sprintf("dev-b-%03d@example.com", i)},
					ActiveHours: []int{9, 18},
					Usage:       []UsageSpec{{Model: "text-embedding-3-small", RequestsPerDay: 150, InputTokens: 300}},
				},
				{
					ID: fmt.Sprintf("key_synth%03dc", i), Name: "ci", CreatedDaysAgo: 120, ServiceAccount: sa,
					Usage: []UsageSpec{{Model: "gpt-4o", RequestsPerDay: 60, InputTokens: 1500, OutputTokens: 400}},
				},
			},
		}
		w.Projects = append(w.Projects, p)
	}
	w.LeakedKey = fmt.Sprintf("key_synth%03da", n)
	return w
}
