// Package purgehistory is the `git.purge-history` step: rewrite local repositories so the leaked value
// is gone from every ref and from the object store, prove it with a fresh scan, and force-push
// the rewritten refs with a lease so nobody's newer work is overwritten. It belongs behind an
// approval: it rewrites history that other people have cloned.
package purgehistory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
)

// Purge's parameters.
type Purge struct {
	// Repos are local repositories (bare, or with a clean working tree).
	Repos       []string `yaml:"repos"`
	Secret      string   `yaml:"secret"`
	Replacement string   `yaml:"replacement"`
	// Push force-pushes the rewritten refs to Remote (default origin) with a lease.
	Push   bool   `yaml:"push"`
	Remote string `yaml:"remote"`
}

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "git.purge-history",
	New:     func() steps.Step { return &Purge{} },
	Outputs: Outputs{},
	Summary: "rewrite every ref to remove the value, verify with a rescan, force-push with lease (use behind an approval)",
	Traits:  steps.Traits{Effects: []steps.Effect{steps.PurgesHistory}},
}

// Outputs are the step's results.
type Outputs struct {
	RewrittenCommits int      `json:"rewritten_commits"`
	RefsChanged      int      `json:"refs_changed"`
	CommitMaps       []string `json:"commit_maps"`
	// Pushed counts the repositories whose rewritten refs were pushed.
	Pushed int `json:"pushed"`
	// Verified is set when a rescan after the rewrite (and push) finds the value nowhere.
	Verified *bool `json:"verified"`
	// ForgeRemains is what the forge may still hold that only a person can remove.
	ForgeRemains []string `json:"forge_remains"`
}

// ToDo lists what the forge may still hold, an unpushed rewrite and the re-clone everyone owes.
func (o *Outputs) ToDo(c steps.ToDoContext) []string {
	items := append([]string(nil), o.ForgeRemains...)
	if o.Verified != nil && !*o.Verified {
		items = append(items, fmt.Sprintf("Step %s did not push the rewritten history: the remote still holds the key. Run it with push: true.", c.StepID))
	}
	if o.RefsChanged > 0 {
		items = append(items, "Everyone with a clone must re-clone (or reset to the rewritten refs); old clones still hold the key.")
	}
	return items
}

// EnvToken authenticates pushes to https remotes.
const EnvToken = "GITHUB_TOKEN"

// Validate checks the parameters.
func (p *Purge) Validate() error {
	for i, r := range p.Repos {
		if strings.Contains(r, "://") {
			return fmt.Errorf("repos[%d]: %s is a URL; purge a local clone (git clone --mirror) and push from it", i, r)
		}
	}
	if p.Replacement != "" && strings.Contains(p.Secret, p.Replacement) {
		return errors.New("replacement must not be part of the secret")
	}
	return nil
}

func (p *Purge) secret() (string, bool) {
	s := strings.TrimSpace(p.Secret)
	return s, s != "" && !openai.IsKeyID(s)
}

func (p *Purge) options(repo, secret string) gitrepo.PurgeOptions {
	return gitrepo.PurgeOptions{Path: repo, Secrets: [][]byte{[]byte(secret)}, Replacement: p.Replacement,
		RewriteRemoteTracking: p.Push}
}

func (p *Purge) remote() string {
	if p.Remote != "" {
		return p.Remote
	}
	return "origin"
}

