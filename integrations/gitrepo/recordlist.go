package gitrepo

import (
	"bufio"
	"fmt"
	"os"
)

// recordList is a sequence of fixed-size records written once, then read forwards or backwards:
// in chunks in memory while the load's budget lasts (a chunk is charged before it is filled),
// then all of it in a temporary file. hashList and objectList are its two uses. Not safe for
// concurrent use; a failure is kept (err) and the list is then not to be trusted.
type recordList struct {
	what    string // for errors: "commit order", "list of new objects"
	size    int    // bytes a record
	budget  *budget
	dir     string
	chunks  [][]byte
	charged int64

	f    *os.File
	w    *bufio.Writer
	n    int
	fail error
}

// recordChunk is how many records an in-memory chunk holds (and is charged for at once).
const recordChunk = 4096

func newRecordList(what string, size int, b *budget, dir string) *recordList {
	return &recordList{what: what, size: size, budget: b, dir: dir}
}

func (l *recordList) len() int { return l.n }

func (l *recordList) err() error { return l.fail }

// onDisk reports whether the records went to the file.
func (l *recordList) onDisk() bool { return l.f != nil }

func (l *recordList) add(rec []byte) {
	if l.fail != nil {
		return
	}
	l.n++
	if l.f == nil {
		last := len(l.chunks) - 1
		if last >= 0 && len(l.chunks[last]) < cap(l.chunks[last]) {
			l.chunks[last] = append(l.chunks[last], rec...)
			return
		}
		if size := int64(recordChunk * l.size); l.budget.take(size) {
			l.charged += size
			l.chunks = append(l.chunks, append(make([]byte, 0, size), rec...))
			return
		}
		if err := l.toDisk(); err != nil {
			l.fail = fmt.Errorf("%s on disk: %w", l.what, err)
			return
		}
	}
	if _, err := l.w.Write(rec); err != nil {
		l.fail = fmt.Errorf("%s on disk: %w", l.what, err)
	}
}

// toDisk moves the chunks to a temporary file and gives their memory back.
func (l *recordList) toDisk() error {
	f, err := tempFile(l.dir, "respond-list-*")
	if err != nil {
		return err
	}
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

// each calls f with every record, first to last (reverse: last to first), until f returns an
// error. f must not keep the record.
func (l *recordList) each(reverse bool, f func(rec []byte) error) error {
	if l.fail != nil {
		return l.fail
	}
	if l.f == nil {
		for k := range l.chunks {
			if reverse {
				k = len(l.chunks) - 1 - k
			}
			if err := l.eachIn(l.chunks[k], reverse, f); err != nil {
				return err
			}
		}
		return nil
	}
	if err := l.w.Flush(); err != nil {
		l.fail = fmt.Errorf("%s on disk: %w", l.what, err)
		return l.fail
	}
	buf := make([]byte, recordChunk*l.size)
	for done := 0; done < l.n; {
		n := min(recordChunk, l.n-done)
		first := done // index of the block's first record
		if reverse {
			first = l.n - done - n
		}
		b := buf[:n*l.size]
		if _, err := l.f.ReadAt(b, int64(first*l.size)); err != nil {
			l.fail = fmt.Errorf("%s on disk: %w", l.what, err)
			return l.fail
		}
		if err := l.eachIn(b, reverse, f); err != nil {
			return err
		}
		done += n
	}
	return nil
}

func (l *recordList) eachIn(b []byte, reverse bool, f func(rec []byte) error) error {
	n := len(b) / l.size
	for k := range n {
		if reverse {
			k = n - 1 - k
		}
		if err := f(b[k*l.size : (k+1)*l.size]); err != nil {
			return err
		}
	}
	return nil
}

// close removes the file and gives the memory back.
func (l *recordList) close() {
	if l.f != nil {
		l.f.Close()
		_ = os.Remove(l.f.Name())
		l.f, l.w = nil, nil
	}
	l.budget.give(l.charged)
	l.charged, l.chunks, l.n = 0, nil, 0
}
