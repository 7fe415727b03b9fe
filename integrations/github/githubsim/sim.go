// Package githubsim is an in-memory GitHub REST API server for rehearsals and tests. It owns the
// simulated state (repositories, files for code search, secret-scanning alerts, workflow runs and
// their logs, Actions secrets), speaks the github.com wire format closely enough for the real
// go-github client, injects faults (rate limits of every flavour, 5xx, latency, dropped
// connections) and exposes its state for assertions.
//
// Actions secrets arrive sealed with the public key the simulator handed out; the simulator opens
// them with its private key and keeps the plaintext, so a test proves the sealed box is right.
package githubsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Route names are the request patterns the simulator serves; they key the request counters and
// select the routes a Fault applies to.
const (
	RouteUser             = "GET /user"
	RouteRateLimit        = "GET /rate_limit"
	RouteRepo             = "GET /repos/{owner}/{repo}"
	RouteOrgRepos         = "GET /orgs/{org}/repos"
	RouteSearchCode       = "GET /search/code"
	RouteBlob             = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}"
	RouteOrgAlerts        = "GET /orgs/{org}/secret-scanning/alerts"
	RouteRepoAlerts       = "GET /repos/{owner}/{repo}/secret-scanning/alerts"
	RouteAlert            = "GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}"
	RouteAlertUpdate      = "PATCH /repos/{owner}/{repo}/secret-scanning/alerts/{number}"
	RouteAlertLocations   = "GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}/locations"
	RouteRuns             = "GET /repos/{owner}/{repo}/actions/runs"
	RouteRunLogs          = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/logs"
	RouteRunLogsDelete    = "DELETE /repos/{owner}/{repo}/actions/runs/{run_id}/logs"
	RouteLogsZip          = "GET /_sim/logs/{token}"
	RouteRepoPublicKey    = "GET /repos/{owner}/{repo}/actions/secrets/public-key"
	RouteRepoSecret       = "GET /repos/{owner}/{repo}/actions/secrets/{name}"
	RouteRepoSecretPut    = "PUT /repos/{owner}/{repo}/actions/secrets/{name}"
	RouteRepoSecretDelete = "DELETE /repos/{owner}/{repo}/actions/secrets/{name}"
	RouteOrgPublicKey     = "GET /orgs/{org}/actions/secrets/public-key"
	RouteOrgSecret        = "GET /orgs/{org}/actions/secrets/{name}"
	RouteOrgSecretPut     = "PUT /orgs/{org}/actions/secrets/{name}"
	RouteOrgSecretDelete  = "DELETE /orgs/{org}/actions/secrets/{name}"
	RouteEnvPublicKey     = "GET /repositories/{repo_id}/environments/{env}/secrets/public-key"
	RouteEnvSecret        = "GET /repositories/{repo_id}/environments/{env}/secrets/{name}"
	RouteEnvSecretPut     = "PUT /repositories/{repo_id}/environments/{env}/secrets/{name}"
	RouteEnvSecretDelete  = "DELETE /repositories/{repo_id}/environments/{env}/secrets/{name}"

	// RouteUnmatched counts requests no route served.
	RouteUnmatched = "unmatched"
)

// Login is the user every valid token belongs to.
const Login = "respond-sim"

// Options configure a Server.
type Options struct {
	// Token is the only credential accepted (Authorization: Bearer <token> or token <token>).
	// With an empty Token every API request is refused with 401.
	Token string
	// Seed makes key generation, fault injection and identifiers reproducible.
	Seed uint64
	// Now is the simulator's clock (timestamps it writes, rate-limit reset headers); time.Now
	// when nil.
	Now func() time.Time
	// WebURL prefixes html_url values; it is never fetched.
	WebURL string
	// Scopes makes the token a classic one with these OAuth scopes: sent in X-OAuth-Scopes and
	// enforced per route. Permissions makes it a fine-grained one with these permissions
	// ("actions": "read"|"write", "secret_scanning_alerts", "secrets", "contents", ...), enforced
	// per route. With neither, the token may do everything and no scopes header is sent.
	Scopes      []string
	Permissions map[string]string
	// TokenExpires, when set, is sent as GitHub-Authentication-Token-Expiration.
	TokenExpires time.Time
	// CodeSearchPerMinute is code search's rate limit (github.com: 10 requests a minute for a
	// token); 0 means 10, negative means none.
	CodeSearchPerMinute int
}

