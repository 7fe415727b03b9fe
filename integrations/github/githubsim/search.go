package githubsim

import (
	"net/http"
	"path"
	"strings"
)

// searchQuery is a parsed code-search q: free terms (all must occur, case-insensitively) and
// the qualifiers that narrow where.
type searchQuery struct {
	terms                 []string
	repos, owners, paths  []string
	filenames, extensions []string
	inPath                bool
}

func parseSearchQuery(q string) searchQuery {
	var sq searchQuery
	for _, tok := range tokenize(q) {
		key, val, ok := strings.Cut(tok.text, ":")
		if tok.quoted || !ok || val == "" {
			if tok.text != "" && !isOperator(tok.text) {
				sq.terms = append(sq.terms, tok.text)
			}
			continue
		}
		switch strings.ToLower(key) {
		case "repo":
			sq.repos = append(sq.repos, strings.ToLower(val))
		case "org", "user":
			sq.owners = append(sq.owners, strings.ToLower(val))
		case "path":
			sq.paths = append(sq.paths, strings.Trim(val, "/"))
		case "filename":
			sq.filenames = append(sq.filenames, val)
		case "extension":
			sq.extensions = append(sq.extensions, strings.TrimPrefix(val, "."))
		case "in":
			sq.inPath = strings.Contains(val, "path") && !strings.Contains(val, "file")
		case "language", "size", "fork":
			// Accepted and ignored: the simulator has no language detection.
		default:
			sq.terms = append(sq.terms, tok.text)
		}
	}
	return sq
}

func isOperator(s string) bool { return s == "AND" || s == "OR" || s == "NOT" }

type token struct {
	text   string
	quoted bool
}

func tokenize(q string) []token {
	var out []token
	var cur strings.Builder
	quoted, inQuote := false, false
	flush := func() {
		if cur.Len() > 0 || quoted {
			out = append(out, token{text: cur.String(), quoted: quoted})
		}
		cur.Reset()
		quoted = false
	}
	for _, r := range q {
		switch {
		case r == '"':
			if inQuote {
				inQuote = false
				flush()
			} else {
				flush()
				inQuote, quoted = true, true
			}
		case (r == ' ' || r == '\t' || r == '\n' || r == '+') && !inQuote:
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

func (sq searchQuery) matchesRepo(rp *repo) bool {
	full := strings.ToLower(rp.owner + "/" + rp.name)
	if len(sq.repos) > 0 && !containsStr(sq.repos, full) {
		return false
	}
	if len(sq.owners) > 0 && !containsStr(sq.owners, strings.ToLower(rp.owner)) {
		return false
	}
	return true
}

func (sq searchQuery) matchesFile(f *file) bool {
	if len(sq.paths) > 0 {
		ok := false
		for _, p := range sq.paths {
			if p == "" || f.path == p || strings.HasPrefix(f.path, p+"/") {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if len(sq.filenames) > 0 && !containsStr(sq.filenames, path.Base(f.path)) {
		return false
	}
	if len(sq.extensions) > 0 && !containsStr(sq.extensions, strings.TrimPrefix(path.Ext(f.path), ".")) {
		return false
	}
	hay := strings.ToLower(f.content)
	if sq.inPath {
		hay = strings.ToLower(f.path)
	}
	for _, t := range sq.terms {
		if !strings.Contains(hay, strings.ToLower(t)) {
			return false
		}
	}
	return true
}

func containsStr(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// handleSearchCode serves GET /search/code with page paging; text_matches are only included when
// the Accept header asks for application/vnd.github.v3.text-match+json, as on github.com.
func (s *Server) handleSearchCode(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	sq := parseSearchQuery(q)
	if strings.TrimSpace(q) == "" || len(sq.terms) == 0 {
		s.validationFailed(w, "q", "missing", "A search term is required.")
		return
	}
	textMatch := strings.Contains(r.Header.Get("Accept"), "text-match")

	type hit struct {
		rp *repo
		f  *file
	}
	s.mu.Lock()
	var hits []hit
	for _, rp := range s.sortedReposLocked() {
		if !sq.matchesRepo(rp) {
			continue
		}
		for _, f := range rp.files {
			if sq.matchesFile(f) {
				hits = append(hits, hit{rp, f})
			}
		}
	}
	// github.com never returns more than 1000 search results.
	total := len(hits)
	if len(hits) > 1000 {
		hits = hits[:1000]
	}
	page, per := pageParam(r), perPage(r)
	lo, hi := pageBounds(page, per, len(hits))
	items := make([]map[string]any, 0, hi-lo)
	base := apiBase(r)
	for _, h := range hits[lo:hi] {
		full := h.rp.owner + "/" + h.rp.name
		item := map[string]any{
			"name":       path.Base(h.f.path),
			"path":       h.f.path,
			"sha":        h.f.sha,
			"url":        base + "/repos/" + full + "/contents/" + h.f.path + "?ref=" + h.f.sha,
			"git_url":    base + "/repos/" + full + "/git/blobs/" + h.f.sha,
			"html_url":   s.webURL + "/" + full + "/blob/" + h.f.sha + "/" + h.f.path,
			"repository": s.repoJSON(r, h.rp),
			"score":      1.0,
		}
		if textMatch {
			item["text_matches"] = textMatches(base+"/repositories/"+itoa(h.rp.id)+"/contents/"+h.f.path, h.f.content, sq.terms)
		}
		items = append(items, item)
	}
	s.mu.Unlock()

	pageLinks(w, r, page, per, len(hits))
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"total_count":        total,
		"incomplete_results": false,
		"items":              items,
	})
}

// textMatches builds up to three fragments (the matching line with one line of context on each
// side) with the indices of every term inside the fragment.
func textMatches(objectURL, content string, terms []string) []map[string]any {
	lines := strings.SplitAfter(content, "\n")
	var out []map[string]any
	lower := make([]string, len(terms))
	for i, t := range terms {
		lower[i] = strings.ToLower(t)
	}
	for i := 0; i < len(lines) && len(out) < 3; i++ {
		l := strings.ToLower(lines[i])
		found := false
		for _, t := range lower {
			if strings.Contains(l, t) {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		from, to := max(0, i-1), min(len(lines), i+2)
		frag := strings.Join(lines[from:to], "")
		lf := strings.ToLower(frag)
		var matches []map[string]any
		for ti, t := range lower {
			for off := 0; ; {
				j := strings.Index(lf[off:], t)
				if j < 0 {
					break
				}
				start := off + j
				matches = append(matches, map[string]any{
					"text": frag[start : start+len(terms[ti])], "indices": []int{start, start + len(terms[ti])},
				})
				off = start + max(1, len(t))
			}
		}
		out = append(out, map[string]any{
			"object_url": objectURL, "object_type": "FileContent", "property": "content",
			"fragment": frag, "matches": matches,
		})
		i = to - 1
	}
	return out
}
