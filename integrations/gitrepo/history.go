package gitrepo

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// binaryProbe is how much of a blob is looked at for a NUL byte to call it binary (the first
// 8 KiB, as git-filter-repo does).
const binaryProbe = 8192

// matcher finds the secrets, each an exact byte string, in object data.
type matcher struct{ secrets [][]byte }

// indexSecret is bytes.Index for a secret, which starts with a byte ordinary text is full of ("sk-"):
// bytes.Index stops at every 's' of a blob (every 20 bytes or so of source code), so candidates
// are found at the secret's rarest-looking byte instead (an upper-case letter, else a digit),
// and each is compared whole. Measured on the bench's C project: 14% of a scan's CPU before.
func indexSecret(data, s []byte) int {
	k := anchor(s)
	c := s[k]
	for i := k; i < len(data); {
		j := bytes.IndexByte(data[i:], c)
		if j < 0 {
			return -1
		}
		at := i + j - k
		if at+len(s) > len(data) {
			return -1
		}
		if bytes.Equal(data[at:at+len(s)], s) {
			return at
		}
		i += j + 1
	}
	return -1
}

// anchor returns the position in s of the byte text holds least often, by class: upper-case
// letters, then digits, then anything but lower-case letters, spaces and common punctuation.
func anchor(s []byte) int {
	best, rank := 0, 4
	for i, c := range s {
		r := 3
		switch {
		case c >= 'A' && c <= 'Z':
			r = 0
		case c >= '0' && c <= '9':
			r = 1
		case c >= 'a' && c <= 'z', c == ' ', c == '\n', c == '\t', strings.IndexByte("-_.,;:()=\"'/*", c) >= 0:
			r = 3
		default:
			r = 2
		}
		if r < rank {
			best, rank = i, r
			if r == 0 {
				break
			}
		}
	}
	return best
}

// blobHits records, for a blob that holds at least one secret, how often and on which lines.
type blobHits struct {
	counts []int   // per secret: non-overlapping occurrences, as git's pickaxe counts them
	lines  [][]int // per secret: 1-based line of each occurrence
	binary bool
}

func (m *matcher) any(data []byte) bool {
	for _, s := range m.secrets {
		if indexSecret(data, s) >= 0 {
			return true
		}
	}
	return false
}

func (m *matcher) hits(data []byte) *blobHits {
	var hb *blobHits
	for si, s := range m.secrets {
		at := indexSecret(data, s)
		if at < 0 {
			continue
		}
		if hb == nil {
			hb = &blobHits{counts: make([]int, len(m.secrets)), lines: make([][]int, len(m.secrets))}
			probe := data[:min(len(data), binaryProbe)]
			hb.binary = bytes.IndexByte(probe, 0) >= 0
		}
		line, pos := 1, 0
		for at >= 0 {
			line += bytes.Count(data[pos:pos+at], []byte{'\n'})
			pos += at
			hb.counts[si]++
			hb.lines[si] = append(hb.lines[si], line)
			line += bytes.Count(s, []byte{'\n'})
			pos += len(s)
			at = indexSecret(data[pos:], s)
		}
	}
	return hb
}

// lineHits returns, per secret, the 1-based lines of text on which it occurs.
func (m *matcher) lineHits(text []byte) [][]int {
	hb := m.hits(text)
	if hb == nil {
		return nil
	}
	return hb.lines
}

// ref is one reference with the object it names.
type ref struct {
	name string
	hash plumbing.Hash
}

