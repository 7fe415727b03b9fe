// Package tightenbudgets is the `openai.tighten-budgets` step: after a leak, cap what the project can
// spend and make sure someone hears about it. It records the project's spend limit, alerts and
// rate limits before changing them, so `respond rollback RUN --step ID` can put them back.
package tightenbudgets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// Tighten's parameters. Give spend_limit_cents, or derive to compute the limit from the
// project's recent spend.
type Tighten struct {
	Project         string            `yaml:"project"`
	SpendLimitCents int64             `yaml:"spend_limit_cents"`
	Derive          *Derive           `yaml:"derive"`
	Alerts          *Alerts           `yaml:"alerts"`
	RateLimits      []RateLimitChange `yaml:"rate_limits"`

	client budgetAPI
	// recorded is the state journaled by an interrupted earlier attempt: the true "before",
	// which the half-changed current state no longer shows.
	recorded *previous
}

// Derive computes a monthly limit: the project's spend over BaselineDays before BaselineEnd,
// scaled to 30 days, times Factor, rounded up to whole dollars, at least FloorCents.
type Derive struct {
	Factor       float64 `yaml:"factor"`
	FloorCents   int64   `yaml:"floor_cents"`
	BaselineDays int     `yaml:"baseline_days"`
	// BaselineEnd (RFC 3339) keeps the exposure window out of the baseline: pass the review
	// step's window_start. Default: now.
	BaselineEnd string `yaml:"baseline_end"`
}

// Alerts are spend alerts at percentages of the new limit, sent by email (the only channel the
// API offers).
type Alerts struct {
	Percents      []int    `yaml:"percents"`
	Recipients    []string `yaml:"recipients"`
	SubjectPrefix string   `yaml:"subject_prefix"`
}

// RateLimitChange lowers one model's limits: absolute values, or Factor × the current ones.
type RateLimitChange struct {
	Model                 string  `yaml:"model"`
	Factor                float64 `yaml:"factor"`
	MaxRequestsPer1Minute int64   `yaml:"max_requests_per_1_minute"`
	MaxTokensPer1Minute   int64   `yaml:"max_tokens_per_1_minute"`
	MaxRequestsPer1Day    int64   `yaml:"max_requests_per_1_day"`
}

type budgetAPI interface {
	GetSpendLimit(ctx context.Context, projectID string) (*openai.SpendLimit, error)
	SetSpendLimit(ctx context.Context, projectID string, cents int64) (openai.SpendLimit, error)
	DeleteSpendLimit(ctx context.Context, projectID string) error
	ListSpendAlerts(ctx context.Context, projectID string) ([]openai.SpendAlert, error)
	CreateSpendAlert(ctx context.Context, projectID string, a openai.SpendAlertSpec) (openai.SpendAlert, error)
	DeleteSpendAlert(ctx context.Context, projectID, alertID string) error
	ListRateLimits(ctx context.Context, projectID string) ([]openai.RateLimit, error)
	UpdateRateLimit(ctx context.Context, projectID, rateLimitID string, u openai.RateLimitUpdate) (openai.RateLimit, error)
	Costs(ctx context.Context, q openai.CostQuery) ([]openai.CostRow, error)
}

var _ budgetAPI = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.tighten-budgets",
	New:     func() steps.Step { return &Tighten{} },
	Outputs: Outputs{},
	Summary: "set a hard monthly spend limit, spend alerts and lower rate limits, recording the old values for rollback",
	Traits: steps.Traits{Needs: []steps.Permission{steps.OpenAICosts, steps.OpenAISpendRead, steps.OpenAISpendWrite},
		Effects: []steps.Effect{steps.TightensBudgets}},
}

// Outputs are the step's results; Previous is what Rollback restores.
type Outputs struct {
	Project           string   `json:"project"`
	SpendLimitCents   int64    `json:"spend_limit_cents"`
	Previous          previous `json:"previous"`
	CreatedAlertIDs   []string `json:"created_alert_ids"`
	RateLimitsChanged int      `json:"rate_limits_changed"`
	Enforcement       string   `json:"enforcement"`
}

