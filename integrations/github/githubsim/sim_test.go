package githubsim_test

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v62/github"
	"golang.org/x/crypto/nacl/box"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// newClient serves sim (under prefix, if any) and returns a real go-github client for it.
func newClient(t *testing.T, sim http.Handler, token, prefix string) (*gh.Client, string) {
	t.Helper()
	h := sim
	if prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(prefix+"/", http.StripPrefix(prefix, sim))
		h = mux
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := gh.NewClient(srv.Client()).WithAuthToken(token)
	c.BaseURL, _ = url.Parse(srv.URL + prefix + "/")
	return c, srv.URL
}

func newSim(t *testing.T, seed uint64, w githubsim.World) (*githubsim.Server, string, *fakekey.Source) {
	t.Helper()
	keys := fakekey.New(seed)
	tok := keys.GitHubToken()
	sim := githubsim.New(githubsim.Options{Token: tok, Seed: seed})
	if err := sim.Seed(w); err != nil {
		t.Fatal(err)
	}
	return sim, tok, keys
}

func TestAuth(t *testing.T) {
	t.Parallel()
	sim, tok, keys := newSim(t, 1, githubsim.World{})
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"valid", tok, 200},
		{"wrong", keys.GitHubToken(), 401},
		{"empty", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, sim, tc.token, "")
			if tc.token == "" {
				c = gh.NewClient(nil)
				_, base := newClient(t, sim, "", "")
				c.BaseURL, _ = url.Parse(base + "/")
			}
			u, resp, err := c.Users.Get(t.Context(), "")
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("status: %v (%v)", resp, err)
			}
			if tc.status == 200 && u.GetLogin() != githubsim.Login {
				t.Errorf("login = %q", u.GetLogin())
			}
		})
	}
}

func alertWorld(keys *fakekey.Source, n int) githubsim.World {
	r := githubsim.Repo{Name: "acme/api"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		r.Alerts = append(r.Alerts, githubsim.Alert{SecretType: "openai_api_key", Secret: keys.OpenAIProjectKey(), CreatedAt: base.Add(time.Duration(i) * time.Hour)})
	}
	return githubsim.World{Repos: []githubsim.Repo{r, {Name: "acme/web", Alerts: []githubsim.Alert{{SecretType: "openai_api_key", Secret: keys.OpenAIProjectKey(), CreatedAt: base}}}}}
}

