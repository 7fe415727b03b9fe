package openai

import (
	"context"
	"fmt"
	"slices"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
)

// Usage kinds (the usage endpoints the review step reads).
const (
	KindCompletions = "completions"
	KindEmbeddings  = "embeddings"
	KindImages      = "images"
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
	// Kinds to read; empty means completions, embeddings and images.
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

// UsageRow is one (bucket, group) result. Fields not grouped by are empty.
type UsageRow struct {
	Kind         string
	Start, End   time.Time
	APIKeyID     string
	ProjectID    string
	Model        string
	UserID       string
	Requests     int64
	InputTokens  int64
	OutputTokens int64 // completions only
	Images       int64 // images only
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
		kinds = []string{KindCompletions, KindEmbeddings, KindImages}
	}
	start := q.Start.Unix()
	var end param.Opt[int64]
	if !q.End.IsZero() {
		end = sdk.Int(q.End.Unix())
	}
	var rows []UsageRow
	for _, kind := range kinds {
		op := fmt.Sprintf("read %s usage from %s", kind, q.Start.UTC().Format(time.RFC3339))
		var page param.Opt[string]
		for {
			var (
				got     []UsageRow
				hasMore bool
				next    string
				err     error
			)
			switch kind {
			case KindCompletions:
				got, hasMore, next, err = c.completions(ctx, sdk.AdminOrganizationUsageCompletionsParams{
					StartTime: start, EndTime: end, Limit: sdk.Int(perPage), Page: page,
					BucketWidth: sdk.AdminOrganizationUsageCompletionsParamsBucketWidth(q.Bucket),
					GroupBy:     q.GroupBy, APIKeyIDs: q.APIKeyIDs, ProjectIDs: q.ProjectIDs, Models: q.Models,
				})
			case KindEmbeddings:
				got, hasMore, next, err = c.embeddings(ctx, sdk.AdminOrganizationUsageEmbeddingsParams{
					StartTime: start, EndTime: end, Limit: sdk.Int(perPage), Page: page,
					BucketWidth: sdk.AdminOrganizationUsageEmbeddingsParamsBucketWidth(q.Bucket),
					GroupBy:     q.GroupBy, APIKeyIDs: q.APIKeyIDs, ProjectIDs: q.ProjectIDs, Models: q.Models,
				})
			case KindImages:
				got, hasMore, next, err = c.images(ctx, sdk.AdminOrganizationUsageImagesParams{
					StartTime: start, EndTime: end, Limit: sdk.Int(perPage), Page: page,
					BucketWidth: sdk.AdminOrganizationUsageImagesParamsBucketWidth(q.Bucket),
					GroupBy:     q.GroupBy, APIKeyIDs: q.APIKeyIDs, ProjectIDs: q.ProjectIDs, Models: q.Models,
				})
			default:
				return nil, fmt.Errorf("usage: unknown kind %q", kind)
			}
			if err != nil {
				return nil, wrap(op, err, false)
			}
			rows = append(rows, got...)
			if !hasMore || next == "" || (page.Valid() && page.Value == next) {
				break
			}
			page = sdk.String(next)
		}
	}
	return rows, nil
}

func (c *Client) completions(ctx context.Context, p sdk.AdminOrganizationUsageCompletionsParams) ([]UsageRow, bool, string, error) {
	res, err := c.sdk.Admin.Organization.Usage.Completions(ctx, p)
	if err != nil {
		return nil, false, "", err
	}
	var rows []UsageRow
	for _, b := range res.Data {
		for _, r := range b.Results {
			rows = append(rows, UsageRow{Kind: KindCompletions, Start: unixTime(b.StartTime), End: unixTime(b.EndTime),
				APIKeyID: r.APIKeyID, ProjectID: r.ProjectID, Model: r.Model, UserID: r.UserID,
				Requests: r.NumModelRequests, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens})
		}
	}
	return rows, res.HasMore, res.NextPage, nil
}

func (c *Client) embeddings(ctx context.Context, p sdk.AdminOrganizationUsageEmbeddingsParams) ([]UsageRow, bool, string, error) {
	res, err := c.sdk.Admin.Organization.Usage.Embeddings(ctx, p)
	if err != nil {
		return nil, false, "", err
	}
	var rows []UsageRow
	for _, b := range res.Data {
		for _, r := range b.Results {
			rows = append(rows, UsageRow{Kind: KindEmbeddings, Start: unixTime(b.StartTime), End: unixTime(b.EndTime),
				APIKeyID: r.APIKeyID, ProjectID: r.ProjectID, Model: r.Model, UserID: r.UserID,
				Requests: r.NumModelRequests, InputTokens: r.InputTokens})
		}
	}
	return rows, res.HasMore, res.NextPage, nil
}

func (c *Client) images(ctx context.Context, p sdk.AdminOrganizationUsageImagesParams) ([]UsageRow, bool, string, error) {
	res, err := c.sdk.Admin.Organization.Usage.Images(ctx, p)
	if err != nil {
		return nil, false, "", err
	}
	var rows []UsageRow
	for _, b := range res.Data {
		for _, r := range b.Results {
			rows = append(rows, UsageRow{Kind: KindImages, Start: unixTime(b.StartTime), End: unixTime(b.EndTime),
				APIKeyID: r.APIKeyID, ProjectID: r.ProjectID, Model: r.Model, UserID: r.UserID,
				Requests: r.NumModelRequests, Images: r.Images})
		}
	}
	return rows, res.HasMore, res.NextPage, nil
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
