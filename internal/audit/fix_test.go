package audit_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/audit"
)

// The fix playbook has one step per project with a budget finding and one for the
// organization's alerts, each fixing exactly the auto-fixed findings; nothing else is touched.
func TestPlanFixCoversOnlySafeFindings(t *testing.T) {
	m := startMessy(t)
	inv, err := audit.Collect(t.Context(), m.src)
	if err != nil {
		t.Fatal(err)
	}
	rep := audit.Run(inv, audit.Options{})
	if _, err := audit.PlanFix(inv, rep, audit.FixOptions{}); err == nil {
		t.Error("PlanFix without a recipient: want an error (the API can only email alerts)")
	}
	fix, err := audit.PlanFix(inv, rep, audit.FixOptions{AlertEmails: []string{"sec@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	covered := 0
	for _, st := range fix.Steps {
		for _, f := range st.Findings {
			got[st.ID] = append(got[st.ID], f.Check)
			covered++
		}
	}
	want := map[string][]string{
		"budgets_proj_storefront":     {"openai.project-no-hard-limit", "openai.project-no-alerts"},
		"budgets_proj_internal_tools": {"openai.project-no-hard-limit", "openai.project-no-alerts"},
		"budgets_proj_forgotten":      {"openai.project-no-hard-limit", "openai.project-no-alerts"},
		"budgets_proj_capped":         {"openai.project-no-alerts"},
		"org_alerts":                  {"openai.org-no-alerts"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps and the findings they fix (-want +got):\n%s", diff)
	}
	safe := 0
	for _, f := range rep.Findings {
		if audit.AutoFixed(f.Check) {
			safe++
		}
	}
	if covered != safe {
		t.Errorf("the playbook fixes %d findings; the report has %d safe ones", covered, safe)
	}
	if len(fix.Playbook.Steps) != len(fix.Steps) {
		t.Fatalf("playbook has %d steps, fix says %d", len(fix.Playbook.Steps), len(fix.Steps))
	}
	for _, st := range fix.Playbook.Steps {
		if st.Approval == nil || !st.Approval.Required {
			t.Errorf("step %s changes the organization without asking", st.ID)
		}
		if st.Kind.Traits.Effects == nil || len(st.Kind.Traits.Needs) == 0 {
			t.Errorf("step %s uses %s, which declares no effect or needs", st.ID, st.Uses)
		}
	}
	src := string(fix.Playbook.Source)
	for _, s := range []string{"project: proj_capped", "spend_limit_cents: 50000", "factor: 1.5", "sec@example.com"} {
		if !strings.Contains(src, s) {
			t.Errorf("the playbook lacks %q:\n%s", s, src)
		}
	}
}

// A report with nothing safe to fix has no fix playbook.
func TestPlanFixNothingToFix(t *testing.T) {
	rep := &audit.Report{Findings: []audit.Finding{{Check: "openai.user-key", Project: "proj_x"}}}
	fix, err := audit.PlanFix(&audit.Inventory{}, rep, audit.FixOptions{AlertEmails: []string{"a@example.com"}})
	if err != nil || fix.Playbook != nil {
		t.Errorf("PlanFix = %+v, %v; want no playbook", fix, err)
	}
}

// A project whose limit could not be read gets no fix: a derived limit might replace its own.
func TestPlanFixHoldsProjectWithUnreadLimit(t *testing.T) {
	inv := &audit.Inventory{Projects: []*audit.ProjectInfo{{Project: openai.Project{ID: "proj_x"}, Unread: map[string]bool{"spend limit": true}}}}
	rep := &audit.Report{Findings: []audit.Finding{{Check: "openai.project-no-alerts", Project: "proj_x"}}}
	fix, err := audit.PlanFix(inv, rep, audit.FixOptions{AlertEmails: []string{"a@example.com"}})
	if err != nil || fix.Playbook != nil || len(fix.Held) != 1 || !strings.Contains(fix.Held[0], "proj_x") {
		t.Errorf("PlanFix = %+v, %v; want no playbook and proj_x held", fix, err)
	}
}