// Validate checks the parameters.
func (t *Tighten) Validate() error {
	var errs []error
	if t.Project == "" {
		errs = append(errs, errors.New("project is required"))
	}
	switch {
	case t.SpendLimitCents < 0:
		errs = append(errs, errors.New("spend_limit_cents must be positive"))
	case t.SpendLimitCents > 0 && t.Derive != nil:
		errs = append(errs, errors.New("give spend_limit_cents or derive, not both"))
	case t.SpendLimitCents == 0 && t.Derive == nil:
		errs = append(errs, errors.New("give spend_limit_cents (e.g. 50000 for $500) or derive: {factor: 1.5, floor_cents: 10000}"))
	}
	if d := t.Derive; d != nil {
		if d.Factor <= 0 {
			errs = append(errs, errors.New("derive.factor must be above 0 (e.g. 1.5)"))
		}
		if d.BaselineDays < 0 || d.BaselineDays > 180 {
			errs = append(errs, errors.New("derive.baseline_days must be between 1 and 180"))
		}
	}
	if a := t.Alerts; a != nil {
		if len(a.Percents) == 0 {
			errs = append(errs, errors.New("alerts need percents, e.g. [50, 80, 100]"))
		}
		for _, p := range a.Percents {
			if p <= 0 || p > 1000 {
				errs = append(errs, fmt.Errorf("alerts.percents: %d is not between 1 and 1000", p))
			}
		}
		for _, r := range a.Recipients {
			if !strings.Contains(r, "@") {
				errs = append(errs, fmt.Errorf("alerts.recipients: %q is not an email address", r))
			}
		}
	}
	for i, rl := range t.RateLimits {
		if rl.Model == "" {
			errs = append(errs, fmt.Errorf("rate_limits[%d]: model is required", i))
		}
		abs := rl.MaxRequestsPer1Minute > 0 || rl.MaxTokensPer1Minute > 0 || rl.MaxRequestsPer1Day > 0
		if (rl.Factor > 0) == abs {
			errs = append(errs, fmt.Errorf("rate_limits[%d]: give factor (0 < factor < 1) or absolute limits, not both or neither", i))
		}
		if rl.Factor >= 1 {
			errs = append(errs, fmt.Errorf("rate_limits[%d]: factor %.2f would not lower anything", i, rl.Factor))
		}
	}
	return errors.Join(errs...)
}

// Preflight checks the admin key can list projects.
func (t *Tighten) Preflight(ctx context.Context, env *steps.Env) error {
	return openaikit.Preflight(ctx, env)
}

func (t *Tighten) api(env *steps.Env) (budgetAPI, error) {
	if t.client != nil {
		return t.client, nil
	}
	return openaikit.Client(env)
}

// previous is the state before the change, as recorded in the journal.
type previous struct {
	SpendLimitCents *int64       `json:"spend_limit_cents"`
	AlertIDs        []string     `json:"alert_ids"`
	RateLimits      []rateLimits `json:"rate_limits"`
}

type rateLimits struct {
	ID                    string `json:"id"`
	Model                 string `json:"model"`
	MaxRequestsPer1Minute int64  `json:"max_requests_per_1_minute"`
	MaxTokensPer1Minute   int64  `json:"max_tokens_per_1_minute"`
	MaxRequestsPer1Day    int64  `json:"max_requests_per_1_day"`
}

// change is everything the step will do, computed from the current state.
type change struct {
	prev       previous
	limitCents int64
	basis      string
	alerts     []int64 // cents, only those not already present
	rates      []rateUpdate
}

type rateUpdate struct {
	id, model string
	upd       openai.RateLimitUpdate
	text      string
}