// repoData is everything one parallel pass over the object store yields: every commit, tree and
// tag (raw), and which blobs hold a secret.
type repoData struct {
	gitDir string
	bare   bool
	st     *store
	m      *matcher
	refs   []ref
	logs   []reflog
	head   string            // HEAD's content: "ref: refs/heads/x" or a hash
	syms   map[string]string // symbolic refs under refs/ (refs/remotes/origin/HEAD): name → target
	config []byte            // the repository's config file

	budget  *budget // shared by every table of this load
	tempDir string  // where tables spill
	tables  []*table
	commits *table // raw
	badData *table // the blobs holding a secret (not lean: a purge rewrites them)
	// namesHit: some tree's raw data holds a secret, so a name may (most repositories have
	// none, and then no commit's tree needs looking at for names).
	namesHit atomic.Bool
	trees    *table // raw, or pruned (lean)
	tags     map[plumbing.Hash][]byte
	bad      map[plumbing.Hash]*blobHits
	blobs    int
	objects  int // unique objects in the store

	seenBad  map[plumbing.Hash]bool // blobs holding a secret that diff met in a commit's tree
	reachBad map[plumbing.Hash]bool
}

// commitInfo is what a history walk needs of a commit, parsed from its data in the commits
// table each time it is asked for (d.commit) rather than kept: a parsed copy of every commit
// was memory growing with the history beside the table that already holds the commit within
// the budget, and parsing a header is cheap next to reading it.
type commitInfo struct {
	tree    plumbing.Hash
	parents []plumbing.Hash
	// msg aliases the commit's data; lean, it is empty unless it holds a secret. The author is
	// not parsed: d.author reads it for the few commits with findings.
	msg []byte
}

// Memory bounds what a scan or purge keeps in memory. What grows with the history (trees and
// commits, their indexes, the history's order, a purge's old-to-new maps and what the new
// history keeps) lives in memory up to CacheBytes and in temporary files beyond it; blobs are
// never kept, except those holding a secret.
type Memory struct {
	CacheBytes int64  // memory for all of that; 0: DefaultCacheBytes, DefaultPurgeCacheBytes
	TempDir    string // where the rest goes, in files removed afterwards; "" means os.TempDir()
}

// CacheEnv is the environment variable that sets the cache size when Memory.CacheBytes is 0
// (every caller: the CLI, playbook steps, fleets); a size as ParseSize reads it.
const CacheEnv = "RESPOND_GIT_CACHE"

func (m Memory) budget(def int64) (*budget, error) {
	n := m.CacheBytes
	if n <= 0 {
		n = def
		if v := os.Getenv(CacheEnv); v != "" {
			var err error
			if n, err = ParseSize(v); err != nil {
				return nil, fmt.Errorf("%s: %w", CacheEnv, err)
			}
		}
	}
	return newBudget(n), nil
}

// ParseSize reads a size in bytes: a number, optionally followed by KiB, MiB or GiB (K, KB, M,
// MB, G and GB mean the same binary multiples).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	unit := int64(1)
	upper := strings.ToUpper(t)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			t, unit = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is not a size (a positive number of bytes, or with KiB, MiB or GiB)", s)
	}
	return n * unit, nil
}

// loadOptions says what a load reads and keeps.
type loadOptions struct {
	secrets [][]byte
	workers int
	mem     Memory
	// lean is for a scan, which never rewrites: blob data is not kept, and trees are kept
	// pruned to what a scan looks at (subtrees, blobs holding a secret, names holding one).
	// Trees are most of a long history's raw bytes (every version of a directory lists every
	// file in it). Pruning needs to know the bad blobs before the trees, so the store is
	// walked twice: every family that is not trees, then the trees.
	lean bool
}

// load reads the refs, the reflogs and every object of the repository at gitDir.
func load(ctx context.Context, gitDir string, bare bool, o loadOptions) (*repoData, error) {
	d, err := openRepo(gitDir, bare, o.secrets, o.mem, o.lean)
	if err != nil {
		return nil, err
	}
	passes := []pass{passAll}
	if o.lean {
		passes = []pass{passNonTrees, passTrees}
	}
	for _, ps := range passes {
		if err := d.readObjects(ctx, o.workers, ps, o.lean); err != nil {
			d.close()
			return nil, fmt.Errorf("read objects: %w", err)
		}
	}
	if err := d.indexErr(); err != nil {
		d.close()
		return nil, fmt.Errorf("read objects: %w", err)
	}
	d.objects = d.commits.len() + d.trees.len() + len(d.tags) + d.blobs
	if o.lean {
		// A scan reads nothing more from the store: its per-object plans (32 bytes an object
		// and more) need not outlive the walk.
		d.st.close()
		d.st.deltas, d.st.byPack = nil, nil
	}
	return d, nil
}

