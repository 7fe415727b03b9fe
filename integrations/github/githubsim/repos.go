package githubsim

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// handleOrgRepos lists an organization's repositories as github.com does (GET /orgs/{org}/repos):
// type all (default), public, private, forks, sources or member; sort created (default),
// updated, pushed or full_name, ascending for full_name and descending otherwise unless
// direction says; page-number pagination with a Link header. Archived repositories and forks
// are listed with their flags. A token that may not read private repositories sees only the
// public ones; an unknown organization is 404.
func (s *Server) handleOrgRepos(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ := cmp.Or(q.Get("type"), "all")
	if !slices.Contains([]string{"all", "public", "private", "forks", "sources", "member"}, typ) {
		s.validationFailed(w, "type", "invalid", "type must be one of all, public, private, forks, sources, member")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orgs[strings.ToLower(r.PathValue("org"))] == nil {
		s.writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	seePrivate := s.seesPrivateRepos()
	var list []*repo
	for _, rp := range s.repos {
		if !strings.EqualFold(rp.owner, r.PathValue("org")) || (rp.private && !seePrivate) {
			continue
		}
		switch {
		case typ == "public" && rp.private, typ == "private" && !rp.private,
			typ == "forks" && !rp.fork, typ == "sources" && rp.fork:
			continue
		}
		list = append(list, rp)
	}
	sortRepos(list, q.Get("sort"), q.Get("direction"))
	page, per := pageParam(r), perPage(r)
	lo, hi := pageBounds(page, per, len(list))
	out := []map[string]any{}
	for _, rp := range list[lo:hi] {
		out = append(out, s.repoJSON(r, rp))
	}
	pageLinks(w, r, page, per, len(list))
	s.writeJSON(w, r, http.StatusOK, out)
}

// seesPrivateRepos: a classic token needs the repo scope, a fine-grained one metadata access.
func (s *Server) seesPrivateRepos() bool {
	switch {
	case s.scopes != nil:
		return slices.Contains(s.scopes, "repo")
	case s.permissions != nil:
		return s.permissions["metadata"] != ""
	}
	return true
}

func sortRepos(list []*repo, by, direction string) {
	asc := by == "full_name"
	switch direction {
	case "asc":
		asc = true
	case "desc":
		asc = false
	}
	slices.SortFunc(list, func(a, b *repo) int {
		var c int
		switch by {
		case "full_name":
			c = strings.Compare(strings.ToLower(a.owner+"/"+a.name), strings.ToLower(b.owner+"/"+b.name))
		case "pushed", "updated":
			c = a.pushedAt.Compare(b.pushedAt)
		default: // created: ids grow with creation
		}
		if c == 0 {
			c = cmp.Compare(a.id, b.id)
		}
		if !asc {
			c = -c
		}
		return c
	})
}