// Plan computes, read-only, exactly what would be rewritten and pushed.
func (p *Purge) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	secret, ok := p.secret()
	plan := &steps.Plan{Outputs: steps.Outputs{"rewritten_commits": 0, "refs_changed": 0, "commit_maps": []string{},
		"pushed": 0, "verified": false, "forge_remains": []string{}}}
	if !ok || len(p.Repos) == 0 {
		plan.Summary = "nothing to purge (no leaked value or no repository)"
		return plan, nil
	}
	env.Secret(secret)
	commits, refs := 0, 0
	for _, repo := range p.Repos {
		pp, err := gitrepo.PlanPurge(ctx, p.options(repo, secret))
		if err != nil {
			return nil, fmt.Errorf("plan the purge of %s: %w", repo, err)
		}
		commits += pp.Commits
		refs += len(pp.Refs)
		plan.Actions = append(plan.Actions, steps.Action{Method: "rewrite", Target: repo,
			Params: map[string]any{"commits": pp.Commits, "trees": pp.Trees, "blobs": pp.Blobs, "binary_blobs": pp.BinaryBlobs,
				"tags": pp.Tags, "unreachable_objects_dropped": pp.Unreachable},
			Note: fmt.Sprintf("of %d commits on %d refs", pp.CommitsTotal, pp.RefsTotal)})
		for _, rc := range pp.Refs {
			switch {
			case rc.RenamedTo != "":
				plan.Actions = append(plan.Actions, steps.Action{Method: "rename ref", Target: rc.RenamedTo,
					Note: fmt.Sprintf("its name holds the value; %.12s → new name", rc.Old)})
			case rc.Created():
			case rc.Deleted():
				plan.Actions = append(plan.Actions, steps.Action{Method: "delete ref", Target: rc.Ref, Note: fmt.Sprintf("%.12s", rc.Old)})
			default:
				plan.Actions = append(plan.Actions, steps.Action{Method: "move ref", Target: rc.Ref,
					Note: fmt.Sprintf("%.12s → %.12s", rc.Old, rc.New)})
			}
		}
		for _, lg := range pp.Reflogs {
			plan.Actions = append(plan.Actions, steps.Action{Method: "rewrite reflog", Target: lg.Ref,
				Note: fmt.Sprintf("%d of %d entries (none dropped)", lg.Entries, lg.Total)})
		}
		if pp.Notes > 0 || len(pp.Names) > 0 {
			plan.Actions = append(plan.Actions, steps.Action{Method: "follow", Target: repo,
				Params: map[string]any{"notes_moved": pp.Notes, "names_renamed": pp.Names, "stash_entries_rewritten": pp.Stash}})
		}
		if len(pp.Pinned) > 0 && !p.Push {
			plan.Actions = append(plan.Actions, steps.Action{Method: "leave", Target: strings.Join(pp.Pinned, ", "),
				Note: "remote-tracking refs stay where the remote is; it still holds the value (push: true finishes)"})
		}
		if p.Push && len(pp.Refs) > 0 {
			plan.Actions = append(plan.Actions, steps.Action{Method: "force-push", Target: p.remote(),
				Params: map[string]any{"refs": len(pp.Refs)}, Note: "each ref leased to its current value; refs/pull/* never pushed"})
		}
	}
	plan.Summary = fmt.Sprintf("rewrite %d commits and %d refs in %d repositories", commits, refs, len(p.Repos))
	if p.Push {
		plan.Summary += ", then force-push with lease to " + p.remote()
	}
	plan.Outputs["rewritten_commits"], plan.Outputs["refs_changed"] = commits, refs
	return plan, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// mapDir is where a repository's commit-map and ref-map go: one directory per attempt, so an
// interrupted attempt's ref-map survives for the push that follows.
func mapDir(env *steps.Env, repo string) string {
	abs, _ := filepath.Abs(repo)
	name := strings.Trim(unsafeName.ReplaceAllString(abs, "_"), "_")
	return filepath.Join(env.WorkDir, "purge", env.StepID, name, fmt.Sprintf("attempt-%d", env.Attempt))
}

// priorRefMap merges the ref-maps earlier attempts of this step wrote for repo: the lease must
// hold the value the remote had before the first rewrite.
func priorRefMap(env *steps.Env, repo string) []gitrepo.RefChange {
	dirs, _ := filepath.Glob(filepath.Join(filepath.Dir(mapDir(env, repo)), "attempt-*", "ref-map"))
	sort.Strings(dirs)
	merged := map[string]gitrepo.RefChange{}
	var order []string
	for _, path := range dirs {
		rcs, err := gitrepo.ReadRefMap(path)
		if err != nil {
			continue
		}
		for _, rc := range rcs {
			// A renamed ref's old name is masked in the file, like its new name: the
			// deletion and the creation are two entries under one name.
			key := rc.Ref + "\x00" + rc.RenamedTo
			if prev, ok := merged[key]; ok {
				rc.Old = prev.Old
			} else {
				order = append(order, key)
			}
			merged[key] = rc
		}
	}
	out := make([]gitrepo.RefChange, 0, len(order))
	for _, r := range order {
		out = append(out, merged[r])
	}
	return out
}

// Run purges, verifies, and pushes.
func (p *Purge) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	secret, ok := p.secret()
	if !ok {
		return nil, &steps.Skip{Reason: "no leaked value to purge (only a key ID was given)"}
	}
	if len(p.Repos) == 0 {
		return nil, &steps.Skip{Reason: "no repository holds the value"}
	}
	env.Secret(secret)
	commits, refs, pushed := 0, 0, 0
	verified := true
	cmaps, remains, incomplete := []string{}, []string{}, []string(nil)
	for _, repo := range p.Repos {
		res, err := p.rewrite(ctx, env, repo, secret)
		if err != nil {
			return nil, err
		}
		commits += res.Commits
		refs += len(res.RefMap)
		cmaps = append(cmaps, res.CommitMapPath)
		finished, err := verifyPurged(ctx, env, repo, secret)
		if err != nil {
			return nil, err
		}
		verified = verified && finished
		if !p.Push {
			continue
		}
		pr, err := p.push(ctx, env, repo, secret)
		if err != nil {
			return nil, err
		}
		if pr == nil {
			continue
		}
		pushed += len(pr.Pushed)
		remains = append(remains, pr.ForgeRemains...)
		if len(pr.Incomplete) > 0 {
			incomplete = append(incomplete, fmt.Sprintf("%s → %s: %s", repo, pr.URL, strings.Join(pr.Incomplete, "; ")))
		}
	}
	if len(remains) > 0 {
		env.Log("what the forge may still hold (a person must act):\n  "+strings.Join(remains, "\n  "), nil)
	}
	if len(incomplete) > 0 {
		return nil, fmt.Errorf("purge incomplete, the remote still holds the value in refs this purge never saw: %s", strings.Join(incomplete, "; "))
	}
	return steps.Outputs{"rewritten_commits": commits, "refs_changed": refs, "commit_maps": cmaps, "pushed": pushed,
		"verified": verified, "forge_remains": remains}, nil
}

