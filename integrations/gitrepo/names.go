package gitrepo

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// NameMask replaces a secret inside a file name, a ref name or a tag name. Not
// DefaultReplacement: '*' is not allowed in a ref name (git check-ref-format) nor in a file name
// on Windows, and a renamed branch must still be pushable and a renamed file checkable-out.
const NameMask = "REMOVED-SECRET"

// maskName replaces every secret in a name with NameMask.
func (m *matcher) maskName(name string) string {
	b := []byte(name)
	for _, s := range m.secrets {
		if bytes.Contains(b, s) {
			b = bytes.ReplaceAll(b, s, []byte(NameMask))
		}
	}
	return string(b)
}

// buildTree encodes entries as a git tree, sorted the way git sorts one.
func buildTree(es []treeEntry) []byte {
	slices.SortFunc(es, cmpEntry)
	var out bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&out, "%o %s\x00", e.mode, e.name)
		out.Write(e.hash[:])
	}
	return out.Bytes()
}

// renameEntries masks the secrets in the entry names of a tree, refusing a collision (two
// entries that would get the same name): git rejects such a tree, and choosing which one wins
// would lose a file.
func (rw *rewriter) renameEntries(h plumbing.Hash, es []treeEntry) ([]treeEntry, error) {
	seen := map[string]bool{}
	for i := range es {
		if rw.d.m.any(es[i].name) {
			es[i].name = []byte(rw.d.m.maskName(string(es[i].name)))
			rw.names[string(es[i].name)] = true
		}
	}
	for _, e := range es {
		if seen[string(e.name)] {
			return nil, fmt.Errorf("tree %s: renaming would make two entries named %q: rename one of them first", h, e.name)
		}
		seen[string(e.name)] = true
	}
	return es, nil
}

// notesTree rewrites the tree of a notes commit: each note is a blob named after the commit it
// annotates (its hex ID, possibly split into fan-out directories "ab/cdef..."); a note of a
// rewritten commit is renamed to the new commit's ID so that `git log` still shows it. The
// result has no fan-out, which git reads the same way.
func (rw *rewriter) notesTree(h plumbing.Hash) (plumbing.Hash, error) {
	if n, ok := rw.noteTrees.get(h); ok {
		return n, nil
	}
	var out []treeEntry
	changed := false
	var walk func(t plumbing.Hash, prefix string) error
	walk = func(t plumbing.Hash, prefix string) error {
		es, err := rw.d.tree(t)
		if err != nil {
			return err
		}
		for _, e := range es {
			name := prefix + string(e.name)
			// A fan-out directory: two hex digits, at most 38 in all before it.
			if e.isDir() && len(e.name) == 2 && isHex(string(e.name)) && len(name) < 40 {
				if err := walk(e.hash, name); err != nil {
					return err
				}
				continue
			}
			if prefix != "" && (len(name) != 40 || !isHex(name)) {
				return fmt.Errorf("notes tree %s: unexpected entry %s", t, rw.d.m.maskName(name))
			}
			n := e
			n.name = []byte(name)
			if len(name) == 40 && isHex(name) {
				if nc, ok := rw.commits.get(plumbing.NewHash(name)); ok && nc.String() != name {
					n.name = []byte(nc.String())
					rw.plan.Notes++
				}
			}
			switch {
			case e.isDir():
				n.hash, err = rw.tree(e.hash)
			case e.isBlob():
				n.hash, err = rw.blob(e.hash)
			}
			if err != nil {
				return err
			}
			changed = changed || n.hash != e.hash || string(n.name) != name
			out = append(out, n)
		}
		return nil
	}
	if err := walk(h, ""); err != nil {
		return h, err
	}
	if !changed {
		rw.noteTrees.set(h, h)
		return h, nil
	}
	out, err := rw.renameEntries(h, out)
	if err != nil {
		return h, err
	}
	n, err := rw.put(plumbing.TreeObject, buildTree(out))
	if err != nil {
		return h, err
	}
	rw.noteTrees.set(h, n)
	rw.plan.Trees++
	return n, nil
}

// isNotesRef reports whether a ref holds notes (git notes --ref).
func isNotesRef(name string) bool { return strings.HasPrefix(name, "refs/notes/") }

// badNames lists the paths of tree h whose last component holds a secret (a directory so named
// is listed, not the files below it).
func (d *repoData) badNames(h plumbing.Hash) map[string]bool {
	out := map[string]bool{}
	var walk func(t plumbing.Hash, prefix string)
	walk = func(t plumbing.Hash, prefix string) {
		if !d.hasBadName(t) {
			return
		}
		_ = d.forEntries(t, func(e treeEntry) bool {
			switch {
			case d.m.any(e.name):
				out[prefix+string(e.name)] = true
			case e.isDir():
				walk(e.hash, prefix+string(e.name)+"/")
			}
			return true
		})
	}
	walk(h, "")
	return out
}

// newBadNames lists the names holding a secret that commit c introduces: in its tree and in no
// parent's.
func (d *repoData) newBadNames(c *commitInfo) ([]string, error) {
	if !d.hasBadName(c.tree) {
		return nil, nil
	}
	cur := d.badNames(c.tree)
	for _, p := range c.parents {
		// A parent that cannot be read is an error, not a parent without names: its names
		// would be reported as introduced here.
		pc, err := d.commit(p)
		if err != nil {
			return nil, err
		}
		for n := range d.badNames(pc.tree) {
			delete(cur, n)
		}
	}
	return slices.Sorted(maps.Keys(cur)), nil
}

// hasBadName reports whether tree h holds, at any depth, a name with a secret.
func (d *repoData) hasBadName(h plumbing.Hash) bool {
	if !d.namesHit.Load() {
		return false
	}
	if f := d.trees.flags(h); f&flagNameKnown != 0 {
		return f&flagNameBad != 0
	}
	v := false
	if bad, _ := d.hasBad(h); bad {
		_ = d.forEntries(h, func(e treeEntry) bool {
			v = d.m.any(e.name) || (e.isDir() && d.hasBadName(e.hash))
			return !v
		})
	}
	f := flagNameKnown
	if v {
		f |= flagNameBad
	}
	d.trees.setFlags(h, f)
	return v
}
