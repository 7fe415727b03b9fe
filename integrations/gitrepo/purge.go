package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// DefaultReplacement replaces each secret in text blobs and messages.
const DefaultReplacement = "***REMOVED***"

// maskByte fills a secret's place in binary blobs, so sizes and offsets stay the same.
const maskByte = '*'

// readOnlyPrefixes are forge refs that nobody can push to. A purge deletes them locally (their
// history still holds the secret), Push never sends them, and ForgeRemains mentions them.
var readOnlyPrefixes = []string{"refs/pull/", "refs/merge-requests/", "refs/keep-around/"}

// IsReadOnlyForgeRef reports whether ref is a read-only forge ref such as refs/pull/1/head.
func IsReadOnlyForgeRef(ref string) bool {
	for _, p := range readOnlyPrefixes {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	return false
}

// PurgeOptions says which repository to purge of what.
type PurgeOptions struct {
	Path        string   // local repository, bare or with a clean working tree
	Secrets     [][]byte // exact byte strings to remove
	Replacement string   // replaces each secret in text; default DefaultReplacement
	MapDir      string   // Purge writes commit-map and ref-map here (created if missing)
	Workers     int      // parallel readers; 0 means GOMAXPROCS
}

// RefChange is one reference a purge moves or deletes. New is the zero hash for a deleted ref.
type RefChange struct {
	Ref, Old, New string
}

// Deleted reports whether the purge deletes the ref (read-only forge refs).
func (r RefChange) Deleted() bool { return r.New == plumbing.ZeroHash.String() }

// PurgePlan says exactly what Purge would do, computed without writing anything. The new hashes
// are the ones Purge will produce: the rewrite is deterministic.
type PurgePlan struct {
	Commits     int // commits rewritten (they hold a secret or descend from one that does)
	Trees       int
	Blobs       int // blobs rewritten, of which BinaryBlobs get a same-length mask
	BinaryBlobs int
	Tags        int // annotated tags rewritten
	Refs        []RefChange

	CommitsTotal int // commits reachable from the refs that are kept
	RefsTotal    int
	Unreachable  int // objects holding a secret that no ref reaches; the repack drops them
	Repack       bool
}

// PurgeResult is what Purge did.
type PurgeResult struct {
	PurgePlan
	CommitMap      map[string]string // rewritten commits only, old → new
	RefMap         []RefChange
	CommitMapPath  string // every kept commit, "old new" per line, parents first
	RefMapPath     string // each moved or deleted ref, "ref old new" per line
	Pack           string // the one pack now holding every object (kept old ones and new ones)
	ObjectsKept    int
	ObjectsWritten int
	ObjectsDropped int  // objects removed from the store (the old versions and anything unreachable)
	WorktreeReset  bool // a working tree and index were reset to the rewritten HEAD
}

func (o *PurgeOptions) validate() error {
	if o.Path == "" {
		return errors.New("no repository path")
	}
	if len(o.Secrets) == 0 {
		return errors.New("no secret given")
	}
	for _, s := range o.Secrets {
		if len(s) == 0 {
			return errors.New("empty secret")
		}
	}
	if o.Replacement == "" {
		o.Replacement = DefaultReplacement
	}
	for _, s := range o.Secrets {
		if bytes.Contains([]byte(o.Replacement), s) {
			return errors.New("the replacement contains a secret")
		}
	}
	return nil
}

// PlanPurge computes what Purge would rewrite, read-only.
func PlanPurge(ctx context.Context, o PurgeOptions) (*PurgePlan, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("plan purge: %w", err)
	}
	gitDir, bare, err := gitDirOf(o.Path)
	if err != nil {
		return nil, fmt.Errorf("plan purge: %w", err)
	}
	if err := checkSupported(gitDir); err != nil {
		return nil, fmt.Errorf("plan purge %s: %w", o.Path, err)
	}
	d, err := load(ctx, gitDir, bare, o.Secrets, workers(o.Workers))
	if err != nil {
		return nil, fmt.Errorf("plan purge %s: %w", o.Path, err)
	}
	defer d.close()
	rw := newRewriter(d, o, false)
	if err := rw.run(ctx); err != nil {
		return nil, fmt.Errorf("plan purge %s: %w", o.Path, err)
	}
	return &rw.plan, nil
}

