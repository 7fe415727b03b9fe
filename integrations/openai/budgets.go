package openai

import (
	"context"
	"errors"
	"fmt"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
)

// SpendLimit is a project's monthly hard spend limit.
type SpendLimit struct {
	ProjectID string
	Cents     int64
	Currency  string // USD
	Interval  string // month
	// EnforcementStatus is EnforcementInactive or EnforcementEnforcing as the API reported it
	// (another value is passed through unchanged).
	EnforcementStatus string
}

// Values of SpendLimit.EnforcementStatus (document schema SpendLimitEnforcementStatus): the
// document describes the field as "whether the hard spend limit is currently enforcing", i.e.
// whether the project's spend has reached the limit and requests are being refused.
const (
	EnforcementInactive  = "inactive"
	EnforcementEnforcing = "enforcing"
)

// SpendAlert is a project's monthly spend alert, notified by email.
type SpendAlert struct {
	ID            string
	ProjectID     string
	Cents         int64
	Currency      string
	Interval      string
	Recipients    []string
	SubjectPrefix string
}

// SpendAlertSpec describes an alert to create.
type SpendAlertSpec struct {
	Cents         int64
	Recipients    []string
	SubjectPrefix string
}

// RateLimit is a project's rate limit for one model. Fields the model does not use are 0.
type RateLimit struct {
	ID                          string
	ProjectID                   string
	Model                       string
	MaxRequestsPer1Minute       int64
	MaxTokensPer1Minute         int64
	MaxImagesPer1Minute         int64
	MaxAudioMegabytesPer1Minute int64
	MaxRequestsPer1Day          int64
	Batch1DayMaxInputTokens     int64
}

// RateLimitUpdate changes the non-nil fields only.
type RateLimitUpdate struct {
	MaxRequestsPer1Minute       *int64
	MaxTokensPer1Minute         *int64
	MaxImagesPer1Minute         *int64
	MaxAudioMegabytesPer1Minute *int64
	MaxRequestsPer1Day          *int64
	Batch1DayMaxInputTokens     *int64
}

// GetSpendLimit returns the project's hard spend limit, or nil, nil when none is set. The API
// says "no limit" in one of two ways, both handled: 404, or 200 with no threshold_amount (the
// document marks it required but does not say what an unset limit answers; see the README,
// "Verified against").
func (c *Client) GetSpendLimit(ctx context.Context, projectID string) (*SpendLimit, error) {
	l, err := c.sdk.Admin.Organization.Projects.SpendLimit.Get(ctx, projectID)
	if err != nil {
		err = wrap(fmt.Sprintf("get spend limit of project %s", projectID), err, false)
		if IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if !l.JSON.ThresholdAmount.Valid() || l.ThresholdAmount <= 0 {
		return nil, nil
	}
	out := spendLimitFromSDK(projectID, *l)
	return &out, nil
}

func spendLimitFromSDK(projectID string, l sdk.ProjectSpendLimit) SpendLimit {
	return SpendLimit{ProjectID: projectID, Cents: l.ThresholdAmount, Currency: string(l.Currency),
		Interval: string(l.Interval), EnforcementStatus: l.Enforcement.Status}
}

// SetSpendLimit creates or replaces the project's monthly hard limit (USD cents). Replacing is
// idempotent, so SDK retries are kept.
func (c *Client) SetSpendLimit(ctx context.Context, projectID string, cents int64) (SpendLimit, error) {
	op := fmt.Sprintf("set spend limit of project %s to %d cents", projectID, cents)
	if cents <= 0 {
		return SpendLimit{}, fmt.Errorf("%s: limit must be positive", op)
	}
	l, err := c.sdk.Admin.Organization.Projects.SpendLimit.Update(ctx, projectID, sdk.AdminOrganizationProjectSpendLimitUpdateParams{
		Currency:        sdk.AdminOrganizationProjectSpendLimitUpdateParamsCurrencyUsd,
		Interval:        sdk.AdminOrganizationProjectSpendLimitUpdateParamsIntervalMonth,
		ThresholdAmount: cents,
	})
	if err != nil {
		return SpendLimit{}, wrap(op, err, true)
	}
	return spendLimitFromSDK(projectID, *l), nil
}

// DeleteSpendLimit removes the project's hard limit; no limit counts as done (404, or 200 that
// deleted nothing), so a rollback can be repeated.
func (c *Client) DeleteSpendLimit(ctx context.Context, projectID string) error {
	_, err := c.sdk.Admin.Organization.Projects.SpendLimit.Delete(ctx, projectID)
	err = wrap(fmt.Sprintf("delete spend limit of project %s", projectID), err, true)
	if IsNotFound(err) {
		return nil
	}
	return err
}

func alertFromSDK(projectID string, a sdk.ProjectSpendAlert) SpendAlert {
	return SpendAlert{ID: a.ID, ProjectID: projectID, Cents: a.ThresholdAmount, Currency: string(a.Currency),
		Interval: string(a.Interval), Recipients: a.NotificationChannel.Recipients, SubjectPrefix: a.NotificationChannel.SubjectPrefix}
}

// ListSpendAlerts returns every spend alert of the project, all pages.
func (c *Client) ListSpendAlerts(ctx context.Context, projectID string) ([]SpendAlert, error) {
	var out []SpendAlert
	it := c.sdk.Admin.Organization.Projects.SpendAlerts.ListAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectSpendAlertListParams{Limit: sdk.Int(c.pageSize)})
	for it.Next() {
		out = append(out, alertFromSDK(projectID, it.Current()))
	}
	if err := it.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("list spend alerts of project %s", projectID), err, false)
	}
	return out, nil
}

