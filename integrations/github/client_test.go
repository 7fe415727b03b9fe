package github

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v62/github"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// fakeClock waits out rate limits instantly and records what it was asked to wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

type env struct {
	c     *Client
	sim   *githubsim.Server
	clock *fakeClock
	token string
	url   string
	keys  *fakekey.Source
}

func setup(t *testing.T, seed uint64, w githubsim.World) *env {
	t.Helper()
	keys := fakekey.New(seed)
	tok := keys.GitHubToken()
	// The simulator shares the fake clock, so the reset times it sends move with the waits.
	fc := &fakeClock{now: time.Now()}
	sim := githubsim.New(githubsim.Options{Token: tok, Seed: seed, Now: fc.Now})
	if err := sim.Seed(w); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	// No trailing slash on purpose: New must add it.
	c, err := New(Config{Token: tok, BaseURL: srv.URL, HTTPClient: srv.Client(), MaxWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c.clk = fc
	return &env{c: c, sim: sim, clock: fc, token: tok, url: srv.URL, keys: keys}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("New without token: got %v, want ErrNoCredentials", err)
	}
	if _, err := New(Config{Token: "x", BaseURL: "ftp://example"}); err == nil {
		t.Fatal("New with ftp base URL: want error")
	}
	c, err := New(Config{Token: "x", BaseURL: "https://ghe.example/api/v3"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.base.String(); got != "https://ghe.example/api/v3/" {
		t.Errorf("base = %q, want trailing slash added", got)
	}
}

func TestCheckAccess(t *testing.T) {
	t.Parallel()
	e := setup(t, 1, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
	if err := e.c.CheckAccess(t.Context(), "acme/api"); err != nil {
		t.Fatalf("CheckAccess: %v", err)
	}
	err := e.c.CheckAccess(t.Context(), "acme/missing")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("CheckAccess missing repo: got %v, want ErrNotFound", err)
	}

	bad, err := New(Config{Token: e.keys.GitHubToken(), BaseURL: e.url})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.CheckAccess(t.Context())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("CheckAccess with wrong token: got %v, want ErrUnauthorized", err)
	}
	var te interface{ Transient() bool }
	if !errors.As(err, &te) || te.Transient() {
		t.Errorf("401 must be a non-transient *Error, got %#v", err)
	}
}

func alertsWorld(keys *fakekey.Source, perRepo int) (githubsim.World, []string) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var secrets []string
	w := githubsim.World{}
	for ri, name := range []string{"acme/api", "acme/web", "other/tool"} {
		r := githubsim.Repo{Name: name}
		for i := range perRepo {
			typ := "openai_api_key"
			if i%5 == 4 {
				typ = "github_personal_access_token"
			}
			sec := keys.OpenAIProjectKey()
			secrets = append(secrets, sec)
			state := "open"
			if i%7 == 6 {
				state = "resolved"
			}
			r.Alerts = append(r.Alerts, githubsim.Alert{
				SecretType: typ, Secret: sec, State: state, Resolution: map[string]string{"resolved": "wont_fix"}[state],
				CreatedAt: base.Add(time.Duration(ri*1000+i) * time.Minute),
			})
		}
		w.Repos = append(w.Repos, r)
	}
	return w, secrets
}

func TestListSecretAlertsCursorPaging(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(42)
	w, _ := alertsWorld(keys, 130)
	e := setup(t, 2, w)

	tests := []struct {
		name       string
		scope      AlertScope
		secretType string
		state      string
		want       int
		wantPages  map[string]int
	}{
		// 260 org alerts at 100 per page: three pages by cursor.
		{"org all", AlertScope{Org: "acme"}, "", "", 260, map[string]int{githubsim.RouteOrgAlerts: 3}},
		// 4 of 5 are openai; 6 of every 7 open: counted below from the seed.
		{"org filtered", AlertScope{Org: "acme"}, "openai_api_key", "open", countAlerts(w, "acme", "openai_api_key", "open"), nil},
		{"repos", AlertScope{Repos: []string{"acme/api", "other/tool"}}, "", "", 260, map[string]int{githubsim.RouteRepoAlerts: 4}},
		// A repo inside the org is not listed twice.
		{"org and repos", AlertScope{Org: "acme", Repos: []string{"acme/api", "other/tool"}}, "", "", 390, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sim.Requests()
			got, err := e.c.ListSecretAlerts(t.Context(), tc.scope, tc.secretType, tc.state)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("got %d alerts, want %d", len(got), tc.want)
			}
			seen := map[string]bool{}
			for _, a := range got {
				k := fmt.Sprintf("%s#%d", a.Repo, a.Number)
				if seen[k] {
					t.Fatalf("alert %s listed twice", k)
				}
				seen[k] = true
				if tc.secretType != "" && a.SecretType != tc.secretType || tc.state != "" && a.State != tc.state {
					t.Fatalf("alert %s does not match filters: %+v", k, a)
				}
				if a.Secret == "" || a.HTMLURL == "" || a.CreatedAt.IsZero() {
					t.Fatalf("alert %s is missing fields", k)
				}
			}
			after := e.sim.Requests()
			for route, n := range tc.wantPages {
				if d := after[route] - before[route]; d != n {
					t.Errorf("%s: %d requests, want %d", route, d, n)
				}
			}
		})
	}
}

