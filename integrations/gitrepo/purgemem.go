package gitrepo

import (
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

// newRewriterMap makes a map (or, of struct{}, a set) within the load's budget that the
// rewriter closes and checks with itself; hint is how many entries it may reach.
func newRewriterMap[V fixedValue](rw *rewriter, hint int) *spillMap[V] {
	m := newSpillMap[V](rw.d.budget, rw.d.tempDir, hint)
	rw.spills = append(rw.spills, m)
	return m
}

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

// objectList is the list of new objects to write, in creation order (a recordList: in memory
// within the load's budget, a temporary file beyond it).
type objectList struct{ l *recordList }

func newObjectList(b *budget, dir string) *objectList {
	return &objectList{newRecordList("list of new objects", objectRecord, b, dir)}
}

func (l *objectList) len() int { return l.l.len() }

func (l *objectList) err() error { return l.l.err() }

// onDisk reports whether the list went to the file.
func (l *objectList) onDisk() bool { return l.l.onDisk() }

// add appends an object; a failure to write the file is kept (err).
func (l *objectList) add(h plumbing.Hash, t plumbing.ObjectType) {
	var rec [objectRecord]byte
	copy(rec[:], h[:])
	rec[len(h)] = byte(t)
	l.l.add(rec[:])
}

// batches calls f with the objects in order, up to n at a time (data unset); f may keep the
// slice.
func (l *objectList) batches(n int, f func([]newObject) error) error {
	batch := make([]newObject, 0, n)
	err := l.l.each(false, func(rec []byte) error {
		batch = append(batch, newObject{hash: plumbing.Hash(rec[:hashSize]), typ: plumbing.ObjectType(rec[hashSize])})
		if len(batch) < n {
			return nil
		}
		err := f(batch)
		batch = make([]newObject, 0, n)
		return err
	})
	if err != nil || len(batch) == 0 {
		return err
	}
	return f(batch)
}

// each calls f for every object, in order.
func (l *objectList) each(f func(h plumbing.Hash, t plumbing.ObjectType) error) error {
	return l.l.each(false, func(rec []byte) error {
		return f(plumbing.Hash(rec[:hashSize]), plumbing.ObjectType(rec[hashSize]))
	})
}

func (l *objectList) close() { l.l.close() }
