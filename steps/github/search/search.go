// Package search is the `github.search` step: find where GitHub holds the leaked value —
// secret-scanning alerts and their locations, code search, and the logs of Actions runs — and
// date the earliest sighting. It only reads. Every place is reported by repository, path, line,
// commit or run; the value itself and GitHub's text fragments around it never leave the step.
package search

import (
	"archive/zip"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

// Search's parameters.
type Search struct {
	// Secret is the leaked value. Only exact matches count.
	Secret string `yaml:"secret"`
	// Org and Repos (owner/name) say where to look; at least one is needed.
	Org   string   `yaml:"org"`
	Repos []string `yaml:"repos"`
	// SecretType filters the secret-scanning alerts listed (default openai_api_key; "all" lists
	// every type). GitHub's identifier for OpenAI keys is not in go-github's source, so it is a
	// parameter: matching is by the exact value either way, the type only narrows the listing.
	SecretType string `yaml:"secret_type"`
	// Since (RFC 3339 or YYYY-MM-DD) limits the Actions runs scanned to those created since.
	Since string `yaml:"since"`
	// SearchCode and ScanActionsLogs switch those searches off (both default true).
	SearchCode      *bool `yaml:"search_code"`
	ScanActionsLogs *bool `yaml:"scan_actions_logs"`
	// MaxRuns bounds the runs scanned per repository, newest first (default 100).
	MaxRuns int `yaml:"max_runs"`
	// Concurrency bounds parallel log downloads and alert listings (default 4): GitHub answers
	// bursts with secondary rate limits.
	Concurrency int `yaml:"concurrency"`

	client searcher // tests
}

type searcher interface {
	CheckAccess(ctx context.Context, repos ...string) error
	ListSecretAlerts(ctx context.Context, scope github.AlertScope, secretType, state string) ([]github.Alert, error)
	AlertLocations(ctx context.Context, repo string, number int64) ([]github.Location, error)
	SearchCodeResult(ctx context.Context, query string, scope github.Scope) (*github.CodeSearch, error)
	ListWorkflowRuns(ctx context.Context, repo string, since time.Time) ([]github.WorkflowRun, error)
	RunLogs(ctx context.Context, repo string, runID int64) (*zip.Reader, error)
	Blob(ctx context.Context, repo, sha string, maxBytes int) ([]byte, error)
}

var _ searcher = (*github.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "github.search",
	New:     func() steps.Step { return &Search{} },
	Outputs: Outputs{},
	Summary: "find the leaked value in GitHub secret-scanning alerts, code search and Actions run logs (read-only)",
	Traits:  steps.Traits{Needs: []steps.Permission{steps.GitHubAlertsRead, steps.GitHubCodeSearch, steps.GitHubLogsRead}},
}

// Outputs are the step's results. Lists are empty, never null: later templates render them with
// json, and null is not a list.
type Outputs struct {
	Repos          []string         `json:"repos"`
	Locations      []map[string]any `json:"locations"`
	Alerts         []map[string]any `json:"alerts"`
	RunsWithSecret []map[string]any `json:"runs_with_secret"`
	FirstSeen      string           `json:"first_seen"`
	Count          int              `json:"count"`
	Incomplete     bool             `json:"incomplete"`
	NotCovered     []string         `json:"not_covered"`
}

const (
	defaultSecretType  = "openai_api_key"
	allSecretTypes     = "all"
	defaultMaxRuns     = 100
	defaultConcurrency = 4
)

// Location kinds.
const (
	KindAlert      = "alert"
	KindCode       = "code"
	KindActionsLog = "actions_log"
)

// Validate checks the parameters.
func (s *Search) Validate() error {
	errs := githubkit.ValidateSecret(s.Secret)
	errs = append(errs, githubkit.ValidateScope(s.Org, s.Repos)...)
	if strings.ContainsAny(s.SecretType, " \t") {
		errs = append(errs, fmt.Errorf("secret_type: %q contains a space (a comma list is allowed)", s.SecretType))
	}
	errs = append(errs, githubkit.ValidateRunLimits(s.Since, s.MaxRuns, s.Concurrency)...)
	return errors.Join(errs...)
}

// Preflight checks the token and that every named repository is visible to it. With no org
// and no repos the step will not touch GitHub, and a team without a token is not stopped.
func (s *Search) Preflight(ctx context.Context, env *steps.Env) error {
	return githubkit.Preflight(ctx, env, s.client, s.Org, s.Repos)
}

func (s *Search) api(env *steps.Env) (searcher, error) {
	if s.client != nil {
		return s.client, nil
	}
	return githubkit.Client(env)
}

// result gathers findings from concurrent searches.
type result struct {
	mu         sync.Mutex
	locations  []map[string]any
	alerts     []map[string]any
	runs       []map[string]any
	first      time.Time
	incomplete bool
	notes      []string
	// notCovered is what the searches run could not see (code search's limits).
	notCovered []string
	// counters for the summary
	codeHits, codeConfirmed, codeOthers, runsScanned, runsExpired int
	tokenLen                                                      int
}

func (r *result) seen(t time.Time) {
	if !t.IsZero() && (r.first.IsZero() || t.Before(r.first)) {
		r.first = t.UTC()
	}
}

func (r *result) note(format string, args ...any) {
	r.incomplete = true
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func location(kind, repo string) map[string]any {
	return map[string]any{"kind": kind, "repo": repo, "path": "", "line": 0, "commit": "", "run_id": int64(0),
		"url": "", "alert": int64(0), "confirmed": true}
}

// Run searches.
func (s *Search) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	secret := strings.TrimSpace(s.Secret)
	if secret != "" && !openai.IsKeyID(secret) {
		env.Secret(secret)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if openai.IsKeyID(secret) {
		return nil, &steps.Skip{Reason: "only a key ID was given; searching GitHub needs the leaked value itself"}
	}
	if s.Org == "" && len(s.Repos) == 0 {
		return nil, &steps.Skip{Reason: "no org or repos to search"}
	}
	since, _ := githubkit.ParseSince(s.Since)
	c, err := s.api(env)
	if err != nil {
		return nil, err
	}
	res := &result{}
	if err := s.alerts(ctx, c, secret, res); err != nil {
		return nil, err
	}
	if s.SearchCode == nil || *s.SearchCode {
		if err := s.code(ctx, c, secret, res); err != nil {
			return nil, err
		}
	}
	if s.ScanActionsLogs == nil || *s.ScanActionsLogs {
		if err := s.actions(ctx, c, secret, since, res); err != nil {
			return nil, err
		}
	}
	out := s.outputs(res)
	s.summary(env, secret, res, out)
	return out, nil
}

func (s *Search) secretType() string {
	switch s.SecretType {
	case "":
		return defaultSecretType
	case allSecretTypes:
		return ""
	}
	return s.SecretType
}

func (s *Search) workers() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return defaultConcurrency
}

// alerts lists alerts of every state (a resolved alert still marks a place the value was) and
// keeps those whose secret is exactly the leaked value.
func (s *Search) alerts(ctx context.Context, c searcher, secret string, res *result) error {
	listed, err := githubkit.ListAlerts(ctx, c, githubkit.AlertQuery{Org: s.Org, Repos: s.Repos,
		SecretType: s.secretType(), Workers: s.workers(), Refused: func(scope github.Scope, err error) error {
			where := "org " + scope.Org
			if scope.Org == "" {
				where = scope.Repos[0]
			}
			res.note("secret-scanning alerts of %s: %v", where, err)
			return nil
		}})
	if err != nil {
		return err
	}
	var matching []github.Alert
	for _, a := range listed {
		if a.Secret == secret {
			matching = append(matching, a)
		}
	}
	locs := make([][]github.Location, len(matching))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.workers())
	for i, a := range matching {
		g.Go(func() error {
			ls, err := c.AlertLocations(gctx, a.Repo, a.Number)
			switch {
			case errors.Is(err, github.ErrNotFound) || errors.Is(err, github.ErrForbidden):
				res.mu.Lock()
				res.note("locations of alert %s#%d: %v", a.Repo, a.Number, err)
				res.mu.Unlock()
			case err != nil:
				return githubkit.Credential(err)
			}
			locs[i] = ls
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, a := range matching {
		res.alerts = append(res.alerts, map[string]any{"repo": a.Repo, "number": a.Number, "state": a.State, "url": a.HTMLURL})
		res.seen(a.CreatedAt)
		if len(locs[i]) == 0 {
			l := location(KindAlert, a.Repo)
			l["alert"], l["url"] = a.Number, a.HTMLURL
			res.locations = append(res.locations, l)
			continue
		}
		for _, loc := range locs[i] {
			l := location(KindAlert, a.Repo)
			l["alert"], l["url"] = a.Number, a.HTMLURL
			l["path"], l["line"], l["commit"] = loc.Path, loc.StartLine, loc.CommitSHA
			if loc.Type != "" && loc.Type != "commit" && loc.Path == "" {
				l["path"] = loc.Type // issue_title, wiki_commit, ...: where, when there is no file
			}
			res.locations = append(res.locations, l)
		}
	}
	return nil
}

// Code search on github.com (REST /search/code) is the legacy engine: it reads only default
// branches, only files under 384 KB, only repositories with activity in the past year, and it
// matches whole tokens (punctuation ignored, no exact-string or substring match). So the step
// searches for the value's longest run of letters and digits, which is a whole token however the
// punctuation around it is read, then reads each hit's blob to check the exact value.
// GitHub does not document whether '_' and '-' separate tokens; if they do not, such a run is
// only part of a token and code search misses the copy. The history scan covers what code
// search cannot.

// codeSearchGaps is what code search cannot see, stated in every answer.
var codeSearchGaps = []string{
	"branches other than the default branch",
	"files of 384 KB or more",
	"repositories without activity in the past year",
	"repositories beyond the first 4,000 a query reaches (large organizations)",
	"history (commits no longer on the default branch): the git history scan covers it",
}

const (
	// minTokenLen is the shortest run worth searching: shorter ones are common words.
	minTokenLen = 12
	// maxQueryLen is the longest search text GitHub accepts (qualifiers apart); a longer token
	// cannot be searched, and a part of it would match nothing.
	maxQueryLen = 256
	// maxBlobBytes bounds a hit's blob read to confirm it; code search indexes only files
	// under 384 KB, so a larger blob is not what it matched.
	maxBlobBytes = 1 << 20
)

// searchToken is the longest run of ASCII letters and digits in v.
func searchToken(v string) string {
	best, start := "", -1
	for i := 0; i <= len(v); i++ {
		word := i < len(v) && ('a' <= v[i] && v[i] <= 'z' || 'A' <= v[i] && v[i] <= 'Z' || '0' <= v[i] && v[i] <= '9')
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			if i-start > len(best) {
				best = v[start:i]
			}
			start = -1
		}
	}
	return best
}

// code runs one code search for the secret's longest token and confirms each hit by reading
// the file's blob.
func (s *Search) code(ctx context.Context, c searcher, secret string, res *result) error {
	res.notCovered = codeSearchGaps
	token := searchToken(secret)
	if len(token) < minTokenLen {
		res.note("code search skipped: the value has no run of %d or more letters and digits, and GitHub's code search matches whole tokens only", minTokenLen)
		return nil
	}
	if len(token) > maxQueryLen {
		res.note("code search skipped: the value's longest run of letters and digits is %d characters, and GitHub accepts at most %d", len(token), maxQueryLen)
		return nil
	}
	res.tokenLen = len(token)
	scope := github.Scope{Org: s.Org}
	for _, r := range s.Repos {
		owner, _, _ := strings.Cut(r, "/")
		if s.Org == "" || !strings.EqualFold(owner, s.Org) {
			scope.Repos = append(scope.Repos, r)
		}
	}
	cs, err := c.SearchCodeResult(ctx, token, scope)
	switch {
	case githubkit.Refused(err) || errors.Is(err, github.ErrInvalid):
		res.note("code search: %v", err)
		return nil
	case err != nil:
		return githubkit.Credential(err)
	}
	if len(cs.Unsearchable) > 0 {
		res.note("code search: GitHub cannot search %s (it does not exist, or the token cannot see it)", strings.Join(cs.Unsearchable, ", "))
	} else if cs.Incomplete {
		res.note("code search: GitHub's answer is incomplete (a timeout, or more than 1000 results)")
	}
	checks := make([]hitCheck, len(cs.Hits))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.workers())
	for i, h := range cs.Hits {
		g.Go(func() error {
			var err error
			checks[i], err = checkHit(gctx, c, h, secret)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, h := range cs.Hits {
		ck := checks[i]
		if ck.unreadable != nil {
			res.note("code search hit %s %s: its file could not be read to check the exact value: %v", h.Repo, h.Path, ck.unreadable)
		}
		if !ck.keep {
			res.codeOthers++
			continue
		}
		res.codeHits++
		if ck.confirmed {
			res.codeConfirmed++
		}
		l := location(KindCode, h.Repo)
		l["path"], l["url"], l["confirmed"], l["line"] = h.Path, h.URL, ck.confirmed, ck.line
		res.locations = append(res.locations, l)
	}
	return nil
}

// hitCheck is what reading a code-search hit's file showed.
type hitCheck struct {
	confirmed, keep bool
	line            int   // first line holding the value, when confirmed from the file
	unreadable      error // the file could not be read: the hit is kept unconfirmed
}

// checkHit reads the hit's blob: the exact value in it confirms the hit (with its line); a file
// without it holds another value that shares the token, and is dropped. A file that cannot be
// read keeps the hit, confirmed only if a text fragment shows the whole value.
func checkHit(ctx context.Context, c searcher, h github.CodeHit, secret string) (hitCheck, error) {
	data, err := c.Blob(ctx, h.Repo, h.SHA, maxBlobBytes)
	switch {
	case githubkit.Refused(err) || errors.Is(err, github.ErrInvalid):
		return hitCheck{confirmed: fragmentsHold(h.Fragments, secret), keep: true, unreadable: err}, nil
	case err != nil:
		return hitCheck{}, githubkit.Credential(err)
	}
	i := strings.Index(string(data), secret)
	if i < 0 {
		return hitCheck{}, nil
	}
	return hitCheck{confirmed: true, keep: true, line: 1 + strings.Count(string(data[:i]), "\n")}, nil
}

// fragmentsHold reports whether one of GitHub's text fragments holds the whole value.
func fragmentsHold(fragments []string, secret string) bool {
	for _, f := range fragments {
		if strings.Contains(f, secret) {
			return true
		}
	}
	return false
}

// actions scans the logs of the runs of every named repository, and of every repository the
// alerts and code search found: the GitHub client cannot list an organization's repositories.
func (s *Search) actions(ctx context.Context, c searcher, secret string, since time.Time, res *result) error {
	repos := slices.Clone(s.Repos)
	for _, l := range res.locations {
		repos = append(repos, l["repo"].(string))
	}
	repos = uniqueFold(repos)
	if s.Org != "" && len(s.Repos) == 0 {
		which := "in none: no repository of org " + s.Org + " had another finding"
		if len(repos) > 0 {
			which = "only in " + strings.Join(repos, ", ") + ", where other findings were"
		}
		res.note("Actions logs: the org's repositories cannot be listed, so runs were scanned %s; name repositories in repos to scan theirs", which)
	}
	maxRuns := s.MaxRuns
	if maxRuns == 0 {
		maxRuns = defaultMaxRuns
	}
	var runs []github.WorkflowRun
	for _, r := range repos {
		rs, err := c.ListWorkflowRuns(ctx, r, since)
		switch {
		case githubkit.Refused(err):
			res.note("Actions runs of %s: %v", r, err)
			continue
		case err != nil:
			return githubkit.Credential(err)
		}
		if len(rs) > maxRuns {
			res.note("Actions runs of %s: scanned the newest %d of %d (raise max_runs or set since)", r, maxRuns, len(rs))
			rs = rs[:maxRuns]
		}
		runs = append(runs, rs...)
	}
	hits := make([]runHit, len(runs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.workers())
	for i, run := range runs {
		g.Go(func() error {
			h, err := githubkit.Survey(gctx, c, run.Repo, run.ID, secret)
			if errors.Is(err, github.ErrNotFound) {
				hits[i].expired = true
				return nil
			}
			if err != nil {
				return githubkit.Credential(err)
			}
			hits[i].Result = h
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, run := range runs {
		h := hits[i]
		if h.expired {
			res.runsExpired++
			continue
		}
		res.runsScanned++
		for _, e := range h.Errs {
			res.note("run %d in %s: %v", run.ID, run.Repo, e)
		}
		if len(h.Files) == 0 {
			continue
		}
		res.runs = append(res.runs, map[string]any{"repo": run.Repo, "run_id": run.ID, "confirmed": true})
		if h.FirstSeen.IsZero() {
			res.seen(run.CreatedAt)
		} else {
			res.seen(h.FirstSeen)
		}
		for _, f := range h.Files {
			l := location(KindActionsLog, run.Repo)
			l["path"], l["line"], l["run_id"], l["url"], l["commit"] = f.Name, f.Line, run.ID, run.HTMLURL, run.HeadSHA
			res.locations = append(res.locations, l)
		}
	}
	return nil
}

// runHit is what the scan of one run found; expired runs have no logs left to scan.
type runHit struct {
	githubkit.Result
	expired bool
}

func (s *Search) outputs(res *result) steps.Outputs {
	slices.SortStableFunc(res.locations, func(a, b map[string]any) int {
		return cmp.Or(
			strings.Compare(a["kind"].(string), b["kind"].(string)),
			strings.Compare(strings.ToLower(a["repo"].(string)), strings.ToLower(b["repo"].(string))),
			cmp.Compare(a["alert"].(int64), b["alert"].(int64)),
			cmp.Compare(a["run_id"].(int64), b["run_id"].(int64)),
			strings.Compare(a["path"].(string), b["path"].(string)),
			cmp.Compare(a["line"].(int), b["line"].(int)),
		)
	})
	var repos []string
	for _, l := range res.locations {
		repos = append(repos, l["repo"].(string))
	}
	repos = uniqueFold(repos)
	slices.SortFunc(repos, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	first := ""
	if !res.first.IsZero() {
		first = res.first.Format(time.RFC3339)
	}
	// Empty lists, never nil: later templates render them with json, and null is not a list.
	return steps.Outputs{
		"repos":            nonNil(repos),
		"locations":        nonNil(res.locations),
		"alerts":           nonNil(res.alerts),
		"runs_with_secret": nonNil(res.runs),
		"first_seen":       first,
		"count":            len(res.locations),
		"incomplete":       res.incomplete,
		"not_covered":      nonNil(res.notCovered),
	}
}

func (s *Search) summary(env *steps.Env, secret string, res *result, out steps.Outputs) {
	where := []string{}
	if s.Org != "" {
		where = append(where, "org "+s.Org)
	}
	if len(s.Repos) > 0 {
		where = append(where, fmt.Sprintf("%d repositories", len(s.Repos)))
	}
	repos := out["repos"].([]string)
	found := "found nowhere"
	if len(repos) > 0 {
		found = fmt.Sprintf("found in %d repositories: %s", len(repos), strings.Join(repos, ", "))
	}
	if f := out["first_seen"].(string); f != "" {
		found += "; first seen " + f
	}
	env.Log(fmt.Sprintf("searched %s for %s: %d secret-scanning alert(s), %d code-search file(s) (%d confirmed), "+
		"%d of %d Actions run(s) scanned hold it (%d with expired logs); %s",
		strings.Join(where, " and "), redact.Mask(secret), len(res.alerts), res.codeHits, res.codeConfirmed,
		len(res.runs), res.runsScanned, res.runsExpired, found),
		map[string]any{"alerts": len(res.alerts), "code_files": res.codeHits, "runs_with_secret": len(res.runs),
			"runs_scanned": res.runsScanned, "count": out["count"], "incomplete": res.incomplete})
	const show = 20
	for i, l := range res.locations {
		if i == show {
			env.Logf("  … and %d more", len(res.locations)-show)
			break
		}
		env.Logf("  %s", describe(l))
	}
	for _, n := range res.notes {
		env.Logf("note: %s", n)
	}
	if res.tokenLen > 0 {
		others := ""
		if res.codeOthers > 0 {
			others = fmt.Sprintf("; %d file(s) shared the token but hold another value", res.codeOthers)
		}
		env.Logf("code search matched the value's longest run of letters and digits (%d of %d characters) and read each file to check the exact value%s",
			res.tokenLen, len(secret), others)
	}
	if len(res.notCovered) > 0 {
		env.Logf("not covered by GitHub code search: %s", strings.Join(res.notCovered, "; "))
	}
	// Last, a line short enough for the run's checklist, which shows a step's latest short log.
	short := fmt.Sprintf("found in %d repositories: %d alert(s), %d code file(s), %d Actions run log(s)",
		len(repos), len(res.alerts), res.codeHits, len(res.runs))
	if len(repos) == 0 {
		short = "found nowhere GitHub could search"
	}
	if res.incomplete {
		short += " (incomplete: see the notes)"
	}
	env.Logf("%s", short)
}

func describe(l map[string]any) string {
	repo, path, line := l["repo"].(string), l["path"].(string), l["line"].(int)
	at := path
	if line > 0 {
		at = fmt.Sprintf("%s:%d", path, line)
	}
	switch l["kind"] {
	case KindAlert:
		s := fmt.Sprintf("alert %s#%d %s", repo, l["alert"], at)
		if c := l["commit"].(string); c != "" {
			s += " (commit " + c[:min(len(c), 12)] + ")"
		}
		return strings.TrimSpace(s)
	case KindCode:
		s := fmt.Sprintf("code %s %s", repo, at)
		if !l["confirmed"].(bool) {
			s += " (unconfirmed: the file could not be read to check the whole value)"
		}
		return s
	default:
		return fmt.Sprintf("Actions run %d in %s, %s", l["run_id"], repo, at)
	}
}

func uniqueFold(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if k := strings.ToLower(s); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Default fills the alerts' secret type and the parallelism.
func (s *Search) Default() map[string]any {
	set := map[string]any{}
	if s.SecretType == "" {
		s.SecretType = s.secretType()
		set["secret_type"] = s.SecretType
	}
	if s.Concurrency == 0 {
		s.Concurrency = s.workers()
		set["concurrency"] = s.Concurrency
	}
	return set
}