// Server is the simulator. It is safe for concurrent use.
type Server struct {
	token  string
	now    func() time.Time
	webURL string
	mux    *http.ServeMux

	mu        sync.Mutex
	rng       *rand.Rand
	keyRand   *rand.ChaCha8
	repos     map[string]*repo // key: lower-case owner/name
	repoByID  map[int64]*repo
	orgs      map[string]*org // key: lower-case login
	nextRepo  int64
	nextRun   int64
	logTokens map[string]logRef
	faults    []*faultState
	requests  map[string]int

	scopes              []string
	permissions         map[string]string
	tokenExpires        time.Time
	codeSearchPerMinute int
	searchTimes         []time.Time // code searches answered in the last minute

	hooks webhooks
}

// New returns an empty simulator.
func New(o Options) *Server {
	seed := o.Seed
	var chachaSeed [32]byte
	for i := range 4 {
		v := seed ^ (0x9e3779b97f4a7c15 * uint64(i+1))
		for j := range 8 {
			chachaSeed[i*8+j] = byte(v >> (8 * j))
		}
	}
	s := &Server{
		token:     o.Token,
		now:       o.Now,
		webURL:    strings.TrimSuffix(o.WebURL, "/"),
		rng:       rand.New(rand.NewPCG(seed, seed^0xda3e39cb94b95bdb)),
		keyRand:   rand.NewChaCha8(chachaSeed),
		repos:     map[string]*repo{},
		repoByID:  map[int64]*repo{},
		orgs:      map[string]*org{},
		nextRepo:  100001,
		nextRun:   7000000001,
		logTokens: map[string]logRef{},
		requests:  map[string]int{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if o.Scopes != nil {
		s.scopes = append([]string{}, o.Scopes...)
	} else if o.Permissions != nil {
		s.permissions = maps.Clone(o.Permissions)
	}
	s.tokenExpires = o.TokenExpires
	s.codeSearchPerMinute = o.CodeSearchPerMinute
	if s.codeSearchPerMinute == 0 {
		s.codeSearchPerMinute = 10
	}
	if s.webURL == "" {
		s.webURL = "https://github.sim.invalid"
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc(RouteUser, s.handleUser)
	m.HandleFunc(RouteRateLimit, s.handleRateLimit)
	m.HandleFunc(RouteRepo, s.handleRepo)
	m.HandleFunc(RouteOrgRepos, s.handleOrgRepos)
	m.HandleFunc(RouteSearchCode, s.handleSearchCode)
	m.HandleFunc(RouteBlob, s.handleBlob)
	m.HandleFunc(RouteOrgAlerts, s.handleOrgAlerts)
	m.HandleFunc(RouteRepoAlerts, s.handleRepoAlerts)
	m.HandleFunc(RouteAlert, s.handleGetAlert)
	m.HandleFunc(RouteAlertUpdate, s.handleUpdateAlert)
	m.HandleFunc(RouteAlertLocations, s.handleAlertLocations)
	m.HandleFunc(RouteRuns, s.handleRuns)
	m.HandleFunc(RouteRunLogs, s.handleRunLogs)
	m.HandleFunc(RouteRunLogsDelete, s.handleDeleteRunLogs)
	m.HandleFunc(RouteLogsZip, s.handleLogsZip)
	m.HandleFunc(RouteRepoPublicKey, s.handlePublicKey)
	m.HandleFunc(RouteRepoSecret, s.handleGetSecret)
	m.HandleFunc(RouteRepoSecretPut, s.handlePutSecret)
	m.HandleFunc(RouteRepoSecretDelete, s.handleDeleteSecret)
	m.HandleFunc(RouteOrgPublicKey, s.handlePublicKey)
	m.HandleFunc(RouteOrgSecret, s.handleGetSecret)
	m.HandleFunc(RouteOrgSecretPut, s.handlePutSecret)
	m.HandleFunc(RouteOrgSecretDelete, s.handleDeleteSecret)
	m.HandleFunc(RouteEnvPublicKey, s.handlePublicKey)
	m.HandleFunc(RouteEnvSecret, s.handleGetSecret)
	m.HandleFunc(RouteEnvSecretPut, s.handlePutSecret)
	m.HandleFunc(RouteEnvSecretDelete, s.handleDeleteSecret)
	m.HandleFunc(RouteRepoSecrets, s.handleListSecrets)
	m.HandleFunc(RouteOrgSecrets, s.handleListSecrets)
	s.mux = m
}

// ServeHTTP counts the request, checks the token, injects faults, then serves the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	route := pattern
	if route == "" {
		route = RouteUnmatched
	}
	s.mu.Lock()
	s.requests[route]++
	s.mu.Unlock()

	// The zip URL is pre-signed on github.com: it is fetched without the API token.
	if route != RouteLogsZip && !s.authorized(r) {
		s.writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	if !s.tokenExpires.IsZero() {
		w.Header().Set("GitHub-Authentication-Token-Expiration", s.tokenExpires.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	if !s.permits(w, r, route) {
		return
	}
	if s.injectFault(w, r, route) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return false
	}
	h := r.Header.Get("Authorization")
	for _, scheme := range []string{"Bearer ", "bearer ", "token "} {
		if tok, ok := strings.CutPrefix(h, scheme); ok {
			return tok == s.token
		}
	}
	return false
}

// Requests returns a copy of the per-route request counters.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// ResetRequests zeroes the request counters.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = map[string]int{}
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"login": Login, "id": 1, "type": "User", "site_admin": false,
		"html_url": s.webURL + "/" + Login,
	})
}

func (s *Server) handleRateLimit(w http.ResponseWriter, r *http.Request) {
	reset := s.now().Add(time.Hour).Unix()
	res := func(limit int) map[string]any {
		return map[string]any{"limit": limit, "remaining": limit, "reset": reset, "used": 0}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"resources": map[string]any{"core": res(5000), "search": res(30), "code_search": res(10), "graphql": res(5000)},
		"rate":      res(5000),
	})
}

