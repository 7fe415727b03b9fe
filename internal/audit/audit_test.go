package audit_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/contract"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/internal/audit"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/rehearsal"
)

type messy struct {
	sim    *openaisim.Server
	gh     *githubsim.Server
	src    audit.Sources
	leaked string
}

func startMessy(t *testing.T) messy {
	t.Helper()
	sim := openaisim.New(rehearsal.MessyOpenAI(), openaisim.Options{Seed: 9})
	srv := httptest.NewServer(contract.Handler(t, sim))
	t.Cleanup(srv.Close)
	oc, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	tok := fakekey.New(9).GitHubToken()
	leaked := sim.KeySecret("key_storefront_ci")
	gs := githubsim.New(githubsim.Options{Token: tok, Seed: 9})
	if err := gs.Seed(rehearsal.MessyGitHub(leaked, sim.Now())); err != nil {
		t.Fatal(err)
	}
	gsrv := httptest.NewServer(gs)
	t.Cleanup(gsrv.Close)
	gc, err := github.New(github.Config{Token: tok, BaseURL: gsrv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	return messy{sim: sim, gh: gs, leaked: leaked, src: audit.Sources{OpenAI: oc, GitHub: gc, GitHubOrg: "acme", Now: sim.Now,
		Secret: func(v ...string) { secrets = append(secrets, v...) }}}
}

// The messy organization breaks every guideline: each check finds it, on the resource seeded
// for it, and the tidy project and fresh secret are not flagged.
func TestMessyOrganizationHasEveryFinding(t *testing.T) {
	m := startMessy(t)
	inv, err := audit.Collect(t.Context(), m.src)
	if err != nil {
		t.Fatal(err)
	}
	rep := audit.Run(inv, audit.Options{})
	want := map[string]string{
		"github.open-openai-alert":         "acme/api",
		"openai.archived-project-live-key": "key_oldbot",
		"openai.project-no-hard-limit":     "proj_forgotten",
		"openai.org-no-hard-limit":         "organization",
		"github.secret-scanning-off":       "acme/web",
		"openai.service-account-owner":     "svc_acct_oldbot",
		"openai.project-no-alerts":         "proj_forgotten",
		"openai.org-no-alerts":             "organization",
		"github.push-protection-off":       "acme/web",
		"openai.user-key":                  "key_forgotten",
		"openai.key-no-expiry":             "key_forgotten",
		"github.stale-openai-secret":       "acme/web",
		"openai.key-unused":                "key_forgotten",
		"openai.rate-limits-at-maximum":    "proj_forgotten",
	}
	for _, c := range audit.Checks {
		if _, ok := want[c.ID]; !ok {
			t.Errorf("check %s has no expectation here: add one to the messy world", c.ID)
		}
	}
	for id, res := range want {
		if !slices.ContainsFunc(rep.Findings, func(f audit.Finding) bool { return f.Check == id && strings.Contains(f.Resource, res) }) {
			t.Errorf("no %s finding on %s", id, res)
		}
	}
	for _, f := range rep.Findings {
		if f.Fix == "" || f.Guideline == "" || f.Detail == "" {
			t.Errorf("%s on %s: fix %q, guideline %q, detail %q: all three are required", f.Check, f.Resource, f.Fix, f.Guideline, f.Detail)
		}
		tidyLowered := f.Check == "openai.rate-limits-at-maximum" && !strings.Contains(f.Detail, "gpt-4o-mini")
		if (strings.Contains(f.Resource, "proj_tidy") && !tidyLowered) || (f.Check == "github.stale-openai-secret" && strings.Contains(f.Resource, "acme/api")) {
			t.Errorf("flagged what follows the guidelines: %s on %s", f.Check, f.Resource)
		}
		if f.Check == "github.open-openai-alert" && !strings.Contains(f.Fix, "--input key=key_storefront_ci") {
			t.Errorf("open alert fix %q: want the playbook command naming the matched key", f.Fix)
		}
	}
	var b strings.Builder
	for _, write := range []func() error{func() error { return rep.WriteText(&b) }, func() error { return rep.WriteMarkdown(&b) },
		func() error { return rep.WriteJSON(&b) }} {
		if err := write(); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(b.String(), m.leaked) {
		t.Error("a report holds the alert's secret")
	}
	if !strings.Contains(b.String(), "key_tidy \"tidy\" · project proj_tidy (Tidy) · owner service account tidy") {
		t.Errorf("no blast-radius line for key_tidy in:\n%s", b.String())
	}
}

// Two sequential waves of calls, however many projects: the list, then every project's reads.
func TestAuditReadsInTwoWaves(t *testing.T) {
	m := startMessy(t)
	m.src.GitHub, m.src.GitHubOrg = nil, ""
	m.sim.ResetCounters()
	if _, err := audit.Collect(t.Context(), m.src); err != nil {
		t.Fatal(err)
	}
	n := len(rehearsal.MessyOpenAI().Projects)
	for route, want := range map[string]int{openaisim.RouteListProjects: 1, openaisim.RouteListProjectKeys: n,
		openaisim.RouteGetSpendLimit: n, openaisim.RouteListSpendAlerts: n, openaisim.RouteListRateLimits: n} {
		if got := m.sim.RequestCount(route); got != want {
			t.Errorf("%s: %d requests, want %d", route, got, want)
		}
	}
	if got := m.sim.RequestCount(openaisim.RouteUpdateSpendLimit) + m.sim.RequestCount(openaisim.RouteCreateSpendAlert); got != 0 {
		t.Errorf("the audit changed something: %d writes", got)
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]audit.Severity{"any": audit.Low, "LOW": audit.Low, "high": audit.High, "critical": audit.Critical} {
		if got, err := audit.ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := audit.ParseSeverity("urgent"); err == nil {
		t.Error("ParseSeverity(urgent): want an error naming the choices")
	}
}
