package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/objfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// store is the object database of one repository (every pack and every loose object), opened
// for bulk parallel reading.
type store struct {
	gitDir string
	packs  []*pack
	loose  []plumbing.Hash

	deltas []*deltaTree // per pack, built by the first walk
	byPack map[*pack]*deltaTree
}

func openStore(gitDir string) (*store, error) {
	objects := filepath.Join(gitDir, "objects")
	s := &store{gitDir: gitDir}
	packPaths, err := filepath.Glob(filepath.Join(objects, "pack", "pack-*.pack"))
	if err != nil {
		return nil, err
	}
	slices.Sort(packPaths)
	for _, pp := range packPaths {
		if _, err := os.Stat(strings.TrimSuffix(pp, ".pack") + ".idx"); err != nil {
			continue // not (yet) a pack: git ignores a pack without its index too
		}
		p, err := openPack(pp)
		if err != nil {
			s.close()
			return nil, err
		}
		s.packs = append(s.packs, p)
	}
	dirs, err := os.ReadDir(objects)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("list objects: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 || !isHex(d.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(objects, d.Name()))
		if err != nil {
			s.close()
			return nil, fmt.Errorf("list loose objects: %w", err)
		}
		for _, f := range files {
			if name := d.Name() + f.Name(); len(name) == 40 && isHex(name) {
				s.loose = append(s.loose, plumbing.NewHash(name))
			}
		}
	}
	return s, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *store) close() {
	for _, p := range s.packs {
		p.close()
	}
	s.packs = nil
}

// count is how many objects the store holds (an object in two packs counts twice).
func (s *store) count() int {
	if s == nil {
		return 0
	}
	n := len(s.loose)
	for _, p := range s.packs {
		n += len(p.entries)
	}
	return n
}

func (s *store) loosePath(h plumbing.Hash) string {
	hex := h.String()
	return filepath.Join(s.gitDir, "objects", hex[:2], hex[2:])
}

func (s *store) readLoose(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	f, err := os.Open(s.loosePath(h))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil, plumbing.ErrObjectNotFound
		}
		return 0, nil, err
	}
	defer f.Close()
	r, err := objfile.NewReader(f)
	if err != nil {
		return 0, nil, fmt.Errorf("read loose object %s: %w", h, err)
	}
	defer r.Close()
	typ, size, err := r.Header()
	if err != nil {
		return 0, nil, fmt.Errorf("read loose object %s: %w", h, err)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, fmt.Errorf("read loose object %s: %w", h, err)
	}
	return typ, data, nil
}

// read returns one object by hash; safe for concurrent use.
func (s *store) read(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	for _, p := range s.packs {
		if i, ok := p.find(h); ok {
			z := inflaters.Get().(*inflater)
			defer inflaters.Put(z)
			return p.object(z, i, s)
		}
	}
	return s.readLoose(h)
}

// has reports whether the store holds h.
func (s *store) has(h plumbing.Hash) bool {
	for _, p := range s.packs {
		if _, ok := p.find(h); ok {
			return true
		}
	}
	_, err := os.Stat(s.loosePath(h))
	return err == nil
}

// visitFunc receives every object once. data is the walk's buffer, valid only during the call
// (it is reused for later objects): a visitor copies what it keeps. worker identifies the
// calling goroutine (0..workers-1).
type visitFunc func(worker int, h plumbing.Hash, typ plumbing.ObjectType, data []byte) error

type task struct {
	p     *pack
	i     int32
	typ   plumbing.ObjectType
	base  []byte // nil for a root: a whole object, or a delta whose base lives elsewhere
	loose plumbing.Hash
}

// deltaTree holds, for each entry of a pack, the entries that are deltas against it.
type deltaTree struct {
	first []int32 // children of i are kids[first[i]:first[i+1]]
	kids  []int32
	roots []int32
	skip  []bool // entry also present in an earlier pack: still a base, not visited again
}