// openRepo reads the refs, the reflogs, HEAD and the config, and opens the object store.
func openRepo(gitDir string, bare bool, secrets [][]byte, mem Memory, lean bool) (*repoData, error) {
	refs, err := readRefs(gitDir)
	if err != nil {
		return nil, err
	}
	logs, err := readReflogs(gitDir)
	if err != nil {
		return nil, fmt.Errorf("read reflogs: %w", err)
	}
	head, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return nil, fmt.Errorf("read HEAD: %w", err)
	}
	syms, err := readSymrefs(gitDir)
	if err != nil {
		return nil, err
	}
	config, err := os.ReadFile(filepath.Join(gitDir, "config"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read config: %w", err)
	}
	st, err := openStore(gitDir)
	if err != nil {
		return nil, err
	}
	def := int64(DefaultPurgeCacheBytes)
	if lean {
		def = DefaultCacheBytes
	}
	b, err := mem.budget(def)
	if err != nil {
		st.close()
		return nil, err
	}
	d := &repoData{budget: b, tempDir: mem.TempDir}
	d.config, d.gitDir, d.bare, d.st, d.m, d.refs, d.logs = config, gitDir, bare, st, &matcher{secrets: secrets}, refs, logs
	d.commits, d.trees, d.badData = d.newTable(), d.newTable(), d.newTable()
	d.head, d.syms = strings.TrimSpace(string(head)), syms
	d.tags, d.bad = map[plumbing.Hash][]byte{}, map[plumbing.Hash]*blobHits{}
	d.seenBad = map[plumbing.Hash]bool{}
	return d, nil
}

// newTable makes a table that shares the load's memory budget and is removed by close.
func (d *repoData) newTable() *table {
	t := newTable(d.budget, d.tempDir, d.st.count())
	d.tables = append(d.tables, t)
	return t
}

// readObjects walks one pass of the store into d's maps. The workers share the maps under a
// lock (held only to insert, which is short next to inflating): per-worker maps merged at the
// end held every entry twice at the moment of the merge, the peak of a scan's memory.
func (d *repoData) readObjects(ctx context.Context, workers int, ps pass, lean bool) error {
	var mu sync.Mutex
	var blobs atomic.Int64
	defer func() { d.blobs += int(blobs.Load()) }()
	return d.st.walk(ctx, workers, ps, func(_ int, h plumbing.Hash, typ plumbing.ObjectType, data []byte) error {
		switch typ {
		case plumbing.BlobObject:
			blobs.Add(1)
			hb := d.m.hits(data)
			if hb == nil {
				return nil
			}
			mu.Lock()
			d.bad[h] = hb
			mu.Unlock()
			if !lean {
				return d.badData.put(h, data) // kept for the rewrite
			}
		case plumbing.TreeObject:
			if !d.namesHit.Load() && d.m.any(data) {
				d.namesHit.Store(true)
			}
			if ps == passTrees {
				data = d.pruneTree(data)
			}
			return d.trees.put(h, data)
		case plumbing.CommitObject:
			if lean {
				data = d.pruneCommit(data)
			}
			return d.commits.put(h, data)
		case plumbing.TagObject:
			data = slices.Clone(data)
			mu.Lock()
			d.tags[h] = data
			mu.Unlock()
		}
		return nil
	})
}

// emptyTree is a pruned tree with no entry left; not nil, so that it still says "a tree".
var emptyTree = []byte{}

