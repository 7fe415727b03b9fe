package gitrepo

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// writeRefs moves the refs of the ref-map. New values are first written as loose refs (go-git
// SetReference), then every hash ref is written into a fresh packed-refs with its peeled value,
// and the loose files are removed. Each step leaves every ref at its new value, so a crash in
// between is harmless.
//
// Why not go-git's PackRefs / RemoveReference for packed-refs: PackRefs writes symbolic refs
// such as refs/remotes/origin/HEAD into packed-refs as "ref: ..." lines, which git rejects
// ("unexpected line in .git/packed-refs"), and RemoveReference drops a tag's line but keeps its
// "^peeled" line, which then peels the preceding ref.
func (rw *rewriter) writeRefs(changes []RefChange) error {
	d := rw.d
	fs := filesystem.NewStorage(osfs.New(d.gitDir), cache.NewObjectLRU(cache.MiByte))
	defer fs.Close()
	for _, r := range changes {
		if r.Deleted() {
			continue
		}
		if err := fs.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(r.Ref), plumbing.NewHash(r.New))); err != nil {
			return fmt.Errorf("update ref %s: %w", r.Ref, err)
		}
	}
	final := map[string]plumbing.Hash{}
	for _, r := range rw.newRefs {
		if r.name != "HEAD" {
			final[r.name] = r.hash
		}
	}
	if err := writePackedRefs(d.gitDir, final, rw.peelNew); err != nil {
		return fmt.Errorf("write packed-refs: %w", err)
	}
	var errs []error
	for name := range final {
		errs = append(errs, removeLooseRef(d.gitDir, name))
	}
	for _, r := range changes {
		if r.Deleted() {
			errs = append(errs, removeLooseRef(d.gitDir, r.Ref))
		}
	}
	return errors.Join(errs...)
}

// peelNew follows tags (old or new) from h; ok is false when h is not a tag.
func (rw *rewriter) peelNew(h plumbing.Hash) (plumbing.Hash, bool) {
	peeled := false
	for range 100 {
		raw, ok := rw.newTags[h]
		if !ok {
			raw, ok = rw.d.tags[h]
		}
		if !ok {
			break
		}
		t, ok := tagTarget(raw)
		if !ok {
			break
		}
		h, peeled = t, true
	}
	return h, peeled
}

// removeLooseRef deletes a loose ref file that holds a hash (never a symbolic ref).
func removeLooseRef(gitDir, name string) error {
	p := filepath.Join(gitDir, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.HasPrefix(string(b), "ref:") {
		return nil
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	// Drop directories the removal emptied (refs/pull/1/...), up to refs/.
	for dir := filepath.Dir(p); filepath.Base(dir) != "refs" && strings.HasPrefix(dir, gitDir); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// writePackedRefs replaces packed-refs with refs, locked the way git locks it.
func writePackedRefs(gitDir string, refs map[string]plumbing.Hash, peel func(plumbing.Hash) (plumbing.Hash, bool)) error {
	path := filepath.Join(gitDir, "packed-refs")
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("lock packed-refs: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(lock)
		}
	}()
	w := bufio.NewWriter(f)
	w.WriteString("# pack-refs with: peeled fully-peeled sorted \n")
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		h := refs[name]
		fmt.Fprintf(w, "%s %s\n", h, name)
		if p, isTag := peel(h); isTag {
			fmt.Fprintf(w, "^%s\n", p)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(lock, path); err != nil {
		os.Remove(lock)
		return err
	}
	ok = true
	return nil
}
