package githubsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

var alertResolutions = []string{"false_positive", "wont_fix", "revoked", "used_in_tests"}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) sortedReposLocked() []*repo {
	out := make([]*repo, 0, len(s.repos))
	for _, rp := range s.repos {
		out = append(out, rp)
	}
	slices.SortFunc(out, func(a, b *repo) int {
		return strings.Compare(strings.ToLower(a.owner+"/"+a.name), strings.ToLower(b.owner+"/"+b.name))
	})
	return out
}

type repoAlert struct {
	rp *repo
	a  *alert
}

func (ra repoAlert) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%d", ra.rp.id, ra.a.Number)))
}

func (s *Server) handleOrgAlerts(w http.ResponseWriter, r *http.Request) {
	login := r.PathValue("org")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orgs[strings.ToLower(login)] == nil {
		s.writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var all []repoAlert
	for _, rp := range s.sortedReposLocked() {
		if strings.EqualFold(rp.owner, login) {
			for _, a := range rp.alerts {
				all = append(all, repoAlert{rp, a})
			}
		}
	}
	s.listAlertsLocked(w, r, all, true)
}

func (s *Server) handleRepoAlerts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOr404Locked(w, r)
	if rp == nil {
		return
	}
	all := make([]repoAlert, 0, len(rp.alerts))
	for _, a := range rp.alerts {
		all = append(all, repoAlert{rp, a})
	}
	s.listAlertsLocked(w, r, all, false)
}