func (t *Tighten) compute(ctx context.Context, env *steps.Env, c budgetAPI) (*change, error) {
	ch := &change{}
	cur, err := c.GetSpendLimit(ctx, t.Project)
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	if cur != nil {
		v := cur.Cents
		ch.prev.SpendLimitCents = &v
	}
	alerts, err := c.ListSpendAlerts(ctx, t.Project)
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	for _, a := range alerts {
		ch.prev.AlertIDs = append(ch.prev.AlertIDs, a.ID)
	}
	ch.limitCents, ch.basis = t.SpendLimitCents, "explicit"
	if t.Derive != nil {
		if ch.limitCents, ch.basis, err = t.derive(ctx, env, c); err != nil {
			return nil, err
		}
	}
	if t.Alerts != nil && len(t.Alerts.Recipients) > 0 {
		for _, p := range t.Alerts.Percents {
			cents := int64(math.Ceil(float64(ch.limitCents) * float64(p) / 100))
			exists := slices.ContainsFunc(alerts, func(a openai.SpendAlert) bool { return a.Cents == cents })
			if !exists && !slices.Contains(ch.alerts, cents) {
				ch.alerts = append(ch.alerts, cents)
			}
		}
	}
	if len(t.RateLimits) > 0 {
		rls, err := c.ListRateLimits(ctx, t.Project)
		if err != nil {
			return nil, openaikit.Classify(err)
		}
		for _, want := range t.RateLimits {
			i := slices.IndexFunc(rls, func(r openai.RateLimit) bool { return r.Model == want.Model })
			if i < 0 {
				return nil, fmt.Errorf("rate_limits: project %s has no rate limit for model %q", t.Project, want.Model)
			}
			cur := rls[i]
			ch.prev.RateLimits = append(ch.prev.RateLimits, rateLimits{ID: cur.ID, Model: cur.Model,
				MaxRequestsPer1Minute: cur.MaxRequestsPer1Minute, MaxTokensPer1Minute: cur.MaxTokensPer1Minute,
				MaxRequestsPer1Day: cur.MaxRequestsPer1Day})
			ch.rates = append(ch.rates, lower(cur, want))
		}
	}
	return ch, nil
}

// lower computes the new limits; a limit is only ever lowered, never raised.
func lower(cur openai.RateLimit, want RateLimitChange) rateUpdate {
	u := rateUpdate{id: cur.ID, model: cur.Model}
	var parts []string
	set := func(name string, current, absolute int64, dst **int64) {
		v := absolute
		if want.Factor > 0 {
			v = int64(math.Floor(float64(current) * want.Factor))
		}
		if v <= 0 || (current > 0 && v >= current) {
			return
		}
		*dst = &v
		parts = append(parts, fmt.Sprintf("%s %d→%d", name, current, v))
	}
	set("requests/min", cur.MaxRequestsPer1Minute, want.MaxRequestsPer1Minute, &u.upd.MaxRequestsPer1Minute)
	set("tokens/min", cur.MaxTokensPer1Minute, want.MaxTokensPer1Minute, &u.upd.MaxTokensPer1Minute)
	set("requests/day", cur.MaxRequestsPer1Day, want.MaxRequestsPer1Day, &u.upd.MaxRequestsPer1Day)
	u.text = strings.Join(parts, ", ")
	return u
}

func (t *Tighten) derive(ctx context.Context, env *steps.Env, c budgetAPI) (int64, string, error) {
	d := t.Derive
	days := d.BaselineDays
	if days == 0 {
		days = 30
	}
	end := env.Now().UTC()
	if s := strings.TrimSpace(d.BaselineEnd); s != "" && s != "<no value>" {
		e, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, "", fmt.Errorf("derive.baseline_end: %q is not an RFC 3339 time", s)
		}
		end = e
	}
	end = end.Truncate(24 * time.Hour)
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	rows, err := c.Costs(ctx, openai.CostQuery{Start: start, End: end, ProjectIDs: []string{t.Project}, GroupBy: []string{openai.GroupProjectID}})
	if err != nil {
		return 0, "", openaikit.Classify(err)
	}
	var usd float64
	for _, r := range rows {
		if r.ProjectID == "" || r.ProjectID == t.Project {
			usd += r.AmountUSD
		}
	}
	monthly := usd / float64(days) * 30
	cents := DerivedCents(usd, days, d.Factor, d.FloorCents)
	basis := fmt.Sprintf("$%.2f over %d days before %s → $%.2f/month × %.2f", usd, days, end.Format("2006-01-02"), monthly, d.Factor)
	if cents == d.FloorCents && cents > int64(math.Ceil(monthly*d.Factor))*100 {
		basis += fmt.Sprintf(", raised to the floor of $%.2f", float64(d.FloorCents)/100)
	}
	if cents <= 0 {
		return 0, "", fmt.Errorf("derive: the project spent nothing in the baseline and no floor_cents is set: give spend_limit_cents or derive.floor_cents")
	}
	return cents, basis, nil
}

