package githubsim

import (
	"encoding/base64"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// searchQuery is a parsed code-search q: free terms (all must occur, case-insensitively) and
// the qualifiers that narrow where.
type searchQuery struct {
	terms                 []string
	operators             int
	repos, owners, paths  []string
	filenames, extensions []string
	inPath                bool
}

func parseSearchQuery(q string) searchQuery {
	var sq searchQuery
	for _, tok := range tokenize(q) {
		key, val, ok := strings.Cut(tok.text, ":")
		if tok.quoted || !ok || val == "" {
			switch {
			case !tok.quoted && isOperator(tok.text):
				sq.operators++
			case tok.text != "":
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
	hay := f.content
	if sq.inPath {
		hay = f.path
	}
	toks := codeTokens(hay)
	for _, t := range sq.terms {
		if len(findTokens(toks, hay, t)) == 0 {
			return false
		}
	}
	return true
}

// The legacy code search (REST /search/code) indexes tokens, not text: punctuation separates
// tokens and is ignored, matching is case-insensitive and by whole tokens, a term of several
// tokens ("a.b", or a quoted phrase) matches them in sequence, and there is no exact-string or
// substring match. docs.github.com/rest/search/search#search-code and "Searching code (legacy)".
// Which characters GitHub treats as separators is published only as a list of ignored symbols;
// the simulator separates on everything that is not a letter or a digit.

// span is a token's byte range in the text it came from.
type span struct{ start, end int }

func codeTokens(s string) []span {
	var out []span
	start := -1
	for i, r := range s {
		word := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			out = append(out, span{start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, span{start, len(s)})
	}
	return out
}

// findTokens returns the byte ranges of hay (tokenized as toks) where term's tokens occur in
// sequence, case-insensitively. A term with no tokens (punctuation only) matches nothing.
func findTokens(toks []span, hay, term string) []span {
	tt := codeTokens(term)
	if len(tt) == 0 {
		return nil
	}
	var out []span
	for i := 0; i+len(tt) <= len(toks); i++ {
		ok := true
		for j, t := range tt {
			if !strings.EqualFold(hay[toks[i+j].start:toks[i+j].end], term[t.start:t.end]) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, span{toks[i].start, toks[i+len(tt)-1].end})
		}
	}
	return out
}

// Legacy code search limits (docs.github.com, "Searching code (legacy)").
const (
	maxSearchableFile = 384 * 1024           // only files smaller than 384 KB are searchable
	activeWithin      = 365 * 24 * time.Hour // only repositories with activity in the past year
	maxFragments      = 2                    // text-match: at most two fragments per file
)

// unsearchable reports whether the query names a repository or owner that does not exist.
func (s *Server) unsearchable(sq searchQuery) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range sq.repos {
		if _, ok := s.repos[r]; !ok {
			return true
		}
	}
	for _, o := range sq.owners {
		if _, ok := s.orgs[o]; !ok {
			return true
		}
	}
	return false
}

// searchable reports whether the legacy index holds f of rp at all.
func (s *Server) searchable(rp *repo, f *file) bool {
	if f.branch != "" || len(f.content) >= maxSearchableFile {
		return false
	}
	return rp.pushedAt.IsZero() || s.now().Sub(rp.pushedAt) <= activeWithin
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
	if s.searchLimited(w) {
		return
	}
	// Documented query limits: 256 characters without qualifiers, five AND/OR/NOT at most.
	if len(strings.Join(sq.terms, " ")) > 256 || sq.operators > 5 {
		s.validationFailed(w, "q", "invalid", "The search is longer than 256 characters or has more than five operators.")
		return
	}
	if s.unsearchable(sq) {
		// github.com's answer when a repo:, org: or user: qualifier names nothing the token sees.
		s.validationFailed(w, "q", "invalid", "The listed users and repositories cannot be searched either because "+
			"the resources do not exist or you do not have permission to view them.")
		return
	}

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
			if s.searchable(rp, f) && sq.matchesFile(f) {
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

// textMatches builds up to maxFragments fragments (the matching line with one line of context on
// each side) with the indices of every term's match inside the fragment.
func textMatches(objectURL, content string, terms []string) []map[string]any {
	lines := strings.SplitAfter(content, "\n")
	var out []map[string]any
	for i := 0; i < len(lines) && len(out) < maxFragments; i++ {
		found := false
		for _, t := range terms {
			if len(findTokens(codeTokens(lines[i]), lines[i], t)) > 0 {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		from, to := max(0, i-1), min(len(lines), i+2)
		frag := strings.Join(lines[from:to], "")
		toks := codeTokens(frag)
		var matches []map[string]any
		for _, t := range terms {
			for _, m := range findTokens(toks, frag, t) {
				matches = append(matches, map[string]any{"text": frag[m.start:m.end], "indices": []int{m.start, m.end}})
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

// searchLimited enforces code search's own rate limit (per minute, apart from the core limit)
// and answers as github.com does when it is used up: 403 with X-RateLimit-Remaining 0 for the
// code_search resource, which go-github reports as a RateLimitError.
func (s *Server) searchLimited(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.codeSearchPerMinute
	if limit <= 0 {
		return false
	}
	now := s.now()
	kept := s.searchTimes[:0]
	for _, t := range s.searchTimes {
		if now.Sub(t) < time.Minute {
			kept = append(kept, t)
		}
	}
	s.searchTimes = kept
	if len(kept) >= limit {
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", strconv.Itoa(limit))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(resetSecond(kept[0]), 10))
		h.Set("X-RateLimit-Resource", "code_search")
		writeErrorDoc(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.",
			"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting")
		return true
	}
	s.searchTimes = append(s.searchTimes, now)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(limit-len(s.searchTimes)))
	h.Set("X-RateLimit-Used", strconv.Itoa(len(s.searchTimes)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(resetSecond(s.searchTimes[0]), 10))
	h.Set("X-RateLimit-Resource", "code_search")
	return false
}

// resetSecond is when the minute that began with the oldest counted search is over, in whole
// seconds rounded up (the header has no fraction).
func resetSecond(oldest time.Time) int64 {
	t := oldest.Add(time.Minute)
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

// handleBlob serves a file's blob by SHA (any branch), base64 in lines of 60 characters as
// github.com sends it.
func (s *Server) handleBlob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOr404Locked(w, r)
	if rp == nil {
		return
	}
	sha := strings.ToLower(r.PathValue("file_sha"))
	for _, f := range rp.files {
		if f.sha != sha {
			continue
		}
		enc := base64.StdEncoding.EncodeToString([]byte(f.content))
		var b strings.Builder
		for len(enc) > 60 {
			b.WriteString(enc[:60] + "\n")
			enc = enc[60:]
		}
		b.WriteString(enc + "\n")
		s.writeJSON(w, r, http.StatusOK, map[string]any{
			"sha": f.sha, "node_id": "B_sim" + f.sha[:12], "size": len(f.content),
			"url":     apiBase(r) + "/repos/" + rp.owner + "/" + rp.name + "/git/blobs/" + f.sha,
			"content": b.String(), "encoding": "base64",
		})
		return
	}
	s.writeError(w, http.StatusNotFound, "Not Found")
}
