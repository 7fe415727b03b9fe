// Package orgspendalerts is the `openai.org-spend-alerts` step: organization-level spend alerts,
// the net over every project, so finance and security hear about a spike wherever it is. It
// records the alerts it creates, so `respond rollback RUN --step ID` deletes exactly those.
package orgspendalerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// Alerts' parameters: one alert per amount, each emailed to every recipient.
type Alerts struct {
	Cents         []int64  `yaml:"cents"`
	Recipients    []string `yaml:"recipients"`
	SubjectPrefix string   `yaml:"subject_prefix"`

	client orgAlertAPI
	// recorded is the alert list journaled by an interrupted earlier attempt: the true "before".
	recorded []string
}

type orgAlertAPI interface {
	ListOrgSpendAlerts(ctx context.Context) ([]openai.SpendAlert, error)
	CreateOrgSpendAlert(ctx context.Context, a openai.SpendAlertSpec) (openai.SpendAlert, error)
	DeleteOrgSpendAlert(ctx context.Context, alertID string) error
}

var _ orgAlertAPI = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.org-spend-alerts",
	New:     func() steps.Step { return &Alerts{} },
	Outputs: Outputs{},
	Summary: "add organization-level spend alerts (email), recording the ones created for rollback",
	Traits: steps.Traits{Needs: []steps.Permission{steps.OpenAISpendRead, steps.OpenAISpendWrite},
		Effects: []steps.Effect{steps.AddsOrgSpendAlerts}},
}

// Outputs are the step's results; Rollback deletes CreatedAlertIDs.
type Outputs struct {
	CreatedAlertIDs  []string `json:"created_alert_ids"`
	ExistingAlertIDs []string `json:"existing_alert_ids"`
}

// Validate checks the parameters.
func (a *Alerts) Validate() error {
	var errs []error
	if len(a.Cents) == 0 {
		errs = append(errs, errors.New("cents is required: one alert per amount, e.g. [50000, 80000, 100000] for $500, $800, $1000"))
	}
	for _, c := range a.Cents {
		if c <= 0 {
			errs = append(errs, fmt.Errorf("cents: %d is not a positive amount", c))
		}
	}
	if len(a.Recipients) == 0 {
		errs = append(errs, errors.New("recipients is required: the API can only email alerts"))
	}
	for _, r := range a.Recipients {
		if !strings.Contains(r, "@") {
			errs = append(errs, fmt.Errorf("recipients: %q is not an email address", r))
		}
	}
	return errors.Join(errs...)
}

// Preflight checks the admin key can list projects.
func (a *Alerts) Preflight(ctx context.Context, env *steps.Env) error {
	return openaikit.Preflight(ctx, env)
}

func (a *Alerts) api(env *steps.Env) (orgAlertAPI, error) {
	if a.client != nil {
		return a.client, nil
	}
	return openaikit.Client(env)
}

// missing returns the existing alerts' IDs and the amounts that have no alert yet.
func (a *Alerts) missing(ctx context.Context, c orgAlertAPI) (existing []string, todo []int64, err error) {
	cur, err := c.ListOrgSpendAlerts(ctx)
	if err != nil {
		return nil, nil, openaikit.Classify(err)
	}
	existing = []string{}
	for _, al := range cur {
		existing = append(existing, al.ID)
	}
	for _, cents := range a.Cents {
		if !slices.ContainsFunc(cur, func(al openai.SpendAlert) bool { return al.Cents == cents }) && !slices.Contains(todo, cents) {
			todo = append(todo, cents)
		}
	}
	return existing, todo, nil
}

// Plan reads the current alerts and shows each one to create.
func (a *Alerts) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	c, err := a.api(env)
	if err != nil {
		return nil, err
	}
	existing, todo, err := a.missing(ctx, c)
	if err != nil {
		return nil, err
	}
	p := &steps.Plan{Summary: fmt.Sprintf("add %d organization spend alert(s) (%d exist)", len(todo), len(existing)),
		Outputs: steps.Outputs{"created_alert_ids": []string{}, "existing_alert_ids": existing}}
	for _, cents := range todo {
		p.Actions = append(p.Actions, steps.Action{Method: "POST", Target: "/v1/organization/spend_alerts",
			Params: map[string]any{"threshold_amount": cents, "recipients": a.Recipients}})
	}
	return p, nil
}

// Run records the existing alerts, then creates the missing ones; an alert an interrupted
// attempt already made is not made twice (amounts that exist are skipped).
func (a *Alerts) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	c, err := a.api(env)
	if err != nil {
		return nil, err
	}
	existing, todo, err := a.missing(ctx, c)
	if err != nil {
		return nil, err
	}
	if a.recorded != nil {
		existing = a.recorded
	}
	if err := env.Intent(intentName, map[string]any{"existing_alert_ids": existing}); err != nil {
		return nil, err
	}
	for _, cents := range todo {
		if _, err := c.CreateOrgSpendAlert(ctx, openai.SpendAlertSpec{Cents: cents, Recipients: a.Recipients, SubjectPrefix: a.SubjectPrefix}); err != nil {
			return nil, openaikit.Classify(err)
		}
		env.Logf("organization spend alert at $%.2f to %s", float64(cents)/100, strings.Join(a.Recipients, ", "))
	}
	// Created alerts are those not there before, including any an interrupted attempt made.
	now, err := c.ListOrgSpendAlerts(ctx)
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	created := []string{}
	for _, al := range now {
		if !slices.Contains(existing, al.ID) {
			created = append(created, al.ID)
		}
	}
	return steps.Outputs{"created_alert_ids": created, "existing_alert_ids": existing}, nil
}

const intentName = "create organization spend alerts"

// Reconcile recovers the alert list recorded before an interrupted attempt; the step then runs
// again, skipping amounts that exist and counting what the interrupted attempt made as created.
func (a *Alerts) Reconcile(_ context.Context, _ *steps.Env, intents []steps.Intent) (steps.Outputs, bool, error) {
	for _, in := range intents {
		if in.Name != intentName {
			continue
		}
		b, err := json.Marshal(in.Data["existing_alert_ids"])
		if err != nil {
			return nil, false, err
		}
		var ids []string
		if err := json.Unmarshal(b, &ids); err != nil {
			return nil, false, fmt.Errorf("read the recorded alerts: %w", err)
		}
		a.recorded = append([]string{}, ids...)
	}
	return nil, false, nil
}

// Rollback deletes the alerts the step created; one already gone counts as done.
func (a *Alerts) Rollback(ctx context.Context, env *steps.Env, out steps.Outputs) error {
	var rec struct {
		Created []string `json:"created_alert_ids"`
	}
	b, _ := json.Marshal(out)
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("the journal does not hold this step's created alerts: %w", err)
	}
	c, err := a.api(env)
	if err != nil {
		return err
	}
	for _, id := range rec.Created {
		if err := c.DeleteOrgSpendAlert(ctx, id); err != nil {
			return openaikit.Classify(err)
		}
		env.Logf("organization spend alert %s deleted", id)
	}
	return nil
}
