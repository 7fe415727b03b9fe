package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
)

// Group-by fields accepted by Usage and Costs.
const (
	GroupProjectID = "project_id"
	GroupAPIKeyID  = "api_key_id"
	GroupModel     = "model"     // usage only
	GroupUserID    = "user_id"   // usage only
	GroupLineItem  = "line_item" // costs only
)

// UsageQuery selects usage buckets.
type UsageQuery struct {
	// Kinds to read (see UsageEndpoints). Empty means every kind that can answer the query:
	// all of them, or, when the query filters or groups by key, user or model, the per-key ones.
	Kinds []string
	// Start (inclusive) is required; End (exclusive) defaults to now.
	Start, End time.Time
	// Bucket is "1m", "1h" or "1d" (default "1d").
	Bucket string
	// GroupBy fields (GroupProjectID, GroupAPIKeyID, GroupModel, GroupUserID).
	GroupBy []string
	// Filters; empty means all.
	APIKeyIDs, ProjectIDs, Models []string
	// BucketsPerPage overrides the page size (default: the API maximum for Bucket, so the
	// fewest requests); next_page is followed either way.
	BucketsPerPage int
}

// perKey reports whether the query needs the key/user/model dimensions that project-level
// usage endpoints do not have.
func (q UsageQuery) perKey() bool {
	if len(q.APIKeyIDs) > 0 || len(q.Models) > 0 {
		return true
	}
	return slices.ContainsFunc(q.GroupBy, func(g string) bool { return g != GroupProjectID })
}

// UsageRow is one (bucket, group) result. Fields not grouped by are empty; counters a kind does
// not report are 0.
type UsageRow struct {
	Kind         string
	Start, End   time.Time
	APIKeyID     string
	ProjectID    string
	Model        string
	UserID       string
	Requests     int64 // model requests; file search calls; code interpreter sessions
	InputTokens  int64 // completions, embeddings, moderations
	OutputTokens int64 // completions only
	Images       int64 // images only
	// Units counts what the kind measures besides requests and tokens, named by UnitName:
	// characters (audio speeches), seconds (audio transcriptions), bytes (vector stores),
	// calls (web and file search).
	Units int64
}

// Active reports whether the row shows any use.
func (r UsageRow) Active() bool {
	return r.Requests > 0 || r.InputTokens > 0 || r.OutputTokens > 0 || r.Images > 0 || r.Units > 0
}

// CostQuery selects daily cost buckets.
type CostQuery struct {
	Start, End time.Time // End defaults to now
	// GroupBy fields (GroupProjectID, GroupAPIKeyID, GroupLineItem).
	GroupBy               []string
	ProjectIDs, APIKeyIDs []string
	BucketsPerPage        int // default 180 (API maximum)
}

// CostRow is one (day, group) cost.
type CostRow struct {
	Start, End   time.Time
	ProjectID    string
	APIKeyID     string
	LineItem     string
	AmountUSD    float64
	Currency     string  // as reported, lowercase ("usd")
	Quantity     float64 // with GroupLineItem only
	QuantityUnit string
}

var maxBuckets = map[string]int64{"1m": 1440, "1h": 168, "1d": 31}

// Usage reads usage for each kind, following next_page, and returns one row per (bucket,
// group) that has results, in API order (bucket, then group) per kind.
func (c *Client) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	if q.Start.IsZero() {
		return nil, fmt.Errorf("usage: start time is required")
	}
	if q.Bucket == "" {
		q.Bucket = "1d"
	}
	perPage, ok := maxBuckets[q.Bucket]
	if !ok {
		return nil, fmt.Errorf("usage: bucket %q is not 1m, 1h or 1d", q.Bucket)
	}
	if q.BucketsPerPage > 0 {
		perPage = int64(q.BucketsPerPage)
	}
	kinds := q.Kinds
	if len(kinds) == 0 {
		for _, e := range UsageEndpoints {
			if (e.PerKey || !q.perKey()) && (e.ByModel || len(q.Models) == 0) {
				kinds = append(kinds, e.Kind)
			}
		}
	}
	p := usageParams{start: q.Start.Unix(), limit: sdk.Int(perPage), bucket: q.Bucket, groupBy: q.GroupBy,
		keys: q.APIKeyIDs, projects: q.ProjectIDs, models: q.Models}
	if !q.End.IsZero() {
		p.end = sdk.Int(q.End.Unix())
	}
	var rows []UsageRow
	for _, kind := range kinds {
		e, ok := usageEndpoint(kind)
		if !ok {
			return nil, fmt.Errorf("usage: unknown kind %q", kind)
		}
		if !e.PerKey && q.perKey() {
			return nil, fmt.Errorf("usage: %s is reported per project only: it cannot be filtered or grouped by key, user or model", kind)
		}
		if !e.ByModel && len(q.Models) > 0 {
			return nil, fmt.Errorf("usage: %s has no model dimension: it cannot be filtered by model", kind)
		}
		op := fmt.Sprintf("read %s usage from %s", kind, q.Start.UTC().Format(time.RFC3339))
		p.page = param.Opt[string]{}
		for {
			raw, err := c.usagePage(ctx, kind, p)
			if err != nil {
				return nil, wrap(op, err, false)
			}
			var page usagePageJSON
			if err := json.Unmarshal([]byte(raw), &page); err != nil {
				return nil, fmt.Errorf("%s: decode the answer: %w", op, err)
			}
			for _, b := range page.Data {
				for _, r := range b.Results {
					rows = append(rows, r.row(kind, b.StartTime, b.EndTime))
				}
			}
			if !page.HasMore || page.NextPage == "" || (p.page.Valid() && p.page.Value == page.NextPage) {
				break
			}
			p.page = sdk.String(page.NextPage)
		}
	}
	return rows, nil
}

