package openai_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/contract"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// A Wednesday afternoon; the default world's history ends at 14:00.
var epoch = time.Date(2025, 6, 18, 14, 30, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	sim    *openaisim.Server
	client *openai.Client
	url    string
	clock  *clock
}

// setup serves a simulator on 127.0.0.1 and returns a wrapper client pointed at it, with SDK
// retries off unless cfg says otherwise.
func setup(t *testing.T, w openaisim.World, cfg ...func(*openai.Config)) env {
	t.Helper()
	return setupSim(t, w, openaisim.Options{}, cfg...)
}

// setupSim is setup with simulator options (Seed and Now are set here).
func setupSim(t *testing.T, w openaisim.World, opts openaisim.Options, cfg ...func(*openai.Config)) env {
	t.Helper()
	clk := &clock{t: epoch}
	opts.Seed, opts.Now = 42, clk.Now
	sim := openaisim.New(w, opts)
	// Every exchange is checked against OpenAI's published document (package contract).
	srv := httptest.NewServer(contract.Handler(t, sim))
	t.Cleanup(srv.Close)
	c := openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", HTTPClient: srv.Client(), MaxRetries: 0}
	for _, f := range cfg {
		f(&c)
	}
	client, err := openai.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return env{sim: sim, client: client, url: srv.URL + "/v1", clock: clk}
}

func pageSize(n int) func(*openai.Config) { return func(c *openai.Config) { c.PageSize = n } }

func TestNewWithoutAdminKey(t *testing.T) {
	t.Parallel()
	if _, err := openai.New(openai.Config{BaseURL: "http://127.0.0.1:1/v1"}); !errors.Is(err, openai.ErrNoCredentials) {
		t.Fatalf("New without key: err = %v, want ErrNoCredentials", err)
	}
}

func TestListProjectsPaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		world     openaisim.World
		pageSize  int
		wantCount int
		wantPages int
	}{
		{"synthetic 7 by 2", openaisim.SyntheticWorld(7), 2, 7, 4},
		{"synthetic 10 by 100", openaisim.SyntheticWorld(10), 0, 10, 1},
		{"default world hides archived", openaisim.DefaultWorld(), 1, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, tt.world, pageSize(tt.pageSize))
			got, err := e.client.ListProjects(t.Context())
			if err != nil {
				t.Fatalf("ListProjects: %v", err)
			}
			if len(got) != tt.wantCount {
				t.Errorf("got %d projects, want %d", len(got), tt.wantCount)
			}
			for _, p := range got {
				if p.Status != "active" || p.ID == "" || p.CreatedAt.IsZero() {
					t.Errorf("project %+v: want active with id and created time", p)
				}
			}
			if n := e.sim.RequestCount(openaisim.RouteListProjects); n != tt.wantPages {
				t.Errorf("list requests = %d, want %d pages", n, tt.wantPages)
			}
		})
	}
}