// DerivedCents is the monthly limit derive computes from usd spent over days: scaled to 30
// days, times factor, rounded up to whole dollars, at least floorCents. `respond audit` quotes
// and plans the same number.
func DerivedCents(usd float64, days int, factor float64, floorCents int64) int64 {
	monthly := usd / float64(days) * 30
	return max(int64(math.Ceil(monthly*factor))*100, floorCents)
}

func dollars(c int64) string { return fmt.Sprintf("$%.2f", float64(c)/100) }

// Plan reads the current state (read-only) and shows every write.
func (t *Tighten) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	c, err := t.api(env)
	if err != nil {
		return nil, err
	}
	ch, err := t.compute(ctx, env, c)
	if err != nil {
		return nil, err
	}
	base := "/v1/organization/projects/" + t.Project
	prev := "none"
	if ch.prev.SpendLimitCents != nil {
		prev = dollars(*ch.prev.SpendLimitCents)
	}
	p := &steps.Plan{
		Summary: fmt.Sprintf("set a hard monthly limit of %s on %s (now %s), %d alert(s), %d rate limit(s)",
			dollars(ch.limitCents), t.Project, prev, len(ch.alerts), len(ch.rates)),
		Actions: []steps.Action{{Method: "POST", Target: base + "/spend_limit",
			Params: map[string]any{"threshold_amount": ch.limitCents, "currency": "USD", "interval": "month"}, Note: ch.basis}},
		Outputs: steps.Outputs{"project": t.Project, "spend_limit_cents": ch.limitCents, "previous": ch.prev,
			"created_alert_ids": []string{}, "rate_limits_changed": len(ch.rates), "enforcement": "<at run time>"},
	}
	for _, cents := range ch.alerts {
		p.Actions = append(p.Actions, steps.Action{Method: "POST", Target: base + "/spend_alerts",
			Params: map[string]any{"threshold_amount": cents, "recipients": t.Alerts.Recipients}})
	}
	for _, r := range ch.rates {
		if r.text != "" {
			p.Actions = append(p.Actions, steps.Action{Method: "POST", Target: base + "/rate_limits/" + r.id, Note: r.model + ": " + r.text})
		}
	}
	return p, nil
}

// Run records the current state, then changes it.
func (t *Tighten) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	c, err := t.api(env)
	if err != nil {
		return nil, err
	}
	ch, err := t.compute(ctx, env, c)
	if err != nil {
		return nil, err
	}
	if t.recorded != nil {
		ch.prev = *t.recorded
	}
	if err := env.Intent("record previous budgets", map[string]any{"previous": ch.prev}); err != nil {
		return nil, err
	}
	set, err := c.SetSpendLimit(ctx, t.Project, ch.limitCents)
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	env.Logf("hard monthly spend limit of %s on %s (%s)", dollars(ch.limitCents), t.Project, ch.basis)
	switch set.EnforcementStatus {
	case openai.EnforcementEnforcing:
		env.Logf("THE LIMIT IS ENFORCING NOW: %s has already spent at least %s this month, so its requests are refused until the "+
			"limit is raised or the month ends", t.Project, dollars(ch.limitCents))
	case openai.EnforcementInactive:
	default:
		env.Logf("the API reports an unknown enforcement status %q for the new limit", set.EnforcementStatus)
	}
	if t.Alerts != nil && len(t.Alerts.Recipients) == 0 {
		env.Logf("no alert recipients given: no spend alerts set (the API can only email them)")
	}
	for _, cents := range ch.alerts {
		if _, err := c.CreateSpendAlert(ctx, t.Project, openai.SpendAlertSpec{Cents: cents, Recipients: t.Alerts.Recipients, SubjectPrefix: t.Alerts.SubjectPrefix}); err != nil {
			return nil, openaikit.Classify(err)
		}
		env.Logf("spend alert at %s to %s", dollars(cents), strings.Join(t.Alerts.Recipients, ", "))
	}
	// Created alerts are those not there before, including any an interrupted attempt made.
	now, err := c.ListSpendAlerts(ctx, t.Project)
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	created := []string{}
	for _, a := range now {
		if !slices.Contains(ch.prev.AlertIDs, a.ID) {
			created = append(created, a.ID)
		}
	}
	changed := 0
	for _, r := range ch.rates {
		if r.text == "" {
			continue
		}
		if _, err := c.UpdateRateLimit(ctx, t.Project, r.id, r.upd); err != nil {
			return nil, openaikit.Classify(err)
		}
		changed++
		env.Logf("rate limit for %s: %s", r.model, r.text)
	}
	return steps.Outputs{"project": t.Project, "spend_limit_cents": ch.limitCents, "previous": ch.prev,
		"created_alert_ids": created, "rate_limits_changed": changed, "enforcement": set.EnforcementStatus}, nil
}

