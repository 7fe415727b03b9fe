// Package purgelogs is the `github.purge-logs` step: delete the logs of the GitHub Actions runs
// that printed the leaked value, so the copy GitHub keeps for 90 days stops being readable by
// everyone with read access to the repository. Deleting logs destroys evidence too, so only runs
// whose logs were scanned and found to hold the exact value are deleted, the plan lists every
// DELETE, and playbooks put the step behind an approval. Logs already gone count as purged.
package purgelogs

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

// PurgeLogs' parameters.
type PurgeLogs struct {
	// Secret is the leaked value.
	Secret string `yaml:"secret"`
	// Runs are the candidate runs, usually github.search's runs_with_secret
	// ({{ json .steps.search.outputs.runs_with_secret }}). Entries marked confirmed were found
	// by scanning in this run and are deleted without scanning again (unless Rescan); the others
	// are scanned first. When Runs is absent, the runs of Repos created since Since are listed
	// and scanned.
	Runs []runRef `yaml:"runs"`
	// Org and Repos (owner/name) bound the scope: given Runs, only runs in them are purged;
	// without Runs, Repos are the repositories whose runs are listed (an organization's
	// repositories cannot be listed).
	Org   string   `yaml:"org"`
	Repos []string `yaml:"repos"`
	// Since (RFC 3339 or YYYY-MM-DD) limits listed runs to those created since.
	Since string `yaml:"since"`
	// Rescan scans confirmed Runs again before deleting them.
	Rescan bool `yaml:"rescan"`
	// MaxRuns bounds the runs listed per repository, newest first (default 100).
	MaxRuns int `yaml:"max_runs"`
	// Concurrency bounds parallel log downloads (default 4).
	Concurrency int `yaml:"concurrency"`

	client logAPI // tests
	// planned is what Plan found, and so what an approver approved: Run deletes exactly these
	// instead of searching again (the engine plans and runs the same value).
	planned []target
}

// runRef is one candidate run: a map {repo, run_id, confirmed} in YAML or JSON.
type runRef struct {
	Repo      string `yaml:"repo"`
	RunID     int64  `yaml:"run_id"`
	Confirmed bool   `yaml:"confirmed"`
}

type logAPI interface {
	CheckAccess(ctx context.Context, repos ...string) error
	ListWorkflowRuns(ctx context.Context, repo string, since time.Time) ([]github.WorkflowRun, error)
	RunLogs(ctx context.Context, repo string, runID int64) (*zip.Reader, error)
	DeleteRunLogs(ctx context.Context, repo string, runID int64) error
}

var _ logAPI = (*github.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "github.purge-logs",
	New:     func() steps.Step { return &PurgeLogs{} },
	Outputs: Outputs{},
	Summary: "delete the logs of GitHub Actions runs that hold the leaked value (put it behind an approval)",
	Traits: steps.Traits{Needs: []steps.Permission{steps.GitHubLogsRead, steps.GitHubLogsDelete},
		Effects: []steps.Effect{steps.PurgesLogs}},
}

// Outputs are the step's results.
type Outputs struct {
	Deleted     int `json:"deleted"`
	AlreadyGone int `json:"already_gone"`
	// Runs describe each run whose logs held the value.
	Runs []map[string]any `json:"runs"`
}

const (
	defaultMaxRuns     = 100
	defaultConcurrency = 4
)

// target is a run whose logs hold the secret (or are already gone).
type target struct {
	repo  string
	runID int64
	why   string // how it was confirmed, for the plan
	gone  bool   // logs already deleted or expired: nothing to call
}

// Validate checks the parameters.
func (p *PurgeLogs) Validate() error {
	errs := githubkit.ValidateSecret(p.Secret)
	errs = append(errs, githubkit.ValidateScope(p.Org, p.Repos)...)
	for i, r := range p.Runs {
		if !githubkit.ValidRepo(r.Repo) {
			errs = append(errs, fmt.Errorf("runs[%d].repo: %q: want owner/name", i, r.Repo))
		}
		if r.RunID <= 0 {
			errs = append(errs, fmt.Errorf("runs[%d].run_id: want a run ID, got %d", i, r.RunID))
		}
	}
	errs = append(errs, githubkit.ValidateRunLimits(p.Since, p.MaxRuns, p.Concurrency)...)
	return errors.Join(errs...)
}

// Preflight checks the token and that every named repository is visible to it. With no org
// and no repos the step will not touch GitHub, and a team without a token is not stopped.
func (p *PurgeLogs) Preflight(ctx context.Context, env *steps.Env) error {
	return githubkit.Preflight(ctx, env, p.client, p.Org, p.Repos)
}

