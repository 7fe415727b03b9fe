package openaisim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/respond-sec/respond/integrations/openai/contract"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2025, 6, 18, 14, 30, 0, 0, time.UTC)

func newTest(t *testing.T, w World, seed uint64) (*Server, *httptest.Server) {
	t.Helper()
	s := New(w, Options{Seed: seed, Now: func() time.Time { return testNow }})
	// Every answer is checked against OpenAI's published document.
	srv := httptest.NewServer(contract.Handler(t, s))
	t.Cleanup(srv.Close)
	return s, srv
}

// call sends one request and returns status, headers and the decoded JSON body.
func call(t *testing.T, srv *httptest.Server, method, path, key string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return res.StatusCode, res.Header, out
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestDefaultWorldFileInSync(t *testing.T) {
	t.Parallel()
	repoCopy, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "openaisim", "world.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(repoCopy, DefaultWorldYAML()) {
		t.Error("testdata/openaisim/world.yaml differs from integrations/openai/openaisim/default_world.yaml; copy one over the other")
	}
	w, err := LoadWorld(filepath.Join("..", "..", "..", "testdata", "openaisim", "world.yaml"))
	if err != nil {
		t.Fatalf("LoadWorld: %v", err)
	}
	if diff := cmp.Diff(DefaultWorld(), w); diff != "" {
		t.Errorf("loaded world differs from the embedded one:\n%s", diff)
	}
}

func TestParseWorldErrors(t *testing.T) {
	t.Parallel()
	base := "projects:\n  - id: proj_a\n    name: A\n    service_accounts: [{id: svc_a, name: sa}]\n    keys:\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "projects: []\nflavour: x\n", "field flavour not found"},
		{"no projects", "history_days: 3\n", "no projects"},
		{"key with two owners", base + "      - {id: k1, user: {id: u1}, service_account: svc_a}\n", "exactly one of user and service_account"},
		{"unknown service account", base + "      - {id: k1, service_account: svc_b}\n", `service account "svc_b"`},
		{"unknown model", base + "      - {id: k1, user: {id: u1}, usage: [{model: gpt-9, requests_per_day: 1}]}\n", `unknown model "gpt-9"`},
		{"leaked key missing", "leaked_key: k9\n" + base + "      - {id: k1, user: {id: u1}}\n", `leaked_key "k9"`},
		{"duplicate id", base + "      - {id: proj_a, user: {id: u1}}\n", `id "proj_a" used by project and key`},
		{"bad hours", base + "      - {id: k1, user: {id: u1}, active_hours: [20, 8]}\n", "active_hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseWorld([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseWorld err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSyntheticWorlds(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 10, 50} {
		w := SyntheticWorld(n)
		if err := w.Validate(); err != nil {
			t.Fatalf("SyntheticWorld(%d): %v", n, err)
		}
		s := New(w, Options{Seed: 1, Now: func() time.Time { return testNow }})
		st := s.State()
		if len(st.Projects) != n || len(st.Keys) != 3*n || s.LeakedKeySecret() == "" {
			t.Errorf("SyntheticWorld(%d): %d projects, %d keys", n, len(st.Projects), len(st.Keys))
		}
	}
}