func TestAlertPagingCursorAndPage(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(2)
	sim, tok, _ := newSim(t, 2, alertWorld(keys, 25))
	// Mounted under a prefix: the Link URLs must keep it for the client to follow them.
	c, _ := newClient(t, sim, tok, "/github")

	// Cursor paging, as github.com: Link rel="next" carries after=.
	opts := &gh.SecretScanningAlertListOptions{}
	opts.ListCursorOptions.PerPage = 10
	var numbers []int
	pages := 0
	for {
		as, resp, err := c.SecretScanning.ListAlertsForOrg(t.Context(), "acme", opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range as {
			numbers = append(numbers, a.GetNumber())
			if a.GetRepository().GetFullName() == "" {
				t.Fatal("org alerts must carry their repository")
			}
		}
		if resp.NextPage != 0 {
			t.Fatalf("cursor paging must not set NextPage (got %d)", resp.NextPage)
		}
		if resp.After == "" {
			break
		}
		opts.ListCursorOptions.After = resp.After
	}
	if len(numbers) != 26 || pages != 3 {
		t.Fatalf("cursor paging: %d alerts in %d pages, want 26 in 3", len(numbers), pages)
	}
	// Newest first: acme/api #25 was created last.
	if numbers[0] != 25 {
		t.Errorf("first alert = #%d, want #25 (newest)", numbers[0])
	}

	// Page paging, as GitHub Enterprise Server.
	popts := &gh.SecretScanningAlertListOptions{}
	popts.ListOptions.PerPage = 10
	popts.ListOptions.Page = 1
	total := 0
	for {
		as, resp, err := c.SecretScanning.ListAlertsForRepo(t.Context(), "acme", "api", popts)
		if err != nil {
			t.Fatal(err)
		}
		total += len(as)
		if resp.NextPage == 0 {
			if resp.LastPage != 0 {
				t.Errorf("last page has LastPage %d", resp.LastPage)
			}
			break
		}
		popts.ListOptions.Page = resp.NextPage
	}
	if total != 25 {
		t.Errorf("page paging: %d alerts, want 25", total)
	}

	_, resp, err := c.SecretScanning.ListAlertsForRepo(t.Context(), "acme", "api", &gh.SecretScanningAlertListOptions{State: "bogus"})
	if err == nil || resp.StatusCode != 422 {
		t.Errorf("bad state filter: %v", err)
	}
}

func TestAlertUpdateAndLocations(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(3)
	w := githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api", Alerts: []githubsim.Alert{{
		SecretType: "openai_api_key", Secret: keys.OpenAIProjectKey(),
		Locations: []githubsim.Location{{Path: "a.py", StartLine: 3, CommitSHA: keys.Hex(40), BlobSHA: keys.Hex(40)}},
	}}}}}
	sim, tok, _ := newSim(t, 3, w)
	c, _ := newClient(t, sim, tok, "")

	locs, _, err := c.SecretScanning.ListLocationsForAlert(t.Context(), "acme", "api", 1, nil)
	if err != nil || len(locs) != 1 || locs[0].GetType() != "commit" || locs[0].GetDetails().GetStartline() != 3 {
		t.Fatalf("locations: %v %v", locs, err)
	}
	before := sim.Snapshot()
	a, _, err := c.SecretScanning.UpdateAlert(t.Context(), "acme", "api", 1, &gh.SecretScanningAlertUpdateOptions{State: "resolved", Resolution: gh.String("revoked")})
	if err != nil {
		t.Fatal(err)
	}
	if a.GetState() != "resolved" || a.GetResolution() != "revoked" || a.GetResolvedAt().IsZero() || a.GetResolvedBy().GetLogin() == "" {
		t.Errorf("updated alert: %+v", a)
	}
	if bytes.Equal(before, sim.Snapshot()) {
		t.Error("snapshot did not change after resolving")
	}
	_, resp, err := c.SecretScanning.UpdateAlert(t.Context(), "acme", "api", 1, &gh.SecretScanningAlertUpdateOptions{State: "resolved"})
	if err == nil || resp.StatusCode != 422 {
		t.Errorf("resolve without resolution: %v", err)
	}
	a, _, err = c.SecretScanning.UpdateAlert(t.Context(), "acme", "api", 1, &gh.SecretScanningAlertUpdateOptions{State: "open"})
	if err != nil || a.GetState() != "open" || a.Resolution != nil {
		t.Errorf("reopen: %+v %v", a, err)
	}
}

