package github

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/strictjson"
)

// The contract: every JSON body githubsim sends decodes strictly (no unknown field) into the
// go-github v62 type the real client decodes it into, and carries the fields GitHub's REST
// reference marks required. Fields github.com really sends that go-github v62 lacks are allowed
// by name below, each with where GitHub documents it; nothing else may be invented.

// contract is what one route's successful answer must look like.
type contract struct {
	decode   func() any // a new value of the go-github type
	allow    []string   // paths of real fields the type lacks ("a.b", "items[].x", "*" for every key)
	required []string   // paths that must be present and not null
}

var githubContracts = map[string]contract{
	githubsim.RouteUser: {decode: func() any { return new(gh.User) }, required: []string{"login", "id", "type"}},
	githubsim.RouteRateLimit: {
		decode: func() any {
			return new(struct {
				Resources *gh.RateLimits `json:"resources"`
				Rate      *gh.Rate       `json:"rate"`
			})
		},
		// "used" is in every rate object of GET /rate_limit (docs: rate-limit#get-rate-limit-status-for-the-authenticated-user); v62's Rate lacks it.
		allow:    []string{"resources.*.used", "rate.used"},
		required: []string{"resources.core.limit", "resources.search.limit", "resources.code_search.limit", "rate.remaining"},
	},
	githubsim.RouteRepo: {decode: func() any { return new(gh.Repository) },
		required: []string{"id", "node_id", "name", "full_name", "private", "owner.login", "html_url", "url", "default_branch"}},
	githubsim.RouteOrgRepos: {decode: func() any { return new([]*gh.Repository) },
		required: []string{"[].id", "[].node_id", "[].name", "[].full_name", "[].private", "[].owner.login", "[].html_url",
			"[].url", "[].fork", "[].archived", "[].clone_url"}},
	githubsim.RouteSearchCode: {decode: func() any { return new(gh.CodeSearchResult) },
		required: []string{"total_count", "incomplete_results", "items[].name", "items[].path", "items[].sha", "items[].url",
			"items[].git_url", "items[].html_url", "items[].repository.full_name", "items[].score"},
		// Every code-search item carries "url", "git_url" and "score" (docs: search#search-code,
		// schema code-search-result-item, all required); v62's CodeResult lacks them.
		allow: []string{"items[].url", "items[].git_url", "items[].score"}},
	githubsim.RouteBlob: {decode: func() any { return new(gh.Blob) },
		required: []string{"content", "encoding", "url", "sha", "size", "node_id"}},
	githubsim.RouteOrgAlerts: {decode: func() any { return new([]*gh.SecretScanningAlert) },
		required: alertRequired("[]."), allow: alertAllow("[].")},
	githubsim.RouteRepoAlerts: {decode: func() any { return new([]*gh.SecretScanningAlert) },
		required: alertRequired("[]."), allow: alertAllow("[].")},
	githubsim.RouteAlert:       {decode: func() any { return new(gh.SecretScanningAlert) }, required: alertRequired(""), allow: alertAllow("")},
	githubsim.RouteAlertUpdate: {decode: func() any { return new(gh.SecretScanningAlert) }, required: alertRequired(""), allow: alertAllow("")},
	githubsim.RouteAlertLocations: {decode: func() any { return new([]*gh.SecretScanningAlertLocation) },
		required: []string{"[].type", "[].details"}},
	githubsim.RouteRuns: {decode: func() any { return new(gh.WorkflowRuns) },
		required: []string{"total_count", "workflow_runs[].id", "workflow_runs[].head_sha", "workflow_runs[].status",
			"workflow_runs[].created_at", "workflow_runs[].html_url"}},
	githubsim.RouteRepoPublicKey: {decode: func() any { return new(gh.PublicKey) }, required: []string{"key_id", "key"}},
	githubsim.RouteOrgPublicKey:  {decode: func() any { return new(gh.PublicKey) }, required: []string{"key_id", "key"}},
	githubsim.RouteEnvPublicKey:  {decode: func() any { return new(gh.PublicKey) }, required: []string{"key_id", "key"}},
	githubsim.RouteRepoSecret:    {decode: func() any { return new(gh.Secret) }, required: []string{"name", "created_at", "updated_at"}},
	githubsim.RouteOrgSecret: {decode: func() any { return new(gh.Secret) },
		required: []string{"name", "created_at", "updated_at", "visibility"}},
	githubsim.RouteEnvSecret: {decode: func() any { return new(gh.Secret) }, required: []string{"name", "created_at", "updated_at"}},
	// Creating a secret answers 201 with an empty object (docs: actions/secrets, schema
	// empty-object); updating answers 204 with no body.
	githubsim.RouteRepoSecretPut: {decode: func() any { return new(struct{}) }},
	githubsim.RouteOrgSecretPut:  {decode: func() any { return new(struct{}) }},
	githubsim.RouteEnvSecretPut:  {decode: func() any { return new(struct{}) }},
	githubsim.RouteRepoSecrets: {decode: func() any { return new(gh.Secrets) },
		required: []string{"total_count", "secrets[].name", "secrets[].created_at", "secrets[].updated_at"}},
	githubsim.RouteOrgSecrets: {decode: func() any { return new(gh.Secrets) },
		required: []string{"total_count", "secrets[].name", "secrets[].created_at", "secrets[].updated_at", "secrets[].visibility"}},
}

