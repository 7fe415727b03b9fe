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

// DefaultCacheBytes is how much object data (trees and commits) a scan keeps in memory when the
// caller does not say, and DefaultPurgeCacheBytes a purge; what does not fit goes to a
// temporary file. A purge's default is smaller because the rest of what it holds is larger
// (whole trees, the rewritten history, what the new refs reach): at 64 MiB its peak RSS was
// 1.4x git-filter-repo's on the bench's 20,000-commit repository, at 16 MiB 0.94x.
const (
	DefaultCacheBytes      = 64 << 20
	DefaultPurgeCacheBytes = 16 << 20
)

// budget is the memory the tables of one scan or purge share.
type budget struct{ left atomic.Int64 }

func newBudget(n int64) *budget {
	b := &budget{}
	b.left.Store(n)
	return b
}

// take reserves n bytes; false when they do not fit.
func (b *budget) take(n int64) bool {
	if b.left.Add(-n) >= 0 {
		return true
	}
	b.left.Add(n)
	return false
}

// table holds object data by hash: in memory while the budget lasts, then appended to a
// temporary file (removed on close). Per object it keeps one fixed-size index entry (the hash
// and a 64-bit position, no pointer for the collector to scan), so memory grows by ~40 bytes
// an object, not by the objects' data. Puts are safe for concurrent use with each other, gets
// with each other; a get after a put sees it.
type table struct {
	mu     sync.Mutex
	index  map[plumbing.Hash]uint64
	chunks [][]byte // the in-memory data, in chunks of chunkSize (larger objects alone)
	budget *budget
	dir    string

	f       *os.File
	w       *bufio.Writer
	off     int64
	flushed bool
	err     error

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

func newTable(b *budget, dir string) *table {
	return &table{index: map[plumbing.Hash]uint64{}, budget: b, dir: dir}
}

// put stores data under h (copied); a second put of the same hash is ignored.
func (t *table) put(h plumbing.Hash, data []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(data)))
	size := int64(n + len(data))
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.index[h]; ok {
		return nil
	}
	if t.budget.take(size) {
		t.index[h] = t.keep(hdr[:n], data)
		return nil
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
	if t.err != nil {
		return t.err
	}
	if t.f == nil {
		f, err := os.CreateTemp(t.dir, "respond-objects-*")
		if err != nil {
			t.err = fmt.Errorf("spill objects to disk: %w", err)
			return t.err
		}
		// Unlinked at once where the system allows it, so that not even a crash leaves it.
		_ = os.Remove(f.Name())
		t.f, t.w = f, bufio.NewWriterSize(f, 256<<10)
	}
	if _, err := t.w.Write(hdr); err != nil {
		t.err = fmt.Errorf("spill objects to disk: %w", err)
		return t.err
	}
	if _, err := t.w.Write(data); err != nil {
		t.err = fmt.Errorf("spill objects to disk: %w", err)
		return t.err
	}
	t.index[h] = spilled | uint64(t.off)
	t.off += int64(len(hdr) + len(data))
	t.flushed = false
	return nil
}

// has reports whether h is in the table.
func (t *table) has(h plumbing.Hash) bool {
	_, ok := t.index[h]
	return ok
}

func (t *table) len() int { return len(t.index) }

// get returns h's data. In memory it aliases the table (never modify it); from the file it is a
// fresh copy.
func (t *table) get(h plumbing.Hash) ([]byte, bool, error) {
	v, ok := t.index[h]
	if !ok {
		return nil, false, nil
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
func (t *table) flags(h plumbing.Hash) uint64 { return t.index[h] & flagsMask }

// setFlags sets flags on h, which must be in the table. Not safe for concurrent use.
func (t *table) setFlags(h plumbing.Hash, f uint64) {
	if v, ok := t.index[h]; ok {
		t.index[h] = v | f
	}
}

// each calls f for every object until f returns an error. Order is unspecified.
func (t *table) each(f func(h plumbing.Hash, data []byte) error) error {
	for h := range t.index {
		data, _, err := t.get(h)
		if err != nil {
			return err
		}
		if err := f(h, data); err != nil {
			return err
		}
	}
	return nil
}

// close removes the spill file.
func (t *table) close() {
	if t.f != nil {
		t.f.Close()
		_ = os.Remove(t.f.Name())
		t.f = nil
	}
}
