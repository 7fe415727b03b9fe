package contract_test

import (
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/contract"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

// The reads `respond audit` makes and the organization budget writes its --fix makes follow the
// document, with and without an organization limit set, and the answers decode to what was
// seeded.
func TestOrganizationBudgetsFollowTheDocument(t *testing.T) {
	for _, opts := range []openaisim.Options{{Seed: 3}, {Seed: 4, UnsetSpendLimitAnswers200: true}} {
		w := openaisim.DefaultWorld()
		w.Projects[len(w.Projects)-1].Status = "archived"
		sim := openaisim.New(w, opts)
		srv := httptest.NewServer(contract.Handler(t, sim))
		c, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", MaxRetries: 0, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		ps, err := c.ListAllProjects(ctx)
		if err != nil || len(ps) != len(w.Projects) || ps[len(ps)-1].Status != "archived" {
			t.Fatalf("ListAllProjects = %+v, %v; want %d projects, the last archived", ps, err, len(w.Projects))
		}
		if _, err := c.ListServiceAccounts(ctx, ps[0].ID); err != nil {
			t.Fatal(err)
		}
		if l, err := c.GetOrgSpendLimit(ctx); l != nil || err != nil {
			t.Fatalf("GetOrgSpendLimit with none set = %+v, %v; want nil, nil", l, err)
		}
		spec := openai.SpendAlertSpec{Cents: 50000, Recipients: []string{"finops@example.com"}, SubjectPrefix: "[openai]"}
		created, err := c.CreateOrgSpendAlert(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateOrgSpendAlert(ctx, openai.SpendAlertSpec{Cents: 90000, Recipients: spec.Recipients}); err != nil {
			t.Fatal(err)
		}
		got, err := c.ListOrgSpendAlerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !cmp.Equal(got[0], created) || created.Cents != 50000 || created.SubjectPrefix != "[openai]" {
			t.Fatalf("ListOrgSpendAlerts = %+v; want the two created, first %+v", got, created)
		}
		for _, a := range got {
			if err := c.DeleteOrgSpendAlert(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.DeleteOrgSpendAlert(ctx, created.ID); err != nil {
			t.Fatalf("deleting an alert already gone: %v, want nil", err)
		}
		for _, a := range sim.State().SpendAlerts {
			if a.ProjectID == "" {
				t.Fatalf("organization alert %s left in the simulator after deleting every one", a.ID)
			}
		}
		srv.Close()
	}
}

func TestOrganizationSpendLimitIsRead(t *testing.T) {
	w := openaisim.DefaultWorld()
	w.OrgSpendLimitCents = 250000
	sim := openaisim.New(w, openaisim.Options{Seed: 5})
	srv := httptest.NewServer(contract.Handler(t, sim))
	defer srv.Close()
	c, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.GetOrgSpendLimit(t.Context())
	if err != nil || l == nil || l.Cents != 250000 || l.Currency != "USD" || l.Interval != "month" {
		t.Fatalf("GetOrgSpendLimit = %+v, %v; want 250000 cents USD month", l, err)
	}
}
