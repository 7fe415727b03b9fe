package gitrepo

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// writeRefs moves every ref to its final value under the locks the purge holds: renamed refs
// are created and HEAD (and any symbolic ref) follows its target's new name, packed-refs is written afresh with every
// ref and its peeled value, then each loose ref file (which would shadow packed-refs) is
// removed. Files are replaced by renaming their fully written lock, so a crash leaves every ref
// at its old or its new value, and both name objects that exist.
//
// Why not go-git's PackRefs / RemoveReference for packed-refs: PackRefs writes symbolic refs
// such as refs/remotes/origin/HEAD into packed-refs as "ref: ..." lines, which git rejects
// ("unexpected line in .git/packed-refs"), and RemoveReference drops a tag's line but keeps its
// "^peeled" line, which then peels the preceding ref. Neither takes git's lock files.
func (rw *rewriter) writeRefs(lk *repoLock) error {
	d := rw.d
	final := map[string]plumbing.Hash{}
	for _, r := range rw.newRefs {
		if r.name != "HEAD" {
			final[r.name] = r.hash
		}
	}
	// A renamed ref is written loose first and HEAD moved to it next: HEAD (and every ref) must
	// resolve at every instant, and packed-refs loses the old names.
	for _, rc := range rw.plan.Refs {
		if rc.Created() {
			if err := lk.commit(rc.Ref, []byte(rc.New+"\n")); err != nil {
				return err
			}
		}
	}
	if rw.newHead != "" {
		if err := lk.commit("HEAD", []byte(rw.newHead+"\n")); err != nil {
			return err
		}
	}
	// Symbolic refs too, before any old name goes: the new one first (its target exists by
	// now), then the old one.
	for _, sr := range rw.symrefs {
		if err := rw.renameSymref(lk, sr[0], sr[1], sr[2]); err != nil {
			return err
		}
	}
	if rw.newConfig != nil {
		if err := lk.hold("config"); err != nil {
			return err
		}
		if err := lk.commit("config", rw.newConfig); err != nil {
			return err
		}
	}
	if err := lk.commit("packed-refs", packedRefs(final, rw.peelNew)); err != nil {
		return err
	}
	dirs := map[string]bool{}
	for _, rel := range slices.Sorted(maps.Keys(lk.held)) {
		if rel == "HEAD" || rel == "index" || rel == "config" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.gitDir, filepath.FromSlash(rel)))
		loose := err == nil && !strings.HasPrefix(string(b), "ref:")
		err = nil
		// packed-refs holds every final value: a loose file only shadows it. Removing it (as
		// git pack-refs does) moves the ref, and costs no fsync per ref.
		if loose {
			p := filepath.Join(d.gitDir, filepath.FromSlash(rel))
			if err = unlink(p); err == nil {
				dirs[filepath.Dir(p)] = true
			}
		}
		if err == nil {
			err = lk.drop(rel)
		}
		if err != nil {
			return fmt.Errorf("update ref %s: %w", d.m.maskName(rel), err)
		}
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("update refs: %w", err)
		}
	}
	return lk.drop("HEAD")
}

// renameSymref writes symbolic ref name pointing at target, then removes its old name.
func (rw *rewriter) renameSymref(lk *repoLock, old, name, target string) error {
	if err := lk.hold(name); err != nil {
		return err
	}
	if err := lk.commit(name, []byte("ref: "+target+"\n")); err != nil {
		return err
	}
	if old == name {
		return nil
	}
	if err := lk.hold(old); err != nil {
		return err
	}
	if err := unlink(filepath.Join(rw.d.gitDir, filepath.FromSlash(old))); err != nil {
		return fmt.Errorf("remove symbolic ref %s: %w", rw.d.m.maskName(old), err)
	}
	return lk.drop(old)
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

// packedRefs is the content of a packed-refs file holding refs.
func packedRefs(refs map[string]plumbing.Hash, peel func(plumbing.Hash) (plumbing.Hash, bool)) []byte {
	var w bytes.Buffer
	w.WriteString("# pack-refs with: peeled fully-peeled sorted \n")
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		h := refs[name]
		fmt.Fprintf(&w, "%s %s\n", h, name)
		if p, isTag := peel(h); isTag {
			fmt.Fprintf(&w, "^%s\n", p)
		}
	}
	return w.Bytes()
}
