package githubkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/stepstest"
)

// lister answers alert listings from a table keyed by "org:NAME" or the repository; an entry
// holding an error fails that listing. It records what was asked.
type lister struct {
	answers map[string]any
	mu      sync.Mutex
	asked   []string
}

func scopeKey(scope github.Scope) string {
	if scope.Org != "" {
		return "org:" + scope.Org
	}
	return scope.Repos[0]
}

func (l *lister) ListSecretAlerts(_ context.Context, scope github.AlertScope, _, _ string) ([]github.Alert, error) {
	key := scopeKey(scope)
	l.mu.Lock()
	l.asked = append(l.asked, key)
	l.mu.Unlock()
	switch v := l.answers[key].(type) {
	case error:
		return nil, v
	case []github.Alert:
		return v, nil
	}
	return nil, nil
}

func alert(repo string, n int64) github.Alert { return github.Alert{Repo: repo, Number: n} }

func TestListAlerts(t *testing.T) {
	t.Parallel()
	notFound := fmt.Errorf("list: %w", github.ErrNotFound)
	forbidden := fmt.Errorf("list: %w", github.ErrForbidden)
	tests := []struct {
		name      string
		answers   map[string]any
		q         AlertQuery
		want      []github.Alert
		asked     []string // sorted
		refused   []string // scopes passed to Refused, sorted
		wantErr   error
		refuseErr bool // Refused returns an error
	}{
		{name: "org listed: its repositories are not listed again",
			answers: map[string]any{"org:acme": []github.Alert{alert("acme/api", 1), alert("ACME/api", 1)},
				"other/tool": []github.Alert{alert("other/tool", 1)}},
			q:    AlertQuery{Org: "acme", Repos: []string{"acme/api", "other/tool"}},
			want: []github.Alert{alert("acme/api", 1), alert("other/tool", 1)}, asked: []string{"org:acme", "other/tool"}},
		{name: "org refused: its repositories one by one",
			answers: map[string]any{"org:acme": forbidden, "acme/api": []github.Alert{alert("acme/api", 2)}, "acme/web": notFound},
			q:       AlertQuery{Org: "acme", Repos: []string{"acme/api", "acme/web"}},
			want:    []github.Alert{alert("acme/api", 2)}, asked: []string{"acme/api", "acme/web", "org:acme"},
			refused: []string{"acme/web", "org:acme"}},
		{name: "a refusal can stop the listing",
			answers: map[string]any{"acme/web": notFound},
			q:       AlertQuery{Repos: []string{"acme/web"}}, asked: []string{"acme/web"}, refused: []string{"acme/web"},
			refuseErr: true, wantErr: github.ErrNotFound},
		{name: "a rejected token is a credential error",
			answers: map[string]any{"acme/api": fmt.Errorf("list: %w", github.ErrUnauthorized)},
			q:       AlertQuery{Repos: []string{"acme/api"}}, asked: []string{"acme/api"}, wantErr: steps.ErrCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := &lister{answers: tc.answers}
			var refused []string
			tc.q.Workers = 2
			// Calls are serialized, so refused needs no lock (-race checks).
			tc.q.Refused = func(scope github.Scope, err error) error {
				refused = append(refused, scopeKey(scope))
				if tc.refuseErr {
					return err
				}
				return nil
			}
			got, err := ListAlerts(t.Context(), l, tc.q)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("alerts (-want +got):\n%s", d)
			}
			slices.Sort(l.asked)
			slices.Sort(refused)
			if d := cmp.Diff(tc.asked, l.asked); d != "" {
				t.Errorf("asked (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.refused, refused); d != "" {
				t.Errorf("refused (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseSinceAndValidRepo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{" 2024-05-01 ", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), true},
		{"2024-05-01T10:00:00Z", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
	} {
		got, err := ParseSince(tc.in)
		if !got.Equal(tc.want) || (err == nil) != tc.ok {
			t.Errorf("ParseSince(%q) = %v, %v", tc.in, got, err)
		}
	}
	for r, want := range map[string]bool{"acme/api": true, "acme": false, "/api": false, "acme/": false,
		"acme/api/x": false, "ac me/api": false} {
		if ValidRepo(r) != want {
			t.Errorf("ValidRepo(%q) = %v", r, !want)
		}
	}
}

// TestValidateParams pins the error texts the GitHub steps share, one error a line.
func TestValidateParams(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(1).OpenAIProjectKey()
	join := func(errs []error) string {
		var lines []string
		for _, e := range errs {
			lines = append(lines, e.Error())
		}
		return strings.Join(lines, "\n")
	}
	tests := []struct {
		name string
		errs []error
		want string
	}{
		{"secret ok", ValidateSecret(" " + secret + "\n"), ""},
		{"key id", ValidateSecret("key_abc"), ""},
		{"no secret", ValidateSecret(" "), "secret: the leaked value is required"},
		{"short secret", ValidateSecret("abc"),
			fmt.Sprintf("secret: shorter than %d characters, too short to search for or to redact", redact.MinLen)},
		{"line break", ValidateSecret(secret[:20] + "\n" + secret[20:]), "secret: contains a line break"},
		{"scope ok", ValidateScope("acme", []string{"acme/api", "other/tool"}), ""},
		{"bad scope", ValidateScope("acme/api", []string{"acme/api", "acme"}),
			"org: \"acme/api\" is not an organization login\nrepos[1]: \"acme\": want owner/name"},
		{"limits ok", ValidateRunLimits("2024-05-01", 0, 32), ""},
		{"bad limits", ValidateRunLimits("yesterday", -1, 33), "since: \"yesterday\": want an RFC 3339 time " +
			"(2024-05-01T10:00:00Z) or a date\nmax_runs: must be positive\nconcurrency: between 1 and 32"},
		{"negative concurrency", ValidateRunLimits("", 1, -1), "concurrency: between 1 and 32"},
	}
	for _, tc := range tests {
		if got := join(tc.errs); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		stepstest.AssertNoSecret(t, join(tc.errs), secret)
	}
}
