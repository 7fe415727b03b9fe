package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// PushOptions says where to force-push a purged repository's rewritten refs.
type PushOptions struct {
	Path   string      // the purged local repository
	Remote string      // a remote configured in Path (default "origin"), or a URL or local path
	Token  string      // HTTP basic auth x-access-token:<Token>
	RefMap []RefChange // PurgeResult.RefMap, or ReadRefMap(PurgeResult.RefMapPath)

	// CleanRemote, for a remote that is a local path (a rehearsal's bare "remote"), runs
	// CleanObjects on it after the push so the old objects leave its store too.
	CleanRemote bool
	Secrets     [][]byte // with CleanRemote: count reachable objects that still hold one
}

// PushedRef is one ref the push moved on the remote.
type PushedRef struct {
	Local, Remote string // local ref pushed, and the remote ref it updated
	Old, New      string
}

// SkippedRef is a ref of the ref-map that was not pushed, and why.
type SkippedRef struct {
	Ref, Reason string
}

// PushResult says what the push did and what the remote's host may still hold.
type PushResult struct {
	URL          string // with any credentials removed
	Pushed       []PushedRef
	Skipped      []SkippedRef
	Clean        *CleanResult // CleanRemote only
	ForgeRemains []string     // plain-text lines: what the forge may still hold
	// Incomplete lists, as plain text, remote refs the push could not clean: the purge never saw
	// them. Non-empty means the remote still holds the key: the caller must say so first.
	Incomplete []string
}

// LeaseError is returned when a remote ref is no longer at the value the purge rewrote: someone
// pushed meanwhile. Nothing was pushed.
type LeaseError struct {
	Mismatches []LeaseMismatch
}

// LeaseMismatch is one remote ref that moved.
type LeaseMismatch struct {
	Ref, Want, Got string
}

func (e *LeaseError) Error() string {
	var b strings.Builder
	b.WriteString("remote moved since the purge, nothing pushed:")
	for _, m := range e.Mismatches {
		fmt.Fprintf(&b, " %s is %s, expected %s;", m.Ref, short(m.Got), short(m.Want))
	}
	return strings.TrimSuffix(b.String(), ";")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

type plannedPush struct {
	local, remote string
	old, new      plumbing.Hash // new is zero for a delete
}

// Push force-pushes the rewritten refs of a purge, each under a lease: every remote ref must
// still be at the value the purge started from.
//
// go-git's ForceWithLease holds one ref and checks it against a remote-tracking ref, which tags
// do not have. Instead Push reads the remote's advertisement and refuses everything if any ref
// differs from its ref-map old value; then pushes all refs in one session with
// RequireRemoteRefs (the same check, made by go-git against that session's advertisement) and
// Atomic. Each update command carries the advertised (= leased) old value, so a git server
// (receive-pack, GitHub) rejects a ref that moves between advertisement and update, and with
// atomic support rejects the whole push. go-git's in-process server, used for local paths, checks
// neither: for a local remote the window between advertisement and update is not covered.
//
// Mapping: refs/remotes/<remote>/X is pushed to refs/heads/X (it is what the remote had); other
// refs keep their name. Refs the remote does not have are not created, except the new name of a
// ref renamed because its name held a secret; the old name is deleted on the remote (found by
// its masked name, so a ref-map read from disk, which never holds a secret, is enough).
// Read-only forge refs are never pushed.
//
// A local remote that has a working tree is refused for its checked-out branch, as git's
// receive.denyCurrentBranch does: moving that branch under its index would leave the remote's
// working tree holding the old files (and the key) as uncommitted changes.
func Push(ctx context.Context, o PushOptions) (*PushResult, error) {
	if o.Path == "" {
		return nil, errors.New("push: no repository path")
	}
	m := &matcher{secrets: o.Secrets}
	repo, err := git.PlainOpenWithOptions(o.Path, &git.PlainOpenOptions{})
	if err != nil {
		return nil, fmt.Errorf("push: open %s: %w", o.Path, err)
	}
	name := o.Remote
	if name == "" {
		name = "origin"
	}
	remoteName, remoteURL := name, name
	if rc, err := repo.Remote(name); err == nil && len(rc.Config().URLs) > 0 {
		remoteURL = rc.Config().URLs[0]
	} else {
		remoteName = ""
	}
	res := &PushResult{URL: redactURL(remoteURL)}
	plans, renamedAway := planPushes(o.RefMap, remoteName, m, res)

	checkedOut := ""
	if path, ok := localPath(remoteURL); ok {
		checkedOut = checkedOutBranch(path)
	}
	remoteURL = localGitDir(remoteURL)
	remote := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: pushRemoteName(remoteName), URLs: []string{remoteURL}})
	advertised, err := listRemote(ctx, remote, o.Token)
	if err != nil {
		return nil, fmt.Errorf("push: list %s: %w", res.URL, err)
	}
	// The old name of a renamed ref, as the remote spells it.
	for _, p := range renamedAway {
		for adv := range advertised {
			if m.maskName(adv) == m.maskName(p.remote) && m.any([]byte(adv)) {
				q := p // leased to the value the purge saw, like every other ref
				q.remote, q.new = adv, plumbing.ZeroHash
				plans[adv] = &q
			}
		}
	}
	todo, err := leased(plans, advertised, m, res)
	if err != nil {
		return nil, err
	}
	for _, p := range todo {
		if p.remote == checkedOut {
			return nil, fmt.Errorf("push to %s: refused, nothing pushed: it is a repository with a working tree and %s is checked out there; "+
				"moving that branch would leave its working tree and index holding the old files (git refuses this too: receive.denyCurrentBranch). "+
				"Purge that clone itself, or push to a bare repository", res.URL, m.maskName(checkedOut))
		}
	}
	if len(todo) > 0 {
		po := &git.PushOptions{RemoteName: pushRemoteName(remoteName), RemoteURL: remoteURL, Auth: auth(o.Token), Atomic: true}
		if advertised, err = pushVerified(ctx, remote, po, todo, o.Token, m, res); err != nil {
			return nil, err
		}
	}
	if o.CleanRemote {
		if err := cleanLocalRemote(ctx, remoteURL, o.Secrets, m, res); err != nil {
			return nil, err
		}
	}
	res.Incomplete = incomplete(advertised, repo, m)
	res.ForgeRemains = forgeRemains(res, o.RefMap, advertised)
	return res, nil
}

