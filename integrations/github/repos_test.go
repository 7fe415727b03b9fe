package github

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// An organization with more repositories than one page holds: every page is read, archived
// repositories and forks come with their flags, other owners' repositories stay out.
func TestOrgReposReadsEveryPageWithFlags(t *testing.T) {
	t.Parallel()
	var w githubsim.World
	var want []OrgRepo
	for i := range 150 {
		r := githubsim.Repo{Name: fmt.Sprintf("acme/r%03d", i), Archived: i%7 == 0, Fork: i%5 == 0, Private: i%3 == 0,
			CloneURL: fmt.Sprintf("/srv/git/r%03d.git", i)}
		w.Repos = append(w.Repos, r)
		want = append(want, OrgRepo{FullName: r.Name, CloneURL: r.CloneURL, DefaultBranch: "main", Private: r.Private,
			Archived: r.Archived, Fork: r.Fork, SecretScanning: "enabled", PushProtection: "enabled"})
	}
	w.Repos = append(w.Repos, githubsim.Repo{Name: "other/x"})
	e := setup(t, 41, w)
	got, err := e.c.OrgRepos(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("OrgRepos (-want +got):\n%s", d)
	}
	if n := e.sim.Requests()[githubsim.RouteOrgRepos]; n != 2 {
		t.Errorf("%d requests for 150 repositories, want 2 pages of 100", n)
	}
	if _, err := e.c.OrgRepos(t.Context(), "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown organization: got %v, want ErrNotFound", err)
	}
}

// A token that may not read private repositories gets the public ones only, as on github.com.
func TestOrgReposWithoutRepoScopeListsPublicOnly(t *testing.T) {
	t.Parallel()
	tok := fakekey.New(42).GitHubToken()
	sim := githubsim.New(githubsim.Options{Token: tok, Scopes: []string{"read:org"}})
	if err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/open"}, {Name: "acme/closed", Private: true}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := New(Config{Token: tok, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.OrgRepos(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.FullName)
	}
	if d := cmp.Diff([]string{"acme/open"}, names); d != "" {
		t.Errorf("listed (-want +got):\n%s", d)
	}
}
