package gitrepo

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// apply writes the rewrite into the repository, in an order that leaves a repository git
// accepts if the process dies at any point: one new pack holding the old objects that are still
// reachable (their compressed entries copied as they are) and the new objects, visible (pack,
// then index) before anything names its objects; then, once the refs are checked unchanged, the
// reflogs, the refs, HEAD, the working tree and the index; then the files naming only old objects;
// and last the old packs and loose objects.
//
// Why not go-git's packfile.Encoder into the storage's PackfileWriter for the new objects, as
// first built: on the bench repository (70,000 new trees and commits) the encoder spent 6.3 s
// deflating at the default level with a compressor reset per object, and PackfileWriter.Close
// another 2 s re-inflating the pack to index it, 8 s of a 13 s purge. Here new objects are
// deflated in parallel at BestSpeed and indexed from what was written (idxBuilder).
func (rw *rewriter) apply(ctx context.Context, res *PurgeResult, lk *repoLock, reset *resetPlan) error {
	d := rw.d
	keep, err := rw.reachableOld()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// What the new history keeps was read from the tables and maps: trusted only if they
	// answered.
	if err := rw.err(); err != nil {
		return err
	}
	packDir := filepath.Join(d.gitDir, "objects", "pack")
	name, n, err := writePack(d.st, keep, rw.written, packDir, d.tempDir, rw.workers, packSource{rw, rw.deltaBase(keep)})
	if err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	// The pack is written from the maps' answers: check them once more before any ref moves.
	if err := rw.err(); err != nil {
		return err
	}
	res.Pack, res.ObjectsKept, res.ObjectsWritten = name, n, rw.written.len()
	res.ObjectsDropped = d.objects - n

	// Compare-and-swap: the refs must still be what the rewrite started from. The locks stop
	// git; this catches a writer that ignores them, before anything but a new pack exists.
	now, err := readRefs(d.gitDir)
	if err != nil {
		return err
	}
	if err := sameRefs(d.refs, now, d.m); err != nil {
		return fmt.Errorf("%w: nothing was changed, run the purge again", err)
	}
	if err := rw.writeLogs(); err != nil {
		return err
	}
	if err := rw.writeRefs(lk); err != nil {
		return err
	}
	if reset != nil {
		if err := reset.apply(rw, lk); err != nil {
			return fmt.Errorf("reset the working tree: %w", err)
		}
	}
	for _, lg := range rw.deadLogs {
		if err := unlink(logPath(d.gitDir, lg)); err != nil {
			return fmt.Errorf("remove reflog of %s: %w", d.m.maskName(lg), err)
		}
	}
	if err := rw.rewriteOrigHead(keep); err != nil {
		return err
	}
	// Before any old object goes: every ref must be what the purge wrote. A ref created
	// meanwhile (without git's locks) may need the old objects.
	if now, err = readRefs(d.gitDir); err != nil {
		return err
	}
	if err := sameRefs(rw.newRefs, now, d.m); err != nil {
		return fmt.Errorf("%w: history is rewritten, the old objects are kept; run the purge again to remove them", err)
	}
	return removeOld(d, map[string]bool{name: true})
}

// rewriteOrigHead maps ORIG_HEAD (the commit before the last reset, merge or rebase) through
// the commit map; FETCH_HEAD, a record of what the remote had, is dropped.
func (rw *rewriter) rewriteOrigHead(keep *spillMap[uint64]) error {
	p := filepath.Join(rw.d.gitDir, "ORIG_HEAD")
	if b, err := os.ReadFile(p); err == nil {
		s := strings.TrimSpace(string(b))
		h := plumbing.NewHash(s)
		n, ok := rw.commits.get(h)
		switch {
		case len(s) == 40 && ok && n != h:
			if err := writeAtomic(rw.d.gitDir, p, []byte(n.String()+"\n"), 0o644); err != nil {
				return fmt.Errorf("rewrite ORIG_HEAD: %w", err)
			}
		case !ok && !keep.has(h):
			if err := unlink(p); err != nil {
				return err
			}
		}
	}
	return unlink(filepath.Join(rw.d.gitDir, "FETCH_HEAD"))
}