func TestListProjectKeys(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld(), pageSize(1))
	keys, err := e.client.ListProjectKeys(t.Context(), "proj_storefront")
	if err != nil {
		t.Fatalf("ListProjectKeys: %v", err)
	}
	type summary struct{ ID, OwnerType, OwnerID, Access string }
	var got []summary
	for _, k := range keys {
		got = append(got, summary{k.ID, k.OwnerType, k.OwnerID, k.OwnerProjectAccess})
		secret := e.sim.KeySecret(k.ID)
		if want := secret[:8] + "..." + secret[len(secret)-4:]; k.RedactedValue != want {
			t.Errorf("key %s redacted %q, want %q", k.ID, k.RedactedValue, want)
		}
		if k.ProjectID != "proj_storefront" || k.CreatedAt.IsZero() {
			t.Errorf("key %+v: project or created time missing", k)
		}
	}
	want := []summary{
		{"key_storefront_backend", openai.OwnerUser, "user_alice", "active"},
		{"key_storefront_search", openai.OwnerUser, "user_bruno", "active"},
		{"key_storefront_ci", openai.OwnerServiceAccount, "svc_acct_storefront_ci", "active"},
		// The owner left the project: hidden by the API's default filter, found with "any".
		{"key_storefront_old", openai.OwnerUser, "user_carol", "inactive"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if n := e.sim.RequestCount(openaisim.RouteListProjectKeys); n != 4 {
		t.Errorf("list key requests = %d, want 4 (page size 1)", n)
	}
	leaked := keys[0]
	start, _ := e.sim.ExposureWindow()
	if leaked.LastUsedAt.Before(start) {
		t.Errorf("leaked key last used %s, want within the exposure window from %s", leaked.LastUsedAt, start)
	}
	if leaked.OwnerEmail != "alice@example.com" {
		t.Errorf("owner email = %q", leaked.OwnerEmail)
	}

	got1, err := e.client.GetProjectKey(t.Context(), "proj_storefront", "key_storefront_ci")
	if err != nil {
		t.Fatalf("GetProjectKey: %v", err)
	}
	if diff := cmp.Diff(keys[2], got1); diff != "" {
		t.Errorf("GetProjectKey differs from the listed key (-list +get):\n%s", diff)
	}
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	wrongAdmin := fakekey.New(99).OpenAIAdminKey()
	tests := []struct {
		name     string
		key      string
		check    func(error) bool
		wantCode string
	}{
		{"wrong admin key", wrongAdmin, openai.IsUnauthorized, "invalid_api_key"},
		{"project key on admin endpoint", e.sim.LeakedKeySecret(), openai.IsPermissionDenied, "insufficient_permissions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := openai.New(openai.Config{AdminKey: tt.key, BaseURL: e.url, MaxRetries: 0})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListProjects(t.Context())
			if !tt.check(err) {
				t.Fatalf("ListProjects err = %v, wrong status", err)
			}
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.Code != tt.wantCode || apiErr.Message == "" || apiErr.Transient() {
				t.Errorf("error = %#v, want code %s, a message, not transient", apiErr, tt.wantCode)
			}
			assertNoSecrets(t, e.sim, err, tt.key)
		})
	}
}

func TestRevokeTwiceAndCheckKey(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	ctx := t.Context()
	leaked, id := e.sim.LeakedKeySecret(), e.sim.LeakedKeyID()

	if st, err := e.client.CheckKey(ctx, leaked); !st.Works() || st.Dead() || err != nil {
		t.Fatalf("CheckKey before revoke = %v, %v; want 200", st, err)
	}
	gone, err := e.client.DeleteProjectKey(ctx, "proj_storefront", id)
	if gone || err != nil {
		t.Fatalf("first delete = %v, %v; want false, nil", gone, err)
	}
	gone, err = e.client.DeleteProjectKey(ctx, "proj_storefront", id)
	if !gone || err != nil {
		t.Fatalf("second delete = %v, %v; want true (already gone), nil", gone, err)
	}
	if st, err := e.client.CheckKey(ctx, leaked); !st.Dead() || st.Code != openai.CodeInvalidAPIKey || err != nil {
		t.Fatalf("CheckKey after revoke = %v, %v; want 401 invalid_api_key, nil", st, err)
	}
	if _, err := e.client.GetProjectKey(ctx, "proj_storefront", id); !openai.IsNotFound(err) {
		t.Fatalf("GetProjectKey after revoke: err = %v, want 404", err)
	} else {
		assertNoSecrets(t, e.sim, err)
	}
	if k, _ := e.sim.Key(id); !k.Deleted || !k.DeletedAt.Equal(epoch) {
		t.Errorf("sim key state = %+v, want deleted at %s", k, epoch)
	}
	if st, err := e.client.CheckKey(ctx, fakekey.New(7).OpenAIProjectKey()); !st.Dead() || err != nil {
		t.Errorf("CheckKey of an unknown key = %v, %v; want 401 invalid_api_key", st, err)
	}
	if n := e.sim.RequestCount(openaisim.RouteDeleteProjectKey); n != 2 {
		t.Errorf("delete requests = %d, want 2", n)
	}
}

