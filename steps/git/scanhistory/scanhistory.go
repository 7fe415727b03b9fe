// Package scanhistory is the `git.scan-history` step: find every copy of the leaked value in the full
// history of local repositories or clone URLs — every ref, every blob version, commit and tag
// messages — and when it was first committed, which bounds the exposure window.
package scanhistory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
)

// Scan's parameters.
type Scan struct {
	// Repos are local paths (bare or not) or clone URLs.
	Repos  []string `yaml:"repos"`
	Secret string   `yaml:"secret"`
	// MaxFindings bounds the findings kept in the outputs (default 200); all are counted.
	MaxFindings int `yaml:"max_findings"`
}

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "git.scan-history",
	New:     func() steps.Step { return &Scan{} },
	Outputs: Outputs{},
	Summary: "find the value in every ref and every version of local repositories or clone URLs (read-only)",
}

// Outputs are the step's results.
type Outputs struct {
	// Findings are the places the value was found: repo, kind, commit, path, line, refs.
	Findings        []map[string]any `json:"findings"`
	Count           int              `json:"count"`
	FirstSeen       string           `json:"first_seen"`
	ReposWithSecret []string         `json:"repos_with_secret"`
	InTip           bool             `json:"in_tip"`
}

// EnvToken is the token used for https clone URLs.
const EnvToken = "GITHUB_TOKEN"

// Validate checks the parameters.
func (s *Scan) Validate() error {
	if s.MaxFindings < 0 {
		return errors.New("max_findings must be positive")
	}
	for i, r := range s.Repos {
		if strings.TrimSpace(r) == "" {
			return fmt.Errorf("repos[%d] is empty", i)
		}
	}
	return nil
}

// Preflight checks, before the revocation, that every local repository is one git can use, and
// says which working trees have uncommitted changes: the purge refuses to rewrite those, so the
// person can commit or stash their work while the key is being revoked. Dirty trees are not an
// error here (the scan reads history either way); a path that is no repository is.
func (s *Scan) Preflight(ctx context.Context, env *steps.Env) error {
	var errs []error
	for _, r := range s.Repos {
		if isURL(r) {
			env.Logf("precondition: %s is a clone URL: it is scanned in a temporary mirror, never purged", r)
			continue
		}
		st, err := gitrepo.Inspect(ctx, r)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("repos: %w", err))
		case st.Bare:
			env.Logf("precondition: %s is a bare repository ✓", r)
		case len(st.Changed) == 0:
			env.Logf("precondition: %s is a git working tree with no uncommitted changes ✓", r)
		default:
			shown := st.Changed
			if len(shown) > 5 {
				shown = append(shown[:5:5], "…")
			}
			env.Logf("precondition: %s has uncommitted changes (%s): commit or stash them now — the history purge "+
				"refuses to rewrite a working tree with uncommitted changes", r, strings.Join(shown, ", "))
		}
	}
	return errors.Join(errs...)
}

func isURL(r string) bool {
	return strings.Contains(r, "://") || strings.HasPrefix(r, "git@")
}

// Run scans every repository concurrently.
func (s *Scan) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	secret := strings.TrimSpace(s.Secret)
	if secret == "" || openai.IsKeyID(secret) {
		return nil, &steps.Skip{Reason: "no leaked value to look for (only a key ID was given)"}
	}
	if len(s.Repos) == 0 {
		return nil, &steps.Skip{Reason: "no repositories to scan"}
	}
	env.Secret(secret)
	type result struct {
		repo string
		res  *gitrepo.ScanResult
		err  error
	}
	results := make([]result, len(s.Repos))
	var wg sync.WaitGroup
	for i, repo := range s.Repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := gitrepo.ScanOptions{Secrets: [][]byte{[]byte(secret)}, Workers: 0}
			if isURL(repo) {
				o.URL, o.Token = repo, env.Getenv(EnvToken)
			} else {
				o.Path = repo
			}
			r, err := gitrepo.Scan(ctx, o)
			results[i] = result{repo, r, err}
		}()
	}
	wg.Wait()

	max := s.MaxFindings
	if max == 0 {
		max = 200
	}
	var (
		findings []any
		count    int
		first    time.Time
		withKey  []string
		inTip    bool
		errs     []error
	)
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("scan %s: %w", r.repo, r.err))
			continue
		}
		n := len(r.res.Findings)
		count += n
		if n > 0 {
			withKey = append(withKey, r.repo)
		}
		if !r.res.FirstSeen.IsZero() && (first.IsZero() || r.res.FirstSeen.Before(first)) {
			first = r.res.FirstSeen
		}
		sort.Slice(r.res.Findings, func(i, j int) bool { return r.res.Findings[i].Date.Before(r.res.Findings[j].Date) })
		tips := 0
		for _, f := range r.res.Findings {
			if f.InTip {
				inTip = true
				tips++
			}
			if len(findings) < max {
				findings = append(findings, map[string]any{"repo": r.repo, "kind": f.Kind, "commit": f.Commit,
					"path": f.Path, "line": f.Line, "author": f.Author, "date": f.Date.UTC().Format(time.RFC3339),
					"refs": f.Refs, "in_tip": f.InTip})
			}
		}
		msg := fmt.Sprintf("%s: %d finding(s) in %d commits across %d refs; %d still at a ref tip", r.repo, n, r.res.Commits, r.res.Refs, tips)
		if !r.res.FirstSeen.IsZero() {
			msg += "; first committed " + r.res.FirstSeen.UTC().Format(time.RFC3339)
		}
		if r.res.Unreachable > 0 {
			msg += fmt.Sprintf("; %d unreachable object(s) still hold it", r.res.Unreachable)
		}
		for i, f := range r.res.Findings {
			if i == 10 {
				msg += fmt.Sprintf("\n  … %d more", n-10)
				break
			}
			where := f.Path
			switch f.Kind {
			case gitrepo.KindBlob:
			case gitrepo.KindCommitMessage, gitrepo.KindTagMessage:
				where = f.Kind
			default: // a name holding the value; Path has it masked
				where = f.Kind + " " + f.Path
			}
			msg += fmt.Sprintf("\n  %.12s %s:%d by %s on %s", f.Commit, where, f.Line, f.Author, f.Date.UTC().Format("2006-01-02"))
		}
		env.Log(msg, nil)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	firstSeen := ""
	if !first.IsZero() {
		firstSeen = first.UTC().Format(time.RFC3339)
	}
	if findings == nil {
		findings = []any{}
	}
	if withKey == nil {
		withKey = []string{}
	}
	return steps.Outputs{"findings": findings, "count": count, "first_seen": firstSeen,
		"repos_with_secret": withKey, "in_tip": inTip}, nil
}