func (p *PurgeLogs) api(env *steps.Env) (logAPI, error) {
	if p.client != nil {
		return p.client, nil
	}
	return githubkit.Client(env)
}

// prepare registers the secret and validates; a reason to do nothing comes back as a Skip.
func (p *PurgeLogs) prepare(env *steps.Env) (string, error) {
	secret := strings.TrimSpace(p.Secret)
	if secret != "" && !openai.IsKeyID(secret) {
		env.Secret(secret)
	}
	if err := p.Validate(); err != nil {
		return "", err
	}
	switch {
	case openai.IsKeyID(secret):
		return "", &steps.Skip{Reason: "only a key ID was given; finding the logs that hold it needs the leaked value itself"}
	case p.Runs == nil && len(p.Repos) == 0 && p.Org != "":
		return "", fmt.Errorf("repos: the runs of org %s cannot be listed without naming its repositories; "+
			"pass repos, or runs from github.search", p.Org)
	case p.Runs == nil && len(p.Repos) == 0:
		return "", &steps.Skip{Reason: "no runs and no repos whose runs to purge"}
	}
	return secret, nil
}

func runsPath(t target) string {
	return fmt.Sprintf("/repos/%s/actions/runs/%d/logs", t.repo, t.runID)
}

func describe(ts []target, deleted map[int]bool) []map[string]any {
	out := []map[string]any{}
	for i, t := range ts {
		m := map[string]any{"repo": t.repo, "run_id": t.runID, "already_gone": t.gone}
		if deleted != nil && !deleted[i] && !t.gone {
			continue
		}
		out = append(out, m)
	}
	return out
}

func count(ts []target) (live, gone int) {
	for _, t := range ts {
		if t.gone {
			gone++
		} else {
			live++
		}
	}
	return live, gone
}

// Plan finds the runs (scanning with read-only downloads) and lists the DELETE calls.
func (p *PurgeLogs) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	secret, err := p.prepare(env)
	if sk, ok := steps.IsSkip(err); ok {
		return &steps.Plan{Summary: "nothing to purge: " + sk.Reason,
			Outputs: steps.Outputs{"deleted": 0, "already_gone": 0, "runs": describe(nil, nil)}}, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := p.api(env)
	if err != nil {
		return nil, err
	}
	ts, err := p.targets(ctx, env, c, secret)
	if err != nil {
		return nil, err
	}
	p.planned = ts
	var actions []steps.Action
	for _, t := range ts {
		if !t.gone {
			actions = append(actions, steps.Action{Method: "DELETE", Target: runsPath(t), Note: t.why})
		}
	}
	live, gone := count(ts)
	return &steps.Plan{
		Summary: fmt.Sprintf("delete the logs of %d Actions run(s) that hold %s (%d already gone)", live, redact.Mask(secret), gone),
		Actions: actions,
		Outputs: steps.Outputs{"deleted": live, "already_gone": gone, "runs": describe(ts, nil)},
	}, nil
}

// Run deletes the logs of the runs the plan listed (or, without a plan, of the runs it finds).
func (p *PurgeLogs) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	secret, err := p.prepare(env)
	if err != nil {
		return nil, err
	}
	c, err := p.api(env)
	if err != nil {
		return nil, err
	}
	ts := p.planned
	if ts == nil {
		if ts, err = p.targets(ctx, env, c, secret); err != nil {
			return nil, err
		}
	}
	var todo []string
	for _, t := range ts {
		if !t.gone {
			todo = append(todo, fmt.Sprintf("%s run %d", t.repo, t.runID))
		}
	}
	if len(todo) == 0 {
		env.Logf("no Actions run logs to delete: none holds %s (%d already gone)", redact.Mask(secret), len(ts))
		return steps.Outputs{"deleted": 0, "already_gone": len(ts), "runs": describe(ts, nil)}, nil
	}
	if err := env.Intent("delete run logs", map[string]any{"method": "DELETE", "runs": todo}); err != nil {
		return nil, err
	}
	deleted := map[int]bool{}
	for i := range ts {
		t := &ts[i]
		if t.gone {
			continue
		}
		err := c.DeleteRunLogs(ctx, t.repo, t.runID)
		switch {
		case errors.Is(err, github.ErrNotFound):
			t.gone = true
			env.Logf("logs of run %d in %s were already gone", t.runID, t.repo)
		case err != nil:
			return nil, fmt.Errorf("delete the logs of run %d in %s (%d of %d deleted before): %w",
				t.runID, t.repo, len(deleted), len(todo), githubkit.Credential(err))
		default:
			deleted[i] = true
			env.Logf("deleted the logs of run %d in %s", t.runID, t.repo)
		}
	}
	_, gone := count(ts)
	env.Log(fmt.Sprintf("deleted the logs of %d Actions run(s) that held %s; %d were already gone",
		len(deleted), redact.Mask(secret), gone), map[string]any{"deleted": len(deleted), "already_gone": gone})
	return steps.Outputs{"deleted": len(deleted), "already_gone": gone, "runs": describe(ts, deleted)}, nil
}

