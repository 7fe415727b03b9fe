// Package scanhistory is the `git.scan-history` step: find every copy of the leaked value in the
// full history of repositories — local paths, clone URLs, a list file of them, or every
// repository of a GitHub organization — every ref, every blob version, commit and tag messages,
// and when it was first committed, which bounds the exposure window. The fleet work (mirrors,
// bounded concurrency, resuming) is internal/fleet's.
package scanhistory

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/fleet"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/progress"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

// Scan's parameters.
type Scan struct {
	// Repos are local paths (bare or not) or clone URLs.
	Repos []string `yaml:"repos"`
	// ReposFile lists more, one path or clone URL a line (# comments; relative to the file).
	ReposFile string `yaml:"repos_file"`
	// Org adds every repository of this GitHub organization the token can see, mirrored into
	// the cache; SkipArchived and SkipForks leave those out.
	Org          string `yaml:"org"`
	SkipArchived bool   `yaml:"skip_archived"`
	SkipForks    bool   `yaml:"skip_forks"`
	// Concurrency bounds the repositories scanned at once (default 4).
	Concurrency int `yaml:"concurrency"`
	// CacheDir holds the mirrors of clone URLs across runs (default: mirrors/ in the state dir).
	CacheDir string `yaml:"cache_dir"`
	Secret   string `yaml:"secret"`
	// MaxFindings bounds the findings kept in the outputs (default 200); all are counted.
	MaxFindings int `yaml:"max_findings"`
}

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "git.scan-history",
	New:     func() steps.Step { return &Scan{} },
	Outputs: Outputs{},
	Summary: "find the value in every ref and every version of repositories: paths, clone URLs, a list file, a GitHub organization (read-only)",
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

// EnvToken is the token used for https clone URLs and the organization's listing.
const EnvToken = "GITHUB_TOKEN"

// progressEvery is how often a long scan says where it is in the journal (and Slack thread);
// a variable for the test that sees the lines.
var progressEvery = 10 * time.Second

// Validate checks the parameters, each error naming its parameter.
func (s *Scan) Validate() error {
	var errs []error
	if s.MaxFindings < 0 {
		errs = append(errs, errors.New("max_findings: must be positive"))
	}
	if s.Concurrency < 0 || s.Concurrency > 32 {
		errs = append(errs, errors.New("concurrency: between 1 and 32"))
	}
	for i, r := range s.Repos {
		if strings.TrimSpace(r) == "" {
			errs = append(errs, fmt.Errorf("repos[%d] is empty", i))
		} else if _, err := fleet.NewTarget(r, ""); err != nil {
			errs = append(errs, fmt.Errorf("repos[%d]: %w", i, err))
		}
	}
	errs = append(errs, githubkit.ValidateScope(s.Org, nil)...)
	if s.Org == "" && s.SkipArchived {
		errs = append(errs, errors.New("skip_archived: only with org"))
	}
	if s.Org == "" && s.SkipForks {
		errs = append(errs, errors.New("skip_forks: only with org"))
	}
	return errors.Join(errs...)
}

// Preflight checks, before the revocation, that every local repository is one git can use, that
// the list file reads, and that the GitHub token works for an organization; and says which
// working trees have uncommitted changes: the purge refuses to rewrite those, so the person can
// commit or stash their work while the key is being revoked. Dirty trees are not an error here
// (the scan reads history either way); a path that is no repository is.
func (s *Scan) Preflight(ctx context.Context, env *steps.Env) error {
	var errs []error
	repos := s.Repos
	if s.ReposFile != "" {
		ts, err := fleet.ReadList(s.ReposFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("repos_file: %w", err))
		}
		for _, t := range ts {
			repos = append(repos, t.URL+t.Path)
		}
	}
	if s.Org != "" {
		if err := githubkit.Preflight(ctx, env, nil, s.Org, nil); err != nil {
			errs = append(errs, fmt.Errorf("org: %w", err))
		} else {
			env.Logf("precondition: the GitHub token works; the repositories of %s are listed and mirrored when the step runs", s.Org)
		}
	}
	for _, r := range repos {
		if err := inspect(ctx, env, r); err != nil {
			errs = append(errs, fmt.Errorf("repos: %w", err))
		}
	}
	return errors.Join(errs...)
}

func inspect(ctx context.Context, env *steps.Env, r string) error {
	if fleet.IsURL(r) {
		env.Logf("precondition: %s is a clone URL: it is scanned in a mirror, never purged", r)
		return nil
	}
	st, err := gitrepo.Inspect(ctx, r)
	switch {
	case err != nil:
		return err
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
	return nil
}

// Run scans every repository, Concurrency at a time. A repository that cannot be scanned does
// not stop the others; the step fails after all were tried, and its next attempt (a retry or
// `respond resume`) skips the repositories already scanned.
func (s *Scan) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	secret := strings.TrimSpace(s.Secret)
	if secret == "" || openai.IsKeyID(secret) {
		return nil, &steps.Skip{Reason: "no leaked value to look for (only a key ID was given)"}
	}
	env.Secret(secret)
	targets, err := s.targets(ctx, env)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, &steps.Skip{Reason: "no repositories to scan"}
	}
	o := fleet.Options{Targets: targets, Secrets: [][]byte{[]byte(secret)}, SecretID: redact.Fingerprint(secret),
		Token: env.Getenv(EnvToken), TokenHosts: fleet.TokenHosts(env.Getenv(githubkit.EnvBaseURL)),
		CacheDir: s.CacheDir, Concurrency: s.Concurrency,
		StateFile: filepath.Join(env.WorkDir, "fleet-"+env.StepID+".json")}
	if o.CacheDir == "" {
		state, err := journal.DefaultDir(env.Getenv)
		if err != nil {
			return nil, fmt.Errorf("cache_dir: %w", err)
		}
		o.CacheDir = filepath.Join(state, "mirrors")
	}
	if o.Token != "" {
		env.Secret(o.Token)
	}
	meter := progress.Lines(func(line string) { env.Log(line, nil) }, progressEvery)
	o.Progress = func(st fleet.Status) { meter.Set(update(st)) }
	rep, err := fleet.Scan(ctx, o)
	meter.Close()
	if err != nil {
		return nil, fmt.Errorf("scan %d repositories: %w", len(targets), err)
	}
	return s.outputs(env, rep)
}

