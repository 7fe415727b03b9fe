package reviewusage

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/steps/openai/openaitest"
)

func TestAnalyseFlagsJumpsNewModelsAndOffHours(t *testing.T) {
	t.Parallel()
	base := &period{requests: 100, costUSD: 10, costKnown: true, byModel: map[string]int64{"gpt-4o-mini": 100},
		byHour: map[int]int64{9: 50, 14: 50}}
	win := &period{requests: 1000, costUSD: 200, costKnown: true, byModel: map[string]int64{"gpt-4o-mini": 400, "o3": 600},
		byHour: map[int]int64{9: 400, 3: 600}}
	rep := analyse(3, 24*time.Hour, win, base)
	if diff := cmp.Diff([]string{"o3"}, rep.newModels); diff != "" {
		t.Errorf("new models (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3}, rep.offHours); diff != "" {
		t.Errorf("off hours (-want +got):\n%s", diff)
	}
	want := []string{"requests per hour 10.0× the baseline", "cost 20.0× the baseline", "models never used in the baseline: o3", "quiet in the baseline: 03h"}
	all := strings.Join(rep.flags, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("flags lack %q:\n%s", w, all)
		}
	}
	if quiet := analyse(3, 24*time.Hour, base, base); len(quiet.flags) != 0 {
		t.Errorf("identical periods flagged: %v", quiet.flags)
	}
}

func TestWindowStartsAtTheEarliestKnownExposure(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		r      Review
		start  time.Time
		source string
	}{
		{"input earlier than any copy", Review{ExposureStart: "2026-11-20T08:30:00Z", FirstSeen: []string{"2026-11-21T00:00:00Z"}},
			time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC), "exposure_start input"},
		{"a copy earlier than the input", Review{ExposureStart: "2026-11-20T08:30:00Z", FirstSeen: []string{"2026-11-01T00:00:00Z"}},
			time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "earliest copy found by the search steps"},
		{"a copy found an hour ago does not shrink the window", Review{FirstSeen: []string{"2026-11-26T11:00:00Z"}, KeyCreatedAt: "2026-11-10T09:00:00Z"},
			time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC), "key creation time"},
		{"earliest first-seen", Review{FirstSeen: []string{"", "2026-11-24T10:15:00Z", "2026-11-23T16:20:00Z", "<no value>"}},
			time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC), "earliest copy found by the search steps"},
		{"key creation, capped", Review{KeyCreatedAt: "2025-01-01T00:00:00Z"},
			now.Add(-720 * time.Hour), "key creation time, capped to the last 720h0m0s"},
	}
	for _, tt := range tests {
		start, end, source, err := tt.r.window(now)
		if err != nil || !start.Equal(tt.start) || !end.Equal(now) || source != tt.source {
			t.Errorf("%s: %v %v %q %v", tt.name, start, end, source, err)
		}
	}
	// Nothing dates the exposure: the longest window, said so.
	if start, _, source, err := (&Review{}).window(now); err != nil || !start.Equal(now.Add(-720*time.Hour)) || !strings.HasPrefix(source, "no known exposure start") {
		t.Errorf("no start: %v %q %v", start, source, err)
	}
}

func TestReviewOfTheSimulatedLeakFlagsTheSpike(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 5)
	start, _ := w.Sim.ExposureWindow()
	out, err := (&Review{Project: "proj_storefront", KeyID: w.Sim.LeakedKeyID(), ExposureStart: start.Format(time.RFC3339)}).Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["flagged"] != true || len(out["new_models"].([]string)) == 0 || len(out["off_hours"].([]int)) == 0 {
		t.Errorf("outputs %v", out)
	}
	if !strings.Contains(out["table"].(string), "(new)") {
		t.Errorf("table:\n%s", out["table"])
	}
}

// The review reads every usage endpoint of the document, not just the model ones.
func TestReviewReadsEveryUsageEndpoint(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 6)
	start, _ := w.Sim.ExposureWindow()
	out, err := (&Review{Project: "proj_storefront", KeyID: w.Sim.LeakedKeyID(), ExposureStart: start.Format(time.RFC3339)}).Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range openai.UsageEndpoints {
		if n := w.Sim.RequestCount(openaisim.RouteUsagePrefix + e.Kind); n == 0 {
			t.Errorf("%s usage was not read", e.Kind)
		}
	}
	// The leaked key used completions, embeddings and moderations; the attacker added images.
	want := []string{openai.KindCompletions, openai.KindEmbeddings, openai.KindImages, openai.KindModerations}
	if diff := cmp.Diff(want, out["kinds"]); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if table := out["table"].(string); !strings.Contains(table, "vector_stores (whole project)") {
		t.Errorf("table lacks the project-wide vector store usage:\n%s", table)
	}
}