// Reconcile recovers the state recorded before an interrupted attempt; the step then runs again
// (setting limits is idempotent and alerts that exist are not created twice).
func (t *Tighten) Reconcile(_ context.Context, _ *steps.Env, intents []steps.Intent) (steps.Outputs, bool, error) {
	for _, in := range intents {
		if in.Name != "record previous budgets" {
			continue
		}
		b, err := json.Marshal(in.Data["previous"])
		if err != nil {
			return nil, false, err
		}
		var p previous
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, false, fmt.Errorf("read the recorded budgets: %w", err)
		}
		t.recorded = &p
	}
	return nil, false, nil
}

// Rollback restores what the step recorded: the old spend limit (or none), no alerts it
// created, the old rate limits.
func (t *Tighten) Rollback(ctx context.Context, env *steps.Env, out steps.Outputs) error {
	var rec struct {
		Project string   `json:"project"`
		Prev    previous `json:"previous"`
		Created []string `json:"created_alert_ids"`
	}
	b, _ := json.Marshal(out)
	if err := json.Unmarshal(b, &rec); err != nil || rec.Project == "" {
		return fmt.Errorf("the journal does not hold this step's recorded budgets: %v", err)
	}
	c, err := t.api(env)
	if err != nil {
		return err
	}
	if rec.Prev.SpendLimitCents != nil {
		if _, err := c.SetSpendLimit(ctx, rec.Project, *rec.Prev.SpendLimitCents); err != nil {
			return openaikit.Classify(err)
		}
		env.Logf("spend limit of %s restored to %s", rec.Project, dollars(*rec.Prev.SpendLimitCents))
	} else {
		if err := c.DeleteSpendLimit(ctx, rec.Project); err != nil && !openai.IsNotFound(err) {
			return openaikit.Classify(err)
		}
		env.Logf("spend limit of %s removed (there was none before)", rec.Project)
	}
	for _, id := range rec.Created {
		if err := c.DeleteSpendAlert(ctx, rec.Project, id); err != nil && !openai.IsNotFound(err) {
			return openaikit.Classify(err)
		}
		env.Logf("spend alert %s deleted", id)
	}
	for _, r := range rec.Prev.RateLimits {
		u := openai.RateLimitUpdate{}
		if r.MaxRequestsPer1Minute > 0 {
			u.MaxRequestsPer1Minute = &r.MaxRequestsPer1Minute
		}
		if r.MaxTokensPer1Minute > 0 {
			u.MaxTokensPer1Minute = &r.MaxTokensPer1Minute
		}
		if r.MaxRequestsPer1Day > 0 {
			u.MaxRequestsPer1Day = &r.MaxRequestsPer1Day
		}
		if u == (openai.RateLimitUpdate{}) {
			continue
		}
		if _, err := c.UpdateRateLimit(ctx, rec.Project, r.ID, u); err != nil {
			return openaikit.Classify(err)
		}
		env.Logf("rate limits for %s restored", r.Model)
	}
	return nil
}
