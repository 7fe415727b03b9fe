package openai

import (
	"context"
	"errors"
	"fmt"

	sdk "github.com/openai/openai-go/v3"
)

// ListAllProjects returns every project, archived ones included (include_archived=true), all
// pages: a key left behind in an archived project still appears in its key listing.
func (c *Client) ListAllProjects(ctx context.Context) ([]Project, error) {
	var out []Project
	it := c.sdk.Admin.Organization.Projects.ListAutoPaging(ctx, sdk.AdminOrganizationProjectListParams{
		Limit: sdk.Int(c.pageSize), IncludeArchived: sdk.Bool(true)})
	for it.Next() {
		out = append(out, projectFromSDK(it.Current()))
	}
	if err := it.Err(); err != nil {
		return nil, wrap("list projects (archived included)", err, false)
	}
	return out, nil
}

// ListServiceAccounts returns every service account of a project, all pages.
func (c *Client) ListServiceAccounts(ctx context.Context, projectID string) ([]ServiceAccount, error) {
	var out []ServiceAccount
	it := c.sdk.Admin.Organization.Projects.ServiceAccounts.ListAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectServiceAccountListParams{Limit: sdk.Int(c.pageSize)})
	for it.Next() {
		out = append(out, saFromSDK(projectID, it.Current()))
	}
	if err := it.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("list service accounts of project %s", projectID), err, false)
	}
	return out, nil
}

// GetOrgSpendLimit returns the organization's monthly hard spend limit (ProjectID empty), or
// nil, nil when none is set. As for projects, the document does not say how "no limit" is
// answered: 404 and 200 without threshold_amount both mean none.
func (c *Client) GetOrgSpendLimit(ctx context.Context) (*SpendLimit, error) {
	l, err := c.sdk.Admin.Organization.SpendLimit.Get(ctx)
	if err != nil {
		err = wrap("get the organization spend limit", err, false)
		if IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if !l.JSON.ThresholdAmount.Valid() || l.ThresholdAmount <= 0 {
		return nil, nil
	}
	return &SpendLimit{Cents: l.ThresholdAmount, Currency: string(l.Currency), Interval: string(l.Interval),
		EnforcementStatus: l.Enforcement.Status}, nil
}

func orgAlertFromSDK(a sdk.OrganizationSpendAlert) SpendAlert {
	return SpendAlert{ID: a.ID, Cents: a.ThresholdAmount, Currency: string(a.Currency), Interval: string(a.Interval),
		Recipients: a.NotificationChannel.Recipients, SubjectPrefix: a.NotificationChannel.SubjectPrefix}
}

// ListOrgSpendAlerts returns the organization-level spend alerts (ProjectID empty), all pages.
func (c *Client) ListOrgSpendAlerts(ctx context.Context) ([]SpendAlert, error) {
	var out []SpendAlert
	it := c.sdk.Admin.Organization.SpendAlerts.ListAutoPaging(ctx, sdk.AdminOrganizationSpendAlertListParams{Limit: sdk.Int(c.pageSize)})
	for it.Next() {
		out = append(out, orgAlertFromSDK(it.Current()))
	}
	if err := it.Err(); err != nil {
		return nil, wrap("list organization spend alerts", err, false)
	}
	return out, nil
}

// CreateOrgSpendAlert adds a monthly USD organization alert emailed to Recipients. Sent once,
// never retried (see the package doc).
func (c *Client) CreateOrgSpendAlert(ctx context.Context, a SpendAlertSpec) (SpendAlert, error) {
	op := fmt.Sprintf("create organization spend alert at %d cents", a.Cents)
	if a.Cents <= 0 || len(a.Recipients) == 0 {
		return SpendAlert{}, fmt.Errorf("%s: need a positive amount and at least one recipient", op)
	}
	nc := sdk.AdminOrganizationSpendAlertNewParamsNotificationChannel{Recipients: append([]string(nil), a.Recipients...)}
	if a.SubjectPrefix != "" {
		nc.SubjectPrefix = sdk.String(a.SubjectPrefix)
	}
	res, err := c.sdk.Admin.Organization.SpendAlerts.New(ctx, sdk.AdminOrganizationSpendAlertNewParams{
		Currency:            sdk.AdminOrganizationSpendAlertNewParamsCurrencyUsd,
		Interval:            sdk.AdminOrganizationSpendAlertNewParamsIntervalMonth,
		ThresholdAmount:     a.Cents,
		NotificationChannel: nc,
	}, noRetry)
	if err != nil {
		return SpendAlert{}, wrap(op, err, true)
	}
	return orgAlertFromSDK(*res), nil
}

// DeleteOrgSpendAlert removes an organization alert; one already gone (404) counts as done.
func (c *Client) DeleteOrgSpendAlert(ctx context.Context, alertID string) error {
	if alertID == "" {
		return errors.New("delete organization spend alert: empty alert ID")
	}
	_, err := c.sdk.Admin.Organization.SpendAlerts.Delete(ctx, alertID)
	err = wrap(fmt.Sprintf("delete organization spend alert %s", alertID), err, true)
	if IsNotFound(err) {
		return nil
	}
	return err
}