// planPushes maps the purge's ref changes to remote refs: remote-tracking refs of the remote to
// its branches, other refs to themselves. Refs that cannot or must not be pushed are recorded in
// res.Skipped; refs deleted because they were renamed are returned apart, to be found on the
// remote by their masked name.
func planPushes(refMap []RefChange, remoteName string, m *matcher, res *PushResult) (map[string]*plannedPush, []plannedPush) {
	plans := map[string]*plannedPush{}
	var renamedAway []plannedPush
	for _, rc := range refMap {
		switch {
		case rc.Deleted() && rc.RenamedTo == "":
			res.Skipped = append(res.Skipped, SkippedRef{rc.Ref, "read-only forge ref, deleted locally; it cannot be pushed"})
			continue
		case rc.Ref == "HEAD" || rc.Ref == "refs/stash" || strings.HasPrefix(rc.Ref, "refs/stash"):
			res.Skipped = append(res.Skipped, SkippedRef{m.maskName(rc.Ref), "local only"})
			continue
		case IsReadOnlyForgeRef(rc.Ref):
			res.Skipped = append(res.Skipped, SkippedRef{rc.Ref, "read-only forge ref"})
			continue
		}
		target := rc.Ref
		if rest, ok := strings.CutPrefix(rc.Ref, "refs/remotes/"); ok {
			remote, branch, _ := strings.Cut(rest, "/")
			if remoteName == "" || remote != remoteName || branch == "HEAD" {
				res.Skipped = append(res.Skipped, SkippedRef{m.maskName(rc.Ref), "remote-tracking ref of another remote"})
				continue
			}
			target = "refs/heads/" + branch
		}
		p := &plannedPush{local: rc.Ref, remote: target, old: plumbing.NewHash(rc.Old), new: plumbing.NewHash(rc.New)}
		if rc.Deleted() {
			renamedAway = append(renamedAway, *p)
			continue
		}
		if prev, ok := plans[target]; ok {
			// The remote-tracking ref is what the remote had; a local branch of the same name
			// may hold unpublished work, which a purge has no business publishing.
			if strings.HasPrefix(prev.local, "refs/remotes/") {
				res.Skipped = append(res.Skipped, SkippedRef{m.maskName(rc.Ref), "pushed from " + m.maskName(prev.local)})
				continue
			}
			res.Skipped = append(res.Skipped, SkippedRef{m.maskName(prev.local), "pushed from " + m.maskName(rc.Ref)})
		}
		plans[target] = p
	}
	return plans, renamedAway
}