func (s *store) deltaTree(pi int) (*deltaTree, error) {
	p := s.packs[pi]
	n := len(p.entries)
	parent := make([]int32, n)
	count := make([]int32, n+1)
	t := &deltaTree{}
	err := p.eachHeader(func(i int, h entryHeader) error {
		parent[i] = -1
		if h.typ == plumbing.OFSDeltaObject || h.typ == plumbing.REFDeltaObject {
			if b, ok := p.baseOf(i, h); ok && b != i {
				parent[i] = int32(b)
				count[b]++
			}
		}
		if parent[i] < 0 {
			t.roots = append(t.roots, int32(i))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.first = make([]int32, n+1)
	for i := range n {
		t.first[i+1] = t.first[i] + count[i]
	}
	t.kids = make([]int32, t.first[n])
	fill := slices.Clone(t.first[:n])
	for i := range n {
		if b := parent[i]; b >= 0 {
			t.kids[fill[b]] = int32(i)
			fill[b]++
		}
	}
	// Detect cycles (only a corrupt pack has them): every entry must hang below a root.
	seen := 0
	stack := slices.Clone(t.roots)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		seen++
		stack = append(stack, t.kids[t.first[i]:t.first[i+1]]...)
	}
	if seen != n {
		return nil, fmt.Errorf("pack %s: delta cycle", filepath.Base(p.path))
	}
	if pi > 0 {
		t.skip = make([]bool, n)
		for i, e := range p.entries {
			for _, q := range s.packs[:pi] {
				if _, ok := q.find(e.hash); ok {
					t.skip[i] = true
					break
				}
			}
		}
	}
	return t, nil
}

// pass selects the objects one walk over the store visits. Delta chains never cross object types
// (git deltifies a blob only against a blob, a tree against a tree), so a whole delta family has
// the type of its root.
type pass uint8

const (
	passAll      pass = iota
	passNonTrees      // families whose root is not a tree (or needs a base elsewhere), loose objects
	passTrees         // families whose root is a tree
)

func (ps pass) wants(p *pack, root int32) bool {
	if ps == passAll {
		return true
	}
	h, err := p.header(int(root))
	isTree := err == nil && h.typ == plumbing.TreeObject
	return isTree == (ps == passTrees)
}

// walk visits the objects of one pass, in parallel, each once. Memory: a worker holds the objects
// on its path from a delta family's root to the entry it resolves, and only where the family
// branches; along a chain each object is released as soon as its child is resolved.
func (s *store) walk(ctx context.Context, workers int, ps pass, visit visitFunc) error {
	workers = max(workers, 1)
	if err := s.planDeltas(); err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &walker{s: s, ctx: ctx, cancel: cancel, workers: workers, visit: visit, queue: make(chan task, 4096)}
	// The roots are queued as they are found, not listed first (a task is 64 bytes, and a pack
	// has a root per delta family). The feeder holds one count of pending until it is done, so
	// that the queue closes only after the last root's work. It reads the store: the walk
	// returns only after it has stopped.
	w.pending.Store(1)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		send := func(tk task) bool {
			w.pending.Add(1)
			select {
			case w.queue <- tk:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for pi, t := range s.deltas {
			for _, r := range t.roots {
				if ps.wants(s.packs[pi], r) && !send(task{p: s.packs[pi], i: r}) {
					return
				}
			}
		}
		if ps != passTrees {
			for _, h := range s.loose {
				if !s.inPacks(h) && !send(task{loose: h}) {
					return
				}
			}
		}
		if w.pending.Add(-1) == 0 {
			close(w.queue)
		}
	}()
	var wg sync.WaitGroup
	for id := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work(id)
		}()
	}
	wg.Wait()
	cancel() // a feeder still sending (the workers stopped on an error) stops too
	<-fed
	if w.firstErr != nil {
		return w.firstErr
	}
	return parent.Err()
}

// planDeltas builds each pack's delta tree once per store.
func (s *store) planDeltas() error {
	if s.deltas != nil {
		return nil
	}
	deltas := make([]*deltaTree, len(s.packs))
	s.byPack = map[*pack]*deltaTree{}
	for i := range s.packs {
		t, err := s.deltaTree(i)
		if err != nil {
			return err
		}
		deltas[i] = t
		s.byPack[s.packs[i]] = t
	}
	s.deltas = deltas
	return nil
}

// walker is one parallel walk over the store.
type walker struct {
	s       *store
	ctx     context.Context
	cancel  context.CancelFunc
	workers int
	visit   visitFunc
	queue   chan task
	pending atomic.Int64 // tasks queued or running; the last one to finish closes the queue

	errOnce  sync.Once
	firstErr error
}

func (w *walker) fail(err error) {
	w.errOnce.Do(func() { w.firstErr = err; w.cancel() })
}

// reader is one walk worker's reusable state.
type reader struct {
	id    int
	z     inflater
	bufs  buffers
	delta []byte // the inflated delta being applied

	win     []byte // bytes of winPack from winOff: the entries read last and what follows them
	winOff  int64
	winPack *pack
}

// readWindow is how much of a pack a reader reads at once. A delta family mostly sits together
// in a pack (git writes a base and its deltas near each other), so the next entry is often in
// the window already: measured on the bench's C project, one read for 7 entries.
const readWindow = 16 << 10

// entry returns pack entry i's bytes (valid until the reader's next read) and its header.
func (r *reader) entry(p *pack, i int) (entryHeader, []byte, error) {
	off, end := p.entries[i].off, p.end(i)
	if r.winPack != p || off < r.winOff || end > r.winOff+int64(len(r.win)) {
		b, err := p.read(off, min(p.size, max(end, off+readWindow)), r.win)
		if err != nil {
			return entryHeader{}, nil, err
		}
		r.win, r.winOff, r.winPack = b, off, p
	}
	b := r.win[off-r.winOff : end-r.winOff]
	h, err := parseHeader(b, off)
	return h, b, err
}

func (w *walker) work(id int) {
	r := &reader{id: id}
	for {
		var tk task
		var ok bool
		select {
		case tk, ok = <-w.queue:
		case <-w.ctx.Done():
			return
		}
		if !ok {
			return
		}
		if err := w.do(r, tk); err != nil {
			w.fail(err)
			return
		}
		if w.pending.Add(-1) == 0 {
			close(w.queue)
		}
	}
}

func (w *walker) do(r *reader, tk task) error {
	s := w.s
	switch {
	case tk.p == nil:
		typ, data, err := s.readLoose(tk.loose)
		if err != nil {
			return err
		}
		return w.visit(r.id, tk.loose, typ, data)
	case tk.base != nil:
		data, err := s.applyChild(r, tk.p, int(tk.i), tk.base)
		if err != nil {
			return err
		}
		return w.run(r, tk.p, tk.i, tk.typ, data, true)
	default:
		typ, data, err := s.rootObject(r, tk.p, int(tk.i))
		if err != nil {
			return err
		}
		return w.run(r, tk.p, tk.i, typ, data, true)
	}
}

// run visits entry i and every delta below it. The last child continues the loop instead of
// recursing, so that a chain (the common shape, 250 deep after an aggressive repack) holds one
// object at a time however long it is. data is the reader's own buffer (owned) until it is
// handed to another worker as a base; owned buffers go back to the reader's free list once
// every child is patched from them, so a pass allocates a few buffers, not one per object.
func (w *walker) run(r *reader, p *pack, i int32, typ plumbing.ObjectType, data []byte, owned bool) error {
	t := w.s.byPack[p]
	for {
		if t.skip == nil || !t.skip[i] {
			if err := w.visit(r.id, p.entries[i].hash, typ, data); err != nil {
				return err
			}
		}
		kids := t.kids[t.first[i]:t.first[i+1]]
		if len(kids) == 0 {
			if owned {
				r.bufs.put(data)
			}
			return nil
		}
		for _, c := range kids[:len(kids)-1] {
			if err := w.ctx.Err(); err != nil {
				return err
			}
			// Hand siblings to idle workers so one wide delta tree does not serialise the tail
			// of the pass.
			if len(w.queue) < w.workers {
				w.pending.Add(1)
				select {
				case w.queue <- task{p: p, i: c, typ: typ, base: data}:
					owned = false // shared with the other worker now
					continue
				default:
					w.pending.Add(-1)
				}
			}
			cdata, err := w.s.applyChild(r, p, int(c), data)
			if err != nil {
				return err
			}
			if err := w.run(r, p, c, typ, cdata, true); err != nil {
				return err
			}
		}
		last := kids[len(kids)-1]
		cdata, err := w.s.applyChild(r, p, int(last), data)
		if err != nil {
			return err
		}
		if owned {
			r.bufs.put(data)
		}
		i, data, owned = last, cdata, true
	}
}

// rootObject reads the entry a delta family starts from into one of the reader's buffers. A
// delta whose base is outside its pack is resolved by the store (and allocated).
func (s *store) rootObject(r *reader, p *pack, i int) (plumbing.ObjectType, []byte, error) {
	h, raw, err := r.entry(p, i)
	if err != nil {
		return 0, nil, err
	}
	if h.typ == plumbing.OFSDeltaObject || h.typ == plumbing.REFDeltaObject {
		return p.object(&r.z, i, s)
	}
	data, err := r.z.inflateInto(r.bufs.get(int(h.size)), raw[h.dataOff-p.entries[i].off:])
	if err != nil {
		return 0, nil, fmt.Errorf("inflate %s: %w", p.entries[i].hash, err)
	}
	return h.typ, data, nil
}

// applyChild patches delta entry i onto base, into one of the reader's buffers.
func (s *store) applyChild(r *reader, p *pack, i int, base []byte) ([]byte, error) {
	h, raw, err := r.entry(p, i)
	if err != nil {
		return nil, err
	}
	if cap(r.delta) < int(h.size) {
		r.delta = make([]byte, h.size)
	}
	delta, err := r.z.inflateInto(r.delta[:h.size], raw[h.dataOff-p.entries[i].off:])
	if err != nil {
		return nil, fmt.Errorf("inflate %s: %w", p.entries[i].hash, err)
	}
	_, size, _, err := deltaSizes(delta)
	if err != nil || size > 1<<40 {
		return nil, fmt.Errorf("apply delta %s: %w", p.entries[i].hash, packfile.ErrInvalidDelta)
	}
	return patchInto(r.bufs.get(int(size)), base, delta, p.entries[i].hash)
}

func (s *store) inPacks(h plumbing.Hash) bool {
	for _, p := range s.packs {
		if _, ok := p.find(h); ok {
			return true
		}
	}
	return false
}

// gitDirOf returns the git directory of a repository path (bare or not) and whether the
// repository has a working tree.
func gitDirOf(path string) (gitDir string, bare bool, err error) {
	dotGit := filepath.Join(path, ".git")
	fi, err := os.Stat(dotGit)
	switch {
	case err == nil && fi.IsDir():
		return dotGit, false, nil
	case err == nil:
		// A .git file ("gitdir: ...") belongs to a linked worktree or a submodule.
		b, err := os.ReadFile(dotGit)
		if err != nil {
			return "", false, err
		}
		line := strings.TrimSpace(string(b))
		if !strings.HasPrefix(line, "gitdir:") {
			return "", false, fmt.Errorf("%s: not a git repository", path)
		}
		dir := strings.TrimSpace(strings.TrimPrefix(line, "gitdir:"))
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(path, dir)
		}
		return dir, false, nil
	}
	if _, err := os.Stat(filepath.Join(path, "objects")); err == nil {
		if _, err := os.Stat(filepath.Join(path, "HEAD")); err == nil {
			return path, true, nil
		}
	}
	return "", false, fmt.Errorf("%s: not a git repository", path)
}