func TestSeedDeterminism(t *testing.T) {
	t.Parallel()
	a, srvA := newTest(t, DefaultWorld(), 5)
	b, srvB := newTest(t, DefaultWorld(), 5)
	c, _ := newTest(t, DefaultWorld(), 6)
	if !bytes.Equal(a.Snapshot(), b.Snapshot()) || a.AdminKey() != b.AdminKey() || a.LeakedKeySecret() != b.LeakedKeySecret() {
		t.Fatal("same seed, different worlds")
	}
	if a.LeakedKeySecret() == c.LeakedKeySecret() || a.AdminKey() == c.AdminKey() {
		t.Error("different seeds, same secrets")
	}
	// Run-time creations are reproducible too.
	body := map[string]any{"name": "r", "scopes": []string{"api.model.request"}, "expires_in_seconds": 3600}
	path := "/v1/organization/projects/proj_storefront/service_accounts/svc_acct_storefront_ci/api_keys"
	_, _, ka := call(t, srvA, "POST", path, a.AdminKey(), body)
	_, _, kb := call(t, srvB, "POST", path, b.AdminKey(), body)
	if diff := cmp.Diff(ka, kb); diff != "" {
		t.Errorf("created keys differ:\n%s", diff)
	}
	usage := fmt.Sprintf("/v1/organization/usage/completions?start_time=%d&bucket_width=1h&group_by[]=api_key_id&limit=48", testNow.Add(-48*time.Hour).Unix())
	_, _, ua := call(t, srvA, "GET", usage, a.AdminKey(), nil)
	_, _, ub := call(t, srvB, "GET", usage, b.AdminKey(), nil)
	if diff := cmp.Diff(ua, ub); diff != "" {
		t.Errorf("usage differs:\n%s", diff)
	}
	if !bytes.Equal(a.Snapshot(), b.Snapshot()) {
		t.Error("snapshots differ after the same operations")
	}
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	s, srv := newTest(t, DefaultWorld(), 1)
	admin := s.AdminKey()
	start := testNow.Add(-3 * 24 * time.Hour).Unix()
	listKeys := []string{"data", "first_id", "has_more", "last_id", "object"}
	errKeys := []string{"code", "message", "param", "type"}
	tests := []struct {
		name, method, path, key string
		wantStatus              int
		wantKeys                []string // top-level keys of a success body
		wantErrCode             any      // error.code of an error body
	}{
		{"projects list", "GET", "/v1/organization/projects?limit=1", admin, 200, listKeys, nil},
		{"keys list", "GET", "/v1/organization/projects/proj_storefront/api_keys", admin, 200, listKeys, nil},
		{"service accounts list", "GET", "/v1/organization/projects/proj_storefront/service_accounts", admin, 200, listKeys, nil},
		{"spend alerts list", "GET", "/v1/organization/projects/proj_analytics/spend_alerts", admin, 200, listKeys, nil},
		{"rate limits list", "GET", "/v1/organization/projects/proj_analytics/rate_limits", admin, 200, listKeys, nil},
		{"usage page", "GET", fmt.Sprintf("/v1/organization/usage/embeddings?start_time=%d", start), admin, 200, []string{"data", "has_more", "next_page", "object"}, nil},
		{"costs page", "GET", fmt.Sprintf("/v1/organization/costs?start_time=%d", start), admin, 200, []string{"data", "has_more", "next_page", "object"}, nil},
		{"models", "GET", "/v1/models", s.LeakedKeySecret(), 200, []string{"data", "object"}, nil},
		{"no auth", "GET", "/v1/organization/projects", "", 401, nil, nil},
		{"models no auth", "GET", "/v1/models", "", 401, nil, nil},
		{"admin key on models", "GET", "/v1/models", admin, 401, nil, "invalid_api_key"},
		{"unknown key", "GET", "/v1/organization/projects/proj_storefront/api_keys/key_nope", admin, 404, nil, "not_found"},
		{"unknown project", "GET", "/v1/organization/projects/proj_nope/api_keys", admin, 404, nil, "not_found"},
		{"no spend limit", "GET", "/v1/organization/projects/proj_storefront/spend_limit", admin, 404, nil, "not_found"},
		{"unknown route", "GET", "/v1/organization/nope", admin, 404, nil, nil},
		{"bad after cursor", "GET", "/v1/organization/projects?after=proj_nope", admin, 400, nil, "invalid_value"},
		{"limit too large", "GET", "/v1/organization/projects?limit=101", admin, 400, nil, "invalid_value"},
		{"usage limit above max", "GET", fmt.Sprintf("/v1/organization/usage/completions?start_time=%d&bucket_width=1h&limit=169", start), admin, 400, nil, "invalid_value"},
		{"usage bad page", "GET", fmt.Sprintf("/v1/organization/usage/completions?start_time=%d&page=pg_1", start), admin, 400, nil, "invalid_value"},
		{"costs hourly", "GET", fmt.Sprintf("/v1/organization/costs?start_time=%d&bucket_width=1h", start), admin, 400, nil, "invalid_value"},
		{"usage without start", "GET", "/v1/organization/usage/images", admin, 400, nil, "invalid_value"},
		{"sa only with expiry", "POST", "/v1/organization/projects/proj_storefront/service_accounts", admin, 400, nil, "invalid_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body any
			if tt.method == "POST" {
				body = map[string]any{"name": "x", "create_service_account_only": true, "expires_in_seconds": 60}
			}
			status, h, out := call(t, srv, tt.method, tt.path, tt.key, body)
			if status != tt.wantStatus || h.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d content-type %q, want %d application/json; body %v", status, h.Get("Content-Type"), tt.wantStatus, out)
			}
			if status < 400 {
				if diff := cmp.Diff(tt.wantKeys, keysOf(out)); diff != "" {
					t.Errorf("top-level keys (-want +got):\n%s", diff)
				}
				return
			}
			e, ok := out["error"].(map[string]any)
			if !ok {
				t.Fatalf("no error object in %v", out)
			}
			if diff := cmp.Diff(errKeys, keysOf(e)); diff != "" {
				t.Errorf("error keys (-want +got):\n%s", diff)
			}
			if e["code"] != tt.wantErrCode || e["message"] == "" {
				t.Errorf("error %v, want code %v and a message", e, tt.wantErrCode)
			}
			if msg, _ := e["message"].(string); tt.key != "" && strings.Contains(msg, tt.key) {
				t.Errorf("error message echoes the credential")
			}
		})
	}
}

