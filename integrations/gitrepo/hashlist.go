package gitrepo

import (
	"bufio"
	"fmt"
	"os"

	"github.com/go-git/go-git/v5/plumbing"
)

// hashList is a sequence of hashes written once, then read forwards or backwards: a history's
// topological order, a hash per commit. Its first hashes are kept in memory while the load's
// budget lasts (charged by capacity, so an append that doubles the slice is paid for before it
// happens), the rest are appended to a temporary file (unlinked at once, removed on close).
// Not safe for concurrent use.
type hashList struct {
	budget  *budget
	dir     string
	mem     []plumbing.Hash
	charged int64

	f      *os.File
	w      *bufio.Writer
	onFile int
	err    error // the first failure to write or read the file; sticky
}

const hashSize = len(plumbing.ZeroHash)

func newHashList(b *budget, dir string) *hashList { return &hashList{budget: b, dir: dir} }

func (l *hashList) len() int { return len(l.mem) + l.onFile }

// onDisk reports whether some hashes went to the file.
func (l *hashList) onDisk() bool { return l.f != nil }

// add appends h. A failure is kept (err); the list is then not to be trusted.
func (l *hashList) add(h plumbing.Hash) {
	if l.err != nil {
		return
	}
	if l.f == nil {
		if len(l.mem) < cap(l.mem) {
			l.mem = append(l.mem, h)
			return
		}
		grow := max(1024, cap(l.mem))
		if l.budget.take(int64(grow * hashSize)) {
			l.charged += int64(grow * hashSize)
			l.mem = append(make([]plumbing.Hash, 0, cap(l.mem)+grow), l.mem...)
			l.mem = append(l.mem, h)
			return
		}
		f, err := os.CreateTemp(l.dir, "respond-order-*")
		if err != nil {
			l.err = fmt.Errorf("commit order on disk: %w", err)
			return
		}
		// Unlinked at once where the system allows it, so that not even a crash leaves it.
		_ = os.Remove(f.Name())
		l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	if _, err := l.w.Write(h[:]); err != nil {
		l.err = fmt.Errorf("commit order on disk: %w", err)
		return
	}
	l.onFile++
}

// each calls f for every hash, first to last, until f returns an error.
func (l *hashList) each(f func(plumbing.Hash) error) error {
	for _, h := range l.mem {
		if err := f(h); err != nil {
			return err
		}
	}
	return l.eachOnFile(false, f)
}

// eachReverse calls f for every hash, last to first, until f returns an error.
func (l *hashList) eachReverse(f func(plumbing.Hash) error) error {
	if err := l.eachOnFile(true, f); err != nil {
		return err
	}
	for i := len(l.mem) - 1; i >= 0; i-- {
		if err := f(l.mem[i]); err != nil {
			return err
		}
	}
	return nil
}

// eachOnFile reads the file a block at a time, from its start or (reverse) from its end.
func (l *hashList) eachOnFile(reverse bool, f func(plumbing.Hash) error) error {
	if l.err != nil {
		return l.err
	}
	if l.f == nil {
		return nil
	}
	if err := l.w.Flush(); err != nil {
		l.err = fmt.Errorf("commit order on disk: %w", err)
		return l.err
	}
	const block = 4096 // hashes read at once
	buf := make([]byte, block*hashSize)
	for done := 0; done < l.onFile; {
		n := min(block, l.onFile-done)
		first := done // index of the block's first hash
		if reverse {
			first = l.onFile - done - n
		}
		b := buf[:n*hashSize]
		if _, err := l.f.ReadAt(b, int64(first*hashSize)); err != nil {
			l.err = fmt.Errorf("commit order on disk: %w", err)
			return l.err
		}
		for k := range n {
			if reverse {
				k = n - 1 - k
			}
			if err := f(plumbing.Hash(b[k*hashSize : (k+1)*hashSize])); err != nil {
				return err
			}
		}
		done += n
	}
	return nil
}

// close removes the file and gives the memory back.
func (l *hashList) close() {
	if l.f != nil {
		l.f.Close()
		_ = os.Remove(l.f.Name())
		l.f, l.w = nil, nil
	}
	l.budget.give(l.charged)
	l.charged, l.mem, l.onFile = 0, nil, 0
}
