package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitattributes"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// The working tree and the index are handled here rather than by go-git's Worktree: its hard
// reset without a file list deletes untracked files, it writes the index in place (a kill
// mid-write truncates it; git writes index.lock and renames it) and it knows nothing of
// core.autocrlf and .gitattributes, so a CRLF checkout would look modified and be rewritten LF.

type treeFile struct {
	mode uint32
	hash plumbing.Hash
}

// flatten lists the files of a tree (new or old) by path; gitlinks are included.
func (rw *rewriter) flatten(h plumbing.Hash, prefix string, out map[string]treeFile) error {
	raw, ok, err := rw.newTrees.get(h)
	if err != nil {
		return err
	}
	if !ok {
		if raw, err = rw.d.treeData(h); err != nil {
			return err
		}
	}
	for pos := 0; pos < len(raw); {
		e, next, err := entryAt(raw, pos)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		pos = next
		if e.isDir() {
			if err := rw.flatten(e.hash, prefix+string(e.name)+"/", out); err != nil {
				return err
			}
			continue
		}
		out[prefix+string(e.name)] = treeFile{e.mode, e.hash}
	}
	return nil
}

func readIndex(gitDir string) (*index.Index, error) {
	idx := &index.Index{Version: 2}
	f, err := os.Open(filepath.Join(gitDir, "index"))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	defer f.Close()
	if err := index.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	return idx, nil
}

// eolRules decides how a blob is written to the working tree, as git's checkout does:
// .gitattributes text/eol/binary, then core.autocrlf and core.eol.
type eolRules struct {
	autocrlf, eol string
	attrs         gitattributes.Matcher
}

func loadEOL(root, gitDir string) eolRules {
	r := eolRules{}
	if b, err := os.ReadFile(filepath.Join(gitDir, "config")); err == nil {
		cfg := config.NewConfig()
		if cfg.Unmarshal(b) == nil {
			core := cfg.Raw.Section("core")
			r.autocrlf = strings.ToLower(core.Options.Get("autocrlf"))
			r.eol = strings.ToLower(core.Options.Get("eol"))
		}
	}
	var stack []gitattributes.MatchAttribute
	if ps, err := gitattributes.ReadPatterns(osfs.New(root), nil); err == nil {
		stack = append(stack, ps...)
	}
	if ps, err := gitattributes.ReadAttributesFile(osfs.New(gitDir), nil, "info/attributes", true); err == nil {
		stack = append(stack, ps...)
	}
	r.attrs = gitattributes.NewMatcher(stack)
	return r
}

// crlf reports whether a text file at path is checked out with CRLF line endings, and whether
// its content decides (text=auto, or autocrlf without attributes) rather than the attributes.
func (r eolRules) crlf(path string) (crlf, text, auto bool) {
	text, auto = false, false
	eol := ""
	if r.attrs != nil {
		got, _ := r.attrs.Match(strings.Split(path, "/"), []string{"text", "eol", "binary"})
		if a, ok := got["binary"]; ok && a.IsSet() {
			return false, false, false
		}
		if a, ok := got["text"]; ok {
			switch {
			case a.IsUnset():
				return false, false, false
			case a.IsSet():
				text = true
			case a.IsValueSet() && a.Value() == "auto":
				text, auto = true, true
			}
		}
		if a, ok := got["eol"]; ok && a.IsValueSet() {
			eol = a.Value()
			if !text {
				text = true
			}
		}
	}
	if !text {
		if r.autocrlf != "true" && r.autocrlf != "input" {
			return false, false, false
		}
		text, auto = true, true
	}
	switch {
	case eol != "":
		return eol == "crlf", text, auto
	case r.autocrlf == "true":
		return true, text, auto
	case r.autocrlf == "input":
		return false, text, auto
	}
	return r.eol == "crlf", text, auto
}

// isTextAuto is git's guess for text=auto: no NUL byte, no lone CR, and (as git does on checkout)
// no CRLF already in the blob.
func isTextAuto(data []byte) bool {
	probe := data[:min(len(data), binaryProbe)]
	return bytes.IndexByte(probe, 0) < 0 && !bytes.Contains(data, []byte("\r"))
}

