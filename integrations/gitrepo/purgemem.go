package gitrepo

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/go-git/go-git/v5/plumbing"
)

// A purge's per-object state (old-to-new maps, what the new history keeps, the list of objects
// to write) lives in spillMaps and an objectList charged to the load's budget: in memory while
// it fits, in temporary files beyond, so that it does not grow with the repository past the
// cache the user set. This file holds the rewriter's side of that.

// hashMap maps an old object to its rewrite (or a new object to what it rewrites).
type hashMap = spillMap[plumbing.Hash]

// spillCloser is what the rewriter closes and checks: its maps and lists.
type spillCloser interface {
	close()
	err() error
}

// newHashMap makes a map the rewriter closes with itself; hint is how many entries it may reach.
func (rw *rewriter) newHashMap(hint int) *hashMap {
	m := newSpillMap[plumbing.Hash](rw.d.budget, rw.d.tempDir, hint)
	rw.spills = append(rw.spills, m)
	return m
}

// newSet makes a set the rewriter closes with itself.
func (rw *rewriter) newSet(hint int) *spillMap[struct{}] {
	m := newSpillMap[struct{}](rw.d.budget, rw.d.tempDir, hint)
	rw.spills = append(rw.spills, m)
	return m
}

// newOffsets makes a map to 64-bit values that the rewriter closes with itself.
func (rw *rewriter) newOffsets(hint int) *spillMap[uint64] {
	m := newSpillMap[uint64](rw.d.budget, rw.d.tempDir, hint)
	rw.spills = append(rw.spills, m)
	return m
}

// listCloser lets the rewriter close and check a hashList with its maps.
type listCloser struct{ l *hashList }

func (c listCloser) close()     { c.l.close() }
func (c listCloser) err() error { return c.l.err }

// close removes the rewriter's temporary files and gives its memory back to the budget.
func (rw *rewriter) close() {
	for _, s := range rw.spills {
		s.close()
	}
	rw.spills = nil
}

// err is the first failure of the rewriter's maps on disk or of the load's tables: what the
// rewrite computed is trusted, and written, only when it is nil (a map that failed answers
// "absent", which would map a commit's parent to nothing).
func (rw *rewriter) err() error {
	for _, s := range rw.spills {
		if err := s.err(); err != nil {
			return err
		}
	}
	return rw.d.indexErr()
}

// objectRecord is one objectList entry: a hash and a type byte.
const objectRecord = len(plumbing.ZeroHash) + 1

// objectListChunk is how many records an in-memory chunk holds (and is charged for at once).
const objectListChunk = 4096

// objectList is the list of new objects to write, in creation order: chunks of records in
// memory while the budget allows, then (all of it) appended to a temporary file.
type objectList struct {
	budget  *budget
	dir     string
	chunks  [][]byte
	charged int64
	f       *os.File
	w       *bufio.Writer
	n       int
	fail    error
}

func newObjectList(b *budget, dir string) *objectList { return &objectList{budget: b, dir: dir} }

func (l *objectList) len() int { return l.n }

func (l *objectList) err() error { return l.fail }

// add appends an object; a failure to write the file is kept (err).
func (l *objectList) add(h plumbing.Hash, t plumbing.ObjectType) {
	if l.fail != nil {
		return
	}
	var rec [objectRecord]byte
	copy(rec[:], h[:])
	rec[len(h)] = byte(t)
	l.n++
	if l.f == nil {
		last := len(l.chunks) - 1
		if last >= 0 && len(l.chunks[last]) < cap(l.chunks[last]) {
			l.chunks[last] = append(l.chunks[last], rec[:]...)
			return
		}
		if size := int64(objectListChunk * objectRecord); l.budget.take(size) {
			l.charged += size
			l.chunks = append(l.chunks, append(make([]byte, 0, size), rec[:]...))
			return
		}
		if err := l.toDisk(); err != nil {
			l.fail = fmt.Errorf("list of new objects on disk: %w", err)
			return
		}
	}
	if _, err := l.w.Write(rec[:]); err != nil {
		l.fail = fmt.Errorf("list of new objects on disk: %w", err)
	}
}

// toDisk moves the chunks to a temporary file and gives their memory back.
func (l *objectList) toDisk() error {
	f, err := os.CreateTemp(l.dir, "respond-objects-*")
	if err != nil {
		return err
	}
	// Unlinked at once where the system allows it, so that not even a crash leaves it.
	_ = os.Remove(f.Name())
	l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	for _, c := range l.chunks {
		if _, err := l.w.Write(c); err != nil {
			return err
		}
	}
	l.chunks = nil
	l.budget.give(l.charged)
	l.charged = 0
	return nil
}

// batches calls f with the objects in order, up to n at a time (data unset); f may keep the
// slice.
func (l *objectList) batches(n int, f func([]newObject) error) error {
	if l.fail != nil {
		return l.fail
	}
	var r io.Reader
	if l.f != nil {
		if err := l.w.Flush(); err != nil {
			return fmt.Errorf("list of new objects on disk: %w", err)
		}
		r = bufio.NewReaderSize(io.NewSectionReader(l.f, 0, int64(l.n*objectRecord)), 64<<10)
	} else {
		rs := make([]io.Reader, len(l.chunks))
		for i, c := range l.chunks {
			rs[i] = bytes.NewReader(c)
		}
		r = io.MultiReader(rs...)
	}
	var rec [objectRecord]byte
	for left := l.n; left > 0; {
		batch := make([]newObject, min(n, left))
		for k := range batch {
			if _, err := io.ReadFull(r, rec[:]); err != nil {
				return fmt.Errorf("list of new objects on disk: %w", err)
			}
			batch[k] = newObject{hash: plumbing.Hash(rec[:len(plumbing.ZeroHash)]), typ: plumbing.ObjectType(rec[len(plumbing.ZeroHash)])}
		}
		left -= len(batch)
		if err := f(batch); err != nil {
			return err
		}
	}
	return nil
}

// each calls f for every object, in order.
func (l *objectList) each(f func(h plumbing.Hash, t plumbing.ObjectType) error) error {
	return l.batches(objectListChunk, func(b []newObject) error {
		for _, o := range b {
			if err := f(o.hash, o.typ); err != nil {
				return err
			}
		}
		return nil
	})
}

func (l *objectList) close() {
	if l.f != nil {
		l.f.Close()
		_ = os.Remove(l.f.Name())
		l.f, l.w = nil, nil
	}
	l.budget.give(l.charged)
	l.charged, l.chunks = 0, nil
}