func TestServiceAccountKeyCreation(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	ctx := t.Context()
	const project = "proj_storefront"

	sa, err := e.client.FindServiceAccount(ctx, project, "respond-replacement")
	if sa != nil || err != nil {
		t.Fatalf("FindServiceAccount before create = %+v, %v; want nil, nil", sa, err)
	}
	created, err := e.client.CreateServiceAccount(ctx, project, "respond-replacement")
	if err != nil {
		t.Fatalf("CreateServiceAccount: %v", err)
	}
	if created.Role != "none" || created.ID == "" {
		t.Errorf("created %+v, want role none (create_service_account_only)", created)
	}
	found, err := e.client.FindServiceAccount(ctx, project, "respond-replacement")
	if err != nil || found == nil || *found != created {
		t.Fatalf("FindServiceAccount = %+v, %v; want %+v", found, err, created)
	}
	if keys := e.sim.KeysOf(created.ID); len(keys) != 0 {
		t.Errorf("service account created with %d keys, want none", len(keys))
	}

	// Refused locally: an empty list would mean all permissions.
	for _, scopes := range [][]string{nil, {}} {
		if _, err := e.client.CreateServiceAccountKey(ctx, project, created.ID, "k", scopes, time.Hour); !errors.Is(err, openai.ErrNoScopes) {
			t.Errorf("scopes %#v: err = %v, want ErrNoScopes", scopes, err)
		}
	}
	if n := e.sim.RequestCount(openaisim.RouteCreateServiceAccountKey); n != 0 {
		t.Fatalf("%d key creations reached the server, want 0", n)
	}

	// Role none (create_service_account_only): its keys can do nothing, whatever their
	// scopes, until the account gets a role.
	tests := []struct {
		name   string
		role   string // set before minting; "" leaves role none
		scopes []string
		want   openai.KeyCheck // Message not compared
	}{
		{"role none", "", []string{"api.model.request", "api.model.read"}, openai.KeyCheck{Status: http.StatusUnauthorized}},
		{"requests only", openai.RoleMember, []string{"api.model.request"}, openai.KeyCheck{Status: http.StatusUnauthorized}},
		{"requests and model read", openai.RoleMember, []string{"api.model.request", "api.model.read"}, openai.KeyCheck{Status: http.StatusOK}},
	}
	for _, tt := range tests {
		if tt.role != "" {
			sa, err := e.client.SetServiceAccountRole(ctx, project, created.ID, tt.role)
			if err != nil || sa.Role != tt.role {
				t.Fatalf("%s: SetServiceAccountRole = %+v, %v", tt.name, sa, err)
			}
		}
		nk, err := e.client.CreateServiceAccountKey(ctx, project, created.ID, "replacement-"+tt.name, tt.scopes, 30*24*time.Hour)
		if err != nil {
			t.Fatalf("%s: CreateServiceAccountKey: %v", tt.name, err)
		}
		if nk.Value == "" || nk.Value != e.sim.KeySecret(nk.ID) || !strings.HasPrefix(nk.Value, "sk-svcacct-") {
			t.Errorf("%s: value does not match the simulator's key", tt.name)
		}
		if want := epoch.Add(30 * 24 * time.Hour); !nk.ExpiresAt.Equal(want) {
			t.Errorf("%s: expires %s, want %s", tt.name, nk.ExpiresAt, want)
		}
		for _, s := range []string{nk.String(), fmt.Sprintf("%v %+v %#v", nk, nk, nk)} {
			if strings.Contains(s, nk.Value) {
				t.Errorf("%s: formatting a NewKey printed its value", tt.name)
			}
		}
		st, _ := e.sim.Key(nk.ID)
		if diff := cmp.Diff(tt.scopes, st.Scopes); diff != "" || st.ServiceAccountID != created.ID || !st.ExpiresAt.Equal(nk.ExpiresAt) {
			t.Errorf("%s: sim state %+v (scopes -want +got %s)", tt.name, st, diff)
		}
		// A live key that may not list models answers 401 without invalid_api_key: live,
		// and not proven dead.
		got, err := e.client.CheckKey(ctx, nk.Value)
		if err != nil || got.Status != tt.want.Status || got.Code != tt.want.Code || got.Dead() {
			t.Errorf("%s: CheckKey = %v, %v; want %v and not dead", tt.name, got, err, tt.want)
		}
	}

	// Expired keys are dead.
	e.clock.Advance(31 * 24 * time.Hour)
	nk := e.sim.KeysOf(created.ID)[2]
	if got, err := e.client.CheckKey(ctx, e.sim.KeySecret(nk.ID)); !got.Dead() || err != nil {
		t.Errorf("CheckKey of expired key = %v, %v; want 401 invalid_api_key", got, err)
	}
}

