package openai_test

import (
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

type totals struct{ Requests, In, Out, Images int64 }

func sumRows(rows []openai.UsageRow, keep func(openai.UsageRow) bool) totals {
	var t totals
	for _, r := range rows {
		if keep == nil || keep(r) {
			t.Requests += r.Requests
			t.In += r.InputTokens
			t.Out += r.OutputTokens
			t.Images += r.Images
		}
	}
	return t
}

func TestUsageGroupingAndPaging(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	ctx := t.Context()
	end := e.sim.HistoryEnd()
	exposureStart, _ := e.sim.ExposureWindow()
	leaked := e.sim.LeakedKeyID()

	// The review step's query: exposure window and an equal baseline before it, 1h buckets,
	// grouped by key and model; paged 5 buckets at a time.
	start := exposureStart.Add(-3 * 24 * time.Hour)
	hourly, err := e.client.Usage(ctx, openai.UsageQuery{
		Start: start, End: end, Bucket: "1h", GroupBy: []string{openai.GroupAPIKeyID, openai.GroupModel}, BucketsPerPage: 5,
	})
	if err != nil {
		t.Fatalf("Usage 1h: %v", err)
	}
	wantPages := int(math.Ceil(6 * 24 / 5.0))
	for _, route := range []string{openaisim.RouteUsageCompletions, openaisim.RouteUsageEmbeddings, openaisim.RouteUsageImages} {
		if n := e.sim.RequestCount(route); n != wantPages {
			t.Errorf("%s: %d requests, want %d pages", route, n, wantPages)
		}
	}
	seen := map[[2]string]bool{}
	for _, r := range hourly {
		if r.APIKeyID == "" || r.Model == "" || r.ProjectID != "" {
			t.Fatalf("row %+v: want api_key_id and model grouped, project_id not", r)
		}
		if r.End.Sub(r.Start) != time.Hour || r.Start.Before(start) || !r.Start.Before(end) {
			t.Fatalf("row %+v outside the hourly range", r)
		}
		if k := [2]string{r.Start.String(), r.APIKeyID + "/" + r.Model}; seen[k] {
			t.Fatalf("duplicate row for %v (paging repeated a bucket)", k)
		} else {
			seen[k] = true
		}
	}

	// The leak shows: a model the key never used before, at night, and far more requests.
	baseline := sumRows(hourly, func(r openai.UsageRow) bool { return r.APIKeyID == leaked && r.Start.Before(exposureStart) })
	exposure := sumRows(hourly, func(r openai.UsageRow) bool { return r.APIKeyID == leaked && !r.Start.Before(exposureStart) })
	if exposure.Requests < 3*baseline.Requests || baseline.Requests == 0 {
		t.Errorf("leaked key requests: baseline %d, exposure %d; want a spike of 3x or more", baseline.Requests, exposure.Requests)
	}
	modelsBefore, modelsDuring := map[string]bool{}, map[string]bool{}
	nightRequests := int64(0)
	for _, r := range hourly {
		if r.APIKeyID != leaked {
			continue
		}
		if r.Start.Before(exposureStart) {
			modelsBefore[r.Model] = true
		} else {
			modelsDuring[r.Model] = true
			if r.Start.Hour() < 6 {
				nightRequests += r.Requests
			}
		}
	}
	if !modelsDuring["o3"] || modelsBefore["o3"] || !modelsDuring["gpt-image-1"] {
		t.Errorf("models before %v, during %v: want o3 and gpt-image-1 new during the exposure", modelsBefore, modelsDuring)
	}
	if nightRequests == 0 {
		t.Error("no night-time requests from the leaked key during the exposure")
	}
	if imgs := sumRows(hourly, func(r openai.UsageRow) bool { return r.Kind == openai.KindImages }); imgs.Images == 0 {
		t.Error("no image usage reported")
	}

	// Every granularity agrees: 1d over the same (day-aligned) range, and 1m over two hours.
	dayStart := start.Truncate(24 * time.Hour)
	daily, err := e.client.Usage(ctx, openai.UsageQuery{Start: dayStart, End: end, Bucket: "1d", APIKeyIDs: []string{leaked}, BucketsPerPage: 2})
	if err != nil {
		t.Fatalf("Usage 1d: %v", err)
	}
	hourlyFromDay, err := e.client.Usage(ctx, openai.UsageQuery{Start: dayStart, End: end, Bucket: "1h", GroupBy: []string{openai.GroupAPIKeyID}})
	if err != nil {
		t.Fatalf("Usage 1h from day start: %v", err)
	}
	if got, want := sumRows(daily, nil), sumRows(hourlyFromDay, func(r openai.UsageRow) bool { return r.APIKeyID == leaked }); got != want {
		t.Errorf("1d total %+v != 1h total %+v for the leaked key", got, want)
	}
	for _, r := range daily {
		if r.APIKeyID != "" || r.Model != "" {
			t.Errorf("ungrouped row %+v has group fields set", r)
		}
	}
	twoHours := exposureStart.Add(2 * time.Hour)
	minutes, err := e.client.Usage(ctx, openai.UsageQuery{Start: exposureStart, End: twoHours, Bucket: "1m", APIKeyIDs: []string{leaked}, BucketsPerPage: 50})
	if err != nil {
		t.Fatalf("Usage 1m: %v", err)
	}
	hours, err := e.client.Usage(ctx, openai.UsageQuery{Start: exposureStart, End: twoHours, Bucket: "1h", APIKeyIDs: []string{leaked}})
	if err != nil {
		t.Fatalf("Usage 1h (2 hours): %v", err)
	}
	if got, want := sumRows(minutes, nil), sumRows(hours, nil); got != want || got.Requests == 0 {
		t.Errorf("1m total %+v != 1h total %+v (or zero)", got, want)
	}

	// Filters and project grouping.
	byProject, err := e.client.Usage(ctx, openai.UsageQuery{Kinds: []string{openai.KindCompletions}, Start: start, End: end,
		GroupBy: []string{openai.GroupProjectID}, ProjectIDs: []string{"proj_analytics"}, Models: []string{"gpt-4.1"}})
	if err != nil {
		t.Fatalf("Usage by project: %v", err)
	}
	if len(byProject) == 0 {
		t.Fatal("no analytics gpt-4.1 usage")
	}
	for _, r := range byProject {
		if r.ProjectID != "proj_analytics" || r.Kind != openai.KindCompletions {
			t.Errorf("row %+v: filter not applied", r)
		}
	}
}

func TestUsageRejectsBadQueries(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	tests := []struct {
		name string
		q    openai.UsageQuery
	}{
		{"no start", openai.UsageQuery{}},
		{"bad bucket", openai.UsageQuery{Start: epoch.Add(-time.Hour), Bucket: "1w"}},
		{"page too large for 1d (API 400)", openai.UsageQuery{Start: epoch.Add(-time.Hour), BucketsPerPage: 32}},
		{"unsupported group (API 400)", openai.UsageQuery{Start: epoch.Add(-time.Hour), GroupBy: []string{"batch"}}},
		{"project-only kind by key", openai.UsageQuery{Kinds: []string{openai.KindVectorStores}, Start: epoch.Add(-time.Hour),
			APIKeyIDs: []string{"key_storefront_backend"}}},
		{"file search by model", openai.UsageQuery{Kinds: []string{openai.KindFileSearchCalls}, Start: epoch.Add(-time.Hour),
			Models: []string{"gpt-4o"}}},
		{"unknown kind", openai.UsageQuery{Kinds: []string{"decisions"}, Start: epoch.Add(-time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := e.client.Usage(t.Context(), tt.q); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestCostsMatchUsage(t *testing.T) {
	t.Parallel()
	e := setup(t, openaisim.DefaultWorld())
	ctx := t.Context()
	end := e.sim.HistoryEnd()
	start := end.Truncate(24*time.Hour).AddDate(0, 0, -10)
	leaked := e.sim.LeakedKeyID()

	rows, err := e.client.Costs(ctx, openai.CostQuery{Start: start, End: end, GroupBy: []string{openai.GroupAPIKeyID, openai.GroupLineItem},
		APIKeyIDs: []string{leaked}, BucketsPerPage: 3})
	if err != nil {
		t.Fatalf("Costs: %v", err)
	}
	if n := e.sim.RequestCount(openaisim.RouteCosts); n != 4 {
		t.Errorf("costs requests = %d, want 4 pages of 3 days for 11 buckets", n)
	}
	usage, err := e.client.Usage(ctx, openai.UsageQuery{Start: start, End: end, Bucket: "1d", GroupBy: []string{openai.GroupModel},
		APIKeyIDs: []string{leaked}})
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	prices := map[string]openaisim.Model{}
	for _, m := range openaisim.DefaultModels() {
		prices[m.Name] = m
	}
	var wantUSD float64
	wantQty := map[string]float64{}
	for _, r := range usage {
		p := prices[r.Model]
		wantUSD += float64(r.InputTokens)*p.InputPerMillion/1e6 + float64(r.OutputTokens)*p.OutputPerMillion/1e6 + float64(r.Images)*p.PerImage
		wantQty[r.Model+", input_tokens"] += float64(r.InputTokens)
		wantQty[r.Model+", output_tokens"] += float64(r.OutputTokens)
		wantQty[r.Model+", images"] += float64(r.Images)
	}
	var gotUSD float64
	gotQty := map[string]float64{}
	for _, r := range rows {
		if r.APIKeyID != leaked || r.LineItem == "" || r.Currency != "usd" || r.End.Sub(r.Start) != 24*time.Hour {
			t.Fatalf("cost row %+v: want grouped by key and line item, daily, usd", r)
		}
		gotUSD += r.AmountUSD
		gotQty[r.LineItem] += r.Quantity
	}
	for k, v := range wantQty {
		if v == 0 {
			delete(wantQty, k)
		}
	}
	if math.Abs(gotUSD-wantUSD) > 0.01 || gotUSD == 0 {
		t.Errorf("cost %.4f USD, usage priced at %.4f USD", gotUSD, wantUSD)
	}
	if diff := cmp.Diff(wantQty, gotQty); diff != "" {
		t.Errorf("line item quantities (-from usage +from costs):\n%s", diff)
	}

	byProject, err := e.client.Costs(ctx, openai.CostQuery{Start: start, End: end, GroupBy: []string{openai.GroupProjectID}})
	if err != nil {
		t.Fatalf("Costs by project: %v", err)
	}
	var projects []string
	for _, r := range byProject {
		if !slices.Contains(projects, r.ProjectID) {
			projects = append(projects, r.ProjectID)
		}
	}
	slices.Sort(projects)
	if diff := cmp.Diff([]string{"proj_analytics", "proj_internal_tools", "proj_storefront"}, projects); diff != "" {
		t.Errorf("projects with costs (-want +got):\n%s", diff)
	}
	if _, err := e.client.Costs(ctx, openai.CostQuery{Start: start, GroupBy: []string{openai.GroupModel}}); err == nil {
		t.Error("Costs grouped by model: want an error")
	}
}

// Every usage endpoint of the document is read, each with its own counters; per-key queries
// leave out the endpoints that are reported per project only.
func TestUsageCoversEveryEndpoint(t *testing.T) {
	t.Parallel()
	w := openaisim.DefaultWorld()
	w.Projects[0].Keys[0].Usage = append(w.Projects[0].Keys[0].Usage,
		openaisim.UsageSpec{Model: "tts-1", RequestsPerDay: 48, InputTokens: 200},
		openaisim.UsageSpec{Model: "whisper-1", RequestsPerDay: 48, InputTokens: 30},
		openaisim.UsageSpec{Model: "web-search", RequestsPerDay: 48},
		openaisim.UsageSpec{Model: "file-search", RequestsPerDay: 48},
		openaisim.UsageSpec{Model: "code-interpreter", RequestsPerDay: 48})
	e := setup(t, w)
	ctx := t.Context()
	start := e.sim.HistoryEnd().Add(-3 * 24 * time.Hour)
	key := w.Projects[0].Keys[0].ID

	perKey, err := e.client.Usage(ctx, openai.UsageQuery{Start: start, APIKeyIDs: []string{key}, GroupBy: []string{openai.GroupAPIKeyID}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.client.Usage(ctx, openai.UsageQuery{Start: start, ProjectIDs: []string{"proj_storefront"}, GroupBy: []string{openai.GroupProjectID}})
	if err != nil {
		t.Fatal(err)
	}
	active := func(rows []openai.UsageRow) map[string]bool {
		out := map[string]bool{}
		for _, r := range rows {
			if r.Active() {
				out[r.Kind] = true
			}
		}
		return out
	}
	// The key is the world's leaked key: the attacker's images count too.
	wantKey := map[string]bool{openai.KindCompletions: true, openai.KindEmbeddings: true, openai.KindModerations: true,
		openai.KindAudioSpeeches: true, openai.KindAudioTranscriptions: true, openai.KindWebSearchCalls: true,
		openai.KindFileSearchCalls: true, openai.KindImages: true}
	if diff := cmp.Diff(wantKey, active(perKey)); diff != "" {
		t.Errorf("kinds the key used (-want +got):\n%s", diff)
	}
	// Per project, the key's code interpreter sessions and the search key's vector store
	// storage show too.
	wantProject := maps.Clone(wantKey)
	wantProject[openai.KindCodeInterpreterSessions], wantProject[openai.KindVectorStores] = true, true
	if diff := cmp.Diff(wantProject, active(all)); diff != "" {
		t.Errorf("kinds the project used (-want +got):\n%s", diff)
	}
	for _, r := range all {
		if r.Kind == openai.KindAudioSpeeches && r.Active() && r.Units == 0 {
			t.Errorf("audio speeches row without characters: %+v", r)
		}
	}
	for _, ep := range openai.UsageEndpoints {
		if n := e.sim.RequestCount(openaisim.RouteUsagePrefix + ep.Kind); n == 0 {
			t.Errorf("%s was never read", ep.Kind)
		}
	}
}