func TestCodeSearchTextMatch(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(4)
	leaked := keys.OpenAIProjectKey()
	w := githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", Files: []githubsim.File{{Path: "cfg/app.yaml", Content: "a: 1\nkey: " + leaked + "\nb: 2\n"}}},
		{Name: "zeta/x", Files: []githubsim.File{{Path: "k.txt", Content: leaked}}},
	}}
	sim, tok, _ := newSim(t, 4, w)
	c, _ := newClient(t, sim, tok, "")

	res, _, err := c.Search.Code(t.Context(), leaked+" org:acme", &gh.SearchOptions{TextMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetTotal() != 1 || len(res.CodeResults) != 1 {
		t.Fatalf("total %d, results %d, want 1", res.GetTotal(), len(res.CodeResults))
	}
	r := res.CodeResults[0]
	if r.GetRepository().GetFullName() != "acme/api" || r.GetPath() != "cfg/app.yaml" || len(r.GetSHA()) != 40 {
		t.Errorf("result: %s %s %s", r.GetRepository().GetFullName(), r.GetPath(), r.GetSHA())
	}
	if len(r.TextMatches) != 1 {
		t.Fatalf("text matches: %d", len(r.TextMatches))
	}
	tm := r.TextMatches[0]
	frag := tm.GetFragment()
	m := tm.Matches[0]
	if frag[m.Indices[0]:m.Indices[1]] != leaked || !strings.HasPrefix(frag, "a: 1\n") {
		t.Errorf("fragment/indices do not locate the match")
	}

	plain, _, err := c.Search.Code(t.Context(), leaked, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.GetTotal() != 2 || len(plain.CodeResults[0].TextMatches) != 0 {
		t.Errorf("without text-match Accept: total %d, matches %d", plain.GetTotal(), len(plain.CodeResults[0].TextMatches))
	}
	for _, q := range []string{longestToken(leaked) + " repo:zeta/x", `"` + leaked + `" path:k.txt`} {
		res, _, err := c.Search.Code(t.Context(), q, nil)
		if err != nil || res.GetTotal() != 1 {
			t.Errorf("query with qualifiers: total %d, %v", res.GetTotal(), err)
		}
	}
}

// longestToken is the longest run of letters and digits in s.
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

// TestLegacyCodeSearchRules pins what GitHub documents for REST code search (the legacy engine):
// whole tokens only, punctuation ignored, default branch only, files under 384 KB, repositories
// active in the last year, at most two fragments per file.
func TestLegacyCodeSearchRules(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(5)
	leaked := keys.OpenAIProjectKey()
	tok := longestToken(leaked)
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	line := "key = " + leaked + "\n"
	w := githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", Files: []githubsim.File{
			{Path: "main.env", Content: line},
			{Path: "three.txt", Content: line + "x\n" + line + "y\n" + line + "z\n" + line},
			{Path: "feature.env", Content: line, Branch: "feature/x"},
			{Path: "big.log", Content: line + strings.Repeat("x", 384*1024)},
			{Path: "under.log", Content: line + strings.Repeat("x", 383*1024)},
		}},
		{Name: "acme/old", PushedAt: now.AddDate(-1, 0, -2), Files: []githubsim.File{{Path: "a.env", Content: line}}},
		{Name: "acme/recent", PushedAt: now.AddDate(0, -11, 0), Files: []githubsim.File{{Path: "a.env", Content: line}}},
	}}
	sim := githubsim.New(githubsim.Options{Token: "t", Now: func() time.Time { return now }, CodeSearchPerMinute: -1})
	if err := sim.Seed(w); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, sim, "t", "")
	search := func(q string) []string {
		t.Helper()
		res, _, err := c.Search.Code(t.Context(), q, &gh.SearchOptions{TextMatch: true})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		var got []string
		for _, r := range res.CodeResults {
			got = append(got, r.GetRepository().GetFullName()+"/"+r.GetPath())
			if len(r.TextMatches) > 2 {
				t.Errorf("%s: %d fragments, GitHub sends at most 2", r.GetPath(), len(r.TextMatches))
			}
		}
		return got
	}
	found := []string{"acme/api/main.env", "acme/api/three.txt", "acme/api/under.log", "acme/recent/a.env"}
	for _, tc := range []struct {
		name, q string
		want    []string
	}{
		{"whole token", tok, found},
		{"whole token, other case", strings.ToUpper(tok), found},
		{"whole value: punctuation is ignored", leaked, found},
		{"token with surrounding punctuation", "=" + tok + "=", found},
		{"part of a token", tok[1:], nil},
		{"tail of the value", leaked[len(leaked)-24:], nilIfPartial(leaked, 24, found)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, search(tc.q)); diff != "" {
				t.Errorf("search %s (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// nilIfPartial is what a search for the last n characters of v finds: nothing when they start
// inside a token, since code search matches whole tokens only.
func nilIfPartial(v string, n int, found []string) []string {
	i := len(v) - n
	isWord := func(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' }
	if isWord(v[i]) && isWord(v[i-1]) {
		return nil
	}
	return found
}

func TestCodeSearchQueryLimits(t *testing.T) {
	t.Parallel()
	sim := githubsim.New(githubsim.Options{Token: "t", CodeSearchPerMinute: -1})
	if err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, sim, "t", "")
	for _, tc := range []struct {
		q      string
		status int
	}{
		{strings.Repeat("a", 256) + " repo:acme/api", 200},
		{strings.Repeat("a", 257) + " repo:acme/api", 422},
		{"a OR b OR c OR d OR e OR f repo:acme/api", 200},
		{"a OR b OR c OR d OR e OR f OR g repo:acme/api", 422},
		{"needle repo:acme/gone", 422},
		{"needle org:nobody", 422},
	} {
		_, resp, err := c.Search.Code(t.Context(), tc.q, nil)
		if resp == nil || resp.StatusCode != tc.status {
			t.Errorf("%.40s…: %v, want %d", tc.q, err, tc.status)
		}
	}
}

func TestCodeSearchRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64 // the handler reads it on the server's goroutine
	clock.Store(now.Unix())
	sim := githubsim.New(githubsim.Options{Token: "t", Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	if err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, sim, "t", "")
	for i := range 10 {
		_, resp, err := c.Search.Code(t.Context(), "needle", nil)
		if err != nil || resp.Rate.Remaining != 9-i || resp.Rate.Limit != 10 {
			t.Fatalf("search %d: remaining %d of %d, %v", i+1, resp.Rate.Remaining, resp.Rate.Limit, err)
		}
	}
	_, _, err := c.Search.Code(t.Context(), "needle", nil)
	var rl *gh.RateLimitError
	if !errors.As(err, &rl) || rl.Rate.Remaining != 0 {
		t.Fatalf("11th search in a minute: %v, want a RateLimitError", err)
	}
	// A minute later the window has moved on (a fresh client: go-github remembers the limit).
	clock.Store(now.Add(61 * time.Second).Unix())
	c, _ = newClient(t, sim, "t", "")
	if _, _, err := c.Search.Code(t.Context(), "needle", nil); err != nil {
		t.Fatalf("search after the window: %v", err)
	}
}

func TestRunLogsRedirectZipAndDelete(t *testing.T) {
	t.Parallel()
	w := githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api", Runs: []githubsim.Run{
		{ID: 7, Jobs: []githubsim.Job{{Name: "build/test", Log: "line one\nline two\n"}}},
		{ID: 8, CreatedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
	}}}}
	sim, tok, _ := newSim(t, 5, w)
	c, _ := newClient(t, sim, tok, "")

	runs, _, err := c.Actions.ListRepositoryWorkflowRuns(t.Context(), "acme", "api", &gh.ListWorkflowRunsOptions{Created: ">=2021-01-01"})
	if err != nil || runs.GetTotalCount() != 1 || runs.WorkflowRuns[0].GetID() != 7 {
		t.Fatalf("created filter: %v %v", runs, err)
	}

	loc, _, err := c.Actions.GetWorkflowRunLogs(t.Context(), "acme", "api", 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The zip URL is pre-signed: fetched without a token.
	resp, err := http.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "0_build_test.txt" {
		t.Fatalf("zip entries: %v", zr.File)
	}

	if _, err := c.Actions.DeleteWorkflowRunLogs(t.Context(), "acme", "api", 7); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := c.Actions.GetWorkflowRunLogs(t.Context(), "acme", "api", 7, 1); err == nil || resp.StatusCode != http.StatusGone {
		t.Errorf("logs after delete: %v", err)
	}
	old, err := http.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	old.Body.Close()
	if old.StatusCode != http.StatusNotFound {
		t.Errorf("zip URL after delete: %d, want 404", old.StatusCode)
	}
}

func TestSecretsRejectBadSeals(t *testing.T) {
	t.Parallel()
	sim, tok, _ := newSim(t, 6, githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}})
	c, _ := newClient(t, sim, tok, "")
	key, _, err := c.Actions.GetRepoPublicKey(t.Context(), "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := base64.StdEncoding.DecodeString(key.GetKey())
	otherPub, _, _ := box.GenerateKey(rand.Reader)
	seal := func(to *[32]byte) string {
		b, err := box.SealAnonymous(nil, []byte("value"), to, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name   string
		secret gh.EncryptedSecret
		status int
	}{
		{"good", gh.EncryptedSecret{Name: "GOOD", KeyID: key.GetKeyID(), EncryptedValue: seal((*[32]byte)(pk))}, 201},
		{"wrong key id", gh.EncryptedSecret{Name: "A", KeyID: "1", EncryptedValue: seal((*[32]byte)(pk))}, 422},
		{"sealed for another key", gh.EncryptedSecret{Name: "B", KeyID: key.GetKeyID(), EncryptedValue: seal(otherPub)}, 422},
		{"not sealed", gh.EncryptedSecret{Name: "C", KeyID: key.GetKeyID(), EncryptedValue: base64.StdEncoding.EncodeToString([]byte("value"))}, 422},
		{"reserved name", gh.EncryptedSecret{Name: "GITHUB_X", KeyID: key.GetKeyID(), EncryptedValue: seal((*[32]byte)(pk))}, 422},
	}
	for _, tc := range tests {
		resp, _ := c.Actions.CreateOrUpdateRepoSecret(t.Context(), "acme", "api", &tc.secret)
		if resp == nil || resp.StatusCode != tc.status {
			t.Errorf("%s: status %v, want %d", tc.name, resp, tc.status)
		}
	}
	got, ok := sim.ActionsSecret(githubsim.SecretRef{Repo: "acme/api"}, "GOOD")
	if !ok || string(got.Value) != "value" {
		t.Errorf("decrypted %q", got.Value)
	}
	sec, _, err := c.Actions.GetRepoSecret(t.Context(), "acme", "api", "good")
	if err != nil || sec.Name != "GOOD" || sec.UpdatedAt.IsZero() {
		t.Errorf("get secret: %+v %v", sec, err)
	}
}

func TestSnapshotDeterministicAndReadOnlyCallsKeepIt(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(7)
	w := alertWorld(keys, 3)
	w.Repos[0].Runs = []githubsim.Run{{ID: 1, Jobs: []githubsim.Job{{Name: "j", Log: "x"}}}}
	sim1, tok, _ := newSim(t, 7, w)
	sim2, _, _ := newSim(t, 7, w)
	if d := cmp.Diff(string(sim1.Snapshot()), string(sim2.Snapshot())); d != "" {
		t.Fatalf("equal seeds, different snapshots:\n%s", d)
	}
	c, _ := newClient(t, sim1, tok, "")
	before := sim1.Snapshot()
	_, _, _ = c.SecretScanning.ListAlertsForOrg(t.Context(), "acme", nil)
	_, _, _ = c.Actions.GetWorkflowRunLogs(t.Context(), "acme", "api", 1, 1)
	_, _, _ = c.Actions.GetRepoPublicKey(t.Context(), "acme", "api")
	_, _, _ = c.Search.Code(t.Context(), "x", nil)
	if d := cmp.Diff(string(before), string(sim1.Snapshot())); d != "" {
		t.Errorf("read-only calls changed the snapshot:\n%s", d)
	}
	for _, a := range w.Repos[0].Alerts {
		if bytes.Contains(before, []byte(a.Secret)) {
			t.Fatal("snapshot holds a secret value")
		}
	}
	reqs := sim1.Requests()
	if reqs[githubsim.RouteOrgAlerts] != 1 || reqs[githubsim.RouteRunLogs] != 1 || reqs[githubsim.RouteSearchCode] != 1 {
		t.Errorf("request counters: %v", reqs)
	}
}

func TestLoadWorld(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(8)
	leaked := keys.OpenAIProjectKey()
	doc := []byte(`
repos:
  - name: acme/api
    environments: [production]
    files:
      - path: app/config.py
        content: |
          KEY = "${LEAKED}"
    alerts:
      - secret_type: openai_api_key
        secret: ${LEAKED}
        created_at: 2024-05-01T10:00:00Z
        locations:
          - {path: app/config.py, start_line: 1, commit_sha: abc}
    runs:
      - id: 99
        created_at: 2024-05-01T09:00:00Z
        jobs:
          - {name: build, log: "2024-05-01T09:00:01Z echo ${LEAKED}"}
faults:
  - {route: "GET /search/code", kind: "429", retry_after: 2s, times: 1}
`)
	w, err := githubsim.LoadWorld(doc, map[string]string{"LEAKED": leaked})
	if err != nil {
		t.Fatal(err)
	}
	sim := githubsim.New(githubsim.Options{Token: "t"})
	if err := sim.Seed(w); err != nil {
		t.Fatal(err)
	}
	a, ok := sim.AlertState("acme/api", 1)
	if !ok || a.Secret != leaked || a.State != "open" || !a.CreatedAt.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("alert: %+v", a)
	}
	if w.Faults[0].RetryAfter != 2*time.Second || !sim.HasRunLogs("acme/api", 99) {
		t.Errorf("faults %+v / runs not seeded", w.Faults)
	}

	bad := []struct{ name, doc string }{
		{"unknown key", "repos: [{name: a/b, colour: red}]"},
		{"undefined var", "repos: [{name: a/b, files: [{path: x, content: '${NOPE}'}]}]"},
	}
	for _, tc := range bad {
		if _, err := githubsim.LoadWorld([]byte(tc.doc), nil); err == nil {
			t.Errorf("%s: want error", tc.name)
		}
	}
	if err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api"}}}); err == nil {
		t.Error("seeding a repo twice: want error")
	}
}

