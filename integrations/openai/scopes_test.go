package openai_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/contract"
)

func TestOnlyInvalidAPIKeyIsDead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		check      openai.KeyCheck
		dead, work bool
		text       string
	}{
		{openai.KeyCheck{Status: 401, Code: "invalid_api_key"}, true, false, "401 invalid_api_key"},
		{openai.KeyCheck{Status: 401, Code: "mismatched_organization"}, false, false, "401 mismatched_organization"},
		{openai.KeyCheck{Status: 401}, false, false, "401 (no error code)"},
		{openai.KeyCheck{Status: 403, Code: "invalid_api_key"}, false, false, "403 invalid_api_key"},
		{openai.KeyCheck{Status: 200}, false, true, "200"},
	}
	for _, tt := range tests {
		if tt.check.Dead() != tt.dead || tt.check.Works() != tt.work || tt.check.String() != tt.text {
			t.Errorf("%+v: Dead %v Works %v %q; want %v %v %q", tt.check, tt.check.Dead(), tt.check.Works(), tt.check.String(),
				tt.dead, tt.work, tt.text)
		}
	}
}

func TestScopesFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kinds []string
		want  []string
	}{
		{nil, []string{openai.ScopeModelRead}},
		{[]string{openai.KindEmbeddings, openai.KindModerations}, []string{openai.ScopeModelRead, openai.ScopeModelRequest}},
		{[]string{openai.KindCompletions, openai.KindFileSearchCalls},
			[]string{openai.ScopeModelRead, openai.ScopeModelRequest, openai.ScopeResponsesWrite, openai.ScopeVectorStoresRead}},
		{[]string{"decisions"}, []string{openai.ScopeModelRead}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, openai.ScopesFor(tt.kinds)); diff != "" {
			t.Errorf("ScopesFor(%v) (-want +got):\n%s", tt.kinds, diff)
		}
	}
}

// The endpoint→scope table lists exactly the document's usage endpoints, each once, each with
// scopes.
func TestUsageEndpointsAreTheDocuments(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(contract.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for p := range doc.Paths {
		if k, ok := strings.CutPrefix(p, "/organization/usage/"); ok {
			want = append(want, k)
		}
	}
	for _, e := range openai.UsageEndpoints {
		got = append(got, e.Kind)
		if len(e.Scopes) == 0 {
			t.Errorf("endpoint %q has no scopes", e.Kind)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage endpoints (-document +table):\n%s", diff)
	}
}