func TestPagingEnvelope(t *testing.T) {
	t.Parallel()
	s, srv := newTest(t, DefaultWorld(), 1)
	var ids []string
	after := ""
	for range 10 {
		path := "/v1/organization/projects/proj_storefront/api_keys?owner_project_access=any&limit=3" + after
		_, _, out := call(t, srv, "GET", path, s.AdminKey(), nil)
		for _, d := range out["data"].([]any) {
			ids = append(ids, d.(map[string]any)["id"].(string))
		}
		if out["has_more"] != true {
			break
		}
		after = "&after=" + out["last_id"].(string)
	}
	want := []string{"key_storefront_backend", "key_storefront_search", "key_storefront_ci", "key_storefront_old"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("paged ids (-want +got):\n%s", diff)
	}
	_, _, out := call(t, srv, "GET", "/v1/organization/projects/proj_storefront/api_keys", s.AdminKey(), nil)
	if n := len(out["data"].([]any)); n != 3 {
		t.Errorf("default filter returned %d keys, want 3 (inactive owner hidden)", n)
	}
	_, _, out = call(t, srv, "GET", "/v1/organization/projects/proj_nope/spend_alerts", s.AdminKey(), nil)
	if out["error"] == nil {
		t.Error("unknown project: want an error")
	}
	_, _, out = call(t, srv, "GET", "/v1/organization/projects/proj_storefront/spend_alerts", s.AdminKey(), nil)
	if out["first_id"] != nil || out["last_id"] != nil || out["has_more"] != false {
		t.Errorf("empty list envelope = %v, want null ids and has_more false", out)
	}
}

func TestUsageBucketsAndPages(t *testing.T) {
	t.Parallel()
	s, srv := newTest(t, DefaultWorld(), 1)
	start := testNow.Add(-10 * 24 * time.Hour)
	// Default 1d limit is 7: the 11 buckets of 10.6 days come in two pages, aligned to midnight.
	path := fmt.Sprintf("/v1/organization/usage/completions?start_time=%d", start.Unix())
	_, _, out := call(t, srv, "GET", path, s.AdminKey(), nil)
	data := out["data"].([]any)
	first := data[0].(map[string]any)
	if len(data) != 7 || out["has_more"] != true || first["start_time"] != float64(start.Truncate(24*time.Hour).Unix()) {
		t.Fatalf("page 1: %d buckets, has_more %v, first %v", len(data), out["has_more"], first["start_time"])
	}
	_, _, out = call(t, srv, "GET", path+"&page="+out["next_page"].(string), s.AdminKey(), nil)
	if n := len(out["data"].([]any)); n != 4 || out["has_more"] != false || out["next_page"] != nil {
		t.Fatalf("page 2: %d buckets, has_more %v, next_page %v", n, out["has_more"], out["next_page"])
	}
}

func TestMinuteShareSumsToHour(t *testing.T) {
	t.Parallel()
	for _, tl := range []tally{{0, 0, 0, 0}, {1, 700, 300, 0}, {59, 12345, 999, 0}, {61, 7, 3, 61}, {1234, 987654, 123457, 0}} {
		var sum tally
		for m := range int64(60) {
			sum.add(minuteShare(tl, m, m+1))
		}
		if sum != tl {
			t.Errorf("minutes of %+v sum to %+v", tl, sum)
		}
		if got := minuteShare(tl, 0, 60); got != tl {
			t.Errorf("whole hour of %+v = %+v", tl, got)
		}
	}
}