// Reconcile lets Run go again (done=false): deleting logs is idempotent, listed runs whose logs
// are gone are found gone (410) on the re-scan, and a confirmed run deleted twice is harmless.
// Which DELETEs completed before the crash is not worth a download per run to find out.
func (p *PurgeLogs) Reconcile(_ context.Context, env *steps.Env, intents []steps.Intent) (steps.Outputs, bool, error) {
	env.Logf("interrupted while deleting run logs (%d intent(s) on record); deleting again is safe", len(intents))
	return nil, false, nil
}

// targets finds the runs to purge: the given runs in scope (scanned unless confirmed), or the
// listed runs of Repos (always scanned).
func (p *PurgeLogs) targets(ctx context.Context, env *steps.Env, c logAPI, secret string) ([]target, error) {
	cands, err := p.candidates(ctx, env, c)
	if err != nil {
		return nil, err
	}
	out := make([]*target, len(cands))
	workers := p.Concurrency
	if workers == 0 {
		workers = defaultConcurrency
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i, cd := range cands {
		if !cd.scan {
			out[i] = &target{repo: cd.repo, runID: cd.runID, why: "confirmed by github.search"}
			continue
		}
		g.Go(func() error {
			f, found, err := githubkit.First(gctx, c, cd.repo, cd.runID, secret)
			switch {
			case errors.Is(err, github.ErrNotFound):
				out[i] = &target{repo: cd.repo, runID: cd.runID, gone: true, why: "logs already deleted or expired"}
			case err != nil:
				return githubkit.Credential(err)
			case found:
				out[i] = &target{repo: cd.repo, runID: cd.runID, why: fmt.Sprintf("scanned: the secret is in %s:%d", f.Name, f.Line)}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	ts := []target{}
	scanned := 0
	for i, t := range out {
		if cands[i].scan {
			scanned++
		}
		if t != nil {
			ts = append(ts, *t)
		}
	}
	live, gone := count(ts)
	env.Logf("%d run(s) considered, %d scanned: %d hold %s, %d have no logs any more", len(cands), scanned, live,
		redact.Mask(secret), gone)
	return ts, nil
}

// candidate is a run whose logs may hold the secret; scan says whether they must be read to know.
type candidate struct {
	repo  string
	runID int64
	scan  bool
}

// candidates lists each run to consider once: the given runs in scope, or the newest MaxRuns
// runs of each of Repos.
func (p *PurgeLogs) candidates(ctx context.Context, env *steps.Env, c logAPI) ([]candidate, error) {
	var cands []candidate
	seen := map[string]bool{}
	add := func(repo string, id int64, scan bool) {
		if k := fmt.Sprintf("%s#%d", strings.ToLower(repo), id); !seen[k] {
			seen[k] = true
			cands = append(cands, candidate{repo, id, scan})
		}
	}
	if p.Runs != nil {
		for _, r := range p.Runs {
			if !p.inScope(r.Repo) {
				env.Logf("run %d in %s is outside org/repos: left alone", r.RunID, r.Repo)
				continue
			}
			add(r.Repo, r.RunID, !r.Confirmed || p.Rescan)
		}
		return cands, nil
	}
	since, _ := githubkit.ParseSince(p.Since)
	maxRuns := p.MaxRuns
	if maxRuns == 0 {
		maxRuns = defaultMaxRuns
	}
	for _, repo := range p.Repos {
		rs, err := c.ListWorkflowRuns(ctx, repo, since)
		if err != nil {
			return nil, fmt.Errorf("list the Actions runs of %s: %w", repo, githubkit.Credential(err))
		}
		if len(rs) > maxRuns {
			env.Logf("%s: only the newest %d of %d runs are scanned (raise max_runs or set since)", repo, maxRuns, len(rs))
			rs = rs[:maxRuns]
		}
		for _, r := range rs {
			add(repo, r.ID, true)
		}
	}
	return cands, nil
}

func (p *PurgeLogs) inScope(repo string) bool {
	if p.Org == "" && len(p.Repos) == 0 {
		return true
	}
	owner, _, _ := strings.Cut(repo, "/")
	if p.Org != "" && strings.EqualFold(owner, p.Org) {
		return true
	}
	return slices.ContainsFunc(p.Repos, func(r string) bool { return strings.EqualFold(r, repo) })
}