// Purge rewrites the history of every ref so that no blob, commit message or annotated tag
// message holds a secret, then removes every unreachable object from the store.
//
// Commits that neither hold a secret nor descend from one that does keep their hash and
// signature; rewritten commits and tags lose their (now invalid) signature. Read-only forge refs
// (refs/pull/* ...) are deleted locally. Reflogs, commit-graph files and ORIG_HEAD/FETCH_HEAD are
// deleted (they name old objects); packed-refs is rewritten. A working tree must be clean
// (untracked files are allowed and left alone): it and the index are reset to the rewritten HEAD,
// so no checked-out file keeps a secret. Purge refuses a dirty tree rather than guess what to do
// with uncommitted changes.
func Purge(ctx context.Context, o PurgeOptions) (*PurgeResult, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("purge: %w", err)
	}
	if o.MapDir == "" {
		return nil, errors.New("purge: no MapDir for commit-map and ref-map")
	}
	gitDir, bare, err := gitDirOf(o.Path)
	if err != nil {
		return nil, fmt.Errorf("purge: %w", err)
	}
	if err := checkWritable(o.Path, gitDir, bare); err != nil {
		return nil, fmt.Errorf("purge %s: %w", o.Path, err)
	}
	d, err := load(ctx, gitDir, bare, o.Secrets, workers(o.Workers))
	if err != nil {
		return nil, fmt.Errorf("purge %s: %w", o.Path, err)
	}
	defer d.close()
	rw := newRewriter(d, o, true)
	if err := rw.run(ctx); err != nil {
		return nil, fmt.Errorf("purge %s: %w", o.Path, err)
	}
	res := &PurgeResult{PurgePlan: rw.plan, CommitMap: map[string]string{}, RefMap: rw.plan.Refs}
	for old, nw := range rw.commits {
		if old != nw {
			res.CommitMap[old.String()] = nw.String()
		}
	}
	if err := writeMaps(o.MapDir, rw, res); err != nil {
		return nil, fmt.Errorf("purge %s: %w", o.Path, err)
	}
	if !rw.plan.Repack {
		return res, nil
	}
	headPaths := rw.headPaths() // before the refs move: a detached HEAD is rewritten too
	if err := rw.apply(ctx, res); err != nil {
		return nil, fmt.Errorf("purge %s: %w", o.Path, err)
	}
	if !bare {
		reset, err := resetWorktree(o.Path, headPaths)
		if err != nil {
			return nil, fmt.Errorf("purge %s: history rewritten, but resetting the working tree failed: %w", o.Path, err)
		}
		res.WorktreeReset = reset
	}
	return res, nil
}

// checkWritable refuses repositories Purge cannot rewrite safely.
func checkWritable(path, gitDir string, bare bool) error {
	if err := checkSupported(gitDir); err != nil {
		return err
	}
	for _, f := range []string{"MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_LOG", "rebase-merge", "rebase-apply"} {
		if _, err := os.Stat(filepath.Join(gitDir, f)); err == nil {
			return fmt.Errorf("an operation is in progress (%s): finish or abort it first", f)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(gitDir, "worktrees")); err == nil && len(ents) > 0 {
		return errors.New("repository has linked worktrees: remove them first (their HEADs and indexes would name old objects)")
	}
	if ps, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "*.promisor")); len(ps) > 0 {
		return errors.New("partial clone (promisor packs): objects are missing, clone fully first")
	}
	if bare {
		return nil
	}
	repo, err := git.PlainOpen(path)
	if err != nil {
		return fmt.Errorf("open working tree: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return fmt.Errorf("open working tree: %w", err)
	}
	st, err := wt.Status()
	if err != nil {
		return fmt.Errorf("working tree status: %w", err)
	}
	var dirty []string
	for p, s := range st {
		if s.Staging == git.Untracked && s.Worktree == git.Untracked {
			continue
		}
		if s.Staging != git.Unmodified || s.Worktree != git.Unmodified {
			dirty = append(dirty, p)
		}
	}
	if len(dirty) > 0 {
		slices.Sort(dirty)
		if len(dirty) > 5 {
			dirty = append(dirty[:5], "...")
		}
		return fmt.Errorf("working tree has uncommitted changes (%s): commit or stash them elsewhere first; purge rewrites HEAD and resets the tree", strings.Join(dirty, ", "))
	}
	return nil
}