func countAlerts(w githubsim.World, owner, typ, state string) int {
	n := 0
	for _, r := range w.Repos {
		if !strings.HasPrefix(r.Name, owner+"/") {
			continue
		}
		for _, a := range r.Alerts {
			if a.SecretType == typ && a.State == state {
				n++
			}
		}
	}
	return n
}

func TestAlertLocationsAndResolve(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(7)
	var locs []githubsim.Location
	for i := range 150 {
		locs = append(locs, githubsim.Location{Path: fmt.Sprintf("src/f%03d.py", i), StartLine: i + 1, CommitSHA: keys.Hex(40), BlobSHA: keys.Hex(40)})
	}
	e := setup(t, 3, githubsim.World{Repos: []githubsim.Repo{{
		Name:   "acme/api",
		Alerts: []githubsim.Alert{{SecretType: "openai_api_key", Secret: keys.OpenAIProjectKey(), Locations: locs}},
	}}})

	got, err := e.c.AlertLocations(t.Context(), "acme/api", 1)
	if err != nil {
		t.Fatal(err)
	}
	var want []Location
	for _, l := range locs {
		want = append(want, Location{Type: "commit", Path: l.Path, StartLine: l.StartLine, EndLine: l.StartLine, CommitSHA: l.CommitSHA, BlobSHA: l.BlobSHA})
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("locations (-want +got):\n%s", d)
	}
	if n := e.sim.Requests()[githubsim.RouteAlertLocations]; n != 2 {
		t.Errorf("location pages fetched = %d, want 2", n)
	}

	if err := e.c.ResolveAlert(t.Context(), "acme/api", 1, ResolutionRevoked, "revoked by respond run r-1"); err != nil {
		t.Fatal(err)
	}
	a, _ := e.sim.AlertState("acme/api", 1)
	if a.State != "resolved" || a.Resolution != "revoked" || a.ResolutionComment != "revoked by respond run r-1" {
		t.Errorf("alert after resolve = %s/%s/%q", a.State, a.Resolution, a.ResolutionComment)
	}
	err = e.c.ResolveAlert(t.Context(), "acme/api", 1, "because", "")
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("bad resolution: got %v, want ErrInvalid", err)
	}
	if err := e.c.ResolveAlert(t.Context(), "acme/api", 99, ResolutionRevoked, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing alert: got %v, want ErrNotFound", err)
	}
}

