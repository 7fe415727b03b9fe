package gitrepo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
)

// DefaultCacheBytes is the memory a scan gives what it keeps (object data, indexes, the order)
// when the caller does not say, and DefaultPurgeCacheBytes a purge; what does not fit goes to
// temporary files. A purge's default is smaller because the rest of what it holds is larger
// (whole trees while it rewrites them): measured on the bench's 100,000-commit C project, 64 MiB
// took 37.7 s and 210 MB of peak RSS, 16 MiB 44.3 s and 114 MB (git-filter-repo: 700 MB).
const (
	DefaultCacheBytes      = 64 << 20
	DefaultPurgeCacheBytes = 16 << 20
)

// budget is the memory the tables and indexes of one scan or purge share. Object data may
// take half of it; indexes (a spillMap's entries) may take the rest and whatever data has not
// taken: an index is read on every lookup, data only when an object is read, so memory does
// more good holding the index.
type budget struct {
	left    atomic.Int64
	reserve int64 // what data leaves for indexes
}

func newBudget(n int64) *budget {
	b := &budget{reserve: n / 2}
	b.left.Store(n)
	return b
}

// take reserves n bytes for an index; false when they do not fit.
func (b *budget) take(n int64) bool { return b.takeAbove(n, 0) }

// takeData reserves n bytes for object data; false when they do not fit above the reserve.
func (b *budget) takeData(n int64) bool { return b.takeAbove(n, b.reserve) }

func (b *budget) takeAbove(n, floor int64) bool {
	if b.left.Add(-n) >= floor {
		return true
	}
	b.left.Add(n)
	return false
}

// give returns n bytes taken before.
func (b *budget) give(n int64) { b.left.Add(n) }

// table holds object data by hash: in memory while the budget lasts, then appended to a
// temporary file (removed on close). Its index (hash to a 64-bit position, no pointer for the
// collector to scan) is a spillMap within the same budget, on disk beyond it. Puts are safe for concurrent use with each other, gets
// with each other; a get after a put sees it.
type table struct {
	mu     sync.Mutex
	index  *spillMap[uint64]
	chunks [][]byte // the in-memory data, in chunks of chunkSize (larger objects alone)
	budget *budget
	dir    string

	f        *os.File
	w        *bufio.Writer
	off      int64
	flushed  bool
	spillErr error

	// recent holds small objects read back from the file lately, by their hash's low bits: a
	// history walk reads a commit's trees and then its child's, mostly the same ones.
	recentMu sync.Mutex
	recent   [1024]struct {
		h    plumbing.Hash
		data []byte
	}
}

// recentMax is the largest object recent keeps: it holds at most 1024 of them.
const recentMax = 4 << 10

const (
	chunkSize  = 1 << 20
	spilled    = uint64(1) << 63
	flagShift  = 56
	posMask    = uint64(1)<<flagShift - 1
	flagsMask  = ^posMask &^ spilled
	chunkShift = 32
)

// Table entry flags (bits 56-62 of the index value), for memos that would otherwise be a map
// as large as the table.
const (
	flagKnown     uint64 = 1 << (flagShift + iota) // hasBad has been computed
	flagBad                                        // and its answer
	flagNameKnown                                  // hasBadName has been computed
	flagNameBad                                    // and its answer
)

// newTable makes a table whose index expects up to hint objects (0: unknown).
func newTable(b *budget, dir string, hint int) *table {
	return &table{index: newSpillMap[uint64](b, dir, hint), budget: b, dir: dir}
}

// put stores data under h (copied); a second put of the same hash is ignored.
func (t *table) put(h plumbing.Hash, data []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(data)))
	size := int64(n + len(data))
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.index.has(h) {
		return t.index.err()
	}
	if t.budget.takeData(size) {
		t.index.set(h, t.keep(hdr[:n], data))
		return t.index.err()
	}
	return t.spill(h, hdr[:n], data)
}

// keep appends to the in-memory chunks and returns the position.
func (t *table) keep(hdr, data []byte) uint64 {
	size := len(hdr) + len(data)
	last := len(t.chunks) - 1
	if last < 0 || len(t.chunks[last])+size > cap(t.chunks[last]) {
		t.chunks = append(t.chunks, make([]byte, 0, max(chunkSize, size)))
		last++
	}
	c := t.chunks[last]
	pos := uint64(last)<<chunkShift | uint64(len(c))
	c = append(c, hdr...)
	t.chunks[last] = append(c, data...)
	return pos
}