// rewrite purges one repository, its maps in the run's work directory, after recording the
// intent.
func (p *Purge) rewrite(ctx context.Context, env *steps.Env, repo, secret string) (*gitrepo.PurgeResult, error) {
	o := p.options(repo, secret)
	o.MapDir = mapDir(env, repo)
	if err := os.MkdirAll(o.MapDir, 0o700); err != nil {
		return nil, fmt.Errorf("purge %s: %w", repo, err)
	}
	if err := env.Intent("rewrite", map[string]any{"repo": repo, "map_dir": o.MapDir}); err != nil {
		return nil, err
	}
	res, err := gitrepo.Purge(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("purge %s: %w", repo, err)
	}
	env.Logf("%s: rewrote %d commits, %d blobs (%d binary, masked to the same length), %d tags; %d refs changed; %d reflogs, %d of %d stash entries, %d notes, %d names rewritten; %d old objects dropped. commit-map: %s",
		repo, res.Commits, res.Blobs, res.BinaryBlobs, res.Tags, len(res.RefMap), len(res.Reflogs), res.Stash, res.StashTotal,
		res.Notes, len(res.Names), res.ObjectsDropped, res.CommitMapPath)
	if len(res.Untracked) > 0 {
		env.Logf("%s: untracked or ignored files hold the value (not touched, a person must remove them): %s", repo, strings.Join(res.Untracked, ", "))
	}
	return res, nil
}

// verifyPurged rescans repo: the value left anywhere but remote-tracking refs is an error;
// left only there (no push yet), the purge is not finished and finished is false.
func verifyPurged(ctx context.Context, env *steps.Env, repo, secret string) (finished bool, err error) {
	check, err := gitrepo.Scan(ctx, gitrepo.ScanOptions{Path: repo, Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		return false, fmt.Errorf("verify %s: %w", repo, err)
	}
	var local int
	pinned := map[string]bool{}
	for _, f := range check.Findings {
		onlyRemote := len(f.Refs) > 0
		for _, r := range f.Refs {
			onlyRemote = onlyRemote && strings.HasPrefix(r, "refs/remotes/")
		}
		if !onlyRemote {
			local++
			continue
		}
		for _, r := range f.Refs {
			pinned[strings.TrimSuffix(r, "@{reflog}")] = true
		}
	}
	if local+check.Unreachable > 0 {
		return false, fmt.Errorf("verify %s: the value is still there after the purge (%d findings, %d unreachable objects); nothing was pushed", repo, local, check.Unreachable)
	}
	if len(pinned) > 0 {
		env.Logf("%s: NOT FINISHED: the remote still holds the value (remote-tracking refs left where it is: %s). Locally no branch, tag, stash entry, reflog, note or name holds it; run this step with push: true to finish",
			repo, strings.Join(slices.Sorted(maps.Keys(pinned)), ", "))
		return false, nil
	}
	env.Logf("%s: rescan finds the value in no ref, reflog, stash entry, name and no object", repo)
	return true, nil
}

// push force-pushes the refs the purges of this run changed (every attempt's ref-map), each
// leased to the value the purge saw. A nil result with no error means nothing to push.
func (p *Purge) push(ctx context.Context, env *steps.Env, repo, secret string) (*gitrepo.PushResult, error) {
	refMap := priorRefMap(env, repo)
	if len(refMap) == 0 {
		env.Logf("%s: no ref changed, nothing to push", repo)
		return nil, nil
	}
	if err := env.Intent("push", map[string]any{"repo": repo, "remote": p.remote(), "refs": len(refMap)}); err != nil {
		return nil, err
	}
	pr, err := gitrepo.Push(ctx, gitrepo.PushOptions{Path: repo, Remote: p.remote(), Token: env.Getenv(EnvToken),
		RefMap: refMap, CleanRemote: true, Secrets: [][]byte{[]byte(secret)}})
	var lease *gitrepo.LeaseError
	if errors.As(err, &lease) {
		return nil, fmt.Errorf("%s: %w. Someone pushed after the purge started: fetch, purge again, and rerun", repo, err)
	}
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", repo, err)
	}
	env.Logf("%s: force-pushed %d refs to %s (%d skipped)", repo, len(pr.Pushed), pr.URL, len(pr.Skipped))
	return pr, nil
}

// Reconcile lets the step run again: purging an already purged repository rewrites nothing,
// and the push uses the ref-maps every attempt left behind, leased to the original values.
func (p *Purge) Reconcile(context.Context, *steps.Env, []steps.Intent) (steps.Outputs, bool, error) {
	return nil, false, nil
}

// Default fills the remote pushed to (it matters only with push: true).
func (p *Purge) Default() map[string]any {
	if p.Remote != "" || !p.Push {
		return nil
	}
	p.Remote = p.remote()
	return map[string]any{"remote": p.Remote}
}