// leased returns the pushes whose remote ref still holds the value the purge started from; a ref
// that moved since fails the whole push with a LeaseError, before anything is pushed.
func leased(plans map[string]*plannedPush, advertised map[string]plumbing.Hash, m *matcher, res *PushResult) ([]*plannedPush, error) {
	var lease LeaseError
	var todo []*plannedPush
	for _, target := range slices.Sorted(maps.Keys(plans)) {
		p := plans[target]
		cur, ok := advertised[target]
		switch {
		case !ok && !p.old.IsZero():
			res.Skipped = append(res.Skipped, SkippedRef{m.maskName(p.local), "not on the remote"})
		case ok && cur == p.new:
			res.Skipped = append(res.Skipped, SkippedRef{m.maskName(p.local), "remote already rewritten"})
		case ok && cur != p.old:
			lease.Mismatches = append(lease.Mismatches, LeaseMismatch{Ref: m.maskName(target), Want: p.old.String(), Got: cur.String()})
		default:
			todo = append(todo, p)
		}
	}
	if len(lease.Mismatches) > 0 {
		return nil, fmt.Errorf("push to %s: %w", res.URL, &lease)
	}
	return todo, nil
}

// pushVerified pushes todo atomically with a lease per ref, then lists the remote again and
// returns what it advertises: a ref that is not where the push put it is an error.
func pushVerified(ctx context.Context, remote *git.Remote, po *git.PushOptions, todo []*plannedPush, token string, m *matcher, res *PushResult) (map[string]plumbing.Hash, error) {
	for _, p := range todo {
		if p.new.IsZero() {
			po.RefSpecs = append(po.RefSpecs, config.RefSpec(":"+p.remote))
		} else {
			po.RefSpecs = append(po.RefSpecs, config.RefSpec("+"+p.local+":"+p.remote))
		}
		if !p.old.IsZero() {
			po.RequireRemoteRefs = append(po.RequireRemoteRefs, config.RefSpec(p.old.String()+":"+p.remote))
		}
	}
	if err := remote.PushContext(ctx, po); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("push to %s: %w", res.URL, err)
	}
	after, err := listRemote(ctx, remote, token)
	if err != nil {
		return nil, fmt.Errorf("push: verify %s: %w", res.URL, err)
	}
	for _, p := range todo {
		got, ok := after[p.remote]
		if p.new.IsZero() && ok || !p.new.IsZero() && got != p.new {
			return nil, fmt.Errorf("push to %s: %s is %s after the push, expected %s", res.URL, m.maskName(p.remote), short(got.String()), short(p.new.String()))
		}
		res.Pushed = append(res.Pushed, PushedRef{Local: m.maskName(p.local), Remote: m.maskName(p.remote), Old: p.old.String(), New: p.new.String()})
	}
	return after, nil
}

// cleanLocalRemote finishes a remote that is a local path: its HEAD follows a renamed branch
// and its objects holding the secret are dropped.
func cleanLocalRemote(ctx context.Context, remoteURL string, secrets [][]byte, m *matcher, res *PushResult) error {
	path, ok := localPath(remoteURL)
	if !ok {
		return nil
	}
	if err := followRename(path, m); err != nil {
		return fmt.Errorf("push: pushed, but pointing the remote's HEAD at its renamed branch failed: %w", err)
	}
	c, err := CleanObjects(ctx, CleanOptions{Path: path, Secrets: secrets})
	if err != nil {
		return fmt.Errorf("push: pushed, but cleaning the remote's objects failed: %w", err)
	}
	res.Clean = c
	return nil
}

// followRename points a local remote's HEAD, when it names a branch renamed because its name
// held a secret, at the new name (under HEAD.lock, as git does).
func followRename(path string, m *matcher) error {
	gitDir, _, err := gitDirOf(path)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return err
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "ref: ")
	if !ok || !m.any([]byte(target)) {
		return nil
	}
	lk := &repoLock{gitDir: gitDir, held: map[string]*os.File{}, mask: m.maskName}
	defer lk.releaseAll()
	if err := lk.take("HEAD"); err != nil {
		return err
	}
	return lk.commit("HEAD", []byte("ref: "+m.maskName(target)+"\n"))
}

