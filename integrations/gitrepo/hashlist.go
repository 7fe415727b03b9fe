package gitrepo

import "github.com/go-git/go-git/v5/plumbing"

// hashList is a sequence of hashes written once, then read forwards or backwards: a history's
// topological order, a hash per commit (a recordList: in memory within the load's budget, a
// temporary file beyond it).
type hashList struct{ l *recordList }

const hashSize = len(plumbing.ZeroHash)

func newHashList(b *budget, dir string) *hashList {
	return &hashList{newRecordList("commit order", hashSize, b, dir)}
}

func (l *hashList) len() int { return l.l.len() }

// onDisk reports whether the hashes went to the file.
func (l *hashList) onDisk() bool { return l.l.onDisk() }

// err is the first failure to write or read the file.
func (l *hashList) err() error { return l.l.err() }

// add appends h. A failure is kept (err); the list is then not to be trusted.
func (l *hashList) add(h plumbing.Hash) { l.l.add(h[:]) }

// each calls f for every hash, first to last, until f returns an error.
func (l *hashList) each(f func(plumbing.Hash) error) error {
	return l.l.each(false, func(rec []byte) error { return f(plumbing.Hash(rec)) })
}

// eachReverse calls f for every hash, last to first, until f returns an error.
func (l *hashList) eachReverse(f func(plumbing.Hash) error) error {
	return l.l.each(true, func(rec []byte) error { return f(plumbing.Hash(rec)) })
}

// close removes the file and gives the memory back.
func (l *hashList) close() { l.l.close() }