// rewriter computes the rewritten history; when staging it also keeps the new objects.
type rewriter struct {
	d             *repoData
	workers       int
	stage         bool     // keep the new objects (Purge); a plan only hashes them
	text          [][]byte // replacement per secret, in the order secrets are applied
	masks         [][]byte
	order         []int // secrets, longest first, so a variant inside a longer secret does not split it
	blobs         map[plumbing.Hash]plumbing.Hash
	trees         map[plumbing.Hash]plumbing.Hash
	tags          map[plumbing.Hash]plumbing.Hash
	commits       map[plumbing.Hash]plumbing.Hash // every kept commit (unchanged ones map to themselves)
	topo          []plumbing.Hash
	newRefs       []ref
	written       []newObject // new objects, in creation order
	newTags       map[plumbing.Hash][]byte
	oldTree       map[plumbing.Hash]plumbing.Hash // new tree -> the old tree it rewrites
	newSet        map[plumbing.Hash]bool
	keepForgeRefs bool // CleanObjects: nothing is rewritten or deleted
	newTrees      map[plumbing.Hash][]byte
	plan          PurgePlan
}

func newRewriter(d *repoData, o PurgeOptions, stage bool) *rewriter {
	rw := &rewriter{d: d, stage: stage, workers: workers(o.Workers),
		blobs: map[plumbing.Hash]plumbing.Hash{}, trees: map[plumbing.Hash]plumbing.Hash{},
		tags: map[plumbing.Hash]plumbing.Hash{}, commits: map[plumbing.Hash]plumbing.Hash{},
		newSet: map[plumbing.Hash]bool{}, newTrees: map[plumbing.Hash][]byte{}, newTags: map[plumbing.Hash][]byte{},
		oldTree: map[plumbing.Hash]plumbing.Hash{}}
	for i, s := range o.Secrets {
		rw.order = append(rw.order, i)
		rw.text = append(rw.text, []byte(o.Replacement))
		rw.masks = append(rw.masks, bytes.Repeat([]byte{maskByte}, len(s)))
	}
	slices.SortStableFunc(rw.order, func(a, b int) int { return len(o.Secrets[b]) - len(o.Secrets[a]) })
	return rw
}

func (rw *rewriter) replace(b []byte, with [][]byte) []byte {
	for _, i := range rw.order {
		if bytes.Contains(b, rw.d.m.secrets[i]) {
			b = bytes.ReplaceAll(b, rw.d.m.secrets[i], with[i])
		}
	}
	return b
}

func (rw *rewriter) fixText(b []byte) []byte { return rw.replace(b, rw.text) }

// newObject is an object the rewrite creates.
type newObject struct {
	hash plumbing.Hash
	typ  plumbing.ObjectType
	data []byte
}

// hashObject is git's object id. crypto/sha1 rather than go-git's hasher: go-git hashes with
// collision detection (sha1cd), which is for objects received from others; these are our own.
func hashObject(t plumbing.ObjectType, data []byte) plumbing.Hash {
	h := sha1.New()
	h.Write(t.Bytes())
	h.Write([]byte(" " + strconv.Itoa(len(data)) + "\x00"))
	h.Write(data)
	var out plumbing.Hash
	h.Sum(out[:0])
	return out
}

// put hashes (and, when purging, stages) a new object.
func (rw *rewriter) put(t plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	h := hashObject(t, data)
	if !rw.stage {
		return h, nil
	}
	if !rw.newSet[h] {
		rw.newSet[h] = true
		rw.written = append(rw.written, newObject{h, t, data})
	}
	if t == plumbing.TreeObject {
		rw.newTrees[h] = data
	}
	if t == plumbing.TagObject {
		rw.newTags[h] = data
	}
	return h, nil
}

func (rw *rewriter) blob(h plumbing.Hash) (plumbing.Hash, error) {
	hb := rw.d.bad[h]
	if hb == nil {
		return h, nil
	}
	if n, ok := rw.blobs[h]; ok {
		return n, nil
	}
	var data []byte
	if hb.binary {
		data = rw.replace(hb.data, rw.masks)
		rw.plan.BinaryBlobs++
	} else {
		data = rw.fixText(hb.data)
	}
	n, err := rw.put(plumbing.BlobObject, data)
	if err != nil {
		return h, err
	}
	rw.blobs[h] = n
	rw.plan.Blobs++
	return n, nil
}

