package github

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
)

func TestTokenInfoAndProbes(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, 1, 31, 6, 0, 0, 0, time.UTC)
	world := githubsim.World{Repos: []githubsim.Repo{{Name: "acme/private", Private: true}, {Name: "acme/public"}}}
	type probes struct{ alerts, runsPrivate, runsPublic, secrets, search string } // "" = allowed, else Needs
	for _, tc := range []struct {
		name  string
		opts  githubsim.Options
		token Token
		want  probes
	}{
		{"every permission", githubsim.Options{}, Token{}, probes{}},
		{"classic, repo", githubsim.Options{Scopes: []string{"repo"}, TokenExpires: expires},
			Token{Classic: true, Scopes: []string{"repo"}, Expires: expires}, probes{}},
		{"classic, security_events only", githubsim.Options{Scopes: []string{"security_events", "read:org"}},
			Token{Classic: true, Scopes: []string{"security_events", "read:org"}},
			probes{runsPrivate: "repo", secrets: "repo"}},
		{"classic, no scopes", githubsim.Options{Scopes: []string{}}, Token{Classic: true, Scopes: []string{}},
			probes{alerts: "repo, security_events", runsPrivate: "repo", secrets: "repo"}},
		{"fine-grained, alerts and actions", githubsim.Options{Permissions: map[string]string{
			"secret_scanning_alerts": "write", "actions": "read", "metadata": "read"}},
			Token{}, probes{secrets: "secrets=read"}},
		{"fine-grained, nothing", githubsim.Options{Permissions: map[string]string{"metadata": "read"}},
			Token{}, probes{alerts: "secret_scanning_alerts=read", runsPrivate: "actions=read", runsPublic: "actions=read", secrets: "secrets=read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Token = "tok"
			sim := githubsim.New(tc.opts)
			if err := sim.Seed(world); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sim)
			t.Cleanup(srv.Close)
			c, err := New(Config{Token: "tok", BaseURL: srv.URL, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.TokenInfo(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.token, tok); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			ctx := t.Context()
			check := func(what string, a Access, want string) {
				t.Helper()
				switch {
				case want == "" && a.Err != nil:
					t.Errorf("%s: refused (%v), want allowed", what, a.Err)
				case want != "" && (!errors.Is(a.Err, ErrForbidden) || a.Needs != want):
					t.Errorf("%s: %v needs %q, want ErrForbidden needing %q", what, a.Err, a.Needs, want)
				}
			}
			check("alerts", c.ProbeAlerts(ctx, "", "acme/private"), tc.want.alerts)
			check("org alerts", c.ProbeAlerts(ctx, "acme", ""), tc.want.alerts)
			check("runs of a private repo", c.ProbeRuns(ctx, "acme/private"), tc.want.runsPrivate)
			check("runs of a public repo", c.ProbeRuns(ctx, "acme/public"), tc.want.runsPublic)
			check("secrets", c.ProbeSecrets(ctx, "acme/private"), tc.want.secrets)
			check("code search", c.ProbeCodeSearch(ctx, "acme", ""), tc.want.search)
		})
	}
}

func TestTokenInfoRejectedToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(githubsim.New(githubsim.Options{Token: "right"}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Token: "wrong", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TokenInfo(t.Context()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("TokenInfo with a wrong token: %v, want ErrUnauthorized", err)
	}
}
