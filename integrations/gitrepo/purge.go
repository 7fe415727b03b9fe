package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
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
	MapDir      string   // Purge writes commit-map and ref-map here (created 0700 if missing)
	Workers     int      // parallel readers; 0 means GOMAXPROCS
	Memory      Memory   // what is kept in memory, and where the rest goes

	// RewriteRemoteTracking rewrites refs/remotes/* like local refs; set it only when the
	// rewritten refs are pushed next. Otherwise they keep pointing where the remote really is
	// (which still holds the secret, so the old objects they reach stay in the store).
	RewriteRemoteTracking bool

	// Progress, when set, is told how far the rewrite has come.
	Progress Progress
}

// RefChange is one reference a purge moves, creates or deletes. New is the zero hash for a
// deleted ref, Old the zero hash for a created one. A ref whose name holds a secret is deleted
// (RenamedTo names its replacement) and its masked name created.
type RefChange struct {
	Ref, Old, New string
	RenamedTo     string
}

// Deleted reports whether the purge deletes the ref (read-only forge refs, renamed refs).
func (r RefChange) Deleted() bool { return r.New == plumbing.ZeroHash.String() }

// Created reports whether the purge creates the ref (the masked name of a renamed ref).
func (r RefChange) Created() bool { return r.Old == plumbing.ZeroHash.String() }

// ReflogChange is one reflog whose entries a purge rewrites.
type ReflogChange struct {
	Ref     string // masked
	Entries int    // entries rewritten
	Total   int
}

// PurgePlan says exactly what Purge would do, computed without writing anything. The new hashes
// are the ones Purge will produce: the rewrite is deterministic. Names (refs, paths) are masked.
type PurgePlan struct {
	Commits     int // commits rewritten (they hold a secret or descend from one that does)
	Trees       int
	Blobs       int // blobs rewritten, of which BinaryBlobs get a same-length mask
	BinaryBlobs int
	Tags        int // annotated tags rewritten
	Refs        []RefChange
	Reflogs     []ReflogChange
	Stash       int // stash entries rewritten (they or their base hold a secret)
	StashTotal  int
	Notes       int      // notes moved to the rewritten commit they annotate
	Names       []string // file and directory names renamed (masked), sorted
	HEAD        string   // HEAD's new content when it changes (a renamed branch or a detached HEAD)
	Symrefs     []string // symbolic refs renamed or retargeted, "name -> target" (masked)
	Config      bool     // the config (a renamed branch's tracking section) is rewritten

	// Remote-tracking refs left where the remote is (see RewriteRemoteTracking), and how many
	// objects holding a secret they keep in the store.
	Pinned        []string
	PinnedObjects int

	// Untracked lists (masked) untracked or ignored files of the working tree that hold a
	// secret: a purge does not touch them.
	Untracked []string

	CommitsTotal int // commits reachable from the refs and reflogs that are kept
	RefsTotal    int
	Unreachable  int // objects holding a secret that nothing kept reaches; the repack drops them
	Repack       bool
}

// PurgeResult is what Purge did.
type PurgeResult struct {
	PurgePlan
	RefMap         []RefChange
	CommitMapPath  string // every kept commit, "old new" per line, parents first (ReadCommitMap)
	RefMapPath     string // each changed ref, "ref old new [renamed-to]" per line, names masked
	Pack           string // the one pack now holding every object (kept old ones and new ones)
	ObjectsKept    int
	ObjectsWritten int
	ObjectsDropped int  // objects removed from the store (the old versions and anything unreachable)
	WorktreeReset  bool // a working tree and index were reset to the rewritten HEAD
	Resumed        bool // an interrupted purge was found and finished
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
		if bytes.Contains([]byte(o.Replacement), s) || bytes.Contains([]byte(NameMask), s) {
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
	d, err := load(ctx, gitDir, bare, loadOptions{secrets: o.Secrets, workers: workers(o.Workers), mem: o.Memory})
	if err != nil {
		return nil, fmt.Errorf("plan purge %s: %w", o.Path, err)
	}
	defer d.close()
	rw := newRewriter(d, o, false)
	defer rw.close()
	if err := rw.run(ctx); err != nil {
		return nil, fmt.Errorf("plan purge %s: %w", o.Path, err)
	}
	if !bare {
		if idx, err := readIndex(gitDir); err == nil {
			rw.plan.Untracked = rw.untrackedWithSecret(o.Path, idx)
		}
	}
	return &rw.plan, nil
}

// Purge rewrites the history of every ref and reflog so that no blob, commit message, annotated
// tag, file name or ref name holds a secret, then removes every unreachable object from the
// store.
//
// Commits that neither hold a secret nor descend from one that does keep their hash and
// signature; rewritten commits and tags lose their (now invalid) signature. Reflogs and stash
// entries are rewritten through the commit map, notes follow their commits, names holding a
// secret are renamed (NameMask). Read-only forge refs (refs/pull/* ...) are deleted locally.
//
// It is safe against crashes and concurrent git commands: it holds git's lock files for the
// index, HEAD, packed-refs and every ref from start to end, checks that no ref moved before it
// moves any, replaces every file it changes by renaming a fully written and fsynced copy, makes
// the new pack visible before the refs move and deletes old objects last. A journal in the git
// directory lets a re-run after a crash finish the job. A working tree must be clean (untracked
// and ignored files are allowed and never touched): the files the rewrite changes and the index
// are reset to the rewritten HEAD, with the line endings git would check out.
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
	res, err := purge(withProgress(ctx, o.Progress), o, gitDir, bare)
	if err != nil {
		return nil, fmt.Errorf("purge %s: %w", o.Path, err)
	}
	return res, nil
}