func (rw *rewriter) tree(h plumbing.Hash) (plumbing.Hash, error) {
	if n, ok := rw.trees[h]; ok {
		return n, nil
	}
	bad, err := rw.d.hasBad(h)
	if err != nil || !bad {
		return h, err
	}
	raw := slices.Clone(rw.d.trees[h])
	var werr error
	err = rw.d.forEntries(h, func(e treeEntry) bool {
		n := e.hash
		switch {
		case e.isDir():
			n, werr = rw.tree(e.hash)
		case e.isBlob():
			n, werr = rw.blob(e.hash)
		}
		copy(raw[e.at:e.at+20], n[:])
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return h, err
	}
	n, err := rw.put(plumbing.TreeObject, raw)
	if err != nil {
		return h, err
	}
	rw.trees[h] = n
	if rw.stage {
		rw.oldTree[n] = h
	}
	rw.plan.Trees++
	return n, nil
}

// rewriteCommit returns raw with a new tree and parents, without signatures, secrets replaced.
func (rw *rewriter) rewriteCommit(raw []byte, tree plumbing.Hash, parents []plumbing.Hash) []byte {
	hdr, msg, hasMsg := bytes.Cut(raw, []byte("\n\n"))
	var out bytes.Buffer
	out.Grow(len(raw))
	pi := 0
	skip := false
	for line := range bytes.SplitSeq(hdr, []byte{'\n'}) {
		if len(line) > 0 && line[0] == ' ' {
			if !skip {
				out.Write(rw.fixText(line))
				out.WriteByte('\n')
			}
			continue
		}
		skip = false
		switch {
		case bytes.HasPrefix(line, []byte("tree ")):
			out.WriteString("tree " + tree.String())
		case bytes.HasPrefix(line, []byte("parent ")) && pi < len(parents):
			out.WriteString("parent " + parents[pi].String())
			pi++
		case bytes.HasPrefix(line, []byte("gpgsig ")), bytes.HasPrefix(line, []byte("gpgsig-sha256 ")):
			skip = true // the signature no longer matches; drop it with its continuation lines
			continue
		default:
			out.Write(rw.fixText(line))
		}
		out.WriteByte('\n')
	}
	if hasMsg {
		out.WriteByte('\n')
		out.Write(rw.fixText(msg))
	}
	return out.Bytes()
}

func (rw *rewriter) commitOf(h plumbing.Hash) (plumbing.Hash, error) {
	if n, ok := rw.commits[h]; ok {
		return n, nil
	}
	return h, fmt.Errorf("commit %s: not reachable from a kept ref", h)
}

// object maps any object a ref or tag names to its rewritten hash.
func (rw *rewriter) object(h plumbing.Hash) (plumbing.Hash, error) {
	d := rw.d
	switch {
	case d.commits[h] != nil:
		return rw.commitOf(h)
	case d.tags[h] != nil:
		return rw.tag(h)
	case d.trees[h] != nil:
		return rw.tree(h)
	}
	return rw.blob(h)
}

func (rw *rewriter) tag(h plumbing.Hash) (plumbing.Hash, error) {
	if n, ok := rw.tags[h]; ok {
		return n, nil
	}
	raw := rw.d.tags[h]
	target, ok := tagTarget(raw)
	if !ok {
		return h, fmt.Errorf("tag %s: malformed", h)
	}
	nt, err := rw.object(target)
	if err != nil {
		return h, fmt.Errorf("tag %s: %w", h, err)
	}
	if nt == target && !rw.d.m.any(raw) {
		rw.tags[h] = h
		return h, nil
	}
	var t object.Tag
	if err := t.Decode(memObject(plumbing.TagObject, raw)); err != nil {
		return h, fmt.Errorf("tag %s: %w", h, err)
	}
	t.Target = nt
	t.PGPSignature = ""
	t.Message = string(rw.fixText([]byte(t.Message)))
	t.Tagger.Name = string(rw.fixText([]byte(t.Tagger.Name)))
	t.Tagger.Email = string(rw.fixText([]byte(t.Tagger.Email)))
	o := &plumbing.MemoryObject{}
	if err := t.Encode(o); err != nil {
		return h, fmt.Errorf("tag %s: %w", h, err)
	}
	r, _ := o.Reader()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r)
	n, err := rw.put(plumbing.TagObject, buf.Bytes())
	if err != nil {
		return h, err
	}
	rw.tags[h] = n
	rw.plan.Tags++
	return n, nil
}