// toWorktree is the content git checks out for blob data at path.
func (r eolRules) toWorktree(path string, data []byte) []byte {
	crlf, text, auto := r.crlf(path)
	if !crlf || !text || (auto && !isTextAuto(data)) {
		return data
	}
	var out bytes.Buffer
	out.Grow(len(data) + bytes.Count(data, []byte{'\n'}))
	for i, c := range data {
		if c == '\n' && (i == 0 || data[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// cleanMatches reports whether working-tree content wt is the blob h at path, before or after
// the line-ending conversion.
func (r eolRules) cleanMatches(path string, wt []byte, h plumbing.Hash) bool {
	if hashObject(plumbing.BlobObject, wt) == h {
		return true
	}
	if _, text, _ := r.crlf(path); text && bytes.Contains(wt, []byte("\r\n")) {
		return hashObject(plumbing.BlobObject, bytes.ReplaceAll(wt, []byte("\r\n"), []byte("\n"))) == h
	}
	return false
}

// dirtyPaths lists the tracked paths whose index entry differs from HEAD's tree or whose file
// differs from the index (like `git status --untracked-files=no`). Untracked and ignored files
// are not looked at.
func (rw *rewriter) dirtyPaths(root string, idx *index.Index, head plumbing.Hash, eol eolRules) ([]string, error) {
	want := map[string]treeFile{}
	if !head.IsZero() {
		c, err := rw.d.commit(head)
		if err != nil {
			return nil, err
		}
		if err := rw.flatten(c.tree, "", want); err != nil {
			return nil, err
		}
	}
	var dirty []string
	seen := map[string]bool{}
	for _, e := range idx.Entries {
		seen[e.Name] = true
		tf, ok := want[e.Name]
		if e.Stage != 0 || !ok || tf.hash != e.Hash || tf.mode != uint32(e.Mode) {
			dirty = append(dirty, e.Name)
			continue
		}
		if e.Mode == filemode.Submodule || e.SkipWorktree {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(e.Name))
		st, err := os.Lstat(p)
		if err != nil {
			dirty = append(dirty, e.Name)
			continue
		}
		if st.Size() == int64(e.Size) && st.ModTime().Equal(e.ModifiedAt) {
			continue // git trusts an unchanged stat too
		}
		var data []byte
		if st.Mode()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(p)
			if err != nil {
				return nil, err
			}
			data = []byte(t)
		} else if data, err = os.ReadFile(p); err != nil {
			return nil, err
		}
		if !eol.cleanMatches(e.Name, data, e.Hash) {
			dirty = append(dirty, e.Name)
		}
	}
	for p := range want {
		if !seen[p] {
			dirty = append(dirty, p) // deleted from the index
		}
	}
	slices.Sort(dirty)
	return slices.Compact(dirty), nil
}

// resetPlan is what resetting the working tree and index to the rewritten HEAD changes: only
// the files whose index entry differs from the new HEAD tree.
type resetPlan struct {
	root   string
	idx    *index.Index
	eol    eolRules
	head   map[string]treeFile
	write  []string
	remove []string
	// Sparse checkout: entries outside it (skip-worktree) change in the index only, as git
	// would never write them to the working tree.
	indexOnly []string
}

// ours reports whether an untracked file in the way is what an interrupted purge wrote.
func (rw *rewriter) planReset(root string, idx *index.Index, newHead plumbing.Hash, eol eolRules, ours func(string) bool) (*resetPlan, error) {
	rp := &resetPlan{root: root, idx: idx, eol: eol, head: map[string]treeFile{}}
	if !newHead.IsZero() {
		t, err := rw.newTreeOf(newHead)
		if err != nil {
			return nil, err
		}
		if err := rw.flatten(t, "", rp.head); err != nil {
			return nil, err
		}
	}
	inIdx := map[string]bool{}
	for _, e := range idx.Entries {
		if e.Stage != 0 {
			continue
		}
		inIdx[e.Name] = true
		tf, ok := rp.head[e.Name]
		switch {
		case !ok:
			rp.remove = append(rp.remove, e.Name)
		case (tf.hash != e.Hash || tf.mode != uint32(e.Mode)) && e.SkipWorktree:
			rp.indexOnly = append(rp.indexOnly, e.Name)
		case tf.hash != e.Hash || tf.mode != uint32(e.Mode):
			rp.write = append(rp.write, e.Name)
		}
	}
	for p, tf := range rp.head {
		if inIdx[p] || tf.mode == modeGitlink {
			continue
		}
		// A renamed file: its new name must not overwrite an untracked file.
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(p))); err == nil && !ours(p) {
			return nil, fmt.Errorf("untracked file %s is where the rewritten HEAD puts a renamed file: move it away first", rw.d.m.maskName(p))
		}
		rp.write = append(rp.write, p)
	}
	slices.Sort(rp.write)
	slices.Sort(rp.remove)
	return rp, nil
}

// newTreeOf is the tree of commit h after the rewrite (h may be an old or a new commit).
func (rw *rewriter) newTreeOf(h plumbing.Hash) (plumbing.Hash, error) {
	raw, ok, err := rw.newCommits.get(h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if !ok {
		if raw, err = rw.d.commitData(h); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	if !bytes.HasPrefix(raw, []byte("tree ")) || len(raw) < 45 {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: malformed", h)
	}
	return plumbing.NewHash(string(raw[5:45])), nil
}

func (rw *rewriter) blobData(h plumbing.Hash) ([]byte, error) {
	if b, ok, err := rw.newBlobs.get(h); ok || err != nil {
		return b, err
	}
	if b, ok, err := rw.d.badData.get(h); ok || err != nil {
		return b, err
	}
	_, data, err := rw.d.st.read(h)
	return data, err
}

// apply writes the files, then the index through index.lock (held since the purge started).
func (rp *resetPlan) apply(rw *rewriter, lk *repoLock) error {
	byName := map[string]int{}
	for i, e := range rp.idx.Entries {
		if e.Stage == 0 {
			byName[e.Name] = i
		}
	}
	for _, p := range rp.remove {
		full := filepath.Join(rp.root, filepath.FromSlash(p))
		if err := unlink(full); err != nil {
			return fmt.Errorf("remove %s: %w", rw.d.m.maskName(p), err)
		}
		for dir := filepath.Dir(full); dir != rp.root && strings.HasPrefix(dir, rp.root); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil {
				break
			}
		}
	}
	var entries []*index.Entry
	for _, p := range rp.write {
		e, err := rp.writeFile(rw, p)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	for _, p := range rp.indexOnly {
		e := *rp.idx.Entries[byName[p]]
		tf := rp.head[p]
		e.Hash, e.Mode = tf.hash, filemode.FileMode(tf.mode)
		entries = append(entries, &e)
	}
	rp.replaceEntries(entries)
	// The cached-tree and resolve-undo extensions name old trees and blobs.
	rp.idx.Cache, rp.idx.ResolveUndo = nil, nil
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(rp.idx); err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	return lk.commit("index", buf.Bytes())
}

// writeFile writes path p of the rewritten HEAD into the working tree atomically (a symlink as a
// symlink, line endings as the checkout would write them) and returns its index entry.
func (rp *resetPlan) writeFile(rw *rewriter, p string) (*index.Entry, error) {
	gitDir := rw.d.gitDir
	tf := rp.head[p]
	full := filepath.Join(rp.root, filepath.FromSlash(p))
	data, err := rw.blobData(tf.hash)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", tf.hash, err)
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return nil, err
	}
	if tf.mode == 0o120000 {
		fsOp("write", full)
		tmp := filepath.Join(gitDir, "respond-tmp-link")
		os.Remove(tmp)
		if err := os.Symlink(string(data), tmp); err != nil {
			return nil, err
		}
		if err := rename(tmp, full); err != nil {
			return nil, err
		}
	} else {
		data = rp.eol.toWorktree(p, data)
		perm := os.FileMode(0o644)
		if tf.mode == 0o100755 {
			perm = 0o755
		}
		if err := writeAtomic(gitDir, full, data, perm); err != nil {
			return nil, fmt.Errorf("write %s: %w", rw.d.m.maskName(p), err)
		}
	}
	st, err := os.Lstat(full)
	if err != nil {
		return nil, err
	}
	e := &index.Entry{Name: p, Hash: tf.hash, Mode: filemode.FileMode(tf.mode), Size: uint32(st.Size()),
		ModifiedAt: st.ModTime(), CreatedAt: st.ModTime()}
	statIDs(st, e)
	return e, nil
}

// replaceEntries drops the removed paths' entries and puts entries in place of theirs, in git's
// index order (name, then stage).
func (rp *resetPlan) replaceEntries(entries []*index.Entry) {
	gone := map[string]bool{}
	for _, p := range rp.remove {
		gone[p] = true
	}
	for _, e := range entries {
		gone[e.Name] = true // replaced below
	}
	var kept []*index.Entry
	for _, e := range rp.idx.Entries {
		if !gone[e.Name] {
			kept = append(kept, e)
		}
	}
	kept = append(kept, entries...)
	slices.SortStableFunc(kept, func(a, b *index.Entry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return int(a.Stage) - int(b.Stage)
	})
	rp.idx.Entries = kept
}

// untrackedLimit bounds the size of an untracked file read for the key: a .env or a log is
// small; a build artifact or a dataset is not worth reading whole.
const untrackedLimit = 16 << 20

// untrackedWithSecret lists (masked) the files of the working tree that git does not track —
// untracked or ignored — and that hold a secret, in their name or (up to untrackedLimit bytes) in
// their content. A purge never touches them; a person must.
func (rw *rewriter) untrackedWithSecret(root string, idx *index.Index) []string {
	tracked := map[string]bool{}
	for _, e := range idx.Entries {
		tracked[e.Name] = true
	}
	gitDir, _ := filepath.Abs(rw.d.gitDir)
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		abs, _ := filepath.Abs(p)
		if d.IsDir() {
			if abs == gitDir || d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if tracked[rel] || !d.Type().IsRegular() {
			return nil
		}
		if rw.d.m.any([]byte(rel)) {
			out = append(out, rw.d.m.maskName(rel))
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() > untrackedLimit {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && rw.d.m.any(b) {
			out = append(out, rw.d.m.maskName(rel))
		}
		return nil
	})
	return out
}