func (s *Server) handleRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOr404Locked(w, r)
	if rp == nil {
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.repoJSON(r, rp))
}

// repoOr404Locked is the repository the path names (owner, repo), or nil after answering 404.
func (s *Server) repoOr404Locked(w http.ResponseWriter, r *http.Request) *repo {
	rp := s.repoLocked(r.PathValue("owner"), r.PathValue("repo"))
	if rp == nil {
		s.writeError(w, http.StatusNotFound, "Not Found")
	}
	return rp
}

// itemOr404Locked resolves the repository the path names and, in it, the item of items(rp)
// whose id is the path value param. It answers 404 when either is missing (or param is no
// number) and then returns a zero item.
func itemOr404Locked[T any](s *Server, w http.ResponseWriter, r *http.Request, param string,
	items func(*repo) []T, id func(T) int64) (*repo, T) {
	var zero T
	rp := s.repoOr404Locked(w, r)
	if rp == nil {
		return nil, zero
	}
	if n, err := strconv.ParseInt(r.PathValue(param), 10, 64); err == nil {
		for _, x := range items(rp) {
			if id(x) == n {
				return rp, x
			}
		}
	}
	s.writeError(w, http.StatusNotFound, "Not Found")
	return rp, zero
}

func (s *Server) repoJSON(r *http.Request, rp *repo) map[string]any {
	base := apiBase(r)
	full := rp.owner + "/" + rp.name
	return map[string]any{
		"id":             rp.id,
		"node_id":        fmt.Sprintf("R_sim%d", rp.id),
		"name":           rp.name,
		"full_name":      full,
		"private":        rp.private,
		"visibility":     map[bool]string{true: "private", false: "public"}[rp.private],
		"default_branch": rp.defaultBranch,
		"pushed_at":      ts(cmp.Or(rp.pushedAt, s.now())),
		"owner":          map[string]any{"login": rp.owner, "id": s.orgLocked(rp.owner).id, "type": "Organization"},
		"html_url":       s.webURL + "/" + full,
		"url":            base + "/repos/" + full,
		"fork":           rp.fork,
		"archived":       rp.archived,
		"disabled":       false,
		"clone_url":      cmp.Or(rp.cloneURL, s.webURL+"/"+full+".git"),
		"size":           0,

		"security_and_analysis": s.securityJSON(rp),
	}
}