func TestFaultsDeterministic(t *testing.T) {
	t.Parallel()
	run := func() []int {
		sim, tok, _ := newSim(t, 9, githubsim.World{})
		sim.AddFaults(githubsim.Fault{Route: githubsim.RouteUser, Kind: githubsim.FaultServerError, Rate: 0.5})
		c, _ := newClient(t, sim, tok, "")
		var statuses []int
		for range 20 {
			_, resp, _ := c.Users.Get(t.Context(), "")
			statuses = append(statuses, resp.StatusCode)
		}
		return statuses
	}
	a, b := run(), run()
	if d := cmp.Diff(a, b); d != "" {
		t.Fatalf("same seed, different faults:\n%s", d)
	}
	n500 := 0
	for _, s := range a {
		if s == 500 {
			n500++
		}
	}
	if n500 == 0 || n500 == 20 {
		t.Errorf("rate 0.5 fired %d of 20", n500)
	}

	sim, tok, _ := newSim(t, 10, githubsim.World{})
	sim.AddFaults(
		githubsim.Fault{Kind: githubsim.FaultLatency, Latency: time.Millisecond, Times: 1},
		// No Times limit: net/http silently retries a GET dropped on a reused connection.
		githubsim.Fault{Route: githubsim.RouteRateLimit, Kind: githubsim.FaultDrop, Skip: 1},
	)
	c, _ := newClient(t, sim, tok, "")
	for i, wantErr := range []bool{false, true} {
		_, _, err := c.RateLimit.Get(t.Context())
		if (err != nil) != wantErr {
			t.Errorf("call %d: err %v, want error %v", i, err, wantErr)
		}
	}
	if fired := sim.FaultsFired(); fired[0] != 1 || fired[1] < 1 {
		t.Errorf("fired = %v, want latency once and the drop at least once", fired)
	}
	sim.ClearFaults()
	if _, _, err := c.RateLimit.Get(t.Context()); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
	if _, err := http.Get(strings.TrimSuffix(c.BaseURL.String(), "/") + "/nowhere"); err != nil {
		t.Fatal(err)
	}
	if sim.Requests()[githubsim.RouteUnmatched] != 1 {
		t.Errorf("unmatched not counted: %v", sim.Requests())
	}
}

func TestRateLimitWireFormat(t *testing.T) {
	t.Parallel()
	sim, tok, _ := newSim(t, 11, githubsim.World{})
	c, _ := newClient(t, sim, tok, "")
	sim.AddFaults(githubsim.Fault{Route: githubsim.RouteUser, Kind: githubsim.FaultPrimaryRateLimit, Times: 1, RetryAfter: 30 * time.Second})
	_, _, err := c.Users.Get(t.Context(), "")
	var rl *gh.RateLimitError
	if !errors.As(err, &rl) || rl.Rate.Remaining != 0 || time.Until(rl.Rate.Reset.Time) < 20*time.Second {
		t.Fatalf("primary: %v", err)
	}
	// go-github now refuses core calls locally until the reset: the simulator sees nothing.
	before := sim.Requests()[githubsim.RouteUser]
	if _, _, err := c.Users.Get(t.Context(), ""); !errors.As(err, &rl) || sim.Requests()[githubsim.RouteUser] != before {
		t.Errorf("go-github did not remember the primary limit: %v", err)
	}
}