func TestReconcileAfterLostCreate(t *testing.T) {
	t.Parallel()
	// SDK retries on: creates must still be sent exactly once.
	e := setup(t, openaisim.DefaultWorld(), func(c *openai.Config) { c.MaxRetries = 2 })
	ctx := t.Context()
	const project, sa, name = "proj_storefront", "svc_acct_storefront_ci", "respond-replacement-1"
	e.sim.SetFaults(openaisim.FaultConfig{Seed: 1, Rules: []openaisim.FaultRule{
		{Route: openaisim.RouteCreateServiceAccountKey, ApplyThenDrop: 1, MaxFaults: 1},
	}})

	_, err := e.client.CreateServiceAccountKey(ctx, project, sa, name, []string{"api.model.request"}, 24*time.Hour)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || !apiErr.Transient() || !apiErr.OutcomeUnknown() || apiErr.StatusCode != 0 {
		t.Fatalf("lost create: err = %v, want a transient transport *Error with unknown outcome", err)
	}
	if n := e.sim.RequestCount(openaisim.RouteCreateServiceAccountKey); n != 1 {
		t.Fatalf("create requests = %d, want exactly 1 (no retry)", n)
	}
	keys, err := e.client.FindKeysByName(ctx, project, sa, name)
	if err != nil {
		t.Fatalf("FindKeysByName: %v", err)
	}
	if len(keys) != 1 || keys[0].OwnerID != sa || keys[0].Name != name {
		t.Fatalf("FindKeysByName = %+v, want exactly the key created before the drop", keys)
	}
	assertNoSecrets(t, e.sim, apiErr)
	if others, _ := e.client.FindKeysByName(ctx, project, sa, "no-such-name"); len(others) != 0 {
		t.Errorf("FindKeysByName(no-such-name) = %+v, want none", others)
	}

	// The same fault on a service-account create: reconciled by name.
	e.sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{{Route: openaisim.RouteCreateServiceAccount, ApplyThenDrop: 1}}})
	if _, err := e.client.CreateServiceAccount(ctx, project, "respond-sa"); err == nil {
		t.Fatal("CreateServiceAccount under apply-then-drop: want an error")
	}
	if got, err := e.client.FindServiceAccount(ctx, project, "respond-sa"); err != nil || got == nil {
		t.Errorf("FindServiceAccount after lost create = %v, %v; want the account", got, err)
	}
}

func TestFaultsAreTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		rule           openaisim.FaultRule
		wantStatus     int
		wantRetryAfter time.Duration
	}{
		{"429 with Retry-After", openaisim.FaultRule{TooManyRequests: 1, RetryAfter: 1500 * time.Millisecond}, 429, 1500 * time.Millisecond},
		{"500", openaisim.FaultRule{ServerError: 1}, 500, 0},
		{"dropped connection", openaisim.FaultRule{Drop: 1}, 0, 0},
		{"latency then 500 on one route", openaisim.FaultRule{Route: openaisim.RouteListProjects, Latency: 5 * time.Millisecond, ServerError: 1}, 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, openaisim.DefaultWorld())
			before := e.sim.Snapshot()
			e.sim.SetFaults(openaisim.FaultConfig{Seed: 3, Rules: []openaisim.FaultRule{tt.rule}})
			_, err := e.client.ListProjects(t.Context())
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || !apiErr.Transient() || apiErr.StatusCode != tt.wantStatus {
				t.Fatalf("err = %v, want transient *Error with status %d", err, tt.wantStatus)
			}
			if apiErr.RetryAfter() != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %s, want %s", apiErr.RetryAfter(), tt.wantRetryAfter)
			}
			if tt.rule.Route == "" {
				// A refused delete must not have been applied.
				_, err := e.client.DeleteProjectKey(t.Context(), "proj_storefront", e.sim.LeakedKeyID())
				if !errors.As(err, &apiErr) || !apiErr.Transient() {
					t.Errorf("delete under fault: err = %v, want transient", err)
				}
				if after := e.sim.Snapshot(); string(after) != string(before) {
					t.Error("a faulted request changed the state")
				}
			}
			assertNoSecrets(t, e.sim, err)
		})
	}
}

