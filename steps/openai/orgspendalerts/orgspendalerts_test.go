package orgspendalerts

import (
	"slices"
	"testing"

	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaitest"
)

func orgAlerts(s openaisim.State) []int64 {
	var out []int64
	for _, a := range s.SpendAlerts {
		if a.ProjectID == "" {
			out = append(out, a.Cents)
		}
	}
	slices.Sort(out)
	return out
}

// The plan names each alert to create and changes nothing; the run creates only the amounts
// missing; rollback deletes exactly what the run created, twice if asked.
func TestCreatesMissingAlertsAndRollsBack(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 21)
	a := &Alerts{Cents: []int64{50000, 100000, 50000}, Recipients: []string{"finops@example.com"}, SubjectPrefix: "[OpenAI]"}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	before := w.Sim.Snapshot()
	plan, err := a.Plan(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions) != 2 || string(w.Sim.Snapshot()) != string(before) {
		t.Fatalf("plan %+v: want 2 alerts planned (the repeated amount once) and nothing changed", plan)
	}
	out, err := a.Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if got := orgAlerts(w.Sim.State()); !slices.Equal(got, []int64{50000, 100000}) {
		t.Fatalf("organization alerts after run %v, want [50000 100000]", got)
	}
	again, err := a.Run(t.Context(), w.Rec.Env)
	if err != nil || len(again["created_alert_ids"].([]string)) != 0 || len(orgAlerts(w.Sim.State())) != 2 {
		t.Fatalf("a second run created %v (%v); want nothing new", again, err)
	}
	for range 2 {
		if err := a.Rollback(t.Context(), w.Rec.Env, out); err != nil {
			t.Fatal(err)
		}
	}
	if string(w.Sim.Snapshot()) != string(before) {
		t.Errorf("state after rollback differs from before:\n%s\nwant\n%s", w.Sim.Snapshot(), before)
	}
}

// After a crash between the intent and the outputs, the alerts the interrupted attempt made
// count as created, so the rollback removes them too.
func TestInterruptedAttemptIsRolledBackToo(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 22)
	first := &Alerts{Cents: []int64{70000}, Recipients: []string{"finops@example.com"}}
	if _, err := first.Run(t.Context(), w.Rec.Env); err != nil {
		t.Fatal(err)
	}
	retry := &Alerts{Cents: []int64{70000}, Recipients: []string{"finops@example.com"}}
	if _, _, err := retry.Reconcile(t.Context(), w.Rec.Env, []steps.Intent{{Name: intentName, Data: map[string]any{"existing_alert_ids": []string{}}}}); err != nil {
		t.Fatal(err)
	}
	out, err := retry.Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["created_alert_ids"].([]string); len(got) != 1 {
		t.Fatalf("created %v, want the interrupted attempt's alert", got)
	}
	if err := retry.Rollback(t.Context(), w.Rec.Env, out); err != nil {
		t.Fatal(err)
	}
	if got := orgAlerts(w.Sim.State()); len(got) != 0 {
		t.Errorf("alerts left after rollback: %v", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for name, a := range map[string]Alerts{
		"no amounts":    {Recipients: []string{"a@example.com"}},
		"zero amount":   {Cents: []int64{0}, Recipients: []string{"a@example.com"}},
		"no recipients": {Cents: []int64{100}},
		"not an email":  {Cents: []int64{100}, Recipients: []string{"finops"}},
	} {
		if err := a.Validate(); err == nil {
			t.Errorf("%s: validated", name)
		}
	}
}