// listAlertsLocked filters, sorts and pages alerts. Without a page parameter it pages by cursor
// (after/before, with Link rel="next" carrying after=) as github.com does; with page it pages
// by number as GitHub Enterprise Server does.
func (s *Server) listAlertsLocked(w http.ResponseWriter, r *http.Request, all []repoAlert, withRepo bool) {
	q := r.URL.Query()
	state := q.Get("state")
	if state != "" && state != "open" && state != "resolved" {
		s.validationFailed(w, "state", "invalid", "state must be open or resolved")
		return
	}
	types := splitList(q.Get("secret_type"))
	resolutions := splitList(q.Get("resolution"))
	sortKey := q.Get("sort")
	if sortKey == "" {
		sortKey = "created"
	}
	if sortKey != "created" && sortKey != "updated" {
		s.validationFailed(w, "sort", "invalid", "sort must be created or updated")
		return
	}
	asc := q.Get("direction") == "asc"

	slices.SortStableFunc(all, func(x, y repoAlert) int {
		tx, ty := x.a.CreatedAt, y.a.CreatedAt
		if sortKey == "updated" {
			tx, ty = x.a.updatedAt, y.a.updatedAt
		}
		c := tx.Compare(ty)
		if c == 0 {
			c = compareInt(x.rp.id, y.rp.id)
			if c == 0 {
				c = compareInt(x.a.Number, y.a.Number)
			}
		}
		if !asc {
			c = -c
		}
		return c
	})

	keep := func(ra repoAlert) bool {
		a := ra.a
		if state != "" && a.State != state {
			return false
		}
		if len(types) > 0 && !slices.Contains(types, a.SecretType) {
			return false
		}
		if len(resolutions) > 0 && !slices.Contains(resolutions, a.Resolution) {
			return false
		}
		return true
	}
	per := perPage(r)

	var page []repoAlert
	if q.Has("page") && !q.Has("after") && !q.Has("before") {
		var filtered []repoAlert
		for _, ra := range all {
			if keep(ra) {
				filtered = append(filtered, ra)
			}
		}
		p := pageParam(r)
		lo, hi := pageBounds(p, per, len(filtered))
		page = filtered[lo:hi]
		pageLinks(w, r, p, per, len(filtered))
	} else {
		// The cursor names the last alert of the previous page, so the next page starts
		// right after it even if alerts changed state in between.
		start := 0
		if after := q.Get("after"); after != "" {
			idx := slices.IndexFunc(all, func(ra repoAlert) bool { return ra.cursor() == after })
			if idx < 0 {
				s.validationFailed(w, "after", "invalid", "invalid cursor")
				return
			}
			start = idx + 1
		}
		more := false
		for i := start; i < len(all); i++ {
			if !keep(all[i]) {
				continue
			}
			if len(page) == per {
				more = true
				break
			}
			page = append(page, all[i])
		}
		if more {
			nq := r.URL.Query()
			nq.Del("page")
			nq.Del("before")
			nq.Set("after", page[len(page)-1].cursor())
			w.Header().Set("Link", fmt.Sprintf("<%s%s?%s>; rel=\"next\"", apiBase(r), r.URL.EscapedPath(), nq.Encode()))
		}
	}

	out := make([]map[string]any, 0, len(page))
	for _, ra := range page {
		out = append(out, s.alertJSON(r, ra.rp, ra.a, withRepo))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) alertJSON(r *http.Request, rp *repo, a *alert, withRepo bool) map[string]any {
	full := rp.owner + "/" + rp.name
	u := apiBase(r) + "/repos/" + full + "/secret-scanning/alerts/" + itoa(a.Number)
	m := map[string]any{
		"number":                      a.Number,
		"created_at":                  ts(a.CreatedAt),
		"updated_at":                  ts(a.updatedAt),
		"url":                         u,
		"html_url":                    s.webURL + "/" + full + "/security/secret-scanning/" + itoa(a.Number),
		"locations_url":               u + "/locations",
		"state":                       a.State,
		"resolution":                  strOrNil(a.Resolution),
		"resolved_at":                 tsOrNil(a.ResolvedAt),
		"resolved_by":                 nil,
		"resolution_comment":          strOrNil(a.ResolutionComment),
		"secret_type":                 a.SecretType,
		"secret_type_display_name":    a.SecretTypeDisplayName,
		"secret":                      a.Secret,
		"validity":                    orDefault(a.Validity, "unknown"),
		"push_protection_bypassed":    false,
		"publicly_leaked":             false,
		"multi_repo":                  false,
		"first_location_detected":     nil,
		"has_more_locations":          len(a.Locations) > 1,
		"push_protection_bypassed_by": nil,
	}
	if a.State == "resolved" {
		m["resolved_by"] = map[string]any{"login": Login, "id": 1, "type": "User"}
	}
	if withRepo {
		m["repository"] = s.repoJSON(r, rp)
	}
	return m
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// alertOr404Locked is the alert the path names, or nil after answering 404.
func (s *Server) alertOr404Locked(w http.ResponseWriter, r *http.Request) (*repo, *alert) {
	return itemOr404Locked(s, w, r, "number", func(rp *repo) []*alert { return rp.alerts }, func(a *alert) int64 { return a.Number })
}

func (s *Server) handleGetAlert(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, a := s.alertOr404Locked(w, r)
	if a == nil {
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.alertJSON(r, rp, a, false))
}

func (s *Server) handleAlertLocations(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, a := s.alertOr404Locked(w, r)
	if a == nil {
		return
	}
	page, per := pageParam(r), perPage(r)
	lo, hi := pageBounds(page, per, len(a.Locations))
	full := rp.owner + "/" + rp.name
	base := apiBase(r)
	out := make([]map[string]any, 0, hi-lo)
	for _, l := range a.Locations[lo:hi] {
		d := map[string]any{}
		if l.Path != "" {
			d["path"] = l.Path
		}
		if l.StartLine > 0 {
			d["start_line"] = l.StartLine
			d["end_line"] = max(l.EndLine, l.StartLine)
		}
		if l.StartColumn > 0 {
			d["start_column"] = l.StartColumn
			d["end_column"] = max(l.EndColumn, l.StartColumn)
		}
		if l.BlobSHA != "" {
			d["blob_sha"] = l.BlobSHA
			d["blob_url"] = base + "/repos/" + full + "/git/blobs/" + l.BlobSHA
		}
		if l.CommitSHA != "" {
			d["commit_sha"] = l.CommitSHA
			d["commit_url"] = base + "/repos/" + full + "/git/commits/" + l.CommitSHA
		}
		out = append(out, map[string]any{"type": l.Type, "details": d})
	}
	pageLinks(w, r, page, per, len(a.Locations))
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) handleUpdateAlert(w http.ResponseWriter, r *http.Request) {
	var body struct {
		State             *string `json:"state"`
		Resolution        *string `json:"resolution"`
		ResolutionComment *string `json:"resolution_comment"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		s.writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if body.State == nil || (*body.State != "open" && *body.State != "resolved") {
		s.validationFailed(w, "state", "invalid", "state must be open or resolved")
		return
	}
	if *body.State == "resolved" && (body.Resolution == nil || !slices.Contains(alertResolutions, *body.Resolution)) {
		s.validationFailed(w, "resolution", "invalid",
			"resolution must be one of "+strings.Join(alertResolutions, ", "))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, a := s.alertOr404Locked(w, r)
	if a == nil {
		return
	}
	now := s.now()
	if *body.State == "resolved" {
		a.State, a.Resolution = "resolved", *body.Resolution
		if a.ResolvedAt.IsZero() {
			a.ResolvedAt = now
		}
	} else {
		a.State, a.Resolution, a.ResolvedAt = "open", "", time.Time{}
	}
	if body.ResolutionComment != nil {
		a.ResolutionComment = *body.ResolutionComment
	}
	a.updatedAt = now
	s.writeJSON(w, r, http.StatusOK, s.alertJSON(r, rp, a, false))
}