// errorContract is every 4xx/5xx JSON body. "status" is in github.com's error bodies (docs:
// "Troubleshooting the REST API" examples); v62's ErrorResponse lacks it.
var errorContract = contract{decode: func() any { return new(gh.ErrorResponse) }, allow: []string{"status"},
	required: []string{"message", "documentation_url"}}

func alertRequired(p string) []string {
	var out []string
	for _, f := range []string{"number", "created_at", "url", "html_url", "locations_url", "state", "secret_type", "secret"} {
		out = append(out, p+f)
	}
	return out
}

// alertAllow: fields of every secret-scanning alert (docs: secret-scanning#list-secret-scanning-
// alerts-for-a-repository, schema secret-scanning-alert) that v62's SecretScanningAlert lacks.
func alertAllow(p string) []string {
	var out []string
	for _, f := range []string{"validity", "publicly_leaked", "multi_repo", "has_more_locations", "first_location_detected"} {
		out = append(out, p+f)
	}
	return out
}

// exchange is one answer the simulator sent.
type exchange struct {
	route, method, path string
	status              int
	contentType         string
	body                []byte
}

// recorder serves the simulator and keeps every answer.
type recorder struct {
	next   http.Handler
	routes *http.ServeMux
	mu     sync.Mutex
	got    []exchange
}

type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	cw := &captureWriter{ResponseWriter: w}
	r.next.ServeHTTP(cw, req)
	_, route := r.routes.Handler(req)
	r.mu.Lock()
	r.got = append(r.got, exchange{route: route, method: req.Method, path: req.URL.Path, status: cw.status,
		contentType: cw.Header().Get("Content-Type"), body: cw.body.Bytes()})
	r.mu.Unlock()
}

func newRecorder(next http.Handler) *recorder {
	m := http.NewServeMux()
	for _, route := range []string{githubsim.RouteUser, githubsim.RouteRateLimit, githubsim.RouteRepo, githubsim.RouteOrgRepos,
		githubsim.RouteSearchCode, githubsim.RouteBlob, githubsim.RouteOrgAlerts, githubsim.RouteRepoAlerts, githubsim.RouteAlert, githubsim.RouteAlertUpdate,
		githubsim.RouteAlertLocations, githubsim.RouteRuns, githubsim.RouteRunLogs, githubsim.RouteRunLogsDelete, githubsim.RouteLogsZip,
		githubsim.RouteRepoPublicKey, githubsim.RouteRepoSecret, githubsim.RouteRepoSecretPut, githubsim.RouteRepoSecretDelete,
		githubsim.RouteOrgPublicKey, githubsim.RouteOrgSecret, githubsim.RouteOrgSecretPut, githubsim.RouteOrgSecretDelete,
		githubsim.RouteEnvPublicKey, githubsim.RouteEnvSecret, githubsim.RouteEnvSecretPut, githubsim.RouteEnvSecretDelete,
		githubsim.RouteRepoSecrets, githubsim.RouteOrgSecrets} {
		m.HandleFunc(route, func(http.ResponseWriter, *http.Request) {})
	}
	return &recorder{next: next, routes: m}
}