func TestSearchCode(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(9)
	leaked := keys.OpenAIProjectKey()
	needle := longestToken(leaked) // code search matches whole tokens, never part of one
	w := githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", Files: []githubsim.File{
			{Path: "config/settings.py", Content: "DEBUG = False\nOPENAI_API_KEY = \"" + leaked + "\"\nTIMEOUT = 3\n"},
			{Path: "README.md", Content: "nothing here\n"},
		}},
		{Name: "acme/web", Files: []githubsim.File{{Path: ".env", Content: "KEY=" + leaked + "\n"}}},
		{Name: "other/tool", Files: []githubsim.File{{Path: "x.txt", Content: leaked}}},
	}}
	for i := range 130 { // enough hits for two pages
		w.Repos[1].Files = append(w.Repos[1].Files, githubsim.File{Path: fmt.Sprintf("gen/f%03d.txt", i), Content: "k=" + leaked})
	}
	e := setup(t, 4, w)

	tests := []struct {
		name  string
		scope Scope
		want  int
	}{
		{"org", Scope{Org: "acme"}, 132},
		{"repo", Scope{Repos: []string{"acme/api"}}, 1},
		{"everywhere", Scope{}, 133},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.c.SearchCodeResult(t.Context(), needle, tc.scope)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hits) != tc.want || res.Total != tc.want || res.Incomplete {
				t.Fatalf("hits=%d total=%d incomplete=%v, want %d complete", len(res.Hits), res.Total, res.Incomplete, tc.want)
			}
			for _, h := range res.Hits {
				if h.Repo == "" || h.Path == "" || h.SHA == "" || h.URL == "" {
					t.Fatalf("hit missing fields: %+v", h)
				}
				if len(h.Fragments) == 0 || !strings.Contains(h.Fragments[0], needle) {
					t.Fatalf("hit %s/%s: fragments %d do not hold the match", h.Repo, h.Path, len(h.Fragments))
				}
			}
		})
	}
	if _, err := e.c.SearchCode(t.Context(), "", Scope{Org: "acme"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty query: got %v, want ErrInvalid", err)
	}
}

// longestToken is the longest run of ASCII letters and digits in s.
func longestToken(s string) string {
	best := ""
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) {
		if len(f) > len(best) {
			best = f
		}
	}
	return best
}

func TestSearchWaitsOutTheCodeSearchLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, 12, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
	e.c.maxWait = DefaultMaxWait // a minute's window needs a little more than setup's budget
	start := e.clock.Now()
	for i := range 12 { // GitHub allows 10 code searches a minute
		if _, err := e.c.SearchCode(t.Context(), "needle", Scope{Org: "acme"}); err != nil {
			t.Fatalf("search %d: %v", i+1, err)
		}
	}
	if waited := e.clock.Now().Sub(start); waited < 50*time.Second || waited > 2*time.Minute {
		t.Errorf("12 searches waited %s, want about a minute", waited)
	}
}

func TestBlob(t *testing.T) {
	t.Parallel()
	content := "line one\n" + strings.Repeat("é ünïcode and bytes\x00\xff ", 40) + "\n"
	e := setup(t, 13, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api", Files: []githubsim.File{
		{Path: "a.bin", Content: content}, {Path: "b.txt", Content: "on a branch", Branch: "dev"}}}}})
	for _, want := range []string{content, "on a branch"} {
		got, err := e.c.Blob(t.Context(), "acme/api", blobID(want), 1<<20)
		if err != nil || string(got) != want {
			t.Errorf("Blob: %q, %v; want the file's bytes", got, err)
		}
	}
	if _, err := e.c.Blob(t.Context(), "acme/api", blobID(content), 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("Blob over the limit: %v, want ErrInvalid", err)
	}
	if _, err := e.c.Blob(t.Context(), "acme/api", blobID("nope"), 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v, want ErrNotFound", err)
	}
}

func blobID(content string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil))
}

func TestSearchErrorsNeverHoldTheQuery(t *testing.T) {
	t.Parallel()
	e := setup(t, 5, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
	leaked := e.keys.OpenAIProjectKey()
	for _, kind := range []githubsim.FaultKind{githubsim.FaultServerError, githubsim.FaultDrop, githubsim.FaultTooManyRequests} {
		e.sim.ClearFaults()
		e.sim.AddFaults(githubsim.Fault{Route: githubsim.RouteSearchCode, Kind: kind, RetryAfter: time.Hour})
		_, err := e.c.SearchCode(t.Context(), leaked, Scope{Org: "acme"})
		if err == nil {
			t.Fatalf("%s: want error", kind)
		}
		for e := error(err); e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), leaked) || strings.Contains(fmt.Sprintf("%+v", e), leaked) {
				t.Fatalf("%s: error text holds the query: %T", kind, e)
			}
		}
	}
}

