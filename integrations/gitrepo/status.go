package gitrepo

import (
	"context"
	"fmt"
)

// Status is what a purge would find at a repository before it starts: whether it is one git can
// use, whether it is bare, and which tracked paths differ from HEAD (a purge refuses to rewrite a
// working tree with uncommitted changes).
type Status struct {
	Bare    bool
	Changed []string // like `git status --untracked-files=no`; empty for a bare repository
}

// Inspect reads a repository's Status without changing anything, so a person can commit or stash
// their work while the leaked key is being revoked, not after the purge refuses.
func Inspect(ctx context.Context, path string) (Status, error) {
	gitDir, bare, err := gitDirOf(path)
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkRepo(gitDir); err != nil {
		return Status{}, fmt.Errorf("%s: %w", path, err)
	}
	st := Status{Bare: bare}
	if bare {
		return st, nil
	}
	d, err := load(ctx, gitDir, bare, loadOptions{workers: 1})
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", path, err)
	}
	defer d.close()
	idx, err := readIndex(gitDir)
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", path, err)
	}
	rw := newRewriter(d, PurgeOptions{Path: path}, false)
	defer rw.close()
	st.Changed, err = rw.dirtyPaths(path, idx, rw.headCommit(), loadEOL(path, gitDir))
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}