func TestSimulatorAnswersDecodeStrictlyIntoGoGitHubTypes(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(31)
	tok, leaked := keys.GitHubToken(), keys.OpenAIProjectKey()
	t0 := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	sim := githubsim.New(githubsim.Options{Token: tok, Seed: 31, CodeSearchPerMinute: -1})
	err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{
		Name: "acme/api", Private: true, Environments: []string{"prod"},
		Files: []githubsim.File{{Path: "cfg/app.env", Content: "A=1\nKEY=" + leaked + "\nB=2\n"}},
		Alerts: []githubsim.Alert{{SecretType: "openai_api_key", Secret: leaked, CreatedAt: t0, Validity: "active",
			Locations: []githubsim.Location{{Path: "cfg/app.env", StartLine: 2, EndLine: 2, CommitSHA: strings.Repeat("ab", 20), BlobSHA: strings.Repeat("cd", 20)}}}},
		Runs: []githubsim.Run{{Name: "CI", CreatedAt: t0, Jobs: []githubsim.Job{{Name: "build", Log: "key=" + leaked + "\n"}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(sim)
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := New(Config{Token: tok, BaseURL: srv.URL, MaxRetries: -1, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	raw := gh.NewClient(nil).WithAuthToken(tok)
	raw.BaseURL = mustURL(t, srv.URL+"/")
	ctx := t.Context()

	// Every route, as respond and go-github call it, and the error answers too.
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, _, err = raw.Users.Get(ctx, "")
	must("get user", err)
	_, err = c.TokenInfo(ctx)
	must("rate limit", err)
	_, err = c.RepoID(ctx, "acme/api")
	must("repo", err)
	_, err = c.OrgRepos(ctx, "acme")
	must("org repos", err)
	res, err := c.SearchCodeResult(ctx, searchTokenOf(leaked), Scope{Org: "acme"})
	must("search", err)
	if len(res.Hits) != 1 {
		t.Fatalf("search found %d files, want 1", len(res.Hits))
	}
	_, err = c.Blob(ctx, "acme/api", res.Hits[0].SHA, 1<<20)
	must("blob", err)
	_, err = c.ListSecretAlerts(ctx, Scope{Org: "acme"}, "openai_api_key", "")
	must("org alerts", err)
	_, err = c.ListSecretAlerts(ctx, Scope{Repos: []string{"acme/api"}}, "", "")
	must("repo alerts", err)
	_, _, err = raw.SecretScanning.GetAlert(ctx, "acme", "api", 1)
	must("get alert", err)
	_, err = c.AlertLocations(ctx, "acme/api", 1)
	must("locations", err)
	must("resolve", c.ResolveAlert(ctx, "acme/api", 1, ResolutionRevoked, ""))
	runs, err := c.ListWorkflowRuns(ctx, "acme/api", time.Time{})
	must("runs", err)
	_, err = c.RunLogs(ctx, "acme/api", runs[0].ID)
	must("logs", err)
	must("delete logs", c.DeleteRunLogs(ctx, "acme/api", runs[0].ID))
	for _, target := range []SecretTarget{{Repo: "acme/api"}, {Org: "acme"}, {Repo: "acme/api", Environment: "prod"}} {
		_, _, err = c.SecretExists(ctx, target, "OPENAI_API_KEY")
		must("secret before", err)
		must("put secret", c.PutActionsSecret(ctx, target, "OPENAI_API_KEY", []byte(keys.OpenAIProjectKey())))
		_, _, err = c.SecretExists(ctx, target, "OPENAI_API_KEY")
		must("secret after", err)
		must("delete secret", c.DeleteActionsSecret(ctx, target, "OPENAI_API_KEY"))
	}
	must("seed org secret", sim.AddSecret(githubsim.SecretRef{Org: "acme"}, githubsim.Secret{Name: "OPENAI_KEY", Value: "x", UpdatedAt: t0}))
	repo, err := c.GetRepo(ctx, "acme/api")
	must("get repo", err)
	if repo.SecretScanning != githubsim.StatusEnabled || repo.PushProtection != githubsim.StatusEnabled {
		t.Errorf("GetRepo = %+v, want secret scanning and push protection enabled", repo)
	}
	for _, target := range []SecretTarget{{Repo: "acme/api"}, {Org: "acme"}} {
		_, err = c.ListActionsSecrets(ctx, target)
		must("list secrets", err)
	}
	_, _ = c.RepoID(ctx, "acme/gone")                                        // 404
	_, _ = c.SearchCodeResult(ctx, "x", Scope{Repos: []string{"acme/gone"}}) // 422
	sim.AddFaults(githubsim.Fault{Route: githubsim.RouteUser, Kind: githubsim.FaultSecondaryRateLimit, Times: 1},
		githubsim.Fault{Route: githubsim.RouteUser, Kind: githubsim.FaultTooManyRequests, Times: 1})
	_, _, _ = raw.Users.Get(ctx, "")           // 403, secondary rate limit
	raw = gh.NewClient(nil).WithAuthToken(tok) // go-github now refuses locally until the limit passes
	raw.BaseURL = mustURL(t, srv.URL+"/")
	_, _, _ = raw.Users.Get(ctx, "") // 429
	bad, _ := New(Config{Token: "wrong", BaseURL: srv.URL, MaxRetries: -1})
	_, _ = bad.TokenInfo(ctx) // 401

	seen := map[string]bool{}
	errorsSeen := map[int]bool{}
	for _, x := range rec.got {
		if !strings.HasPrefix(x.contentType, "application/json") || len(bytes.TrimSpace(x.body)) == 0 {
			continue
		}
		k := githubContracts[x.route]
		if x.status >= 400 {
			k = errorContract
			errorsSeen[x.status] = true
		} else if k.decode == nil {
			t.Errorf("%s %s (%s): a JSON answer with no contract", x.method, x.path, x.route)
			continue
		} else {
			seen[x.route] = true
		}
		if err := strictjson.Check(x.body, k.decode(), k.required, k.allow); err != nil {
			t.Errorf("%s %s → %d: %v\n%s", x.method, x.path, x.status, err, x.body)
		}
	}
	var missing []string
	for route := range githubContracts {
		if !seen[route] {
			missing = append(missing, route)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes never exercised: %v", missing)
	}
	for _, s := range []int{401, 403, 404, 422, 429} {
		if !errorsSeen[s] {
			t.Errorf("no %d answer was checked", s)
		}
	}
}

func searchTokenOf(v string) string { return longestToken(v) }

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