func TestWorkflowRunsLogsAndDelete(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(11)
	leaked := keys.OpenAIProjectKey()
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	r := githubsim.Repo{Name: "acme/api"}
	for i := range 150 {
		r.Runs = append(r.Runs, githubsim.Run{Name: "CI", CreatedAt: base.Add(time.Duration(i) * time.Hour)})
	}
	r.Runs = append(r.Runs, githubsim.Run{ID: 42, Name: "Deploy", CreatedAt: base.Add(200 * time.Hour), Jobs: []githubsim.Job{
		{Name: "build", Log: "2024-03-09T08:00:00.0000000Z starting\n"},
		{Name: "deploy", Log: "2024-03-09T08:01:00.0000000Z export OPENAI_API_KEY=" + leaked + "\n"},
	}})
	e := setup(t, 6, githubsim.World{Repos: []githubsim.Repo{r}})

	runs, err := e.c.ListWorkflowRuns(t.Context(), "acme/api", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 151 || runs[0].ID != 42 {
		t.Fatalf("got %d runs (first %d), want 151 newest first", len(runs), runs[0].ID)
	}
	since, err := e.c.ListWorkflowRuns(t.Context(), "acme/api", base.Add(100*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(since) != 51 {
		t.Errorf("runs since hour 100 = %d, want 51", len(since))
	}

	zr, err := e.c.RunLogs(t.Context(), "acme/api", 42)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	found := false
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		found = found || strings.Contains(string(b), leaked)
	}
	if d := cmp.Diff([]string{"0_build.txt", "1_deploy.txt"}, names); d != "" || !found {
		t.Fatalf("zip files (-want +got):\n%s\nsecret found: %v", d, found)
	}

	if err := e.c.DeleteRunLogs(t.Context(), "acme/api", 42); err != nil {
		t.Fatal(err)
	}
	if e.sim.HasRunLogs("acme/api", 42) {
		t.Fatal("sim still has the logs")
	}
	if _, err := e.c.RunLogs(t.Context(), "acme/api", 42); !errors.Is(err, ErrNotFound) {
		t.Errorf("logs after delete: got %v, want ErrNotFound", err)
	}
	if err := e.c.DeleteRunLogs(t.Context(), "acme/api", 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete logs of missing run: got %v, want ErrNotFound", err)
	}
}

func TestActionsSecretsSealedBoxRoundTrip(t *testing.T) {
	t.Parallel()
	e := setup(t, 12, githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", Environments: []string{"production", "staging area"}},
		{Name: "acme/web"},
	}})
	webID, _ := e.sim.RepoID("acme/web")
	tests := []struct {
		name      string
		target    SecretTarget
		ref       githubsim.SecretRef
		wantVis   string
		wantRepos []int64
	}{
		{"repo", SecretTarget{Repo: "acme/api"}, githubsim.SecretRef{Repo: "acme/api"}, "", nil},
		{"environment", SecretTarget{Repo: "acme/api", Environment: "production"}, githubsim.SecretRef{Repo: "acme/api", Environment: "production"}, "", nil},
		{"environment with space", SecretTarget{Repo: "acme/api", Environment: "staging area"}, githubsim.SecretRef{Repo: "acme/api", Environment: "staging area"}, "", nil},
		{"org private", SecretTarget{Org: "acme"}, githubsim.SecretRef{Org: "acme"}, "private", nil},
		{"org selected", SecretTarget{Org: "acme", SelectedRepos: []string{"acme/web"}}, githubsim.SecretRef{Org: "acme"}, "selected", []int64{webID}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("OPENAI_API_KEY_%d", i)
			value := []byte(fakekey.New(uint64(100 + i)).OpenAIServiceAccountKey())
			ok, _, err := e.c.SecretExists(t.Context(), tc.target, name)
			if err != nil || ok {
				t.Fatalf("exists before put = %v, %v", ok, err)
			}
			if err := e.c.PutActionsSecret(t.Context(), tc.target, name, value); err != nil {
				t.Fatal(err)
			}
			got, ok := e.sim.ActionsSecret(tc.ref, name)
			if !ok || string(got.Value) != string(value) {
				t.Fatalf("sim decrypted %d bytes (ok=%v), want the exact %d-byte value", len(got.Value), ok, len(value))
			}
			if got.Visibility != tc.wantVis || !cmp.Equal(got.SelectedRepositoryIDs, tc.wantRepos) {
				t.Errorf("visibility %q repos %v, want %q %v", got.Visibility, got.SelectedRepositoryIDs, tc.wantVis, tc.wantRepos)
			}
			// Update: a second put replaces the value.
			value2 := []byte(fakekey.New(uint64(200 + i)).OpenAIServiceAccountKey())
			if err := e.c.PutActionsSecret(t.Context(), tc.target, name, value2); err != nil {
				t.Fatal(err)
			}
			if got, _ := e.sim.ActionsSecret(tc.ref, name); string(got.Value) != string(value2) {
				t.Fatal("update did not replace the value")
			}
			ok, updated, err := e.c.SecretExists(t.Context(), tc.target, name)
			if err != nil || !ok || updated.IsZero() {
				t.Fatalf("exists after put = %v, %v, %v", ok, updated, err)
			}
			if err := e.c.DeleteActionsSecret(t.Context(), tc.target, name); err != nil {
				t.Fatal(err)
			}
			if err := e.c.DeleteActionsSecret(t.Context(), tc.target, name); err != nil {
				t.Fatalf("second delete must be idempotent: %v", err)
			}
			if _, ok := e.sim.ActionsSecret(tc.ref, name); ok {
				t.Fatal("secret still in sim after delete")
			}
		})
	}

	// The public key is fetched per put, so a rotated key is picked up.
	if err := e.sim.RotateKey(githubsim.SecretRef{Repo: "acme/api"}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.PutActionsSecret(t.Context(), SecretTarget{Repo: "acme/api"}, "AFTER_ROTATE", []byte("v")); err != nil {
		t.Fatalf("put after key rotation: %v", err)
	}

	bad := []struct {
		name   string
		target SecretTarget
		secret string
	}{
		{"no target", SecretTarget{}, "X"},
		{"both", SecretTarget{Repo: "acme/api", Org: "acme"}, "X"},
		{"bad repo", SecretTarget{Repo: "acme"}, "X"},
		{"visibility on repo", SecretTarget{Repo: "acme/api", Visibility: "all"}, "X"},
		{"reserved name", SecretTarget{Repo: "acme/api"}, "GITHUB_TOKEN"},
		{"bad name", SecretTarget{Repo: "acme/api"}, "MY-KEY"},
	}
	for _, tc := range bad {
		if err := e.c.PutActionsSecret(t.Context(), tc.target, tc.secret, []byte("v")); err == nil {
			t.Errorf("%s: want error", tc.name)
		}
	}
	if err := e.c.PutActionsSecret(t.Context(), SecretTarget{Repo: "acme/api", Environment: "nope"}, "X", []byte("v")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing environment: got %v, want ErrNotFound", err)
	}
}

func TestRateLimitsAreWaitedOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		kind       githubsim.FaultKind
		retryAfter time.Duration
	}{
		{"primary 403 remaining 0", githubsim.FaultPrimaryRateLimit, 3 * time.Second},
		{"secondary 403", githubsim.FaultSecondaryRateLimit, 2 * time.Second},
		{"429 retry-after", githubsim.FaultTooManyRequests, time.Second},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys := fakekey.New(uint64(50 + i))
			w, _ := alertsWorld(keys, 120)
			e := setup(t, uint64(20+i), w)
			// Page 2 of the org listing is limited twice, then a page-1 limit on the next call.
			e.sim.AddFaults(githubsim.Fault{Route: githubsim.RouteOrgAlerts, Kind: tc.kind, Skip: 1, Times: 2, RetryAfter: tc.retryAfter})
			got, err := e.c.ListSecretAlerts(t.Context(), AlertScope{Org: "acme"}, "", "")
			if err != nil {
				t.Fatalf("ListSecretAlerts: %v", err)
			}
			if len(got) != 240 {
				t.Fatalf("got %d alerts, want 240", len(got))
			}
			if n := e.sim.Requests()[githubsim.RouteOrgAlerts]; n != 5 {
				t.Errorf("org alert requests = %d, want 3 pages + 2 limited", n)
			}
			sleeps := e.clock.Sleeps()
			if len(sleeps) != 2 {
				t.Fatalf("waited %d times, want 2: %v", len(sleeps), sleeps)
			}
			for _, d := range sleeps {
				if d <= 0 || d > tc.retryAfter+time.Second {
					t.Errorf("waited %v, want (0, %v]", d, tc.retryAfter+time.Second)
				}
			}
			// Other calls still work afterwards: go-github's memory of the limit does not
			// outlive the wait.
			if err := e.c.CheckAccess(t.Context(), "acme/api"); err != nil {
				t.Errorf("call after limit: %v", err)
			}
		})
	}
}

