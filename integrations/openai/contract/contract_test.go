package contract_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/contract"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

func TestDocumentIsTheSharedCopy(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256(contract.Document())
	if got := hex.EncodeToString(sum[:]); got != contract.DocumentSHA256 {
		t.Fatalf("testdata/openapi.json sha256 %s, want %s (the document must stay a byte-for-byte copy)", got, contract.DocumentSHA256)
	}
	// The shared specs sit beside the checkout (CI copies them there too); compare when present.
	shared := filepath.Join("..", "..", "..", "..", "shared", "specs", "openai-admin-openapi.json")
	b, err := os.ReadFile(shared)
	if err != nil {
		t.Skipf("no shared specs beside the checkout (%v): only the checksum was checked", err)
	}
	if !bytes.Equal(b, contract.Document()) {
		t.Errorf("testdata/openapi.json differs from %s", shared)
	}
}

func exchange(t *testing.T, method, path, reqBody string, status int, respBody string) contract.Exchange {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(reqBody))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	req.Header = h.Clone()
	return contract.Exchange{Request: req, RequestBody: []byte(reqBody), Status: status, Header: h, ResponseBody: []byte(respBody)}
}

// The check catches what it must: each case is a real way the simulator or the integration
// could drift from the document.
func TestViolationsAreFound(t *testing.T) {
	t.Parallel()
	v, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	sa := `{"object":"organization.project.service_account","id":"svc_acct_1","name":"n","role":"member","created_at":1}`
	tests := []struct {
		name      string
		ex        contract.Exchange
		wantKinds []string // sorted
		wantField string
	}{
		{"valid service account update",
			exchange(t, "POST", "/v1/organization/projects/p/service_accounts/s", `{"role":"member"}`, 200, sa), nil, ""},
		{"role the document does not allow",
			exchange(t, "POST", "/v1/organization/projects/p/service_accounts/s", `{"role":"none"}`, 200, sa),
			[]string{contract.KindRequestSchema}, ""},
		{"request field the document does not name",
			exchange(t, "POST", "/v1/organization/projects/p/service_accounts/s", `{"role":"member","scopes":["x"]}`, 200, sa),
			[]string{contract.KindRequestField}, ".scopes"},
		{"refused bad request is not the integration's fault",
			exchange(t, "POST", "/v1/organization/projects/p/service_accounts/s", `{"role":"none"}`, 400,
				`{"error":{"message":"bad role","type":"invalid_request_error","param":"role","code":"invalid_value"}}`), nil, ""},
		{"response missing a required field",
			exchange(t, "GET", "/v1/organization/projects/p/service_accounts/s", "", 200,
				`{"object":"organization.project.service_account","id":"svc_acct_1","name":"n","created_at":1}`),
			[]string{contract.KindResponseSchema}, ""},
		{"response field the document does not name",
			exchange(t, "GET", "/v1/organization/projects/p/service_accounts/s", "", 200,
				`{"object":"organization.project.service_account","id":"svc_acct_1","name":"n","role":"member","created_at":1,"scopes":[]}`),
			[]string{contract.KindResponseField}, ".scopes"},
		{"spend limit as documented",
			exchange(t, "GET", "/v1/organization/projects/p/spend_limit", "", 200,
				`{"object":"project.spend_limit","threshold_amount":100,"currency":"USD","interval":"month","enforcement":{"status":"inactive"}}`),
			nil, ""},
		{"error answer without the envelope",
			exchange(t, "GET", "/v1/organization/projects/p/service_accounts/s", "", 404, `{"message":"not found"}`),
			[]string{contract.KindErrorEnvelope}, ""},
		{"error answer with a null code",
			exchange(t, "GET", "/v1/models", "", 401,
				`{"error":{"message":"You have insufficient permissions","type":"invalid_request_error","param":null,"code":null}}`),
			nil, ""},
		{"path the document lacks",
			exchange(t, "GET", "/v1/organization/projects/p/secrets", "", 200, `{}`),
			[]string{contract.KindNoOperation}, ""},
		{"usage result of the wrong shape",
			exchange(t, "GET", "/v1/organization/usage/embeddings?start_time=1", "", 200,
				`{"object":"page","has_more":false,"next_page":null,"data":[{"object":"bucket","start_time":0,"end_time":1,"results":[{"object":"organization.usage.embeddings.result","num_model_requests":1}]}]}`),
			[]string{contract.KindResponseSchema}, ""},
		{"bracketed array parameters are the SDK's encoding",
			exchange(t, "GET", "/v1/organization/usage/embeddings?start_time=1&group_by%5B%5D=api_key_id&group_by%5B%5D=model", "", 200,
				`{"object":"page","has_more":false,"next_page":null,"data":[]}`),
			nil, ""},
		{"group_by value the document does not list",
			exchange(t, "GET", "/v1/organization/usage/vector_stores?start_time=1&group_by%5B%5D=api_key_id", "", 200,
				`{"object":"page","has_more":false,"next_page":null,"data":[]}`),
			[]string{contract.KindRequestSchema}, ""},
	}
	for _, tt := range tests {
		got := v.Check(t.Context(), tt.ex)
		var kinds []string
		field := ""
		for _, vi := range got {
			kinds = append(kinds, vi.Kind)
			if vi.Field != "" {
				field = vi.Field
			}
		}
		sort.Strings(kinds)
		if diff := cmp.Diff(tt.wantKinds, kinds); diff != "" || field != tt.wantField {
			t.Errorf("%s: violations %v (kinds -want +got %s; field %q, want %q)", tt.name, got, diff, field, tt.wantField)
		}
	}
}