// checkedOutBranch is the branch checked out in the repository at path, or "" when it is bare.
func checkedOutBranch(path string) string {
	gitDir, bare, err := gitDirOf(path)
	if err != nil {
		return ""
	}
	if bare && filepath.Base(gitDir) != ".git" {
		if b, err := os.ReadFile(filepath.Join(gitDir, "config")); err == nil {
			cfg := config.NewConfig()
			if cfg.Unmarshal(b) != nil || cfg.Core.IsBare {
				return ""
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return ""
	}
	target, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "ref: ")
	if !ok {
		return ""
	}
	return target
}

// incomplete lists what the push leaves on the remote that the purge never saw: refs at commits
// this repository does not have (fetch them and purge again), and refs named after a secret.
func incomplete(advertised map[string]plumbing.Hash, repo *git.Repository, m *matcher) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(advertised)) {
		h := advertised[name]
		if IsReadOnlyForgeRef(name) || name == "HEAD" {
			continue
		}
		if m.any([]byte(name)) {
			out = append(out, fmt.Sprintf("%s: its name holds the key, and it is still on the remote", m.maskName(name)))
			continue
		}
		if _, err := repo.Storer.EncodedObject(plumbing.AnyObject, h); err != nil {
			out = append(out, fmt.Sprintf("%s: at %s, a commit this purge never saw (fetch it and purge again)", name, short(h.String())))
		}
	}
	return out
}

func pushRemoteName(n string) string {
	if n == "" {
		return "respond-push"
	}
	return n
}

func listRemote(ctx context.Context, remote *git.Remote, token string) (map[string]plumbing.Hash, error) {
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth(token)})
	if err != nil {
		return nil, err
	}
	out := map[string]plumbing.Hash{}
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			out[r.Name().String()] = r.Hash()
		}
	}
	return out, nil
}

// localPath reports whether a remote URL names a local repository, and its path.
func localPath(u string) (string, bool) {
	if p, ok := strings.CutPrefix(u, "file://"); ok {
		return p, true
	}
	if strings.Contains(u, "://") {
		return "", false
	}
	if i := strings.Index(u, ":"); i > 0 && !strings.ContainsAny(u[:i], "/\\") {
		return "", false // scp-like user@host:path
	}
	return u, true
}

// forgeRemains lists, as plain text, what the remote's host may still hold after the push.
func forgeRemains(res *PushResult, refMap []RefChange, advertised map[string]plumbing.Hash) []string {
	var lines []string
	host := res.URL
	if u, err := url.Parse(res.URL); err == nil && u.Host != "" {
		host = u.Host
	}
	var readOnly []string
	for name := range advertised {
		if IsReadOnlyForgeRef(name) {
			readOnly = append(readOnly, name)
		}
	}
	for _, rc := range refMap {
		if rc.Deleted() && rc.RenamedTo == "" && !slices.Contains(readOnly, rc.Ref) {
			readOnly = append(readOnly, rc.Ref)
		}
	}
	if len(readOnly) > 0 {
		slices.Sort(readOnly)
		lines = append(lines, fmt.Sprintf("%d read-only pull/merge-request refs (e.g. %s) still point at the old commits; nobody can push them: ask the forge's support to remove them or to run a garbage collection.", len(readOnly), readOnly[0]))
	}
	for _, rc := range refMap {
		if rc.RenamedTo != "" && strings.HasPrefix(rc.RenamedTo, "refs/heads/") {
			lines = append(lines, fmt.Sprintf("Branches named after the key were renamed (e.g. to %s): if one was the default branch or is protected, set the new name in the forge's settings.", rc.RenamedTo))
			break
		}
	}
	lines = append(lines,
		fmt.Sprintf("Old commits stay reachable by hash on %s (commit and blame pages, compare views, the API, cached diffs) until it garbage-collects them: send the commit-map to its support and ask for cached views to be purged.", host),
		"Forks keep the old history: they are separate repositories that this push does not touch.",
		"Every existing clone, CI cache and mirror still holds the secret: collaborators must re-clone (a pull or merge of old branches brings it back).",
		"Pull-request descriptions and review comments, issues, release notes and Actions logs are not git history: search and edit them separately.",
	)
	if res.Clean != nil {
		lines = append(lines, fmt.Sprintf("The local remote's object store was rewritten to its reachable objects (%d dropped).", res.Clean.ObjectsDropped))
	}
	return lines
}
