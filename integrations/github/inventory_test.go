package github

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

func TestInventoryReadsSecuritySettingsAndSecretDates(t *testing.T) {
	t.Parallel()
	tok := fakekey.New(41).GitHubToken()
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	sim := githubsim.New(githubsim.Options{Token: tok, Seed: 41})
	err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/web", SecretScanning: githubsim.StatusDisabled, PushProtection: githubsim.StatusDisabled,
			Secrets: []githubsim.Secret{{Name: "OPENAI_API_KEY", Value: "v", UpdatedAt: t0}, {Name: "DEPLOY_TOKEN", Value: "w", UpdatedAt: t0}}},
		{Name: "acme/api", PushProtection: githubsim.StatusDisabled},
		{Name: "other/x"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := New(Config{Token: tok, BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	repos, err := c.OrgRepos(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var got [][3]string
	for _, r := range repos {
		got = append(got, [3]string{r.FullName, r.SecretScanning, r.PushProtection})
	}
	want := [][3]string{{"acme/api", "enabled", "disabled"}, {"acme/web", "disabled", "disabled"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OrgRepos security statuses (-want +got):\n%s", diff)
	}
	one, err := c.GetRepo(t.Context(), "acme/web")
	if err != nil || one.SecretScanning != "disabled" {
		t.Errorf("GetRepo(acme/web) = %+v, %v; want secret scanning disabled", one, err)
	}
	secs, err := c.ListActionsSecrets(t.Context(), SecretTarget{Repo: "acme/web"})
	if err != nil {
		t.Fatal(err)
	}
	wantSecs := []SecretInfo{{Name: "DEPLOY_TOKEN", CreatedAt: t0, UpdatedAt: t0}, {Name: "OPENAI_API_KEY", CreatedAt: t0, UpdatedAt: t0}}
	if diff := cmp.Diff(wantSecs, secs); diff != "" {
		t.Errorf("ListActionsSecrets (-want +got):\n%s", diff)
	}
	if _, err := c.ListActionsSecrets(t.Context(), SecretTarget{Repo: "acme/web", Environment: "prod"}); err == nil {
		t.Error("listing environment secrets: want an error saying they are not listed")
	}
}