// run computes the rewrite of every kept ref.
func (rw *rewriter) run(ctx context.Context) error {
	d := rw.d
	var kept []ref
	var tips []plumbing.Hash
	for _, r := range d.refs {
		if IsReadOnlyForgeRef(r.name) && !rw.keepForgeRefs {
			continue
		}
		kept = append(kept, r)
		if h, typ := d.peel(r.hash); typ == plumbing.CommitObject {
			tips = append(tips, h)
		}
	}
	order, err := d.topo(tips)
	if err != nil {
		return err
	}
	rw.topo = order
	rw.plan.CommitsTotal = len(order)
	rw.plan.RefsTotal = len(d.refs)
	for i, h := range order {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		c := d.cinfo[h]
		nt, err := rw.tree(c.tree)
		if err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		changed := nt != c.tree
		parents := make([]plumbing.Hash, len(c.parents))
		for j, p := range c.parents {
			parents[j] = rw.commits[p]
			changed = changed || parents[j] != p
		}
		raw := d.commits[h]
		if !changed && !d.m.any(raw) {
			rw.commits[h] = h
			continue
		}
		n, err := rw.put(plumbing.CommitObject, rw.rewriteCommit(raw, nt, parents))
		if err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		rw.commits[h] = n
		rw.plan.Commits++
	}
	for _, r := range d.refs {
		if IsReadOnlyForgeRef(r.name) && !rw.keepForgeRefs {
			rw.plan.Refs = append(rw.plan.Refs, RefChange{Ref: r.name, Old: r.hash.String(), New: plumbing.ZeroHash.String()})
			continue
		}
		n, err := rw.object(r.hash)
		if err != nil {
			return fmt.Errorf("ref %s: %w", r.name, err)
		}
		rw.newRefs = append(rw.newRefs, ref{name: r.name, hash: n})
		if n != r.hash {
			rw.plan.Refs = append(rw.plan.Refs, RefChange{Ref: r.name, Old: r.hash.String(), New: n.String()})
		}
	}
	// Anything that holds a secret and was not rewritten is unreachable (or reachable only from
	// deleted forge refs): only the repack removes it.
	for h := range d.bad {
		if _, ok := rw.blobs[h]; !ok {
			rw.plan.Unreachable++
		}
	}
	for h, raw := range d.commits {
		if _, ok := rw.commits[h]; !ok && d.m.any(raw) {
			rw.plan.Unreachable++
		}
	}
	for h, raw := range d.tags {
		if _, ok := rw.tags[h]; !ok && d.m.any(raw) {
			rw.plan.Unreachable++
		}
	}
	rw.plan.Repack = len(rw.plan.Refs) > 0 || rw.plan.Unreachable > 0
	return nil
}

// headPaths lists the paths of HEAD's tree that hold a secret (before the rewrite).
func (rw *rewriter) headPaths() []string {
	b, err := os.ReadFile(filepath.Join(rw.d.gitDir, "HEAD"))
	if err != nil {
		return nil
	}
	head := strings.TrimSpace(string(b))
	var h plumbing.Hash
	if target, ok := strings.CutPrefix(head, "ref: "); ok {
		for _, r := range rw.d.refs {
			if r.name == target {
				h = r.hash
			}
		}
	} else {
		h = plumbing.NewHash(head)
	}
	c, ok := rw.d.cinfo[h]
	if !ok {
		return nil
	}
	paths := map[string][]int{}
	if rw.d.badPaths(c.tree, "", paths) != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(paths))
}

func writeMaps(dir string, rw *rewriter, res *PurgeResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("map dir: %w", err)
	}
	res.CommitMapPath = filepath.Join(dir, "commit-map")
	res.RefMapPath = filepath.Join(dir, "ref-map")
	write := func(path string, fill func(w *bufio.Writer)) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		fill(w)
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	err := write(res.CommitMapPath, func(w *bufio.Writer) {
		for _, h := range rw.topo {
			fmt.Fprintf(w, "%s %s\n", h, rw.commits[h])
		}
	})
	if err != nil {
		return fmt.Errorf("write commit-map: %w", err)
	}
	err = write(res.RefMapPath, func(w *bufio.Writer) {
		for _, r := range res.RefMap {
			fmt.Fprintf(w, "%s %s %s\n", r.Ref, r.Old, r.New)
		}
	})
	if err != nil {
		return fmt.Errorf("write ref-map: %w", err)
	}
	return nil
}

// ReadRefMap parses a ref-map file written by Purge.
func ReadRefMap(path string) ([]RefChange, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ref-map: %w", err)
	}
	var out []RefChange
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || len(f[1]) != 40 || len(f[2]) != 40 || !isHex(f[1]) || !isHex(f[2]) {
			return nil, fmt.Errorf("read ref-map %s:%d: want \"ref old new\"", path, i+1)
		}
		out = append(out, RefChange{Ref: f[0], Old: f[1], New: f[2]})
	}
	return out, nil
}