func TestSDKRetriesRecoverFromOne429(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld(), func(c *openai.Config) { c.MaxRetries = 2 })
	e.sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{
		{Route: openaisim.RouteListProjects, TooManyRequests: 1, RetryAfter: 10 * time.Millisecond, MaxFaults: 1},
	}})
	if _, err := e.client.ListProjects(t.Context()); err != nil {
		t.Fatalf("ListProjects with one 429 and retries: %v", err)
	}
	if n := e.sim.RequestCount(openaisim.RouteListProjects); n != 2 {
		t.Errorf("requests = %d, want 2 (one 429, one success)", n)
	}
}

func TestCheckKeyTransientErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	e.sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{{Route: openaisim.RouteListModels, ServerError: 1}}})
	st, err := e.client.CheckKey(t.Context(), e.sim.LeakedKeySecret())
	var apiErr *openai.Error
	if st.Status != 500 || st.Dead() || !errors.As(err, &apiErr) || !apiErr.Transient() {
		t.Fatalf("CheckKey under 500 = %v, %v; want 500 and a transient error", st, err)
	}
	assertNoSecrets(t, e.sim, err)
}

func TestSpendLimitRoundTrip(t *testing.T) {
	t.Parallel()
	// The document does not say what an unset limit answers; both readings must work.
	for _, unset200 := range []bool{false, true} {
		t.Run(fmt.Sprintf("unset answers 200: %v", unset200), func(t *testing.T) {
			t.Parallel()
			e := setupSim(t, openaisim.DefaultWorld(), openaisim.Options{UnsetSpendLimitAnswers200: unset200})
			ctx := t.Context()
			// none → set → replace → delete → none; a second delete is fine.
			if l, err := e.client.GetSpendLimit(ctx, "proj_storefront"); l != nil || err != nil {
				t.Fatalf("GetSpendLimit unset = %+v, %v; want nil, nil", l, err)
			}
			if l, err := e.client.GetSpendLimit(ctx, "proj_analytics"); err != nil || l == nil || l.Cents != 150000 {
				t.Fatalf("GetSpendLimit analytics = %+v, %v; want 150000 cents", l, err)
			}
			// The storefront spends far more than $1 a month: a $1 limit is enforcing at once,
			// $100000 is not.
			tests := []struct {
				cents int64
				want  string
			}{{100000 * 100, openai.EnforcementInactive}, {100, openai.EnforcementEnforcing}}
			for _, tt := range tests {
				l, err := e.client.SetSpendLimit(ctx, "proj_storefront", tt.cents)
				want := openai.SpendLimit{ProjectID: "proj_storefront", Cents: tt.cents, Currency: "USD", Interval: "month", EnforcementStatus: tt.want}
				if err != nil || l != want {
					t.Fatalf("SetSpendLimit(%d) = %+v, %v; want %+v", tt.cents, l, err, want)
				}
			}
			if l, err := e.client.GetSpendLimit(ctx, "proj_storefront"); err != nil || l == nil || l.Cents != 100 {
				t.Fatalf("GetSpendLimit after set = %+v, %v", l, err)
			}
			for range 2 {
				if err := e.client.DeleteSpendLimit(ctx, "proj_storefront"); err != nil {
					t.Fatalf("DeleteSpendLimit: %v", err)
				}
			}
			if l, err := e.client.GetSpendLimit(ctx, "proj_storefront"); l != nil || err != nil {
				t.Fatalf("GetSpendLimit after delete = %+v, %v", l, err)
			}
		})
	}
}

