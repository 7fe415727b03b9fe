package secretref_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/secretref"
)

func TestParse(t *testing.T) {
	t.Parallel()
	want := secretref.Ref{Repo: "acme/storefront", Number: 12}
	tests := []struct {
		in      string
		want    secretref.Ref
		wantErr string // "" ok; "not" ErrNotRef; otherwise a substring
	}{
		{in: "github-alert:acme/storefront#12", want: want},
		{in: "  github-alert:acme/storefront#12\n", want: want},
		{in: "https://github.com/acme/storefront/security/secret-scanning/12", want: want},
		{in: "https://github.com/acme/storefront/security/secret-scanning/12/", want: want},
		{in: "https://api.github.com/repos/acme/storefront/secret-scanning/alerts/12", want: want},
		{in: "https://ghe.example.com/api/v3/repos/acme/storefront/secret-scanning/alerts/12", want: want},
		{in: "https://ghe.example.com/acme/storefront/security/secret-scanning/12", want: want},
		{in: "github-alert:acme/storefront", wantErr: "OWNER/REPO#N"},
		{in: "github-alert:acme#12", wantErr: "OWNER/REPO#N"},
		{in: "github-alert:acme/storefront#0", wantErr: "OWNER/REPO#N"},
		{in: "github-alert:acme/store front#1", wantErr: "OWNER/REPO#N"},
		{in: "https://github.com/acme/storefront/pull/12", wantErr: "alert's URL"},
		{in: "https://github.com/acme/storefront/security/secret-scanning/12?x=1", wantErr: "alert's URL"},
		{in: "https://user:pw@github.com/acme/storefront/security/secret-scanning/12", wantErr: "alert's URL"},
		{in: "key_abc123", wantErr: "not"},
		{in: "sk-proj-whatever", wantErr: "not"},
		{in: "", wantErr: "not"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := secretref.Parse(tt.in)
			switch {
			case tt.wantErr == "not":
				if !errors.Is(err, secretref.ErrNotRef) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrNotRef", tt.in, got, err)
				}
			case tt.wantErr != "":
				if err == nil || errors.Is(err, secretref.ErrNotRef) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v; want one containing %q", tt.in, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Parse(%q): %v", tt.in, err)
			default:
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
				}
				if again, err := secretref.Parse(got.String()); err != nil || again != got {
					t.Errorf("String() %q does not parse back: %v, %v", got.String(), again, err)
				}
			}
		})
	}
}

// world serves a simulated GitHub with one OpenAI-key alert in acme/storefront and another
// alert whose value must never be registered.
func world(t *testing.T, faults ...githubsim.Fault) (*github.Client, string, string) {
	t.Helper()
	keys := fakekey.Random()
	tok, leaked, other := keys.GitHubToken(), keys.OpenAIProjectKey(), keys.OpenAIProjectKey()
	sim := githubsim.New(githubsim.Options{Token: tok})
	err := sim.Seed(githubsim.World{Faults: faults, Repos: []githubsim.Repo{
		{Name: "acme/storefront", Alerts: []githubsim.Alert{
			{Number: 12, SecretType: "openai_api_key", Secret: leaked},
			{Number: 13, SecretType: "openai_api_key", Secret: other},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := github.New(github.Config{Token: tok, BaseURL: srv.URL, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c, leaked, other
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		faults  []githubsim.Fault
		ref     secretref.Ref
		wantErr string
	}{
		{name: "repository alert", ref: secretref.Ref{Repo: "acme/storefront", Number: 12}},
		{name: "organization list when the repository endpoint refuses", ref: secretref.Ref{Repo: "acme/storefront", Number: 12},
			faults: []githubsim.Fault{{Route: githubsim.RouteAlert, Kind: githubsim.FaultServerError, Status: 404}}},
		{name: "no such alert", ref: secretref.Ref{Repo: "acme/storefront", Number: 99}, wantErr: "no alert 99 in acme/storefront"},
		{name: "no such repository", ref: secretref.Ref{Repo: "acme/nothing", Number: 1}, wantErr: "resolve github-alert:acme/nothing#1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, leaked, other := world(t, tt.faults...)
			secrets := redact.New()
			got, err := secretref.Resolve(t.Context(), c, tt.ref, secrets)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve error = %v, want one containing %q", err, tt.wantErr)
				}
				if secrets.Len() != 0 {
					t.Errorf("a failed resolve registered %d secrets", secrets.Len())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Value != leaked || got.SecretType != "openai_api_key" {
				t.Fatalf("Resolve = type %q, value matches leaked key: %v", got.SecretType, got.Value == leaked)
			}
			if !secrets.Contains([]byte(leaked)) {
				t.Error("the resolved value is not registered for masking")
			}
			if secrets.Contains([]byte(other)) {
				t.Error("another alert's value was registered: only the referenced one may be")
			}
		})
	}
}
