package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
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
	old, new      plumbing.Hash
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
// refs keep their name. Refs the remote does not have are not created, read-only forge refs are
// never pushed.
func Push(ctx context.Context, o PushOptions) (*PushResult, error) {
	if o.Path == "" {
		return nil, errors.New("push: no repository path")
	}
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
	plans := map[string]*plannedPush{}
	for _, rc := range o.RefMap {
		switch {
		case rc.Deleted():
			res.Skipped = append(res.Skipped, SkippedRef{rc.Ref, "read-only forge ref, deleted locally; it cannot be pushed"})
			continue
		case rc.Ref == "HEAD" || rc.Ref == "refs/stash":
			res.Skipped = append(res.Skipped, SkippedRef{rc.Ref, "local only"})
			continue
		case IsReadOnlyForgeRef(rc.Ref):
			res.Skipped = append(res.Skipped, SkippedRef{rc.Ref, "read-only forge ref"})
			continue
		}
		target := rc.Ref
		if rest, ok := strings.CutPrefix(rc.Ref, "refs/remotes/"); ok {
			remote, branch, _ := strings.Cut(rest, "/")
			if remoteName == "" || remote != remoteName || branch == "HEAD" {
				res.Skipped = append(res.Skipped, SkippedRef{rc.Ref, "remote-tracking ref of another remote"})
				continue
			}
			target = "refs/heads/" + branch
		}
		p := &plannedPush{local: rc.Ref, remote: target, old: plumbing.NewHash(rc.Old), new: plumbing.NewHash(rc.New)}
		if prev, ok := plans[target]; ok {
			// The remote-tracking ref is what the remote had; a local branch of the same name
			// may hold unpublished work, which a purge has no business publishing.
			if strings.HasPrefix(prev.local, "refs/remotes/") {
				res.Skipped = append(res.Skipped, SkippedRef{rc.Ref, "pushed from " + prev.local})
				continue
			}
			res.Skipped = append(res.Skipped, SkippedRef{prev.local, "pushed from " + rc.Ref})
		}
		plans[target] = p
	}

	remoteURL = localGitDir(remoteURL)
	remote := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: pushRemoteName(remoteName), URLs: []string{remoteURL}})
	advertised, err := listRemote(ctx, remote, o.Token)
	if err != nil {
		return nil, fmt.Errorf("push: list %s: %w", res.URL, err)
	}
	var lease LeaseError
	var todo []*plannedPush
	for _, target := range slices.Sorted(maps.Keys(plans)) {
		p := plans[target]
		cur, ok := advertised[target]
		switch {
		case !ok:
			res.Skipped = append(res.Skipped, SkippedRef{p.local, "not on the remote"})
		case cur == p.new:
			res.Skipped = append(res.Skipped, SkippedRef{p.local, "remote already rewritten"})
		case cur != p.old:
			lease.Mismatches = append(lease.Mismatches, LeaseMismatch{Ref: target, Want: p.old.String(), Got: cur.String()})
		default:
			todo = append(todo, p)
		}
	}
	if len(lease.Mismatches) > 0 {
		return nil, fmt.Errorf("push to %s: %w", res.URL, &lease)
	}
	if len(todo) > 0 {
		po := &git.PushOptions{RemoteName: pushRemoteName(remoteName), RemoteURL: remoteURL, Auth: auth(o.Token), Atomic: true}
		for _, p := range todo {
			po.RefSpecs = append(po.RefSpecs, config.RefSpec("+"+p.local+":"+p.remote))
			po.RequireRemoteRefs = append(po.RequireRemoteRefs, config.RefSpec(p.old.String()+":"+p.remote))
		}
		if err := remote.PushContext(ctx, po); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fmt.Errorf("push to %s: %w", res.URL, err)
		}
		after, err := listRemote(ctx, remote, o.Token)
		if err != nil {
			return nil, fmt.Errorf("push: verify %s: %w", res.URL, err)
		}
		for _, p := range todo {
			if got := after[p.remote]; got != p.new {
				return nil, fmt.Errorf("push to %s: %s is %s after the push, expected %s", res.URL, p.remote, short(got.String()), short(p.new.String()))
			}
			res.Pushed = append(res.Pushed, PushedRef{Local: p.local, Remote: p.remote, Old: p.old.String(), New: p.new.String()})
		}
		advertised = after
	}
	if o.CleanRemote {
		if path, ok := localPath(remoteURL); ok {
			c, err := CleanObjects(ctx, CleanOptions{Path: path, Secrets: o.Secrets})
			if err != nil {
				return nil, fmt.Errorf("push: pushed, but cleaning the remote's objects failed: %w", err)
			}
			res.Clean = c
		}
	}
	res.ForgeRemains = forgeRemains(res, o.RefMap, advertised, repo)
	return res, nil
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
func forgeRemains(res *PushResult, refMap []RefChange, advertised map[string]plumbing.Hash, repo *git.Repository) []string {
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
		if rc.Deleted() && !slices.Contains(readOnly, rc.Ref) {
			readOnly = append(readOnly, rc.Ref)
		}
	}
	if len(readOnly) > 0 {
		slices.Sort(readOnly)
		lines = append(lines, fmt.Sprintf("%d read-only pull/merge-request refs (e.g. %s) still point at the old commits; nobody can push them: ask the forge's support to remove them or to run a garbage collection.", len(readOnly), readOnly[0]))
	}
	lines = append(lines,
		fmt.Sprintf("Old commits stay reachable by hash on %s (commit and blame pages, compare views, the API, cached diffs) until it garbage-collects them: send the commit-map to its support and ask for cached views to be purged.", host),
		"Forks keep the old history: they are separate repositories that this push does not touch.",
		"Every existing clone, CI cache and mirror still holds the secret: collaborators must re-clone (a pull or merge of old branches brings it back).",
		"Pull-request descriptions and review comments, issues, release notes and Actions logs are not git history: search and edit them separately.",
	)
	var unknown []string
	for name, h := range advertised {
		if IsReadOnlyForgeRef(name) || name == "HEAD" {
			continue
		}
		if _, err := repo.Storer.EncodedObject(plumbing.AnyObject, h); err != nil {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		lines = append(lines, fmt.Sprintf("%d remote refs point at commits this purge never saw (%s): fetch them and purge again.", len(unknown), strings.Join(unknown, ", ")))
	}
	if res.Clean != nil {
		lines = append(lines, fmt.Sprintf("The local remote's object store was rewritten to its reachable objects (%d dropped).", res.Clean.ObjectsDropped))
	}
	return lines
}