func TestBudgetsRoundTrip(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld(), pageSize(2))
	ctx := t.Context()

	// Spend alerts: 50/80/100 % of 200 USD, paged by 2, then removed.
	var ids []string
	for _, pct := range []int64{50, 80, 100} {
		a, err := e.client.CreateSpendAlert(ctx, "proj_storefront", openai.SpendAlertSpec{
			Cents: 20000 * pct / 100, Recipients: []string{"sec@example.com"}, SubjectPrefix: "[respond]"})
		if err != nil {
			t.Fatalf("CreateSpendAlert: %v", err)
		}
		ids = append(ids, a.ID)
	}
	alerts, err := e.client.ListSpendAlerts(ctx, "proj_storefront")
	if err != nil {
		t.Fatalf("ListSpendAlerts: %v", err)
	}
	var gotCents []int64
	for _, a := range alerts {
		gotCents = append(gotCents, a.Cents)
		if a.SubjectPrefix != "[respond]" || !slices.Equal(a.Recipients, []string{"sec@example.com"}) || a.Currency != "USD" {
			t.Errorf("alert %+v: fields not round-tripped", a)
		}
	}
	if diff := cmp.Diff([]int64{10000, 16000, 20000}, gotCents); diff != "" {
		t.Errorf("alert thresholds (-want +got):\n%s", diff)
	}
	for _, id := range append(ids, ids[0]) { // the repeated delete is a no-op
		if err := e.client.DeleteSpendAlert(ctx, "proj_storefront", id); err != nil {
			t.Fatalf("DeleteSpendAlert(%s): %v", id, err)
		}
	}
	if alerts, err := e.client.ListSpendAlerts(ctx, "proj_storefront"); err != nil || len(alerts) != 0 {
		t.Fatalf("alerts after delete = %+v, %v", alerts, err)
	}
	if alerts, err := e.client.ListSpendAlerts(ctx, "proj_analytics"); err != nil || len(alerts) != 1 || alerts[0].Cents != 120000 {
		t.Fatalf("seeded analytics alert = %+v, %v", alerts, err)
	}

	// Rate limits: paged by 2 across all models; lower o3 and read it back.
	limits, err := e.client.ListRateLimits(ctx, "proj_storefront")
	if err != nil {
		t.Fatalf("ListRateLimits: %v", err)
	}
	byModel := map[string]openai.RateLimit{}
	for _, l := range limits {
		byModel[l.Model] = l
	}
	models := 0 // tools (web search, file search...) have no rate limits
	for _, m := range openaisim.DefaultModels() {
		if m.MaxRequestsPer1Minute > 0 {
			models++
		}
	}
	if len(limits) != models || byModel["gpt-4o-mini"].MaxRequestsPer1Minute != 3000 {
		t.Fatalf("rate limits = %+v", limits)
	}
	ten, hundred := int64(10), int64(100)
	upd, err := e.client.UpdateRateLimit(ctx, "proj_storefront", byModel["o3"].ID, openai.RateLimitUpdate{MaxRequestsPer1Minute: &ten, MaxRequestsPer1Day: &hundred})
	if err != nil {
		t.Fatalf("UpdateRateLimit: %v", err)
	}
	want := byModel["o3"]
	want.MaxRequestsPer1Minute, want.MaxRequestsPer1Day = 10, 100
	if diff := cmp.Diff(want, upd); diff != "" {
		t.Errorf("updated rate limit (-want +got):\n%s", diff)
	}
	if _, err := e.client.UpdateRateLimit(ctx, "proj_storefront", "rl-nope", openai.RateLimitUpdate{MaxRequestsPer1Minute: &ten}); !openai.IsNotFound(err) {
		t.Errorf("UpdateRateLimit unknown: err = %v, want 404", err)
	}
}

