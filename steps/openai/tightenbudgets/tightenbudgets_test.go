package tightenbudgets

import (
	"fmt"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/steps/openai/openaitest"
)

func TestLowerOnlyEverLowers(t *testing.T) {
	t.Parallel()
	cur := openai.RateLimit{ID: "rl_1", Model: "o3", MaxRequestsPer1Minute: 500, MaxTokensPer1Minute: 200000}
	u := lower(cur, RateLimitChange{Model: "o3", Factor: 0.5})
	if *u.upd.MaxRequestsPer1Minute != 250 || *u.upd.MaxTokensPer1Minute != 100000 || u.upd.MaxRequestsPer1Day != nil {
		t.Errorf("factor 0.5: %+v", u.upd)
	}
	u = lower(cur, RateLimitChange{Model: "o3", MaxRequestsPer1Minute: 900, MaxTokensPer1Minute: 1000})
	if u.upd.MaxRequestsPer1Minute != nil || *u.upd.MaxTokensPer1Minute != 1000 {
		t.Errorf("a higher absolute limit was applied: %+v", u.upd)
	}
}

func TestDerivedLimitTightensAndRollsBack(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 7)
	tg := &Tighten{Project: "proj_analytics", Derive: &Derive{Factor: 1.5, FloorCents: 5000},
		Alerts:     &Alerts{Percents: []int{50, 100}, Recipients: []string{"oncall@example.com"}},
		RateLimits: nil}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	before := w.Sim.State()
	plan, err := tg.Plan(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.Summary, "now $1500.00") || len(plan.Actions) != 3 {
		t.Errorf("plan %q with %d actions: want the current $1500 limit shown and 3 calls", plan.Summary, len(plan.Actions))
	}
	out, err := tg.Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	cents := out["spend_limit_cents"].(int64)
	if cents < 5000 || cents%100 != 0 {
		t.Errorf("limit %d cents: want at least the floor, in whole dollars", cents)
	}
	if err := tg.Rollback(t.Context(), w.Rec.Env, out); err != nil {
		t.Fatal(err)
	}
	after := w.Sim.State()
	if len(after.SpendAlerts) != len(before.SpendAlerts) {
		t.Errorf("%d alerts after rollback, %d before", len(after.SpendAlerts), len(before.SpendAlerts))
	}
	for _, l := range after.SpendLimits {
		if l.ProjectID == "proj_analytics" && l.Cents != 150000 {
			t.Errorf("limit after rollback %d, want the original 150000", l.Cents)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	bad := map[string]Tighten{
		"no limit":         {Project: "p"},
		"both":             {Project: "p", SpendLimitCents: 100, Derive: &Derive{Factor: 1}},
		"raising factor":   {Project: "p", SpendLimitCents: 100, RateLimits: []RateLimitChange{{Model: "o3", Factor: 1.5}}},
		"not an email":     {Project: "p", SpendLimitCents: 100, Alerts: &Alerts{Percents: []int{50}, Recipients: []string{"oncall"}}},
		"percent too high": {Project: "p", SpendLimitCents: 100, Alerts: &Alerts{Percents: []int{5000}}},
	}
	for name, tg := range bad {
		if err := tg.Validate(); err == nil {
			t.Errorf("%s: validated", name)
		}
	}
}

// A project without a limit answers 404 or 200 with no amount (the document says neither);
// either way the step records "none", and rollback removes the limit it set, twice if asked.
func TestNoLimitBeforeIsRestoredToNone(t *testing.T) {
	t.Parallel()
	for _, unset200 := range []bool{false, true} {
		t.Run(fmt.Sprintf("unset answers 200: %v", unset200), func(t *testing.T) {
			t.Parallel()
			w := openaitest.StartWith(t, openaisim.Options{Seed: 8, UnsetSpendLimitAnswers200: unset200})
			// $1 is below what the storefront has spent this month: the limit enforces at once.
			tg := &Tighten{Project: "proj_storefront", SpendLimitCents: 100}
			plan, err := tg.Plan(t.Context(), w.Rec.Env)
			if err != nil || !strings.Contains(plan.Summary, "(now none)") {
				t.Fatalf("plan %+v, %v: want the absent limit shown as none", plan, err)
			}
			out, err := tg.Run(t.Context(), w.Rec.Env)
			if err != nil {
				t.Fatal(err)
			}
			if out["enforcement"] != openai.EnforcementEnforcing || !strings.Contains(w.Rec.Text(), "ENFORCING NOW") {
				t.Errorf("enforcement %v, log:\n%s", out["enforcement"], w.Rec.Text())
			}
			if prev := out["previous"].(previous); prev.SpendLimitCents != nil {
				t.Fatalf("recorded previous limit %d, want none", *prev.SpendLimitCents)
			}
			for range 2 {
				if err := tg.Rollback(t.Context(), w.Rec.Env, out); err != nil {
					t.Fatalf("Rollback: %v", err)
				}
			}
			for _, l := range w.Sim.State().SpendLimits {
				if l.ProjectID == "proj_storefront" {
					t.Errorf("limit %d cents left after rollback", l.Cents)
				}
			}
		})
	}
}