func purge(ctx context.Context, o PurgeOptions, gitDir string, bare bool) (*PurgeResult, error) {
	if err := checkRepo(gitDir); err != nil {
		return nil, err
	}
	m := &matcher{secrets: o.Secrets}
	prev, err := readJournal(gitDir)
	if err != nil {
		return nil, err
	}
	if prev.running() {
		return nil, fmt.Errorf("another purge (process %d on %s) is running on this repository: %w", prev.PID, prev.Host, ErrLocked)
	}
	if prev != nil {
		if err := recoverCrashed(gitDir, prev); err != nil {
			return nil, fmt.Errorf("clean up after the interrupted purge: %w", err)
		}
	}
	j, lk, err := lockRefs(gitDir, bare, m, prev)
	if err != nil {
		return nil, err
	}
	touched := false
	defer func() {
		lk.releaseAll()
		if !touched && prev == nil {
			removeIfOurs(gitDir)
		}
	}()

	d, err := load(ctx, gitDir, bare, loadOptions{secrets: o.Secrets, workers: workers(o.Workers), mem: o.Memory})
	if err != nil {
		return nil, err
	}
	defer d.close()
	rw := newRewriter(d, o, true)
	defer rw.close()
	var idx *index.Index
	var eol eolRules
	if !bare {
		if idx, err = readIndex(gitDir); err != nil {
			return nil, err
		}
		eol = loadEOL(o.Path, gitDir)
		if err := rw.refuseDirty(o.Path, idx, eol, prev, m); err != nil {
			return nil, err
		}
	}
	if err := rw.run(ctx); err != nil {
		return nil, err
	}
	var reset *resetPlan
	if !bare {
		if reset, err = rw.planWorktree(o.Path, idx, eol, prev, j); err != nil {
			return nil, err
		}
	}
	// An interrupted purge may have stopped while deleting old objects: finish that too, even
	// if nothing is left to rewrite.
	rw.plan.Repack = rw.plan.Repack || prev != nil
	res := &PurgeResult{PurgePlan: rw.plan, RefMap: rw.plan.Refs, Resumed: prev != nil}
	if err := writeMaps(o.MapDir, rw, res); err != nil {
		return nil, err
	}
	if !rw.plan.Repack {
		return res, nil
	}
	j.Phase = "writing"
	if err := j.write(gitDir); err != nil {
		return nil, err
	}
	touched = true
	if err := rw.apply(ctx, res, lk, reset); err != nil {
		return nil, err
	}
	res.WorktreeReset = reset != nil
	if err := unlink(filepath.Join(gitDir, journalName)); err != nil {
		return nil, fmt.Errorf("remove purge journal: %w", err)
	}
	return res, nil
}

// lockRefs locks every ref read now (and the masked name of each that will be renamed), having
// first journaled which files it locks, then reads the refs again: what the purge rewrites is
// what it holds locked. On error nothing stays locked, and a journal it created is removed.
func lockRefs(gitDir string, bare bool, m *matcher, prev *journal) (*journal, *repoLock, error) {
	before, err := readRefs(gitDir)
	if err != nil {
		return nil, nil, err
	}
	rels, err := lockSet(gitDir, bare, before, m)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	j := &journal{Version: 1, Phase: "locking", PID: os.Getpid(), Host: host}
	if prev != nil {
		j.Paths = prev.Paths
	}
	for _, rel := range rels {
		j.Locks = append(j.Locks, digest(rel))
	}
	if err := j.write(gitDir); err != nil {
		return nil, nil, err
	}
	lk := &repoLock{gitDir: gitDir, held: map[string]*os.File{}, mask: m.maskName}
	fail := func(err error) (*journal, *repoLock, error) {
		lk.releaseAll()
		if prev == nil {
			removeIfOurs(gitDir)
		}
		return nil, nil, err
	}
	for _, rel := range rels {
		if err := lk.take(rel); err != nil {
			return fail(err)
		}
	}
	after, err := readRefs(gitDir)
	if err != nil {
		return fail(err)
	}
	if err := sameRefs(before, after, m); err != nil {
		return fail(fmt.Errorf("%w while the purge was taking its locks: run it again", err))
	}
	return j, lk, nil
}