// pruneTree keeps the entries of a raw tree that a scan can need: subtrees, blobs holding a
// secret and names holding one. A scan's answers do not change: a blob without a secret never
// makes a change, and a path missing from a pruned tree compares as absent, which for such a
// blob gives the same counts (zero) as the blob itself. A malformed tree is kept whole, for the
// scan to report.
func (d *repoData) pruneTree(raw []byte) []byte {
	var out []byte
	for pos := 0; pos < len(raw); {
		e, next, err := entryAt(raw, pos)
		if err != nil {
			return raw
		}
		if e.isDir() || d.m.any(e.name) || (e.isBlob() && d.bad[e.hash] != nil) {
			out = append(out, raw[pos:next]...)
		}
		pos = next
	}
	if len(out) == len(raw) {
		return raw
	}
	if out == nil {
		return emptyTree
	}
	return out
}

// pruneCommit keeps the parts of a raw commit that a scan looks at: the tree, parent and
// author lines, and the message only when it holds a secret. The rest (the committer, a
// signature: most of a signed commit's bytes, the message of every other commit) never changes
// a scan's answers, and is most of what a long history's commits hold.
func (d *repoData) pruneCommit(raw []byte) []byte {
	hdr, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	out := make([]byte, 0, 256)
	for line := range bytes.SplitSeq(hdr, []byte{'\n'}) {
		if bytes.HasPrefix(line, []byte("tree ")) || bytes.HasPrefix(line, []byte("parent ")) || bytes.HasPrefix(line, []byte("author ")) {
			out = append(append(out, line...), '\n')
		}
	}
	out = append(out, '\n')
	if d.m.any(msg) {
		out = append(out, msg...)
	}
	return out
}

// indexErr is the first failure of a table's spill file or index on disk: an answer read from
// a table is trusted only when this is nil.
func (d *repoData) indexErr() error {
	for _, t := range d.tables {
		if err := t.err(); err != nil {
			return err
		}
	}
	return nil
}

func (d *repoData) close() {
	d.st.close()
	for _, t := range d.tables {
		t.close()
	}
}

// treeData returns tree h's raw (or, lean, pruned) data.
func (d *repoData) treeData(h plumbing.Hash) ([]byte, error) {
	raw, ok, err := d.trees.get(h)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("tree %s: %w", h, errMissing)
	}
	return raw, nil
}

// commitData returns commit h's raw data.
func (d *repoData) commitData(h plumbing.Hash) ([]byte, error) {
	raw, ok, err := d.commits.get(h)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("commit %s: %w", h, errMissing)
	}
	return raw, nil
}

