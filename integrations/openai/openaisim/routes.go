package openaisim

import (
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// Route patterns, as counted by RequestCount and matched by FaultRule.Route.
const (
	RouteListProjects            = "GET /v1/organization/projects"
	RouteGetProject              = "GET /v1/organization/projects/{project_id}"
	RouteListProjectKeys         = "GET /v1/organization/projects/{project_id}/api_keys"
	RouteGetProjectKey           = "GET /v1/organization/projects/{project_id}/api_keys/{api_key_id}"
	RouteUpdateProjectKey        = "POST /v1/organization/projects/{project_id}/api_keys/{api_key_id}"
	RouteDeleteProjectKey        = "DELETE /v1/organization/projects/{project_id}/api_keys/{api_key_id}"
	RouteListServiceAccounts     = "GET /v1/organization/projects/{project_id}/service_accounts"
	RouteCreateServiceAccount    = "POST /v1/organization/projects/{project_id}/service_accounts"
	RouteGetServiceAccount       = "GET /v1/organization/projects/{project_id}/service_accounts/{service_account_id}"
	RouteUpdateServiceAccount    = "POST /v1/organization/projects/{project_id}/service_accounts/{service_account_id}"
	RouteDeleteServiceAccount    = "DELETE /v1/organization/projects/{project_id}/service_accounts/{service_account_id}"
	RouteCreateServiceAccountKey = "POST /v1/organization/projects/{project_id}/service_accounts/{service_account_id}/api_keys"
	RouteGetSpendLimit           = "GET /v1/organization/projects/{project_id}/spend_limit"
	RouteUpdateSpendLimit        = "POST /v1/organization/projects/{project_id}/spend_limit"
	RouteDeleteSpendLimit        = "DELETE /v1/organization/projects/{project_id}/spend_limit"
	RouteListSpendAlerts         = "GET /v1/organization/projects/{project_id}/spend_alerts"
	RouteCreateSpendAlert        = "POST /v1/organization/projects/{project_id}/spend_alerts"
	RouteGetSpendAlert           = "GET /v1/organization/projects/{project_id}/spend_alerts/{alert_id}"
	RouteDeleteSpendAlert        = "DELETE /v1/organization/projects/{project_id}/spend_alerts/{alert_id}"
	RouteListRateLimits          = "GET /v1/organization/projects/{project_id}/rate_limits"
	RouteUpdateRateLimit         = "POST /v1/organization/projects/{project_id}/rate_limits/{rate_limit_id}"
	RouteUsageCompletions        = "GET /v1/organization/usage/completions"
	RouteUsageEmbeddings         = "GET /v1/organization/usage/embeddings"
	RouteUsageImages             = "GET /v1/organization/usage/images"
	// RouteUsagePrefix + a kind (see Kinds) is the route of every usage endpoint.
	RouteUsagePrefix = "GET /v1/organization/usage/"
	RouteCosts       = "GET /v1/organization/costs"
	RouteListModels  = "GET /v1/models"
	// Organization-level budgets.
	RouteGetOrgSpendLimit    = "GET /v1/organization/spend_limit"
	RouteUpdateOrgSpendLimit = "POST /v1/organization/spend_limit"
	RouteDeleteOrgSpendLimit = "DELETE /v1/organization/spend_limit"
	RouteListOrgSpendAlerts  = "GET /v1/organization/spend_alerts"
	RouteCreateOrgSpendAlert = "POST /v1/organization/spend_alerts"
	RouteGetOrgSpendAlert    = "GET /v1/organization/spend_alerts/{alert_id}"
	RouteDeleteOrgSpendAlert = "DELETE /v1/organization/spend_alerts/{alert_id}"
	// RouteUnmatched counts requests no route matched (answered 404).
	RouteUnmatched = "unmatched"
)

// RequestRecord is one request as the simulator saw it.
type RequestRecord struct {
	Time   time.Time // simulator clock when the request arrived
	Method string
	Path   string
	Route  string
	Status int    // 0 when the connection was dropped
	Fault  string // "", "latency", "429", "500", "drop", "apply-then-drop"
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	h := map[string]http.HandlerFunc{
		RouteListProjects:            s.listProjects,
		RouteGetProject:              s.getProject,
		RouteListProjectKeys:         s.listProjectKeys,
		RouteGetProjectKey:           s.getProjectKey,
		RouteUpdateProjectKey:        s.updateProjectKey,
		RouteDeleteProjectKey:        s.deleteProjectKey,
		RouteListServiceAccounts:     s.listServiceAccounts,
		RouteCreateServiceAccount:    s.createServiceAccount,
		RouteGetServiceAccount:       s.getServiceAccount,
		RouteUpdateServiceAccount:    s.updateServiceAccount,
		RouteDeleteServiceAccount:    s.deleteServiceAccount,
		RouteCreateServiceAccountKey: s.createServiceAccountKey,
		RouteGetSpendLimit:           s.getSpendLimit,
		RouteUpdateSpendLimit:        s.updateSpendLimit,
		RouteDeleteSpendLimit:        s.deleteSpendLimit,
		RouteListSpendAlerts:         s.listSpendAlerts,
		RouteCreateSpendAlert:        s.createSpendAlert,
		RouteGetSpendAlert:           s.getSpendAlert,
		RouteDeleteSpendAlert:        s.deleteSpendAlert,
		RouteListRateLimits:          s.listRateLimits,
		RouteListAuditLogs:           s.listAuditLogs,
		RouteUpdateRateLimit:         s.updateRateLimit,
		RouteCosts:                   s.costs,
		RouteListModels:              s.listModels,
		RouteGetOrgSpendLimit:        s.getOrgSpendLimit,
		RouteUpdateOrgSpendLimit:     s.updateOrgSpendLimit,
		RouteDeleteOrgSpendLimit:     s.deleteOrgSpendLimit,
		RouteListOrgSpendAlerts:      s.listOrgSpendAlerts,
		RouteCreateOrgSpendAlert:     s.createOrgSpendAlert,
		RouteGetOrgSpendAlert:        s.getOrgSpendAlert,
		RouteDeleteOrgSpendAlert:     s.deleteOrgSpendAlert,
	}
	for _, kind := range Kinds() {
		h[RouteUsagePrefix+kind] = s.usageHandler(kind)
	}
	for pattern, fn := range h {
		s.mux.HandleFunc(pattern, fn)
	}
}

// ServeHTTP counts the request, applies faults, authenticates and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, route := s.mux.Handler(r)
	if route == "" {
		route = RouteUnmatched
	}
	s.mu.Lock()
	rec := RequestRecord{Time: s.now(), Method: r.Method, Path: r.URL.Path, Route: route}
	s.counts[route]++
	f := s.faults.pick(route, r.Method)
	s.mu.Unlock()

	if f.delay > 0 {
		rec.Fault = "latency"
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	switch f.kind {
	case faultTooMany:
		rec.Fault = "429"
		secs := int((f.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(max(secs, 1)))
		w.Header().Set("Retry-After-Ms", fmt.Sprint(f.retryAfter.Milliseconds()))
		writeError(sw, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "",
			"Rate limit reached for requests (simulated). Please try again later.")
	case faultServerError:
		rec.Fault = "500"
		writeError(sw, http.StatusInternalServerError, "server_error", "", "",
			"The server had an error while processing your request (simulated).")
	case faultDrop:
		rec.Fault = "drop"
		s.record(rec)
		dropConnection(w)
		return
	case faultApplyThenDrop:
		rec.Fault = "apply-then-drop"
		discard := &statusWriter{ResponseWriter: discardWriter{h: http.Header{}}}
		s.serve(discard, r, route)
		s.record(rec)
		dropConnection(w)
		return
	default:
		s.serve(sw, r, route)
	}
	rec.Status = sw.status
	s.record(rec)
}

func (s *Server) record(rec RequestRecord) {
	s.mu.Lock()
	s.log = append(s.log, rec)
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string) {
	if route == RouteUnmatched {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "",
			fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/v1/organization/") && !s.authorizeAdmin(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// maskForMessage mimics OpenAI's "Incorrect API key provided: sk-proj-****abcd" without ever
// echoing enough of the value to be a secret.
func maskForMessage(tok string) string {
	prefix := "sk-"
	for _, p := range []string{"sk-proj-", "sk-svcacct-", "sk-admin-"} {
		if strings.HasPrefix(tok, p) {
			prefix = p
		}
	}
	if len(tok) < 12 {
		return prefix + "****"
	}
	return prefix + "****" + tok[len(tok)-4:]
}

func (s *Server) authorizeAdmin(w http.ResponseWriter, r *http.Request) bool {
	tok := bearer(r)
	switch {
	case tok == "":
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
		return false
	case subtle.ConstantTimeCompare([]byte(tok), []byte(s.adminKey)) == 1:
		return true
	}
	if k, _ := s.liveKeyBySecret(tok); k != nil {
		writeError(w, http.StatusForbidden, "invalid_request_error", "insufficient_permissions", "",
			"You have insufficient permissions for this operation. Admin endpoints require an admin API key.")
		return false
	}
	writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
		fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.", maskForMessage(tok)))
	return false
}

// RequestCount is how many requests hit a route (see the Route constants), faulted ones included.
func (s *Server) RequestCount(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[route]
}

// RequestCounts returns a copy of the per-route counters.
func (s *Server) RequestCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}

// RequestLog returns every request seen so far, in arrival order.
func (s *Server) RequestLog() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RequestRecord(nil), s.log...)
}

// ResetCounters clears the counters and the request log (not the state).
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
	s.log = nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// dropConnection closes the client connection without a response, as a network failure or a
// proxy timeout would. HTTP/1 connections are hijacked and closed; otherwise the handler aborts.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