// lockSet is every file the purge locks: HEAD, packed-refs, the index, each ref (and the masked
// name of each to be renamed), the config and symbolic refs when they hold the secret.
func lockSet(gitDir string, bare bool, before []ref, m *matcher) ([]string, error) {
	rels := []string{"HEAD", "packed-refs"}
	if !bare {
		rels = append(rels, "index")
	}
	for _, r := range before {
		if r.name != "HEAD" {
			rels = append(rels, r.name)
			if m.any([]byte(r.name)) && !slices.ContainsFunc(before, func(x ref) bool { return x.name == m.maskName(r.name) }) {
				rels = append(rels, m.maskName(r.name))
			}
		}
	}
	if cfg, err := os.ReadFile(filepath.Join(gitDir, "config")); err == nil && m.any(cfg) {
		rels = append(rels, "config")
	}
	syms, err := readSymrefs(gitDir)
	if err != nil {
		return nil, err
	}
	for name, target := range syms {
		if m.any([]byte(name + target)) {
			rels = append(rels, name)
			if masked := m.maskName(name); masked != name {
				rels = append(rels, masked)
			}
		}
	}
	return rels, nil
}

// refuseDirty refuses a working tree with uncommitted changes other than the interrupted purge's
// own (prev): resetting it would lose them.
func (rw *rewriter) refuseDirty(path string, idx *index.Index, eol eolRules, prev *journal, m *matcher) error {
	dirty, err := rw.dirtyPaths(path, idx, rw.headCommit(), eol)
	if err != nil {
		return err
	}
	dirty = slices.DeleteFunc(dirty, prev.hasPath) // the interrupted purge's own changes
	if len(dirty) == 0 {
		return nil
	}
	for i := range dirty {
		dirty[i] = m.maskName(dirty[i])
	}
	if len(dirty) > 5 {
		dirty = append(dirty[:5], "...")
	}
	return fmt.Errorf("working tree has uncommitted changes (%s): commit them, or stash them (the purge rewrites the stash too), first; purge rewrites HEAD and resets the tree", strings.Join(dirty, ", "))
}

// planWorktree plans the reset of the working tree and index to the rewritten HEAD, records the
// paths it will write in the journal j (so a re-run after a crash knows them as its own), and
// lists untracked files holding the secret.
func (rw *rewriter) planWorktree(path string, idx *index.Index, eol eolRules, prev, j *journal) (*resetPlan, error) {
	rw.plan.Untracked = rw.untrackedWithSecret(path, idx)
	reset, err := rw.planReset(path, idx, rw.newHeadCommit(), eol, prev.hasPath)
	if err != nil {
		return nil, err
	}
	for _, p := range append(slices.Clone(reset.write), reset.remove...) {
		if !j.hasPath(p) {
			j.Paths = append(j.Paths, digest(p))
		}
	}
	rw.plan.Repack = rw.plan.Repack || len(reset.write)+len(reset.remove)+len(reset.indexOnly) > 0
	return reset, nil
}

// sameRefs compares two reads of the refs: a difference means someone moved one.
func sameRefs(a, b []ref, m *matcher) error {
	am := map[string]plumbing.Hash{}
	for _, r := range a {
		am[r.name] = r.hash
	}
	for _, r := range b {
		h, ok := am[r.name]
		switch {
		case !ok:
			return fmt.Errorf("ref %s appeared (someone wrote to the repository)", m.maskName(r.name))
		case h != r.hash:
			return fmt.Errorf("ref %s moved from %s to %s (someone wrote to the repository)", m.maskName(r.name), short(h.String()), short(r.hash.String()))
		}
		delete(am, r.name)
	}
	for name := range am {
		return fmt.Errorf("ref %s was deleted (someone wrote to the repository)", m.maskName(name))
	}
	return nil
}

