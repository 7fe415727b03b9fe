package cli_test

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// withAlert serves a GitHub simulator whose acme/storefront alert 12 holds the world's leaked
// key, and points the run at it.
func withAlert(t *testing.T, w *simWorld) {
	t.Helper()
	tok := fakekey.Random().GitHubToken()
	sim := githubsim.New(githubsim.Options{Token: tok})
	err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/storefront", Private: true,
		Alerts: []githubsim.Alert{{Number: 12, SecretType: "openai_api_key", Secret: w.key}}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	w.env["GITHUB_TOKEN"], w.env["RESPOND_GITHUB_API_URL"] = tok, srv.URL
}

func TestSecretInputByAlertReference(t *testing.T) {
	tests := []struct {
		name     string
		ref      string
		noToken  bool
		wantCode int
		wantErr  string
	}{
		{name: "short form", ref: "github-alert:acme/storefront#12"},
		{name: "alert URL", ref: "https://github.com/acme/storefront/security/secret-scanning/12"},
		{name: "malformed", ref: "github-alert:acme#12", wantCode: 2, wantErr: "github-alert:OWNER/REPO#N"},
		{name: "no such alert", ref: "github-alert:acme/storefront#13", wantCode: 2, wantErr: "resolve github-alert:acme/storefront#13"},
		{name: "no GitHub token", ref: "github-alert:acme/storefront#12", noToken: true, wantCode: 4, wantErr: "GITHUB_TOKEN"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startOpenAI(t, uint64(40+i))
			withAlert(t, w)
			if tt.noToken {
				delete(w.env, "GITHUB_TOKEN")
			}
			r := respond(t, w.env, "", "run", "--output", "json", "--input", "key="+tt.ref,
				"--input", "secret_file="+w.out, "openai-key-leak")
			leaked, _ := w.sim.Key(w.sim.LeakedKeyID())
			if tt.wantErr != "" {
				if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
					t.Fatalf("exit %d, want %d with %q:\n%s", r.code, tt.wantCode, tt.wantErr, r.stderr)
				}
				if leaked.Deleted {
					t.Error("the key was revoked though its reference did not resolve")
				}
				if runs, _ := os.ReadDir(w.state + "/runs"); len(runs) != 0 {
					t.Errorf("a run was journaled though its input did not resolve: %d files", len(runs))
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if !leaked.Deleted {
				t.Error("the leaked key was not revoked")
			}
			all := w.everything(t, r)
			if where, ok := leak(all, w.key); ok {
				t.Errorf("the alert's value leaked: …%s…", where)
			}
			if !strings.Contains(all, `"secret_refs":{"key":"github-alert:acme/storefront#12"}`) {
				t.Error("the journal does not record the reference the key came from")
			}
		})
	}
}