func (t *table) spill(h plumbing.Hash, hdr, data []byte) error {
	if t.spillErr != nil {
		return t.spillErr
	}
	if t.f == nil {
		f, err := tempFile(t.dir, "respond-objects-*")
		if err != nil {
			t.spillErr = fmt.Errorf("spill objects to disk: %w", err)
			return t.spillErr
		}
		t.f, t.w = f, bufio.NewWriterSize(f, 256<<10)
	}
	if _, err := t.w.Write(hdr); err != nil {
		t.spillErr = fmt.Errorf("spill objects to disk: %w", err)
		return t.spillErr
	}
	if _, err := t.w.Write(data); err != nil {
		t.spillErr = fmt.Errorf("spill objects to disk: %w", err)
		return t.spillErr
	}
	t.index.set(h, spilled|uint64(t.off))
	t.off += int64(len(hdr) + len(data))
	t.flushed = false
	return t.index.err()
}

// has reports whether h is in the table. When the index cannot be read it says no, and err
// says why.
func (t *table) has(h plumbing.Hash) bool { return t.index.has(h) }

func (t *table) len() int { return t.index.len() }

// err is the first failure to write the table's spill file or to use its index on disk.
func (t *table) err() error {
	t.mu.Lock()
	err := t.spillErr
	t.mu.Unlock()
	if err != nil {
		return err
	}
	return t.index.err()
}

// get returns h's data. In memory it aliases the table (never modify it); from the file it is a
// fresh copy.
func (t *table) get(h plumbing.Hash) ([]byte, bool, error) {
	v, ok := t.index.get(h)
	if !ok {
		return nil, false, t.index.err()
	}
	if v&spilled == 0 {
		pos := v & posMask
		c := t.chunks[pos>>chunkShift][pos&(1<<chunkShift-1):]
		n, k := binary.Uvarint(c)
		return c[k : k+int(n) : k+int(n)], true, nil
	}
	slot := &t.recent[int(h[0])|int(h[1])<<8&1023]
	t.recentMu.Lock()
	if slot.h == h && slot.data != nil {
		b := slot.data
		t.recentMu.Unlock()
		return b, true, nil
	}
	t.recentMu.Unlock()
	b, err := t.read(int64(v & posMask))
	if err != nil {
		return nil, true, fmt.Errorf("read object %s back from disk: %w", h, err)
	}
	if len(b) <= recentMax {
		t.recentMu.Lock()
		slot.h, slot.data = h, b
		t.recentMu.Unlock()
	}
	return b, true, nil
}

func (t *table) read(off int64) ([]byte, error) {
	t.mu.Lock()
	var err error
	if !t.flushed {
		err = t.w.Flush()
		t.flushed = err == nil
	}
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Most trees and commits are small: one read gets the length and the data.
	buf := make([]byte, 512)
	n, err := t.f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	size, k := binary.Uvarint(buf[:n])
	if k <= 0 {
		return nil, errors.New("corrupt spill file")
	}
	if k+int(size) <= n {
		return buf[k : k+int(size) : k+int(size)], nil
	}
	out := make([]byte, size)
	if _, err := t.f.ReadAt(out, off+int64(k)); err != nil {
		return nil, err
	}
	return out, nil
}

// flags returns h's flags (flagKnown, flagBad).
func (t *table) flags(h plumbing.Hash) uint64 {
	v, _ := t.index.get(h)
	return v & flagsMask
}

// setFlags sets flags on h, which must be in the table. Not safe for concurrent use.
func (t *table) setFlags(h plumbing.Hash, f uint64) {
	if v, ok := t.index.get(h); ok && v&f != f {
		t.index.set(h, v|f)
	}
}

// each calls f for every object until f returns an error. Order is unspecified.
func (t *table) each(f func(h plumbing.Hash, data []byte) error) error {
	return t.index.each(func(h plumbing.Hash, _ uint64) error {
		data, _, err := t.get(h)
		if err != nil {
			return err
		}
		return f(h, data)
	})
}

// close removes the spill file.
func (t *table) close() {
	t.index.close()
	if t.f != nil {
		t.f.Close()
		_ = os.Remove(t.f.Name())
		t.f = nil
	}
}