// checkRepo refuses repositories Purge cannot rewrite safely.
func checkRepo(gitDir string) error {
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
	if _, err := os.Stat(filepath.Join(gitDir, "sharedindex")); err == nil {
		return errors.New("split index (core.splitIndex): run git update-index --no-split-index first")
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
	blobs         *hashMap
	trees         *hashMap
	noteTrees     *hashMap
	tags          *hashMap
	commits       *hashMap  // every kept commit (unchanged ones map to themselves)
	topo          *hashList // every kept commit, parents first
	pinnedTopo    *hashList // commits reachable from pinned refs, kept as they are
	newRefs       []ref
	newLogs       []reflog    // rewritten reflogs (under their new ref name)
	deadLogs      []string    // reflogs removed: of deleted refs, or moved to a renamed ref's name
	newHead       string      // HEAD's new content, "" when unchanged
	symrefs       [][3]string // symbolic refs to rewrite: old name, new name, new target
	newConfig     []byte      // the config with every secret masked, nil when it holds none
	written       *objectList // new objects, in creation order
	newTags       map[plumbing.Hash][]byte
	newCommits    *table
	newBlobs      *table
	oldTree       *hashMap        // new tree -> the old tree it rewrites
	names         map[string]bool // masked names given to tree entries
	keepForgeRefs bool            // CleanObjects: nothing is rewritten or deleted
	rewriteRemote bool            // refs/remotes/* are rewritten, not pinned
	newTrees      *table
	plan          PurgePlan
	spills        []spillCloser // the maps and lists above that close removes
}

// newRewriter makes a rewriter of d's history; close removes its temporary files.
func newRewriter(d *repoData, o PurgeOptions, stage bool) *rewriter {
	rw := &rewriter{d: d, stage: stage, workers: workers(o.Workers), rewriteRemote: o.RewriteRemoteTracking,
		newTrees: d.newTable(), newTags: map[plumbing.Hash][]byte{},
		newCommits: d.newTable(), newBlobs: d.newTable(), names: map[string]bool{}}
	trees, commits := 0, 0 // how many entries the maps may reach: they size a map's file
	if d.trees != nil {
		trees, commits = d.trees.len(), d.commits.len()
	}
	newMap := func(hint int) *hashMap { return newRewriterMap[plumbing.Hash](rw, hint) }
	rw.blobs, rw.trees, rw.noteTrees = newMap(len(d.bad)), newMap(trees), newMap(0)
	rw.tags, rw.commits, rw.oldTree = newMap(len(d.tags)), newMap(commits), newMap(trees)
	rw.written = newObjectList(d.budget, d.tempDir)
	rw.topo, rw.pinnedTopo = newHashList(d.budget, d.tempDir), newHashList(d.budget, d.tempDir)
	rw.spills = append(rw.spills, rw.written, rw.topo, rw.pinnedTopo)
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

// put hashes (and, when purging, stages) a new object. New commits and trees are kept in a plan
// too: the working-tree reset plan reads them.
func (rw *rewriter) put(t plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	h := hashObject(t, data)
	fresh := false
	if t == plumbing.TagObject {
		_, had := rw.newTags[h]
		fresh = !had
		rw.newTags[h] = data
	} else {
		// The table ignores a second put of a hash: its length says whether this one was new
		// (one lookup, where asking every table first was four, on disk beyond the cache).
		tbl := rw.newTable(t)
		n := tbl.len()
		if err := tbl.put(h, data); err != nil {
			return h, err
		}
		fresh = tbl.len() > n
	}
	if rw.stage && fresh {
		rw.written.add(h, t)
	}
	return h, nil
}

// newTable is the table of new objects of type t (not tags): a hash names one type of object,
// so only that table can hold it.
func (rw *rewriter) newTable(t plumbing.ObjectType) *table {
	switch t {
	case plumbing.TreeObject:
		return rw.newTrees
	case plumbing.CommitObject:
		return rw.newCommits
	}
	return rw.newBlobs
}

// created reports whether the rewrite made object h.
func (rw *rewriter) created(h plumbing.Hash) bool {
	_, tag := rw.newTags[h]
	return tag || rw.newBlobs.has(h) || rw.newTrees.has(h) || rw.newCommits.has(h)
}

// isNew reports whether h is a new object to write (a purge, not a plan, writes them).
func (rw *rewriter) isNew(h plumbing.Hash) bool { return rw.stage && rw.created(h) }

// isNewOf is isNew for an object known to be of type t (not a tag): one table to ask.
func (rw *rewriter) isNewOf(t plumbing.ObjectType, h plumbing.Hash) bool {
	return rw.stage && rw.newTable(t).has(h)
}

// newData returns the content of a new object.
func (rw *rewriter) newData(nw newObject) ([]byte, error) {
	switch nw.typ {
	case plumbing.TreeObject:
		b, _, err := rw.newTrees.get(nw.hash)
		return b, err
	case plumbing.CommitObject:
		b, _, err := rw.newCommits.get(nw.hash)
		return b, err
	case plumbing.TagObject:
		return rw.newTags[nw.hash], nil
	}
	b, _, err := rw.newBlobs.get(nw.hash)
	return b, err
}

func (rw *rewriter) blob(h plumbing.Hash) (plumbing.Hash, error) {
	hb := rw.d.bad[h]
	if hb == nil {
		return h, nil
	}
	if n, ok := rw.blobs.get(h); ok {
		return n, nil
	}
	data, _, err := rw.d.badData.get(h)
	if err != nil {
		return h, err
	}
	if hb.binary {
		data = rw.replace(data, rw.masks)
		rw.plan.BinaryBlobs++
	} else {
		data = rw.fixText(data)
	}
	n, err := rw.put(plumbing.BlobObject, data)
	if err != nil {
		return h, err
	}
	rw.blobs.set(h, n)
	rw.plan.Blobs++
	return n, nil
}

func (rw *rewriter) tree(h plumbing.Hash) (plumbing.Hash, error) {
	if n, ok := rw.trees.get(h); ok {
		return n, nil
	}
	bad, err := rw.d.hasBad(h)
	if err != nil || !bad {
		return h, err
	}
	es, err := rw.d.tree(h)
	if err != nil {
		return h, err
	}
	renamed := false
	for i, e := range es {
		switch {
		case e.isDir():
			es[i].hash, err = rw.tree(e.hash)
		case e.isBlob():
			es[i].hash, err = rw.blob(e.hash)
		}
		if err != nil {
			return h, err
		}
		renamed = renamed || rw.d.m.any(e.name)
	}
	var raw []byte
	if renamed {
		if es, err = rw.renameEntries(h, es); err != nil {
			return h, err
		}
		raw = buildTree(es)
	} else {
		// Same names, same order: only hashes change, in place.
		old, err := rw.d.treeData(h)
		if err != nil {
			return h, err
		}
		raw = slices.Clone(old)
		for _, e := range es {
			copy(raw[e.at:e.at+20], e.hash[:])
		}
	}
	n, err := rw.put(plumbing.TreeObject, raw)
	if err != nil {
		return h, err
	}
	rw.trees.set(h, n)
	if rw.stage && !renamed {
		rw.oldTree.set(n, h)
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
	if n, ok := rw.commits.get(h); ok {
		return n, nil
	}
	return h, fmt.Errorf("commit %s: not reachable from a kept ref", h)
}

// object maps any object a ref or tag names to its rewritten hash.
func (rw *rewriter) object(h plumbing.Hash) (plumbing.Hash, error) {
	d := rw.d
	switch {
	case d.commits.has(h):
		return rw.commitOf(h)
	case d.tags[h] != nil:
		return rw.tag(h)
	case d.trees.has(h):
		return rw.tree(h)
	}
	return rw.blob(h)
}

func (rw *rewriter) tag(h plumbing.Hash) (plumbing.Hash, error) {
	if n, ok := rw.tags.get(h); ok {
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
		rw.tags.set(h, h)
		return h, nil
	}
	var t object.Tag
	if err := t.Decode(memObject(plumbing.TagObject, raw)); err != nil {
		return h, fmt.Errorf("tag %s: %w", h, err)
	}
	t.Target = nt
	t.PGPSignature = ""
	t.Name = rw.d.m.maskName(t.Name)
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
	rw.tags.set(h, n)
	rw.plan.Tags++
	return n, nil
}

// pinned reports whether ref is left where it is: remote-tracking refs, unless they are to be
// pushed, say where the remote really is.
func (rw *rewriter) pinned(ref string) bool { return isRemoteTracking(ref) && !rw.rewriteRemote }

func (rw *rewriter) forgeDeleted(ref string) bool {
	return IsReadOnlyForgeRef(ref) && !rw.keepForgeRefs
}

// rewriteCommits rewrites order (parents first) and adds it to rw.topo; notes commits get
// their notes renamed.
func (rw *rewriter) rewriteCommits(ctx context.Context, order *hashList, notes bool) error {
	var progress *ticker
	if !notes {
		progress = newTicker(ctx, PhasePurge, order.len())
	}
	i := 0
	return order.each(func(h plumbing.Hash) error {
		progress.tick()
		if i++; i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rw.topo.add(h)
		if rw.commits.has(h) {
			return nil
		}
		return rw.rewriteCommitOf(h, notes)
	})
}

// rewriteCommitOf maps commit h (its parents mapped already) to its rewrite, or to itself.
func (rw *rewriter) rewriteCommitOf(h plumbing.Hash, notes bool) error {
	d := rw.d
	c, err := d.commit(h)
	if err != nil {
		return err
	}
	var nt plumbing.Hash
	if notes {
		nt, err = rw.notesTree(c.tree)
	} else {
		nt, err = rw.tree(c.tree)
	}
	if err != nil {
		return fmt.Errorf("commit %s: %w", h, err)
	}
	changed := nt != c.tree
	parents := make([]plumbing.Hash, len(c.parents))
	for j, p := range c.parents {
		parents[j], _ = rw.commits.get(p)
		changed = changed || parents[j] != p
	}
	raw, err := d.commitData(h)
	if err != nil {
		return err
	}
	if !changed && !d.m.any(raw) {
		rw.commits.set(h, h)
		return nil
	}
	n, err := rw.put(plumbing.CommitObject, rw.rewriteCommit(raw, nt, parents))
	if err != nil {
		return fmt.Errorf("commit %s: %w", h, err)
	}
	rw.commits.set(h, n)
	rw.plan.Commits++
	return nil
}

// run computes the rewrite of every kept ref and reflog. Roots are the refs and every entry of
// every reflog (stash entries, commits left behind by a reset or an amend): all are rewritten,
// none dropped. Notes commits come last, once every commit they may annotate has its new ID.
func (rw *rewriter) run(ctx context.Context) error {
	d := rw.d
	codeTips, noteTips, pinTips := rw.roots()
	for _, pass := range []struct {
		tips  []plumbing.Hash
		notes bool
	}{{codeTips, false}, {noteTips, true}} {
		order, err := d.topoList(pass.tips)
		if err != nil {
			return err
		}
		err = rw.rewriteCommits(ctx, order, pass.notes)
		order.close()
		if err != nil {
			return err
		}
	}
	if err := d.topoEach(pinTips, rw.pinnedTopo.add); err != nil {
		return err
	}
	rw.plan.CommitsTotal = rw.topo.len()
	rw.plan.RefsTotal = len(d.refs)

	if err := rw.rewriteRefs(); err != nil {
		return err
	}
	rw.rewriteLogs()
	rw.plan.Names = slices.Sorted(maps.Keys(rw.names))
	if err := rw.countLeftBehind(); err != nil {
		return err
	}
	// Every answer above came from maps that may be on disk: trusted only if they answered.
	if err := rw.err(); err != nil {
		return err
	}
	// The config names renamed branches (their tracking sections): the same mask.
	if d.m.any(d.config) {
		rw.newConfig = []byte(d.m.maskName(string(d.config)))
		rw.plan.Config = true
	}
	rw.plan.Repack = rw.newConfig != nil || len(rw.plan.Refs) > 0 || rw.plan.Unreachable > 0 || len(rw.newLogs) > 0 || len(rw.deadLogs) > 0 || rw.newHead != "" || len(rw.symrefs) > 0
	return nil
}

// roots are the commits the rewrite starts from, by class: code (refs and reflog entries),
// notes, and those of pinned refs (kept as they are).
func (rw *rewriter) roots() (codeTips, noteTips, pinTips []plumbing.Hash) {
	d := rw.d
	tip := func(dst *[]plumbing.Hash, h plumbing.Hash) {
		if p, typ := d.peel(h); typ == plumbing.CommitObject {
			*dst = append(*dst, p)
		}
	}
	class := func(ref string) *[]plumbing.Hash {
		switch {
		case rw.forgeDeleted(ref):
			return nil
		case rw.pinned(ref):
			return &pinTips
		case isNotesRef(ref):
			return &noteTips
		}
		return &codeTips
	}
	for _, r := range d.refs {
		if dst := class(r.name); dst != nil {
			tip(dst, r.hash)
		}
	}
	for _, lg := range d.logs {
		dst := class(lg.ref)
		if dst == nil {
			continue
		}
		for _, e := range lg.entries {
			for _, h := range []plumbing.Hash{e.old, e.new} {
				if !h.IsZero() {
					tip(dst, h)
				}
			}
		}
	}
	return codeTips, noteTips, pinTips
}

// countLeftBehind counts what holds a secret and was neither rewritten nor kept by a pinned ref:
// it is unreachable (or reachable only from deleted forge refs), and only the repack removes it.
func (rw *rewriter) countLeftBehind() error {
	d := rw.d
	pinnedBad, pinnedTrees := rw.pinnedBad()
	rw.plan.PinnedObjects = len(pinnedBad)
	err := rw.pinnedTopo.each(func(h plumbing.Hash) error {
		raw, err := d.commitData(h)
		if err == nil && d.m.any(raw) {
			rw.plan.PinnedObjects++
		}
		return err
	})
	if err != nil {
		return err
	}
	for h := range d.bad {
		if !rw.blobs.has(h) && !pinnedBad[h] {
			rw.plan.Unreachable++
		}
	}
	pinned := newRewriterMap[struct{}](rw, rw.pinnedTopo.len())
	_ = rw.pinnedTopo.each(func(h plumbing.Hash) error { pinned.set(h, struct{}{}); return nil })
	err = d.commits.each(func(h plumbing.Hash, raw []byte) error {
		if !rw.commits.has(h) && !pinned.has(h) && d.m.any(raw) {
			rw.plan.Unreachable++
		}
		return nil
	})
	if err != nil {
		return err
	}
	for h, raw := range d.tags {
		if !rw.tags.has(h) && d.m.any(raw) {
			rw.plan.Unreachable++
		}
	}
	return d.trees.each(func(h plumbing.Hash, raw []byte) error { // a name holding a secret (tree data is names and hashes)
		if !rw.trees.has(h) && !pinnedTrees.has(h) && !rw.isNewOf(plumbing.TreeObject, h) && d.m.any(raw) {
			if !rw.noteTrees.has(h) {
				rw.plan.Unreachable++
			}
		}
		return nil
	})
}

// rewriteRefs maps every ref to its rewritten object, and its name to a masked one if it holds
// a secret.
func (rw *rewriter) rewriteRefs() error {
	d := rw.d
	m := d.m
	existing := map[string]plumbing.Hash{}
	for _, r := range d.refs {
		existing[r.name] = r.hash
	}
	zero := plumbing.ZeroHash.String()
	for _, r := range d.refs {
		switch {
		case rw.forgeDeleted(r.name):
			rw.plan.Refs = append(rw.plan.Refs, RefChange{Ref: r.name, Old: r.hash.String(), New: zero})
			continue
		case rw.pinned(r.name):
			rw.newRefs = append(rw.newRefs, r)
			rw.plan.Pinned = append(rw.plan.Pinned, m.maskName(r.name))
			continue
		}
		n, err := rw.object(r.hash)
		if err != nil {
			return fmt.Errorf("ref %s: %w", m.maskName(r.name), err)
		}
		name := m.maskName(r.name)
		if name == r.name {
			if slices.ContainsFunc(rw.newRefs, func(x ref) bool { return x.name == name }) {
				continue // the renamed ref of an interrupted purge, already written below
			}
			rw.newRefs = append(rw.newRefs, ref{name: name, hash: n})
			if n != r.hash {
				rw.plan.Refs = append(rw.plan.Refs, RefChange{Ref: r.name, Old: r.hash.String(), New: n.String()})
			}
			continue
		}
		// Renamed. The masked name may already exist: as what an interrupted purge wrote (same
		// value: finish the rename), or as someone's ref (refuse rather than overwrite it).
		old, exists := existing[name]
		if exists && old != n {
			return fmt.Errorf("ref %s must be renamed to %s, which already exists: rename or delete one of them first", name, name)
		}
		rw.plan.Refs = append(rw.plan.Refs, RefChange{Ref: r.name, Old: r.hash.String(), New: zero, RenamedTo: name})
		if !exists {
			rw.plan.Refs = append(rw.plan.Refs, RefChange{Ref: name, Old: zero, New: n.String()})
		}
		rw.newRefs = slices.DeleteFunc(rw.newRefs, func(x ref) bool { return x.name == name })
		rw.newRefs = append(rw.newRefs, ref{name: name, hash: n})
	}
	slices.SortFunc(rw.newRefs, func(a, b ref) int { return strings.Compare(a.name, b.name) })
	if target, ok := strings.CutPrefix(d.head, "ref: "); ok {
		if nt := m.maskName(target); nt != target {
			rw.newHead = "ref: " + nt
		}
	}
	for _, r := range rw.newRefs {
		if r.name == "HEAD" && r.hash.String() != d.head {
			rw.newHead = r.hash.String()
		}
	}
	rw.plan.HEAD = m.maskName(rw.newHead)
	// Symbolic refs (refs/remotes/origin/HEAD) whose name or target holds a secret.
	for _, name := range slices.Sorted(maps.Keys(d.syms)) {
		target := d.syms[name]
		if rw.pinned(name) || !m.any([]byte(name+target)) {
			continue
		}
		rw.symrefs = append(rw.symrefs, [3]string{name, m.maskName(name), m.maskName(target)})
		rw.plan.Symrefs = append(rw.plan.Symrefs, m.maskName(name)+" -> "+m.maskName(target))
	}
	return nil
}

// rewriteLogs rewrites the reflogs of the refs that are kept, under their (masked) name.
func (rw *rewriter) rewriteLogs() {
	d := rw.d
	for _, lg := range d.logs {
		switch {
		case rw.pinned(lg.ref):
			continue
		case rw.forgeDeleted(lg.ref):
			rw.deadLogs = append(rw.deadLogs, lg.ref)
			continue
		}
		nl := reflog{ref: d.m.maskName(lg.ref)}
		n := 0
		for _, e := range lg.entries {
			ne := reflogEntry{old: rw.logObject(e.old), new: rw.logObject(e.new), rest: rw.fixText(e.rest)}
			if ne.old != e.old || ne.new != e.new || !bytes.Equal(ne.rest, e.rest) {
				n++
				if isStash(lg.ref) {
					rw.plan.Stash++
				}
			}
			nl.entries = append(nl.entries, ne)
		}
		if isStash(lg.ref) {
			rw.plan.StashTotal += len(lg.entries)
		}
		if nl.ref != lg.ref {
			rw.deadLogs = append(rw.deadLogs, lg.ref)
		} else if n == 0 {
			continue
		}
		rw.newLogs = append(rw.newLogs, nl)
		rw.plan.Reflogs = append(rw.plan.Reflogs, ReflogChange{Ref: nl.ref, Entries: n, Total: len(lg.entries)})
	}
}

// logObject maps a reflog entry's object; one the store lacks (already pruned) stays.
func (rw *rewriter) logObject(h plumbing.Hash) plumbing.Hash {
	if h.IsZero() {
		return h
	}
	n, err := rw.object(h)
	if err != nil {
		return h
	}
	return n
}

// pinnedBad lists the blobs holding a secret that pinned refs reach, and the trees holding one
// (in a name or below) that they reach.
func (rw *rewriter) pinnedBad() (blobs map[plumbing.Hash]bool, trees *spillMap[struct{}]) {
	out := map[plumbing.Hash]bool{}
	seen := newRewriterMap[struct{}](rw, 0)
	var walk func(t plumbing.Hash)
	walk = func(t plumbing.Hash) {
		if seen.has(t) {
			return
		}
		seen.set(t, struct{}{})
		if ok, _ := rw.d.hasBad(t); !ok {
			return
		}
		_ = rw.d.forEntries(t, func(e treeEntry) bool {
			switch {
			case e.isDir():
				walk(e.hash)
			case e.isBlob() && rw.d.bad[e.hash] != nil:
				out[e.hash] = true
			}
			return true
		})
	}
	_ = rw.pinnedTopo.each(func(h plumbing.Hash) error {
		// A commit that cannot be read here is read again by countLeftBehind, which says why.
		if c, err := rw.d.commit(h); err == nil {
			walk(c.tree)
		}
		return nil
	})
	return out, seen
}

// headCommit is the commit HEAD names before the rewrite (zero when unborn).
func (rw *rewriter) headCommit() plumbing.Hash {
	d := rw.d
	if target, ok := strings.CutPrefix(d.head, "ref: "); ok {
		for _, r := range d.refs {
			if r.name == target {
				h, _ := d.peel(r.hash)
				return h
			}
		}
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(d.head)
}

// newHeadCommit is the commit HEAD names after the rewrite.
func (rw *rewriter) newHeadCommit() plumbing.Hash {
	h := rw.headCommit()
	if h.IsZero() {
		return h
	}
	if n, ok := rw.commits.get(h); ok {
		return n
	}
	return h
}

// writeMaps writes commit-map and ref-map, 0600 in a 0700 directory: they are the record of
// the rewrite a forge's support asks for. Neither holds a secret: ref names are masked.
func writeMaps(dir string, rw *rewriter, res *PurgeResult) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("map dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("map dir: %w", err)
	}
	res.CommitMapPath = filepath.Join(dir, "commit-map")
	res.RefMapPath = filepath.Join(dir, "ref-map")
	var rm bytes.Buffer
	m := rw.d.m
	for _, r := range res.RefMap {
		fmt.Fprintf(&rm, "%s %s %s", m.maskName(r.Ref), r.Old, r.New)
		if r.RenamedTo != "" {
			fmt.Fprintf(&rm, " %s", r.RenamedTo)
		}
		rm.WriteByte('\n')
	}
	if err := writeAtomicWith(dir, res.CommitMapPath, 0o600, rw.writeCommitMap); err != nil {
		return fmt.Errorf("write commit-map: %w", err)
	}
	if err := writeAtomic(dir, res.RefMapPath, rm.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write ref-map: %w", err)
	}
	return nil
}

// writeCommitMap writes "old new" for every kept commit, parents first, a line at a time: a
// history's map does not have to fit in memory.
func (rw *rewriter) writeCommitMap(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line [2*hexLen + 2]byte
	line[hexLen], line[len(line)-1] = ' ', '\n'
	err := rw.topo.each(func(h plumbing.Hash) error {
		n, _ := rw.commits.get(h)
		hex.Encode(line[:hexLen], h[:])
		hex.Encode(line[hexLen+1:], n[:])
		_, err := bw.Write(line[:])
		return err
	})
	if err != nil {
		return err
	}
	// A map that failed on disk answered "absent" (a zero hash): write no such map.
	if err := rw.err(); err != nil {
		return err
	}
	return bw.Flush()
}

// hexLen is the length of a hex object ID.
const hexLen = 2 * len(plumbing.ZeroHash)

// ReadCommitMap reads the commits a purge rewrote, old → new, from its commit-map
// (PurgeResult.CommitMapPath); commits kept as they were are left out.
func ReadCommitMap(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read commit-map: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan(); i++ {
		old, nw, ok := strings.Cut(sc.Text(), " ")
		if !ok || len(old) != hexLen || len(nw) != hexLen || !isHex(old) || !isHex(nw) {
			return nil, fmt.Errorf("read commit-map %s:%d: want \"old new\"", path, i)
		}
		if old != nw {
			out[old] = nw
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read commit-map %s: %w", path, err)
	}
	return out, nil
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
		if len(f) < 3 || len(f) > 4 || len(f[1]) != 40 || len(f[2]) != 40 || !isHex(f[1]) || !isHex(f[2]) {
			return nil, fmt.Errorf("read ref-map %s:%d: want \"ref old new [renamed-to]\"", path, i+1)
		}
		rc := RefChange{Ref: f[0], Old: f[1], New: f[2]}
		if len(f) == 4 {
			rc.RenamedTo = f[3]
		}
		out = append(out, rc)
	}
	return out, nil
}