// writeLogs writes the rewritten reflogs (each replaced atomically).
func (rw *rewriter) writeLogs() error {
	for _, lg := range rw.newLogs {
		p := logPath(rw.d.gitDir, lg.ref)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeAtomic(rw.d.gitDir, p, lg.encode(), 0o644); err != nil {
			return fmt.Errorf("rewrite reflog of %s: %w", lg.ref, err)
		}
	}
	return nil
}

// removeOld deletes every pack and loose object the pass read (except the packs just written)
// and the files that index old objects: commit-graph, multi-pack-index and pack lists first
// (they would name packs and commits that are gone), then each old pack's index before the pack
// (a pack without an index is ignored; an index without its pack is an error).
func removeOld(d *repoData, keepPacks map[string]bool) error {
	var old []string
	for _, p := range d.st.packs {
		if !keepPacks[filepath.Base(p.path)] {
			old = append(old, p.path)
		}
	}
	loose := d.st.loose
	d.st.close()
	var errs []error
	rm := func(path string) {
		if err := unlink(path); err != nil {
			errs = append(errs, err)
		}
	}
	objects := filepath.Join(d.gitDir, "objects")
	mid, _ := filepath.Glob(filepath.Join(objects, "pack", "multi-pack-index*"))
	graphs, _ := filepath.Glob(filepath.Join(objects, "info", "commit-graphs", "*"))
	for _, p := range append(append(mid, graphs...), filepath.Join(objects, "info", "commit-graph"), filepath.Join(objects, "info", "packs")) {
		rm(p)
	}
	for _, p := range old {
		base := strings.TrimSuffix(p, ".pack")
		for _, ext := range []string{".idx", ".rev", ".bitmap", ".mtimes", ".keep", ".promisor"} {
			rm(base + ext)
		}
		rm(p)
	}
	for _, h := range loose {
		rm(d.st.loosePath(h))
	}
	if dirs, err := os.ReadDir(objects); err == nil {
		for _, e := range dirs {
			if e.IsDir() && len(e.Name()) == 2 && isHex(e.Name()) {
				_ = os.Remove(filepath.Join(objects, e.Name())) // only if empty
			}
		}
	}
	return errors.Join(errs...)
}

// keepSet is the set of old objects a repack keeps. Its values track the copy: keepWanted
// once reachableOld adds an object, keepFound once the count found a copy (when the store has
// several packs), then the offset of its entry in the new pack (past the pack's header, so
// never one of the two).
type keepSet = spillMap[uint64]

const (
	keepWanted uint64 = iota
	keepFound
)