// usagePageJSON is the shape every usage endpoint answers (document schema UsageResponse). The
// SDK has one response type per endpoint with identical fields, so the wrapper decodes each
// answer's raw JSON once into this common form rather than keeping ten copies of the loop.
type usagePageJSON struct {
	Data []struct {
		StartTime int64             `json:"start_time"`
		EndTime   int64             `json:"end_time"`
		Results   []usageResultJSON `json:"results"`
	} `json:"data"`
	HasMore  bool   `json:"has_more"`
	NextPage string `json:"next_page"`
}

type usageResultJSON struct {
	ProjectID        string `json:"project_id"`
	APIKeyID         string `json:"api_key_id"`
	Model            string `json:"model"`
	UserID           string `json:"user_id"`
	NumModelRequests int64  `json:"num_model_requests"`
	NumRequests      int64  `json:"num_requests"`
	NumSessions      int64  `json:"num_sessions"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	Images           int64  `json:"images"`
	Characters       int64  `json:"characters"`
	Seconds          int64  `json:"seconds"`
	UsageBytes       int64  `json:"usage_bytes"`
}

func (r usageResultJSON) row(kind string, start, end int64) UsageRow {
	out := UsageRow{Kind: kind, Start: unixTime(start), End: unixTime(end), APIKeyID: r.APIKeyID, ProjectID: r.ProjectID,
		Model: r.Model, UserID: r.UserID, Requests: r.NumModelRequests, InputTokens: r.InputTokens,
		OutputTokens: r.OutputTokens, Images: r.Images}
	switch kind {
	case KindAudioSpeeches:
		out.Units = r.Characters
	case KindAudioTranscriptions:
		out.Units = r.Seconds
	case KindVectorStores:
		out.Units = r.UsageBytes
	case KindWebSearchCalls:
		out.Units = r.NumRequests
	case KindFileSearchCalls:
		out.Requests, out.Units = r.NumRequests, r.NumRequests
	case KindCodeInterpreterSessions:
		out.Requests = r.NumSessions
	}
	return out
}

// usageParams are the query parameters the usage endpoints share.
type usageParams struct {
	start                  int64
	end                    param.Opt[int64]
	limit                  param.Opt[int64]
	page                   param.Opt[string]
	bucket                 string
	groupBy                []string
	keys, projects, models []string
}

// usagePage fetches one page of one kind and returns its raw JSON.
func (c *Client) usagePage(ctx context.Context, kind string, p usageParams) (string, error) {
	u := c.sdk.Admin.Organization.Usage
	type rawer interface{ RawJSON() string }
	var (
		res rawer
		err error
	)
	switch kind {
	case KindCompletions:
		res, err = u.Completions(ctx, sdk.AdminOrganizationUsageCompletionsParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageCompletionsParamsBucketWidth(p.bucket), GroupBy: p.groupBy,
			APIKeyIDs: p.keys, ProjectIDs: p.projects, Models: p.models})
	case KindEmbeddings:
		res, err = u.Embeddings(ctx, sdk.AdminOrganizationUsageEmbeddingsParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageEmbeddingsParamsBucketWidth(p.bucket), GroupBy: p.groupBy,
			APIKeyIDs: p.keys, ProjectIDs: p.projects, Models: p.models})
	case KindImages:
		res, err = u.Images(ctx, sdk.AdminOrganizationUsageImagesParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageImagesParamsBucketWidth(p.bucket), GroupBy: p.groupBy,
			APIKeyIDs: p.keys, ProjectIDs: p.projects, Models: p.models})
	case KindModerations:
		res, err = u.Moderations(ctx, sdk.AdminOrganizationUsageModerationsParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageModerationsParamsBucketWidth(p.bucket), GroupBy: p.groupBy,
			APIKeyIDs: p.keys, ProjectIDs: p.projects, Models: p.models})
	case KindAudioSpeeches:
		res, err = u.AudioSpeeches(ctx, sdk.AdminOrganizationUsageAudioSpeechesParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageAudioSpeechesParamsBucketWidth(p.bucket), GroupBy: p.groupBy,
			APIKeyIDs: p.keys, ProjectIDs: p.projects, Models: p.models})
	case KindAudioTranscriptions:
		res, err = u.AudioTranscriptions(ctx, sdk.AdminOrganizationUsageAudioTranscriptionsParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageAudioTranscriptionsParamsBucketWidth(p.bucket), GroupBy: p.groupBy,
			APIKeyIDs: p.keys, ProjectIDs: p.projects, Models: p.models})
	case KindWebSearchCalls:
		res, err = u.WebSearchCalls(ctx, sdk.AdminOrganizationUsageWebSearchCallsParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageWebSearchCallsParamsBucketWidth(p.bucket), GroupBy: p.groupBy,
			APIKeyIDs: p.keys, ProjectIDs: p.projects, Models: p.models})
	case KindFileSearchCalls:
		// File search calls have no model dimension (the document lists no models filter).
		res, err = u.FileSearchCalls(ctx, sdk.AdminOrganizationUsageFileSearchCallsParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageFileSearchCallsParamsBucketWidth(p.bucket), GroupBy: withoutModel(p.groupBy),
			APIKeyIDs: p.keys, ProjectIDs: p.projects})
	case KindVectorStores:
		res, err = u.VectorStores(ctx, sdk.AdminOrganizationUsageVectorStoresParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageVectorStoresParamsBucketWidth(p.bucket), GroupBy: p.groupBy, ProjectIDs: p.projects})
	case KindCodeInterpreterSessions:
		res, err = u.CodeInterpreterSessions(ctx, sdk.AdminOrganizationUsageCodeInterpreterSessionsParams{StartTime: p.start, EndTime: p.end, Limit: p.limit, Page: p.page,
			BucketWidth: sdk.AdminOrganizationUsageCodeInterpreterSessionsParamsBucketWidth(p.bucket), GroupBy: p.groupBy, ProjectIDs: p.projects})
	default:
		return "", fmt.Errorf("usage: unknown kind %q", kind)
	}
	if err != nil {
		return "", err
	}
	return res.RawJSON(), nil
}

func withoutModel(groupBy []string) []string {
	return slices.DeleteFunc(slices.Clone(groupBy), func(g string) bool { return g == GroupModel })
}

// Costs reads daily costs, following next_page.
func (c *Client) Costs(ctx context.Context, q CostQuery) ([]CostRow, error) {
	if q.Start.IsZero() {
		return nil, fmt.Errorf("costs: start time is required")
	}
	if slices.Contains(q.GroupBy, GroupModel) {
		return nil, fmt.Errorf("costs: cannot group by model (use %q)", GroupLineItem)
	}
	perPage := int64(180)
	if q.BucketsPerPage > 0 {
		perPage = int64(q.BucketsPerPage)
	}
	p := sdk.AdminOrganizationUsageCostsParams{
		StartTime: q.Start.Unix(), Limit: sdk.Int(perPage), BucketWidth: sdk.AdminOrganizationUsageCostsParamsBucketWidth1d,
		GroupBy: q.GroupBy, ProjectIDs: q.ProjectIDs, APIKeyIDs: q.APIKeyIDs,
	}
	if !q.End.IsZero() {
		p.EndTime = sdk.Int(q.End.Unix())
	}
	op := fmt.Sprintf("read costs from %s", q.Start.UTC().Format(time.RFC3339))
	var rows []CostRow
	for {
		res, err := c.sdk.Admin.Organization.Usage.Costs(ctx, p)
		if err != nil {
			return nil, wrap(op, err, false)
		}
		for _, b := range res.Data {
			for _, r := range b.Results {
				rows = append(rows, CostRow{Start: unixTime(b.StartTime), End: unixTime(b.EndTime),
					ProjectID: r.ProjectID, APIKeyID: r.APIKeyID, LineItem: r.LineItem,
					AmountUSD: r.Amount.Value, Currency: r.Amount.Currency, Quantity: r.Quantity, QuantityUnit: string(r.QuantityUnit)})
			}
		}
		if !res.HasMore || res.NextPage == "" || (p.Page.Valid() && p.Page.Value == res.NextPage) {
			return rows, nil
		}
		p.Page = sdk.String(res.NextPage)
	}
}