// TestReadsLeaveStateUntouched is what a dry run relies on: every read the steps make, then the
// snapshot compared byte for byte.
func TestReadsLeaveStateUntouched(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	ctx := t.Context()
	before := e.sim.Snapshot()
	projects, err := e.client.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		if _, err := e.client.ListProjectKeys(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.GetSpendLimit(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.ListSpendAlerts(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.ListRateLimits(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.FindServiceAccount(ctx, p.ID, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.CheckKey(ctx, e.sim.LeakedKeySecret()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Usage(ctx, openai.UsageQuery{Start: epoch.Add(-6 * 24 * time.Hour), Bucket: "1h", GroupBy: []string{openai.GroupAPIKeyID, openai.GroupModel}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Costs(ctx, openai.CostQuery{Start: epoch.Add(-6 * 24 * time.Hour), GroupBy: []string{openai.GroupAPIKeyID}}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.CheckAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	if after := e.sim.Snapshot(); string(after) != string(before) {
		t.Errorf("reads changed the simulator state:\n%s", cmp.Diff(string(before), string(after)))
	}
}

// assertNoSecrets fails if any rendering of err contains a key value of the simulator (its
// admin key included) or one of extra.
func assertNoSecrets(t *testing.T, sim *openaisim.Server, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	secrets := append([]string{sim.AdminKey()}, extra...)
	for _, k := range sim.State().Keys {
		secrets = append(secrets, sim.KeySecret(k.ID))
	}
	text := fmt.Sprintf("%v | %+v | %#v | %s", err, err, err, err.Error())
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("error text contains a secret value: %q", strings.ReplaceAll(text, s, "<SECRET>"))
		}
	}
}

// The SDK adds OpenAI-Organization and OpenAI-Project from the environment to every request. A
// key check must send neither: with another organisation's ID a live key answers 401
// mismatched_organization, which an old check read as "dead".
func TestCheckKeySendsNoOrganizationOrProjectHeader(t *testing.T) {
	t.Setenv("OPENAI_ORG_ID", "org-someone-else")
	t.Setenv("OPENAI_PROJECT_ID", "proj_analytics")
	clk := &clock{t: epoch}
	sim := openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: 42, Now: clk.Now})
	var mu sync.Mutex
	seen := map[string]http.Header{} // path -> headers of the last request
	srv := httptest.NewServer(contract.Handler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		sim.ServeHTTP(w, r)
	})))
	t.Cleanup(srv.Close)
	c, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// The environment does reach the SDK: admin calls carry both headers.
	if err := c.CheckAdmin(ctx); err != nil {
		t.Fatalf("CheckAdmin: %v", err)
	}
	mu.Lock()
	admin := seen["/v1/organization/projects"]
	mu.Unlock()
	if admin.Get("OpenAI-Organization") != "org-someone-else" || admin.Get("OpenAI-Project") != "proj_analytics" {
		t.Fatalf("admin request headers %v: the environment did not reach the SDK, so this test proves nothing", admin)
	}

	st, err := c.CheckKey(ctx, sim.LeakedKeySecret())
	if err != nil || !st.Works() {
		t.Fatalf("CheckKey of the live key = %v, %v; want 200 (the headers must not be sent)", st, err)
	}
	mu.Lock()
	check := seen["/v1/models"]
	mu.Unlock()
	for _, h := range []string{"OpenAI-Organization", "OpenAI-Project"} {
		if v, ok := check[h]; ok {
			t.Errorf("key check sent %s: %q", h, v)
		}
	}
	if _, err := c.DeleteProjectKey(ctx, "proj_storefront", sim.LeakedKeyID()); err != nil {
		t.Fatal(err)
	}
	if st, err := c.CheckKey(ctx, sim.LeakedKeySecret()); err != nil || !st.Dead() {
		t.Fatalf("CheckKey after revoke = %v, %v; want 401 invalid_api_key", st, err)
	}
}

func TestIsKeyID(t *testing.T) {
	for s, want := range map[string]bool{
		"key_abc123": true, "key_storefront_backend": true, "key_": false, "key": false,
		"sk-proj-abc": false, "key_ab c": false, "KEY_abc": false, "": false,
	} {
		if got := openai.IsKeyID(s); got != want {
			t.Errorf("IsKeyID(%q) = %v, want %v", s, got, want)
		}
	}
}