// Every divergence on the allow-list is one the integration and the simulator really meet (so
// the list cannot grow stale), and each is excused only where it is named.
func TestEveryDivergenceIsExercised(t *testing.T) {
	t.Parallel()
	v, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	var checked []*contract.Checked
	ctx := t.Context()
	for _, opts := range []openaisim.Options{{Seed: 1}, {Seed: 2, UnsetSpendLimitAnswers200: true}} {
		sim := openaisim.New(openaisim.DefaultWorld(), opts)
		h := contract.Wrap(v, sim)
		checked = append(checked, h)
		srv := httptest.NewServer(h)
		c, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", MaxRetries: 0})
		if err != nil {
			t.Fatal(err)
		}
		const project = "proj_storefront"
		if _, err := c.ListProjectKeys(ctx, project); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetProjectKey(ctx, project, sim.LeakedKeyID()); err != nil {
			t.Fatal(err)
		}
		sa, err := c.CreateServiceAccount(ctx, project, "contract")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateServiceAccountKey(ctx, project, sa.ID, "k", []string{openai.ScopeModelRead}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetSpendLimit(ctx, project); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetOrgSpendLimit(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Usage(ctx, openai.UsageQuery{Start: sim.HistoryEnd().Add(-48 * time.Hour), GroupBy: []string{openai.GroupAPIKeyID}}); err != nil {
			t.Fatal(err)
		}
		// The one SDK-only operation, sent as the SDK sends it.
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/organization/projects/"+project+"/api_keys/key_storefront_ci",
			strings.NewReader(`{"expires_in_seconds":3600}`))
		req.Header.Set("Authorization", "Bearer "+sim.AdminKey())
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.Client().Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("update key: %v %v", res, err)
		}
		res.Body.Close()
		srv.Close()
	}
	for _, h := range checked {
		for _, vi := range h.Violations() {
			t.Errorf("violation: %v", vi)
		}
	}
	used := v.Used()
	for _, d := range contract.Divergences {
		if d.Kind == contract.KindRewritten {
			continue // a rewrite, not an excuse: see TestViolationsAreFound
		}
		if used[d.Name] == 0 {
			t.Errorf("divergence %q was never met: drop it, or exercise it here", d.Name)
		}
	}
}