// reachableOld returns every object of the old store that the rewritten refs still reach
// (new objects, even one equal to an old object, are written anew and not in it).
func (rw *rewriter) reachableOld() (*keepSet, error) {
	d := rw.d
	rc := &reacher{rw: rw, keep: newRewriterMap[uint64](rw, d.st.count()), seenNew: newRewriterMap[struct{}](rw, rw.written.len())}
	err := rw.topo.each(func(h plumbing.Hash) error {
		n, _ := rw.commits.get(h)
		if n != h {
			nt, err := rw.newTreeOf(n)
			if err != nil {
				return err
			}
			return rc.markTree(nt)
		}
		return rc.markCommit(h)
	})
	if err == nil {
		err = rw.pinnedTopo.each(rc.markCommit)
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rw.newRefs {
		if err := rc.markRef(r); err != nil {
			return nil, err
		}
	}
	rc.seenNew.close()
	return rc.keep, nil
}

// markCommit marks an old commit kept as it is, and its tree.
func (rc *reacher) markCommit(h plumbing.Hash) error {
	rc.keepOld(plumbing.CommitObject, h)
	c, err := rc.rw.d.commit(h)
	if err != nil {
		return err
	}
	return rc.markTree(c.tree)
}

// reacher marks what the new history reaches of the old store.
type reacher struct {
	rw      *rewriter
	keep    *keepSet
	seenNew *spillMap[struct{}] // new trees marked; an old one is marked once in keep
}

// keepOld adds h, an object of type t (AnyObject: a tag, or not known), unless it is new. Most blobs
// are met in many trees: asking keep first is one lookup where the rest is three.
func (rc *reacher) keepOld(t plumbing.ObjectType, h plumbing.Hash) {
	if rc.keep.has(h) {
		return
	}
	isNew := rc.rw.isNew(h)
	if t != plumbing.AnyObject {
		isNew = rc.rw.isNewOf(t, h)
	}
	if !isNew {
		rc.keep.set(h, keepWanted)
	}
}

func (rc *reacher) markTree(h plumbing.Hash) error {
	rw := rc.rw
	if rc.keep.has(h) || rc.seenNew.has(h) {
		return nil
	}
	raw, isNew, err := rw.newTrees.get(h)
	if err != nil {
		return err
	}
	if isNew {
		rc.seenNew.set(h, struct{}{})
	} else {
		if raw, err = rw.d.treeData(h); err != nil {
			return err
		}
		rc.keep.set(h, keepWanted)
	}
	for pos := 0; pos < len(raw); {
		e, next, err := entryAt(raw, pos)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		pos = next
		switch {
		case e.isDir():
			if err := rc.markTree(e.hash); err != nil {
				return err
			}
		case e.isBlob():
			rc.keepOld(plumbing.BlobObject, e.hash)
		}
	}
	return nil
}

// markRef marks what a new ref names: through tags, to a commit (already marked), a tree or a
// blob.
func (rc *reacher) markRef(r ref) error {
	rw, d := rc.rw, rc.rw.d
	h := r.hash
	for range 100 {
		if rw.isNew(h) {
			if raw, ok := rw.newTags[h]; ok {
				h, _ = tagTarget(raw)
				continue
			}
			return nil // a new commit, tree or blob: already accounted for
		}
		switch {
		case d.tags[h] != nil:
			rc.keepOld(plumbing.AnyObject, h)
			h, _ = tagTarget(d.tags[h])
			continue
		case d.commits.has(h):
			rc.keepOld(plumbing.CommitObject, h)
		case d.trees.has(h):
			return rc.markTree(h)
		default:
			if !d.st.has(h) {
				return fmt.Errorf("ref %s: object %s: %w", r.name, h, errMissing)
			}
			rc.keepOld(plumbing.AnyObject, h)
		}
		return nil
	}
	return nil
}

// packOut writes a pack: entry offsets, SHA-1 of everything and CRC32 per entry.
type packOut struct {
	f   *os.File
	w   *bufio.Writer
	sum hash.Hash
	off int64
	idx *idxBuilder
	n   int // entries the header announced
	zw  *zlib.Writer
	buf bytes.Buffer
}

func (o *packOut) write(b []byte) error {
	o.sum.Write(b)
	_, err := o.w.Write(b)
	o.off += int64(len(b))
	return err
}

func appendTypeSize(b []byte, t plumbing.ObjectType, size int64) []byte {
	c := byte(t)<<4 | byte(size&15)
	size >>= 4
	for size > 0 {
		b = append(b, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(b, c)
}

func appendOfs(b []byte, rel int64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(rel & 0x7f)
	for rel >>= 7; rel > 0; rel >>= 7 {
		rel--
		i--
		tmp[i] = 0x80 | byte(rel&0x7f)
	}
	return append(b, tmp[i:]...)
}

// entry writes one entry made of a header and (already compressed) data.
func (o *packOut) entry(h plumbing.Hash, head, data []byte) error {
	crc := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, data)
	o.idx.add(h, uint64(o.off), crc)
	if err := o.write(head); err != nil {
		return err
	}
	return o.write(data)
}

func (o *packOut) whole(h plumbing.Hash, t plumbing.ObjectType, content []byte) error {
	o.buf.Reset()
	o.zw.Reset(&o.buf)
	o.zw.Write(content)
	if err := o.zw.Close(); err != nil {
		return err
	}
	return o.entry(h, appendTypeSize(nil, t, int64(len(content))), o.buf.Bytes())
}

// writePack writes the objects of keep and the new objects (news, nil for none) into one new
// pack. Each kept pack entry is copied as it is (no inflate, no deflate) unless its delta base
// is gone, in which case it is stored whole. It returns the pack's file name and its count of
// kept objects; no file is written when there is nothing to write.
//
// go-git's RepackObjects would do the same job by decoding and re-encoding every object (and
// delta-searching in Go); copying compressed entries is what keeps a purge of a large history
// fast. New objects are compressed a batch at a time and written as they are, so that memory
// holds one batch of compressed objects, not the whole new history.
func writePack(st *store, keep *keepSet, news *objectList, packDir, tmpDir string, workers int, src newSource) (string, int, error) {
	kept, first, err := countKept(st, keep)
	if err != nil {
		return "", 0, err
	}
	total := kept
	if news != nil {
		total += news.len()
	}
	if total == 0 {
		return "", 0, nil
	}
	fsOp("write", filepath.Join(packDir, "tmp_pack_respond_"))
	f, err := os.CreateTemp(packDir, "tmp_pack_respond_")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	o := &packOut{f: f, w: bufio.NewWriterSize(f, 1<<20), sum: sha1.New(), idx: newIdxBuilder(tmpDir), n: total}
	defer o.idx.close()
	o.zw = zlib.NewWriter(&o.buf)
	var hdr [packHeaderSize]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(total))
	if err := o.write(hdr[:]); err != nil {
		return "", 0, err
	}
	if err := o.copyKept(st, keep, first); err != nil {
		return "", 0, err
	}
	if news != nil {
		if err := news.batches(newBatch, func(batch []newObject) error { return o.writeNew(batch, workers, src) }); err != nil {
			return "", 0, err
		}
	}
	// Offsets of delta bases came from keep: a map that failed to answer wrote a wrong pack.
	if err := keep.err(); err != nil {
		return "", 0, err
	}
	name, err := o.finish(packDir)
	f = nil // finish closed it, and renamed it or removed it
	if err != nil {
		return "", 0, err
	}
	return name, kept, nil
}

// packHeaderSize is a pack's header: "PACK", version, count. Every entry starts after it.
const packHeaderSize = 12

// writeNew compresses a batch of new objects and writes their entries.
func (o *packOut) writeNew(batch []newObject, workers int, src newSource) error {
	for k := range batch {
		var err error
		if batch[k].data, err = src.newData(batch[k]); err != nil {
			return err
		}
	}
	for k, po := range compressAll(batch, workers, src.deltaBase) {
		if err := o.entry(batch[k].hash, po.head, po.data); err != nil {
			return err
		}
	}
	return nil
}

// newBatch is how many new objects are compressed together: enough to keep every worker busy,
// few enough that a batch's compressed data is small.
const newBatch = 4096

// countKept finds each object of keep in the store (its first copy, in pack order, then the
// loose ones) and counts them: the pack's header says how many entries follow before any is
// written. It returns one bit per object of the store (per pack, then the loose ones) saying
// which copies to write, so that copyKept neither asks keep again nor holds a list of them.
func countKept(st *store, keep *keepSet) (int, [][]uint64, error) {
	n := 0
	// With more than one source, an object may be in two: keep says which copy was found.
	dedupe := len(st.packs) > 1 || len(st.packs) == 1 && len(st.loose) > 0
	found := func(h plumbing.Hash) bool {
		if v, ok := keep.get(h); !ok || v != keepWanted {
			return false
		}
		if dedupe {
			keep.set(h, keepFound)
		}
		n++
		return true
	}
	first := make([][]uint64, len(st.packs)+1)
	for pi, p := range st.packs {
		first[pi] = make([]uint64, (len(p.entries)+63)/64)
		for i, e := range p.entries {
			if found(e.hash) {
				first[pi][i/64] |= 1 << (i % 64)
			}
		}
	}
	loose := make([]uint64, (len(st.loose)+63)/64)
	for i, h := range st.loose {
		if found(h) {
			loose[i/64] |= 1 << (i % 64)
		}
	}
	first[len(st.packs)] = loose
	if err := keep.err(); err != nil {
		return 0, nil, err
	}
	if n != keep.len() {
		return 0, nil, fmt.Errorf("%d reachable objects are missing from the store", keep.len()-n)
	}
	return n, first, nil
}

// copyKept writes the copies countKept chose (first), in the same order, recording in keep
// where each went: pack entries copied compressed as they are, with an offset delta's base
// offset rewritten, and stored whole when their base is not kept.
func (o *packOut) copyKept(st *store, keep *keepSet, first [][]uint64) error {
	c := &chainReader{z: new(inflater)}
	chosen := func(src, i int) bool { return first[src][i/64]&(1<<(i%64)) != 0 }
	for pi, p := range st.packs {
		for i, e := range p.entries {
			if !chosen(pi, i) {
				continue
			}
			keep.set(e.hash, uint64(o.off))
			if err := o.copyEntry(st, p, i, keep, c); err != nil {
				return err
			}
		}
	}
	for i, h := range st.loose {
		if !chosen(len(st.packs), i) {
			continue
		}
		keep.set(h, uint64(o.off))
		t, data, err := st.readLoose(h)
		if err != nil {
			return err
		}
		if err := o.whole(h, t, data); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry writes entry i of p: copied as it is when it is whole or its delta base is in the
// new pack (before it, for an offset delta), else resolved and stored whole.
func (o *packOut) copyEntry(st *store, p *pack, i int, keep *keepSet, c *chainReader) error {
	e := p.entries[i]
	h, raw, err := p.rawEntry(i, c.raw)
	if err != nil {
		return fmt.Errorf("%s: %w", e.hash, err)
	}
	c.raw = raw
	switch h.typ {
	case plumbing.OFSDeltaObject:
		if bi, ok := p.atOffset(h.baseOff); ok {
			if bo, ok := keep.get(p.entries[bi].hash); ok && bo >= packHeaderSize {
				head := appendOfs(appendTypeSize(nil, h.typ, h.size), o.off-int64(bo))
				return o.entry(e.hash, head, raw[h.dataOff-e.off:])
			}
		}
	case plumbing.REFDeltaObject:
		if keep.has(h.baseHash) {
			return o.entry(e.hash, nil, raw)
		}
	default:
		return o.entry(e.hash, nil, raw)
	}
	// The delta base is not kept: store the object whole.
	t, data, err := c.object(st, p, i)
	if err != nil {
		return fmt.Errorf("%s: %w", e.hash, err)
	}
	err = o.whole(e.hash, t, data)
	c.release(data)
	return err
}

// finish writes the pack's checksum, syncs and renames it into place, then writes its index the
// same way; it closes the pack file, and removes it on failure. It returns the pack's file name.
func (o *packOut) finish(packDir string) (string, error) {
	f := o.f
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	var sum plumbing.Hash
	copy(sum[:], o.sum.Sum(nil))
	if _, err := o.w.Write(sum[:]); err != nil {
		return fail(err)
	}
	if err := o.w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	base := filepath.Join(packDir, "pack-"+sum.String())
	if err := rename(f.Name(), base+".pack"); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	if o.idx.n != o.n {
		return "", fmt.Errorf("pack has %d entries, its header says %d", o.idx.n, o.n)
	}
	if err := writeIndex(func(w io.Writer) error { return o.idx.encode(w, sum) }, packDir, base+".idx"); err != nil {
		return "", fmt.Errorf("write pack index: %w", err)
	}
	return filepath.Base(base) + ".pack", nil
}

// writeIndex writes a pack index to a temporary file, syncs it and renames it to path.
func writeIndex(encode func(io.Writer) error, packDir, path string) error {
	fsOp("write", filepath.Join(packDir, "tmp_idx_respond_"))
	ix, err := os.CreateTemp(packDir, "tmp_idx_respond_")
	if err != nil {
		return err
	}
	err = encode(ix)
	if err == nil {
		err = ix.Sync()
	}
	if cerr := ix.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(ix.Name(), path)
	}
	if err == nil {
		err = syncDir(packDir)
	}
	if err != nil {
		os.Remove(ix.Name())
	}
	return err
}

// CleanOptions names a repository whose unreachable objects are to be removed.
type CleanOptions struct {
	Path    string
	Secrets [][]byte // optional: count reachable objects that still hold one
	Workers int
	Memory  Memory
}

// CleanResult says what CleanObjects removed.
type CleanResult struct {
	ObjectsKept    int
	ObjectsDropped int
	Pack           string
	Remaining      int // reachable objects that still hold a secret (history not purged)
}

// CleanObjects rewrites the object store of a local repository to hold only what its refs
// reach, without touching history; it also rewrites packed-refs and drops reflogs. Nothing else
// may write to the repository meanwhile. It is what makes a local bare remote clean after Push: the
// push moves the refs, the old objects stay in the remote's packs until this removes them
// (GitHub and other forges run their own garbage collection, on their own schedule).
func refNames(refs []ref) []string {
	var out []string
	for _, r := range refs {
		if r.name != "HEAD" {
			out = append(out, r.name)
		}
	}
	return out
}

func CleanObjects(ctx context.Context, o CleanOptions) (*CleanResult, error) {
	gitDir, bare, err := gitDirOf(o.Path)
	if err != nil {
		return nil, fmt.Errorf("clean objects: %w", err)
	}
	if err := checkRepo(gitDir); err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	m0 := &matcher{secrets: o.Secrets}
	lk := &repoLock{gitDir: gitDir, held: map[string]*os.File{}, mask: m0.maskName}
	defer lk.releaseAll()
	before, err := readRefs(gitDir)
	if err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	for _, rel := range append([]string{"HEAD", "packed-refs"}, refNames(before)...) {
		if err := lk.take(rel); err != nil {
			return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
		}
	}
	d, err := load(ctx, gitDir, bare, loadOptions{secrets: o.Secrets, workers: workers(o.Workers), mem: o.Memory})
	if err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	defer d.close()
	if err := sameRefs(before, d.refs, m0); err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	// Nothing is rewritten: hide the secrets from the rewriter, count them afterwards.
	m, bad := d.m, d.bad
	d.m, d.bad = &matcher{}, map[plumbing.Hash]*blobHits{}
	rw := newRewriter(d, PurgeOptions{RewriteRemoteTracking: true}, false)
	defer rw.close()
	rw.keepForgeRefs = true
	if err := rw.run(ctx); err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	keep, err := rw.reachableOld()
	if err == nil {
		err = rw.err()
	}
	if err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	res := &CleanResult{}
	if res.Remaining, err = remaining(d, keep, m, bad); err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	name, n, err := writePack(d.st, keep, nil, filepath.Join(gitDir, "objects", "pack"), d.tempDir, workers(o.Workers), nil)
	if err == nil {
		err = rw.err()
	}
	if err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	res.Pack, res.ObjectsKept, res.ObjectsDropped = name, n, d.objects-n
	// Refs updated by a push are loose files shadowing stale packed-refs lines that name the
	// objects about to be removed: write packed-refs afresh.
	if err := rw.writeRefs(lk); err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	if err := removeOld(d, map[string]bool{name: true}); err != nil {
		return nil, fmt.Errorf("clean objects %s: %w", o.Path, err)
	}
	return res, nil
}

// remaining counts the objects of keep that hold a secret (bad: the blobs that do).
func remaining(d *repoData, keep *keepSet, m *matcher, bad map[plumbing.Hash]*blobHits) (int, error) {
	n := 0
	err := keep.each(func(h plumbing.Hash, _ uint64) error {
		if bad[h] != nil || (d.tags[h] != nil && m.any(d.tags[h])) {
			n++
			return nil
		}
		raw, ok, err := d.commits.get(h)
		if ok && err == nil && m.any(raw) {
			n++
		}
		return err
	})
	if err == nil {
		err = keep.err()
	}
	return n, err
}

// newSource gives writePack the new objects' content (a batch at a time: it may be on disk)
// and, for each, a delta base that will be in the same pack, with its content.
type newSource interface {
	newData(nw newObject) ([]byte, error)
	deltaBase(nw newObject) (plumbing.Hash, []byte, bool)
}

// baseFunc returns, for a new object, a delta base that will be in the same pack, and its
// content.
type baseFunc func(newObject) (plumbing.Hash, []byte, bool)

// packSource is the rewriter's newSource for one repack (keep: the old objects kept).
type packSource struct {
	rw   *rewriter
	base baseFunc
}

func (s packSource) newData(nw newObject) ([]byte, error) { return s.rw.newData(nw) }

func (s packSource) deltaBase(nw newObject) (plumbing.Hash, []byte, bool) { return s.base(nw) }

// deltaBase picks a delta base for a rewritten tree: the rewrite of the old tree's own delta base
// in the old pack (or that base itself when it is kept unchanged). The old pack chose it as a
// near-identical tree (usually the same directory one commit apart), and a rewrite changes the
// same few entries in both, so the delta stays as small as the old one. Without this the new
// trees are stored whole and the pack grows 2.5x on the bench repository.
func (rw *rewriter) deltaBase(keep *keepSet) baseFunc {
	d := rw.d
	return func(nw newObject) (plumbing.Hash, []byte, bool) {
		if nw.typ != plumbing.TreeObject {
			return plumbing.ZeroHash, nil, false
		}
		old, ok := rw.oldTree.get(nw.hash)
		if !ok {
			return plumbing.ZeroHash, nil, false
		}
		for _, p := range d.st.packs {
			i, ok := p.find(old)
			if !ok {
				continue
			}
			h, err := p.header(i)
			if err != nil {
				return plumbing.ZeroHash, nil, false
			}
			var b plumbing.Hash
			switch h.typ {
			case plumbing.OFSDeltaObject:
				bi, ok := p.atOffset(h.baseOff)
				if !ok {
					return plumbing.ZeroHash, nil, false
				}
				b = p.entries[bi].hash
			case plumbing.REFDeltaObject:
				b = h.baseHash
			default:
				return plumbing.ZeroHash, nil, false
			}
			if nb, ok := rw.trees.get(b); ok && nb != b {
				raw, ok, err := rw.newTrees.get(nb)
				return nb, raw, ok && err == nil
			}
			if keep.has(b) {
				if raw, ok, err := d.trees.get(b); ok && err == nil {
					return b, raw, true
				}
			}
			return plumbing.ZeroHash, nil, false
		}
		return plumbing.ZeroHash, nil, false
	}
}

// packedObject is a new object's pack entry: header and zlib data.
type packedObject struct{ head, data []byte }

// compressAll deflates the new objects in parallel. Trees are stored without compression: they
// are mostly SHA-1s that barely compress, and for objects this small Go's deflate spends its time
// building a Huffman table per object (measured: 3 s of CPU for the bench's 50,000 new trees at
// BestSpeed). Commits, tags and blobs use BestSpeed; Go's default level also pays a large
// per-object reset. `git gc` later delta-compresses the pack if its size matters.
func compressAll(news []newObject, workers int, base baseFunc) []packedObject {
	out := make([]packedObject, len(news))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			fast, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
			stored, _ := zlib.NewWriterLevel(&buf, zlib.NoCompression)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(news) {
					return
				}
				nw := news[i]
				data := nw.data
				head := appendTypeSize(nil, nw.typ, int64(len(data)))
				if base != nil {
					if bh, bdata, ok := base(nw); ok && len(bdata) > 0 {
						if delta := packfile.DiffDelta(bdata, data); len(delta) < len(data)/2 {
							head = append(appendTypeSize(nil, plumbing.REFDeltaObject, int64(len(delta))), bh[:]...)
							data = delta
						}
					}
				}
				buf.Reset()
				zw := fast
				if nw.typ == plumbing.TreeObject {
					zw = stored
				}
				zw.Reset(&buf)
				zw.Write(data)
				zw.Close()
				out[i] = packedObject{head, bytes.Clone(buf.Bytes())}
			}
		}()
	}
	wg.Wait()
	return out
}