func TestRateLimitBudgetExhausted(t *testing.T) {
	t.Parallel()
	for i, kind := range []githubsim.FaultKind{githubsim.FaultPrimaryRateLimit, githubsim.FaultSecondaryRateLimit, githubsim.FaultTooManyRequests} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := setup(t, uint64(30+i), githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
			e.sim.AddFaults(githubsim.Fault{Route: githubsim.RouteRepoAlerts, Kind: kind, RetryAfter: 10 * time.Minute})
			_, err := e.c.ListSecretAlerts(t.Context(), AlertScope{Repos: []string{"acme/api"}}, "", "")
			var te interface {
				Transient() bool
				RetryAfter() time.Duration
			}
			if !errors.As(err, &te) || !te.Transient() || !errors.Is(err, ErrRateLimited) {
				t.Fatalf("got %v, want a transient ErrRateLimited", err)
			}
			if ra := te.RetryAfter(); ra < 9*time.Minute || ra > 11*time.Minute {
				t.Errorf("RetryAfter = %v, want about 10m", ra)
			}
			if s := e.clock.Sleeps(); len(s) != 0 {
				t.Errorf("slept %v although the wait exceeds the budget", s)
			}
			// The remembered gate refuses the next call without a request.
			before := e.sim.Requests()[githubsim.RouteRepoAlerts]
			_, err = e.c.ListSecretAlerts(t.Context(), AlertScope{Repos: []string{"acme/api"}}, "", "")
			if !errors.Is(err, ErrRateLimited) || e.sim.Requests()[githubsim.RouteRepoAlerts] != before {
				t.Errorf("second call: %v, requests %d -> %d", err, before, e.sim.Requests()[githubsim.RouteRepoAlerts])
			}
		})
	}
}

func TestGoGithubRememberedSecondaryLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, 40, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
	e.sim.AddFaults(githubsim.Fault{Route: githubsim.RouteUser, Kind: githubsim.FaultSecondaryRateLimit, Times: 1, RetryAfter: 30 * time.Second})
	// Hit the limit through the underlying go-github client, behind the wrapper's back: go-github
	// now refuses every call locally for 30 s.
	if _, _, err := e.c.client().Users.Get(t.Context(), ""); err == nil {
		t.Fatal("want secondary limit")
	}
	if _, _, err := e.c.client().Repositories.Get(t.Context(), "acme", "api"); err == nil {
		t.Fatal("go-github should refuse locally")
	}
	before := e.sim.Requests()[githubsim.RouteRepo]
	if _, err := e.c.RepoID(t.Context(), "acme/api"); err != nil {
		t.Fatalf("RepoID after remembered limit: %v", err)
	}
	if got := e.sim.Requests()[githubsim.RouteRepo] - before; got != 1 {
		t.Errorf("repo requests = %d, want 1 (after waiting)", got)
	}
	if s := e.clock.Sleeps(); len(s) != 1 || s[0] <= 0 {
		t.Errorf("sleeps = %v, want one wait", s)
	}
}

func TestTransientFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault githubsim.Fault
	}{
		{"500", githubsim.Fault{Kind: githubsim.FaultServerError}},
		{"502", githubsim.Fault{Kind: githubsim.FaultServerError, Status: 502}},
		{"dropped connection", githubsim.Fault{Kind: githubsim.FaultDrop}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, uint64(60+i), githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
			tc.fault.Route = githubsim.RouteRepo
			e.sim.AddFaults(tc.fault)
			_, err := e.c.RepoID(t.Context(), "acme/api")
			var te interface{ Transient() bool }
			if !errors.As(err, &te) || !te.Transient() {
				t.Fatalf("got %v, want transient", err)
			}
			if errors.Is(err, ErrRateLimited) {
				t.Error("a server error is not a rate limit")
			}
		})
	}
}

func TestContextCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	e := setup(t, 70, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
	ctx, cancel := context.WithCancel(t.Context())
	e.c.clk = cancellingClock{fakeClock: e.clock, cancel: cancel}
	e.sim.AddFaults(githubsim.Fault{Route: githubsim.RouteRepo, Kind: githubsim.FaultTooManyRequests, RetryAfter: 5 * time.Second})
	_, err := e.c.RepoID(ctx, "acme/api")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var te interface{ Transient() bool }
	if errors.As(err, &te) && te.Transient() {
		t.Error("a cancelled wait must not be transient")
	}
}

// cancellingClock cancels the context when asked to wait, then waits for it like a real clock.
type cancellingClock struct {
	*fakeClock
	cancel context.CancelFunc
}

func (c cancellingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	<-ctx.Done()
	return ctx.Err()
}

// The real go-github client must classify the sim's limits as the typed errors the wrapper
// expects; this pins the wire format of each flavour.
func TestSimRateLimitFlavoursAsGoGithubSeesThem(t *testing.T) {
	t.Parallel()
	e := setup(t, 80, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
	check := func(kind githubsim.FaultKind, want func(error) bool) {
		t.Helper()
		e.sim.ClearFaults()
		e.sim.AddFaults(githubsim.Fault{Route: githubsim.RouteRepo, Kind: kind, Times: 1})
		g := e.c.newGH()
		_, _, err := g.Repositories.Get(t.Context(), "acme", "api")
		if !want(err) {
			t.Errorf("%s: go-github returned %T", kind, err)
		}
	}
	check(githubsim.FaultPrimaryRateLimit, func(err error) bool { var x *gh.RateLimitError; return errors.As(err, &x) })
	check(githubsim.FaultSecondaryRateLimit, func(err error) bool {
		var x *gh.AbuseRateLimitError
		return errors.As(err, &x) && x.RetryAfter != nil && *x.RetryAfter == time.Second
	})
	check(githubsim.FaultTooManyRequests, func(err error) bool {
		var x *gh.ErrorResponse
		return errors.As(err, &x) && x.Response.StatusCode == 429
	})
}

func TestSearchCodeSurvivesAMisspeltRepository(t *testing.T) {
	t.Parallel()
	leaked := fakekey.New(14).OpenAIProjectKey()
	e := setup(t, 14, githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", Files: []githubsim.File{{Path: "a.env", Content: "K=" + leaked}}},
		{Name: "acme/web", Files: []githubsim.File{{Path: "b.env", Content: "K=" + leaked}}},
	}})
	res, err := e.c.SearchCodeResult(t.Context(), longestToken(leaked), Scope{Org: "ghost", Repos: []string{"acme/api", "acme/tpyo", "acme/web"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.Repo+"/"+h.Path)
	}
	if diff := cmp.Diff([]string{"acme/api/a.env", "acme/web/b.env"}, got); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"org ghost", "acme/tpyo"}, res.Unsearchable); diff != "" || !res.Incomplete {
		t.Errorf("unsearchable (-want +got):\n%s (incomplete %v)", diff, res.Incomplete)
	}
	if _, err := e.c.SearchCodeResult(t.Context(), "x", Scope{Repos: []string{"acme/gone"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nothing searchable: %v, want ErrInvalid", err)
	}
}