func TestFaultDeterminismAndScope(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []int {
		s, srv := newTest(t, DefaultWorld(), 1)
		s.SetFaults(FaultConfig{Seed: seed, Rules: []FaultRule{
			{Route: RouteListProjects, TooManyRequests: 0.2, ServerError: 0.2, ApplyThenDrop: 1},
			{Route: "DELETE", ServerError: 1, MaxFaults: 1},
		}})
		var statuses []int
		for range 30 {
			st, _, _ := call(t, srv, "GET", "/v1/organization/projects", s.AdminKey(), nil)
			statuses = append(statuses, st)
		}
		for range 2 {
			st, _, _ := call(t, srv, "DELETE", "/v1/organization/projects/proj_storefront/api_keys/key_storefront_old", s.AdminKey(), nil)
			statuses = append(statuses, st)
		}
		if got := s.InjectedFaults(); got[1] != 1 {
			t.Errorf("DELETE rule injected %d faults, want 1 (MaxFaults)", got[1])
		}
		if n := s.RequestCount(RouteDeleteProjectKey); n != 2 {
			t.Errorf("delete count = %d", n)
		}
		log := s.RequestLog()
		if last := log[len(log)-1]; last.Route != RouteDeleteProjectKey || last.Status != 200 || last.Fault != "" {
			t.Errorf("last log record = %+v", last)
		}
		return statuses
	}
	a, b, c := run(9), run(9), run(10)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different outcomes:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("different seeds, same outcomes: %v", a)
	}
	if !slices.Contains(a, 429) || !slices.Contains(a, 500) || !slices.Contains(a, 200) {
		t.Errorf("outcomes %v: want a mix of 200, 429 and 500 (apply-then-drop never applies to reads)", a)
	}
	if a[30] != 500 || a[31] != 200 {
		t.Errorf("deletes = %v, want 500 then 200", a[30:])
	}
}

func TestApplyThenDropAppliesOnce(t *testing.T) {
	t.Parallel()
	s, srv := newTest(t, DefaultWorld(), 1)
	s.SetFaults(FaultConfig{Rules: []FaultRule{{Route: RouteDeleteProjectKey, ApplyThenDrop: 1}}})
	req, _ := http.NewRequestWithContext(t.Context(), "DELETE", srv.URL+"/v1/organization/projects/proj_storefront/api_keys/"+s.LeakedKeyID(), nil)
	req.Header.Set("Authorization", "Bearer "+s.AdminKey())
	if res, err := srv.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("want a dropped connection, got %s", res.Status)
	}
	if k, _ := s.Key(s.LeakedKeyID()); !k.Deleted {
		t.Error("apply-then-drop did not apply the delete")
	}
	if log := s.RequestLog(); log[0].Fault != "apply-then-drop" || log[0].Status != 0 {
		t.Errorf("log = %+v", log)
	}
}

// GET /v1/models answers as the real API does for a key check: only a dead key gets
// invalid_api_key; a live key sent with another organisation's or project's header, or without
// the scope or role to list models, gets another 401.
func TestModelsAuthAnswers(t *testing.T) {
	t.Parallel()
	s, srv := newTest(t, DefaultWorld(), 3)
	live := s.LeakedKeySecret()
	s.mu.Lock()
	sa := &serviceAccount{id: "svc_acct_norole", projectID: "proj_storefront", name: "no role", role: "none"}
	s.st.sas = append(s.st.sas, sa)
	noRole := s.mintKey(sa, "k", []string{"api.model.read"}, nil)
	s.mu.Unlock()
	tests := []struct {
		name     string
		key      string
		header   [2]string
		status   int
		wantCode any // nil for a JSON null code
	}{
		{"live", live, [2]string{}, 200, nil},
		{"live, another organisation", live, [2]string{"OpenAI-Organization", "org-other"}, 401, "mismatched_organization"},
		{"live, its own organisation", live, [2]string{"OpenAI-Organization", "org-rehearsal"}, 200, nil},
		{"live, another project", live, [2]string{"OpenAI-Project", "proj_analytics"}, 401, "mismatched_project"},
		{"service account with role none", noRole.Value, [2]string{}, 401, nil},
		{"unknown key", "sk-proj-" + fingerprint("x") + fingerprint("y"), [2]string{}, 401, "invalid_api_key"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+tt.key)
		if tt.header[0] != "" {
			req.Header.Set(tt.header[0], tt.header[1])
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d (%v)", tt.name, res.StatusCode, tt.status, body)
			continue
		}
		if tt.status != 200 {
			e, _ := body["error"].(map[string]any)
			if code, ok := e["code"]; !ok || code != tt.wantCode {
				t.Errorf("%s: error %v, want code %v", tt.name, e, tt.wantCode)
			}
		}
	}
}