// CreateSpendAlert adds a monthly USD alert emailed to Recipients. Sent once, never retried.
func (c *Client) CreateSpendAlert(ctx context.Context, projectID string, a SpendAlertSpec) (SpendAlert, error) {
	op := fmt.Sprintf("create spend alert at %d cents in project %s", a.Cents, projectID)
	if a.Cents <= 0 || len(a.Recipients) == 0 {
		return SpendAlert{}, fmt.Errorf("%s: need a positive amount and at least one recipient", op)
	}
	nc := sdk.AdminOrganizationProjectSpendAlertNewParamsNotificationChannel{Recipients: append([]string(nil), a.Recipients...)}
	if a.SubjectPrefix != "" {
		nc.SubjectPrefix = sdk.String(a.SubjectPrefix)
	}
	res, err := c.sdk.Admin.Organization.Projects.SpendAlerts.New(ctx, projectID, sdk.AdminOrganizationProjectSpendAlertNewParams{
		Currency:            sdk.AdminOrganizationProjectSpendAlertNewParamsCurrencyUsd,
		Interval:            sdk.AdminOrganizationProjectSpendAlertNewParamsIntervalMonth,
		ThresholdAmount:     a.Cents,
		NotificationChannel: nc,
	}, noRetry)
	if err != nil {
		return SpendAlert{}, wrap(op, err, true)
	}
	return alertFromSDK(projectID, *res), nil
}

// DeleteSpendAlert removes an alert; an alert already gone (404) counts as done.
func (c *Client) DeleteSpendAlert(ctx context.Context, projectID, alertID string) error {
	if alertID == "" {
		return errors.New("delete spend alert: empty alert ID")
	}
	_, err := c.sdk.Admin.Organization.Projects.SpendAlerts.Delete(ctx, projectID, alertID)
	err = wrap(fmt.Sprintf("delete spend alert %s of project %s", alertID, projectID), err, true)
	if IsNotFound(err) {
		return nil
	}
	return err
}

func rateLimitFromSDK(projectID string, r sdk.ProjectRateLimit) RateLimit {
	return RateLimit{ID: r.ID, ProjectID: projectID, Model: r.Model,
		MaxRequestsPer1Minute: r.MaxRequestsPer1Minute, MaxTokensPer1Minute: r.MaxTokensPer1Minute,
		MaxImagesPer1Minute: r.MaxImagesPer1Minute, MaxAudioMegabytesPer1Minute: r.MaxAudioMegabytesPer1Minute,
		MaxRequestsPer1Day: r.MaxRequestsPer1Day, Batch1DayMaxInputTokens: r.Batch1DayMaxInputTokens}
}

// ListRateLimits returns the project's per-model rate limits, all pages.
func (c *Client) ListRateLimits(ctx context.Context, projectID string) ([]RateLimit, error) {
	var out []RateLimit
	it := c.sdk.Admin.Organization.Projects.RateLimits.ListRateLimitsAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectRateLimitListRateLimitsParams{Limit: sdk.Int(c.pageSize)})
	for it.Next() {
		out = append(out, rateLimitFromSDK(projectID, it.Current()))
	}
	if err := it.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("list rate limits of project %s", projectID), err, false)
	}
	return out, nil
}

func optInt(p *int64) param.Opt[int64] {
	if p == nil {
		return param.Opt[int64]{}
	}
	return sdk.Int(*p)
}

// UpdateRateLimit sets the non-nil fields of u on one rate limit (IDs come from
// ListRateLimits). Setting a value is idempotent, so SDK retries are kept.
func (c *Client) UpdateRateLimit(ctx context.Context, projectID, rateLimitID string, u RateLimitUpdate) (RateLimit, error) {
	op := fmt.Sprintf("update rate limit %s of project %s", rateLimitID, projectID)
	if u == (RateLimitUpdate{}) {
		return RateLimit{}, fmt.Errorf("%s: nothing to change", op)
	}
	r, err := c.sdk.Admin.Organization.Projects.RateLimits.UpdateRateLimit(ctx, projectID, rateLimitID,
		sdk.AdminOrganizationProjectRateLimitUpdateRateLimitParams{
			MaxRequestsPer1Minute:       optInt(u.MaxRequestsPer1Minute),
			MaxTokensPer1Minute:         optInt(u.MaxTokensPer1Minute),
			MaxImagesPer1Minute:         optInt(u.MaxImagesPer1Minute),
			MaxAudioMegabytesPer1Minute: optInt(u.MaxAudioMegabytesPer1Minute),
			MaxRequestsPer1Day:          optInt(u.MaxRequestsPer1Day),
			Batch1DayMaxInputTokens:     optInt(u.Batch1DayMaxInputTokens),
		})
	if err != nil {
		return RateLimit{}, wrap(op, err, true)
	}
	return rateLimitFromSDK(projectID, *r), nil
}