// apiBase is the absolute URL the client used to reach the simulator, including any prefix a
// parent mux stripped, so Link headers and URLs in bodies point back here.
func apiBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := ""
	if p, _, _ := strings.Cut(r.RequestURI, "?"); p != "" && strings.HasSuffix(p, r.URL.EscapedPath()) {
		prefix = strings.TrimSuffix(p, r.URL.EscapedPath())
		if strings.HasPrefix(prefix, "http://") || strings.HasPrefix(prefix, "https://") {
			prefix = "" // absolute-form request URI (proxy style): no prefix to keep
		}
	}
	return scheme + "://" + r.Host + prefix
}

func (s *Server) rateHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if h.Get("X-RateLimit-Resource") != "" {
		return // the handler counted this request itself (code search)
	}
	resource, limit := "core", 5000
	if strings.HasPrefix(r.URL.Path, "/search/code") {
		resource, limit = "code_search", 10
	} else if strings.HasPrefix(r.URL.Path, "/search/") {
		resource, limit = "search", 30
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(limit-1))
	h.Set("X-RateLimit-Used", "1")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", resource)
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.rateHeaders(w, r)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) writeError(w http.ResponseWriter, status int, msg string) {
	writeErrorDoc(w, status, msg, "https://docs.github.com/rest")
}

func writeErrorDoc(w http.ResponseWriter, status int, msg, doc string) {
	body, _ := json.Marshal(map[string]string{
		"message": msg, "documentation_url": doc, "status": strconv.Itoa(status),
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// validationFailed answers 422 the way GitHub does for bad parameters.
func (s *Server) validationFailed(w http.ResponseWriter, field, code, msg string) {
	body, _ := json.Marshal(map[string]any{
		"message":           "Validation Failed",
		"errors":            []map[string]string{{"resource": "Request", "field": field, "code": code, "message": msg}},
		"documentation_url": "https://docs.github.com/rest",
		"status":            "422",
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_, _ = w.Write(body)
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

func strOrNil(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// perPage reads per_page (default 30, capped at 100 as github.com does).
func perPage(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || n <= 0 {
		return 30
	}
	return min(n, 100)
}

func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// pageLinks sets a Link header with page-number relations, as offset-paged endpoints do.
func pageLinks(w http.ResponseWriter, r *http.Request, page, per, total int) {
	last := max(1, (total+per-1)/per)
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", apiBase(r), r.URL.EscapedPath(), q.Encode(), rel)
	}
	var parts []string
	if page < last {
		parts = append(parts, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		parts = append(parts, link(1, "first"), link(page-1, "prev"))
	}
	if len(parts) > 0 {
		w.Header().Set("Link", strings.Join(parts, ", "))
	}
}

// pageBounds returns the slice bounds of one page of n items.
func pageBounds(page, per, n int) (int, int) {
	lo := min((page-1)*per, n)
	return lo, min(lo+per, n)
}