// readRefs lists every hash reference (loose and packed) and a detached HEAD. Read by hand, not
// through go-git's IterReferences: that one reads lock files (refs/heads/main.lock) as refs, and
// a purge holds them.
func readRefs(gitDir string) ([]ref, error) {
	byName := map[string]plumbing.Hash{}
	b, err := os.ReadFile(filepath.Join(gitDir, "packed-refs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		h, name, ok := strings.Cut(line, " ")
		if !ok || len(h) != 40 || !isHex(h) {
			return nil, fmt.Errorf("list refs: packed-refs:%d: malformed line", i+1)
		}
		byName[name] = plumbing.NewHash(h)
	}
	loose := func(p, name string) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := strings.TrimSpace(string(b))
		switch {
		case strings.HasPrefix(s, "ref:"):
			delete(byName, name) // symbolic: not a hash ref
		case len(s) == 40 && isHex(s):
			byName[name] = plumbing.NewHash(s)
		default:
			return fmt.Errorf("ref file %s is malformed", name)
		}
		return nil
	}
	err = filepath.WalkDir(filepath.Join(gitDir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		rel, err := filepath.Rel(gitDir, p)
		if err != nil {
			return err
		}
		return loose(p, filepath.ToSlash(rel))
	})
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	if err := loose(filepath.Join(gitDir, "HEAD"), "HEAD"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	refs := make([]ref, 0, len(byName))
	for name, h := range byName {
		refs = append(refs, ref{name: name, hash: h})
	}
	slices.SortFunc(refs, func(a, b ref) int { return strings.Compare(a.name, b.name) })
	return refs, nil
}

// readSymrefs lists the symbolic refs under refs/ (loose files "ref: <target>").
func readSymrefs(gitDir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(gitDir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if target, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "ref: "); ok {
			rel, _ := filepath.Rel(gitDir, p)
			out[filepath.ToSlash(rel)] = target
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list symbolic refs: %w", err)
	}
	return out, nil
}

var errMissing = errors.New("object missing from the repository")

// commit returns commit h parsed. Safe for concurrent use (it only reads the table).
func (d *repoData) commit(h plumbing.Hash) (*commitInfo, error) {
	raw, err := d.commitData(h)
	if err != nil {
		return nil, err
	}
	return parseCommit(raw), nil
}

// author returns commit h's author, parsed again from the commit: only commits with findings
// need it, so the walk does not keep one per commit.
func (d *repoData) author(h plumbing.Hash) (object.Signature, error) {
	var s object.Signature
	raw, err := d.commitData(h)
	if err != nil {
		return s, err
	}
	hdr, _, _ := bytes.Cut(raw, []byte("\n\n"))
	for line := range bytes.SplitSeq(hdr, []byte{'\n'}) {
		if rest, ok := bytes.CutPrefix(line, []byte("author ")); ok {
			s.Decode(rest)
			break
		}
	}
	return s, nil
}

// parseCommit decodes what a history walk needs of a raw commit; msg aliases raw.
func parseCommit(raw []byte) *commitInfo {
	c := &commitInfo{}
	hdr, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	c.msg = msg
	for line := range bytes.SplitSeq(hdr, []byte{'\n'}) {
		switch {
		case bytes.HasPrefix(line, []byte("tree ")):
			c.tree = hexHash(line[5:])
		case bytes.HasPrefix(line, []byte("parent ")):
			c.parents = append(c.parents, hexHash(line[7:]))
		}
	}
	return c
}

// hexHash decodes a hash written in hex as plumbing.NewHash does (what does not decode stays
// zero), without the string and the slice NewHash allocates: commits are parsed each time a
// walk looks at one.
func hexHash(b []byte) plumbing.Hash {
	var h plumbing.Hash
	_, _ = hex.Decode(h[:], b[:min(len(b), 2*len(h))])
	return h
}

// peel follows tag objects from h to the first object that is not a tag.
func (d *repoData) peel(h plumbing.Hash) (plumbing.Hash, plumbing.ObjectType) {
	for range 100 {
		raw, ok := d.tags[h]
		if !ok {
			break
		}
		t, ok := tagTarget(raw)
		if !ok {
			break
		}
		h = t
	}
	switch {
	case d.commits.has(h):
		return h, plumbing.CommitObject
	case d.trees.has(h):
		return h, plumbing.TreeObject
	case d.tags[h] != nil:
		return h, plumbing.TagObject
	}
	return h, plumbing.BlobObject
}

func tagTarget(raw []byte) (plumbing.Hash, bool) {
	if !bytes.HasPrefix(raw, []byte("object ")) || len(raw) < 47 {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(string(raw[7:47])), true
}

// Topological marks of a commit (topo).
const (
	onStack uint64 = 1
	ordered uint64 = 2
)

// unread is a topo frame's parent count before its commit is read.
const unread = ^uint32(0)

// topo returns every commit reachable from the refs, parents before children.
func (d *repoData) topo(tips []plumbing.Hash) ([]plumbing.Hash, error) {
	var order []plumbing.Hash
	err := d.topoEach(tips, func(h plumbing.Hash) { order = append(order, h) })
	return order, err
}

// topoList is topo into a hashList within the load's budget (on disk beyond it); the caller
// closes it.
func (d *repoData) topoList(tips []plumbing.Hash) (*hashList, error) {
	order := newHashList(d.budget, d.tempDir)
	err := d.topoEach(tips, order.add)
	if err == nil {
		err = order.err()
	}
	if err != nil {
		order.close()
		return nil, err
	}
	return order, nil
}

// topoEach calls emit for every commit reachable from tips, parents before children. Its marks
// are a spillMap within the load's budget: a mark per commit of the history.
func (d *repoData) topoEach(tips []plumbing.Hash, emit func(plumbing.Hash)) error {
	marks := newSpillMap[uint64](d.budget, d.tempDir, d.commits.len())
	defer marks.close()
	// mark reads h's mark, trusted only while the map has not failed (a failed write leaves
	// an older mark, a failed read none).
	mark := func(h plumbing.Hash) (uint64, error) {
		v, _ := marks.get(h)
		return v, marks.err()
	}
	// A frame knows its commit's parent count once it has read it, so that leaving it (after
	// its last parent) reads nothing: on a deep history that read came long after the first,
	// from disk.
	type frame struct {
		h       plumbing.Hash
		next, n uint32 // the next parent to visit; the parent count (unread before the read)
	}
	for _, tip := range tips {
		if m, err := mark(tip); m != 0 || err != nil {
			if err != nil {
				return fmt.Errorf("order the history: %w", err)
			}
			continue
		}
		stack := []frame{{h: tip, n: unread}}
		marks.set(tip, onStack)
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < f.n {
				// The parents are parsed again for each one rather than kept in the frame: a
				// linear history's stack is as deep as the history.
				c, err := d.commit(f.h)
				if err != nil {
					return err
				}
				f.n = uint32(len(c.parents))
				if f.next == f.n {
					continue
				}
				p := c.parents[f.next]
				f.next++
				m, err := mark(p)
				switch {
				case err != nil:
					return fmt.Errorf("order the history: %w", err)
				case m == 0:
					marks.set(p, onStack)
					stack = append(stack, frame{h: p, n: unread})
				case m == onStack:
					return fmt.Errorf("commit %s: cycle in history", p)
				}
				continue
			}
			marks.set(f.h, ordered)
			emit(f.h)
			stack = stack[:len(stack)-1]
		}
	}
	if err := marks.err(); err != nil {
		return fmt.Errorf("order the history: %w", err)
	}
	return nil
}

// treeEntry is one decoded tree entry; name aliases the tree's bytes.
type treeEntry struct {
	mode uint32
	name []byte
	hash plumbing.Hash
	at   int // offset of the hash within the tree, for in-place rewriting
}

const (
	modeDir     = 0o40000
	modeGitlink = 0o160000
)

func (e treeEntry) isDir() bool  { return e.mode == modeDir }
func (e treeEntry) isBlob() bool { return e.mode != modeDir && e.mode != modeGitlink }

// entryAt decodes the tree entry at pos and returns the position of the next one.
func entryAt(raw []byte, pos int) (treeEntry, int, error) {
	sp := bytes.IndexByte(raw[pos:], ' ')
	if sp <= 0 {
		return treeEntry{}, 0, errors.New("malformed tree entry")
	}
	var mode uint32
	for _, c := range raw[pos : pos+sp] {
		if c < '0' || c > '7' {
			return treeEntry{}, 0, errors.New("malformed tree mode")
		}
		mode = mode<<3 | uint32(c-'0')
	}
	pos += sp + 1
	nul := bytes.IndexByte(raw[pos:], 0)
	if nul < 0 || pos+nul+21 > len(raw) {
		return treeEntry{}, 0, errors.New("malformed tree entry")
	}
	e := treeEntry{mode: mode, name: raw[pos : pos+nul], at: pos + nul + 1}
	copy(e.hash[:], raw[e.at:e.at+20])
	return e, e.at + 20, nil
}

// entries decodes a raw tree.
func entries(raw []byte, out []treeEntry) ([]treeEntry, error) {
	out = out[:0]
	for pos := 0; pos < len(raw); {
		e, next, err := entryAt(raw, pos)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		pos = next
	}
	return out, nil
}

// forEntries calls f for each entry of tree h until f returns false.
func (d *repoData) forEntries(h plumbing.Hash, f func(treeEntry) bool) error {
	raw, err := d.treeData(h)
	if err != nil {
		return err
	}
	for pos := 0; pos < len(raw); {
		e, next, err := entryAt(raw, pos)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		if !f(e) {
			return nil
		}
		pos = next
	}
	return nil
}

func (d *repoData) tree(h plumbing.Hash) ([]treeEntry, error) {
	raw, err := d.treeData(h)
	if err != nil {
		return nil, err
	}
	es, err := entries(raw, nil)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	return es, nil
}

// hasBad reports whether tree h holds, at any depth, a blob with a secret or an entry whose name
// holds one.
func (d *repoData) hasBad(h plumbing.Hash) (bool, error) {
	if f := d.trees.flags(h); f&flagKnown != 0 {
		return f&flagBad != 0, nil
	}
	v := false
	var werr error
	err := d.forEntries(h, func(e treeEntry) bool {
		switch {
		case d.m.any(e.name):
			v = true
		case e.isDir():
			v, werr = d.hasBad(e.hash)
		case e.isBlob():
			v = d.bad[e.hash] != nil
		}
		return !v && werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return false, err
	}
	f := flagKnown
	if v {
		f |= flagBad
	}
	d.trees.setFlags(h, f)
	return v, nil
}

// change is one path at which a commit changes how often a secret occurs.
type change struct {
	path   string
	blob   plumbing.Hash
	secret int
	intro  bool // more occurrences than in every parent; otherwise fewer than in the only parent
}

// changes compares a commit's tree with its parents' trees at every path where a secret is
// involved. With no parent it compares with the empty tree; for merges only introductions (more
// occurrences than in every parent) are reported.
func (d *repoData) changes(c *commitInfo) ([]change, error) {
	tree, parents := c.tree, c.parents
	parentTrees := make([]plumbing.Hash, len(parents))
	for i, p := range parents {
		pc, err := d.commit(p)
		if err != nil {
			return nil, err
		}
		parentTrees[i] = pc.tree
	}
	nb, err := d.hasBad(tree)
	if err != nil {
		return nil, err
	}
	if !nb && len(parents) == 1 {
		if nb, err = d.hasBad(parentTrees[0]); err != nil {
			return nil, err
		}
	}
	if !nb {
		return nil, nil
	}
	var out []change
	err = d.diff(tree, parentTrees, "", &out)
	return out, err
}

func (d *repoData) diff(tree plumbing.Hash, parents []plumbing.Hash, prefix string, out *[]change) error {
	cur, err := d.iter(tree)
	if err != nil {
		return err
	}
	par := make([]treeIter, len(parents))
	for i, p := range parents {
		if par[i], err = d.iter(p); err != nil {
			return err
		}
	}
	heads := make([]treeEntry, len(parents))
	has := make([]bool, len(parents))
	for i := range par {
		heads[i], has[i] = par[i].next()
	}
	ps := make([]plumbing.Hash, len(parents))
	n, nok := cur.next()
	for {
		// The key to look at: the next entry of the tree, or (one parent only) a parent entry
		// that sorts before it, i.e. a path the commit deleted.
		var key treeEntry
		switch {
		case len(parents) == 1 && has[0] && (!nok || cmpEntry(heads[0], n) < 0):
			key = heads[0]
		case nok:
			key = n
		default:
			for _, it := range append(par, cur) {
				if it.err != nil {
					return it.err
				}
			}
			return nil
		}
		var nh plumbing.Hash
		if nok && cmpEntry(n, key) == 0 {
			nh = n.hash
			n, nok = cur.next()
		}
		same := false
		for i := range par {
			ps[i] = plumbing.ZeroHash
			for has[i] && cmpEntry(heads[i], key) < 0 {
				heads[i], has[i] = par[i].next()
			}
			if has[i] && cmpEntry(heads[i], key) == 0 {
				ps[i] = heads[i].hash
				heads[i], has[i] = par[i].next()
			}
			same = same || (ps[i] == nh && !nh.IsZero())
		}
		if same {
			continue // identical to a parent: nothing introduced or removed below
		}
		if key.isDir() {
			nb := false
			if !nh.IsZero() {
				if nb, err = d.hasBad(nh); err != nil {
					return err
				}
			}
			pb := false
			if len(parents) == 1 && !ps[0].IsZero() {
				if pb, err = d.hasBad(ps[0]); err != nil {
					return err
				}
			}
			if nb || pb {
				if err := d.diff(nh, slices.Clone(ps), prefix+string(key.name)+"/", out); err != nil {
					return err
				}
			}
			continue
		}
		d.blobChanges(prefix+string(key.name), nh, ps, out)
	}
}

func (d *repoData) blobChanges(path string, nh plumbing.Hash, ps []plumbing.Hash, out *[]change) {
	hn := d.bad[nh]
	if hn != nil {
		d.seenBad[nh] = true
	}
	var maxp []int
	for _, p := range ps {
		if hb := d.bad[p]; hb != nil {
			if maxp == nil {
				maxp = make([]int, len(d.m.secrets))
			}
			for s, c := range hb.counts {
				maxp[s] = max(maxp[s], c)
			}
		}
	}
	if hn == nil && maxp == nil {
		return
	}
	for s := range d.m.secrets {
		cn, cp := 0, 0
		if hn != nil {
			cn = hn.counts[s]
		}
		if maxp != nil {
			cp = maxp[s]
		}
		switch {
		case cn > cp:
			*out = append(*out, change{path: path, blob: nh, secret: s, intro: true})
		case cn < cp && len(ps) == 1:
			*out = append(*out, change{path: path, blob: ps[0], secret: s})
		}
	}
}

// treeIter walks a raw tree's entries without allocating; gitlinks (submodule commits) are
// skipped, they are not content of this repository.
type treeIter struct {
	raw []byte
	pos int
	err error
}

func (d *repoData) iter(h plumbing.Hash) (treeIter, error) {
	if h.IsZero() {
		return treeIter{}, nil
	}
	raw, err := d.treeData(h)
	if err != nil {
		return treeIter{}, err
	}
	return treeIter{raw: raw}, nil
}

func (it *treeIter) next() (treeEntry, bool) {
	for it.pos < len(it.raw) && it.err == nil {
		e, next, err := entryAt(it.raw, it.pos)
		if err != nil {
			it.err = err
			return treeEntry{}, false
		}
		it.pos = next
		if e.mode != modeGitlink {
			return e, true
		}
	}
	return treeEntry{}, false
}

// cmpEntry orders entries as git sorts a tree: a directory compares as if its name ended in '/'.
func cmpEntry(a, b treeEntry) int {
	n := min(len(a.name), len(b.name))
	if c := bytes.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	ca, cb := byte(0), byte(0)
	if len(a.name) > n {
		ca = a.name[n]
	} else if a.isDir() {
		ca = '/'
	}
	if len(b.name) > n {
		cb = b.name[n]
	} else if b.isDir() {
		cb = '/'
	}
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	if len(a.name) == len(b.name) {
		return 0
	}
	// One name is a prefix of the other and the next byte compares equal: the longer sorts later.
	return len(a.name) - len(b.name)
}

// badPaths lists every path (with the secrets there) of tree h that holds a secret.
func (d *repoData) badPaths(h plumbing.Hash, prefix string, out map[string][]int) error {
	if ok, err := d.hasBad(h); err != nil || !ok {
		return err
	}
	es, err := d.tree(h)
	if err != nil {
		return err
	}
	for _, e := range es {
		switch {
		case e.isDir():
			if err := d.badPaths(e.hash, prefix+string(e.name)+"/", out); err != nil {
				return err
			}
		case e.isBlob():
			if hb := d.bad[e.hash]; hb != nil {
				for s, c := range hb.counts {
					if c > 0 {
						out[prefix+string(e.name)] = append(out[prefix+string(e.name)], s)
					}
				}
			}
		}
	}
	return nil
}

func sigString(s object.Signature) string { return s.Name + " <" + s.Email + ">" }

func sigTime(s object.Signature) time.Time { return s.When }