// targets gathers repos, repos_file and org.
func (s *Scan) targets(ctx context.Context, env *steps.Env) ([]fleet.Target, error) {
	var out []fleet.Target
	for i, r := range s.Repos {
		t, err := fleet.NewTarget(r, "")
		if err != nil {
			return nil, fmt.Errorf("repos[%d]: %w", i, err)
		}
		out = append(out, t)
	}
	if s.ReposFile != "" {
		ts, err := fleet.ReadList(s.ReposFile)
		if err != nil {
			return nil, fmt.Errorf("repos_file: %w", err)
		}
		out = append(out, ts...)
	}
	if s.Org != "" {
		gc, err := githubkit.Client(env)
		if err != nil {
			return nil, err
		}
		ts, skipped, err := fleet.OrgTargets(ctx, gc, s.Org, fleet.OrgFilter{SkipArchived: s.SkipArchived, SkipForks: s.SkipForks})
		if err != nil {
			return nil, githubkit.Credential(err)
		}
		env.Logf("%s: %d repositories to scan", s.Org, len(ts))
		if len(skipped) > 0 {
			env.Logf("%s: left out (skip_archived/skip_forks): %s", s.Org, strings.Join(skipped, ", "))
		}
		out = append(out, ts...)
	}
	return out, nil
}

// update is the fleet's progress for the journal.
func update(st fleet.Status) progress.Update {
	u := progress.Update{Phase: "repositories", Unit: "repos", Done: int64(st.Done + st.Failed), Total: int64(st.Total)}
	if len(st.Running) > 0 {
		u.Note = "scanning " + strings.Join(st.Running, ", ")
		if st.PhaseOfRepo != "" && st.Of > 0 {
			u.Note += fmt.Sprintf(" (%s: %s %d/%d)", st.PhaseOfRepo, st.Phase, st.Units, st.Of)
		}
	}
	if st.Failed > 0 {
		u.Note += fmt.Sprintf("; %d failed", st.Failed)
	}
	return u
}

// outputs logs each repository's result and combines them into the step's outputs.
func (s *Scan) outputs(env *steps.Env, rep *fleet.Report) (steps.Outputs, error) {
	max := s.MaxFindings
	if max == 0 {
		max = 200
	}
	findings, withKey, inTip := []any{}, []string{}, false
	var errs []error
	for _, r := range rep.Results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("scan %s: %w", r.Target.Name, r.Err))
			continue
		}
		res := r.Scan
		if len(res.Findings) > 0 {
			withKey = append(withKey, r.Target.Name)
		}
		sort.Slice(res.Findings, func(i, j int) bool { return res.Findings[i].Date.Before(res.Findings[j].Date) })
		for _, f := range res.Findings {
			inTip = inTip || f.InTip
			if len(findings) < max {
				findings = append(findings, map[string]any{"repo": r.Target.Name, "kind": f.Kind, "commit": f.Commit,
					"path": f.Path, "line": f.Line, "author": f.Author, "date": f.Date.UTC().Format(time.RFC3339),
					"refs": f.Refs, "in_tip": f.InTip})
			}
		}
		env.Log(describe(r), nil)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of %d repositories could not be scanned (the next attempt skips the %d scanned): %w",
			len(errs), len(rep.Results), len(rep.Results)-len(errs), errors.Join(errs...))
	}
	firstSeen := ""
	if !rep.FirstSeen.IsZero() {
		firstSeen = rep.FirstSeen.UTC().Format(time.RFC3339)
	}
	return steps.Outputs{"findings": findings, "count": rep.Findings, "first_seen": firstSeen,
		"repos_with_secret": withKey, "in_tip": inTip}, nil
}

// describe is one repository's result for the journal: the counts and its first findings.
func describe(r fleet.Result) string {
	tips := 0
	for _, f := range r.Scan.Findings {
		if f.InTip {
			tips++
		}
	}
	res := r.Scan
	msg := fmt.Sprintf("%s: %d finding(s) in %d commits across %d refs; %d still at a ref tip", r.Target.Name, len(res.Findings),
		res.Commits, res.Refs, tips)
	if !res.FirstSeen.IsZero() {
		msg += "; first committed " + res.FirstSeen.UTC().Format(time.RFC3339)
	}
	if res.Unreachable > 0 {
		msg += fmt.Sprintf("; %d unreachable object(s) still hold it", res.Unreachable)
	}
	if r.Resumed {
		msg += " (scanned by an earlier attempt)"
	}
	n := len(r.Scan.Findings)
	for i, f := range r.Scan.Findings {
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
	return msg
}
