package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
)

// MirrorOptions says which repository to mirror where.
type MirrorOptions struct {
	URL string // clone URL or local path; a URL carrying credentials is refused
	// Token is sent as HTTP basic auth x-access-token:<Token>. It is never written to the
	// mirror: its config holds the URL as given.
	Token string
	Dir   string // the bare mirror: cloned when absent, fetched when already there
	// Progress, when set, hears the remote's object counts.
	Progress Progress
}

// Mirror makes Dir a bare mirror of URL (every ref, as `git clone --mirror`): a new clone when
// Dir does not exist, else a fetch of every ref that prunes the ones the remote deleted, as
// `git remote update --prune` does on a mirror. It reports whether it fetched into an existing
// mirror. A clone is made beside Dir and renamed into place, so an interrupted one never leaves
// a half repository at Dir; its leftovers are removed by the next call.
func Mirror(ctx context.Context, o MirrorOptions) (fetched bool, err error) {
	if u, err := url.Parse(o.URL); err == nil && u.User != nil && u.Scheme != "" {
		return false, fmt.Errorf("mirror %s: the URL carries credentials, which would be written to the mirror's config: pass a token instead", redactURL(o.URL))
	}
	if o.Dir == "" {
		return false, errors.New("mirror: no directory")
	}
	if _, err := os.Stat(o.Dir); err == nil {
		return true, fetchMirror(ctx, o)
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("mirror %s: %w", redactURL(o.URL), err)
	}
	return false, cloneMirror(ctx, o)
}

func cloneMirror(ctx context.Context, o MirrorOptions) error {
	parent, base := filepath.Split(filepath.Clean(o.Dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("mirror %s: %w", redactURL(o.URL), err)
	}
	old, _ := filepath.Glob(filepath.Join(parent, base+".partial-*"))
	for _, p := range old {
		_ = os.RemoveAll(p)
	}
	tmp, err := os.MkdirTemp(parent, base+".partial-*")
	if err != nil {
		return fmt.Errorf("mirror %s: %w", redactURL(o.URL), err)
	}
	opts := &git.CloneOptions{URL: localGitDir(o.URL), Auth: auth(o.Token), Mirror: true}
	if o.Progress != nil {
		opts.Progress = &sidebandProgress{p: o.Progress, phase: PhaseClone}
	}
	if _, err := git.PlainCloneContext(ctx, tmp, true, opts); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("clone %s: %w", redactURL(o.URL), err)
	}
	if err := os.Rename(tmp, o.Dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("mirror %s: %w", redactURL(o.URL), err)
	}
	return nil
}

func fetchMirror(ctx context.Context, o MirrorOptions) error {
	r, err := git.PlainOpen(o.Dir)
	if err != nil {
		return fmt.Errorf("mirror %s: %s is no repository: %w", redactURL(o.URL), o.Dir, err)
	}
	remote, err := r.Remote("origin")
	if err != nil {
		return fmt.Errorf("mirror %s: %s: %w", redactURL(o.URL), o.Dir, err)
	}
	// Two URLs sharing one cache directory would mix their histories in one report.
	if urls := remote.Config().URLs; len(urls) != 1 || urls[0] != localGitDir(o.URL) {
		return fmt.Errorf("mirror %s: %s mirrors another URL", redactURL(o.URL), o.Dir)
	}
	opts := &git.FetchOptions{RemoteName: "origin", Auth: auth(o.Token), Force: true, Prune: true}
	if o.Progress != nil {
		opts.Progress = &sidebandProgress{p: o.Progress, phase: PhaseFetch}
	}
	if err := r.FetchContext(ctx, opts); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s into %s: %w", redactURL(o.URL), o.Dir, err)
	}
	return nil
}
