package gitrepo

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
)

// idxBuilder writes the index (version 2) of the pack a purge writes, in memory that does not
// grow with the pack: its entries go to a temporary file as they are written, in pack order,
// and are sorted one fan-out bucket (first hash byte) at a time when the index is written.
//
// Why not go-git's idxfile.Writer: it keeps every entry (32 bytes) and a map of every hash it
// was given, then builds the whole MemoryIndex (28 bytes an entry more) for its Encoder: 48 MB
// of the purge's peak heap for the bench's 747,000 objects, and it grows with the repository.
// TestIdxBuilderMatchesGoGit holds this writer to go-git's, byte for byte.
type idxBuilder struct {
	dir    string
	f      *os.File // entries, in pack order
	w      *bufio.Writer
	counts [256]int
	n      int
	err    error
}

// idxRecord is one entry in the builder's files: hash, CRC-32, offset.
const idxRecord = len(plumbing.ZeroHash) + 4 + 8

func newIdxBuilder(dir string) *idxBuilder { return &idxBuilder{dir: dir} }

func (b *idxBuilder) add(h plumbing.Hash, off uint64, crc uint32) {
	if b.err != nil {
		return
	}
	if b.f == nil {
		if b.f, b.err = tempFile(b.dir, "respond-idx-*"); b.err != nil {
			return
		}
		b.w = bufio.NewWriterSize(b.f, 64<<10)
	}
	var rec [idxRecord]byte
	putIdxRecord(rec[:], h, crc, off)
	if _, err := b.w.Write(rec[:]); err != nil {
		b.err = err
		return
	}
	b.counts[h[0]]++
	b.n++
}

func putIdxRecord(rec []byte, h plumbing.Hash, crc uint32, off uint64) {
	copy(rec, h[:])
	binary.BigEndian.PutUint32(rec[20:], crc)
	binary.BigEndian.PutUint64(rec[24:], off)
}

// tempFile creates a file in dir that is unlinked at once where the system allows it, so that
// not even a crash leaves it.
func tempFile(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return f, nil
}

func (b *idxBuilder) close() {
	if b.f != nil {
		b.f.Close()
		_ = os.Remove(b.f.Name())
		b.f = nil
	}
}

// encode writes the index of a pack whose checksum is packSum to w.
func (b *idxBuilder) encode(w io.Writer, packSum plumbing.Hash) error {
	if b.err != nil {
		return fmt.Errorf("pack index entries on disk: %w", b.err)
	}
	sorted, err := b.sortByBucket()
	if err != nil {
		return fmt.Errorf("sort pack index entries: %w", err)
	}
	if sorted != nil {
		defer sorted.Close()
	}
	sum := sha1.New()
	out := bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10)
	out.Write([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
	total := 0
	for _, c := range b.counts {
		total += c
		out.Write(binary.BigEndian.AppendUint32(nil, uint32(total)))
	}
	if err := b.sections(sorted, out); err != nil {
		return err
	}
	out.Write(packSum[:])
	if err := out.Flush(); err != nil {
		return err
	}
	_, err = w.Write(sum.Sum(nil))
	return err
}

// sortByBucket copies the entries to a second file grouped by bucket, each bucket sorted by
// hash. Buckets are filled through a small buffer each.
func (b *idxBuilder) sortByBucket() (*os.File, error) {
	if b.n == 0 {
		return nil, nil
	}
	if err := b.w.Flush(); err != nil {
		return nil, err
	}
	out, err := tempFile(b.dir, "respond-idx-*")
	if err != nil {
		return nil, err
	}
	var start, at [256]int64
	for i := 1; i < 256; i++ {
		start[i] = start[i-1] + int64(b.counts[i-1]*idxRecord)
	}
	at = start
	bufs := make([][]byte, 256)
	flush := func(k int) error {
		_, err := out.WriteAt(bufs[k], at[k])
		at[k] += int64(len(bufs[k]))
		bufs[k] = bufs[k][:0]
		return err
	}
	in := bufio.NewReaderSize(io.NewSectionReader(b.f, 0, int64(b.n*idxRecord)), 64<<10)
	var rec [idxRecord]byte
	for range b.n {
		if _, err := io.ReadFull(in, rec[:]); err != nil {
			out.Close()
			return nil, err
		}
		k := int(rec[0])
		if bufs[k] = append(bufs[k], rec[:]...); len(bufs[k]) >= 128*idxRecord {
			if err := flush(k); err != nil {
				out.Close()
				return nil, err
			}
		}
	}
	for k := range bufs {
		if err := flush(k); err != nil {
			out.Close()
			return nil, err
		}
	}
	for k := range 256 {
		if err := sortBucket(out, start[k], b.counts[k]); err != nil {
			out.Close()
			return nil, err
		}
	}
	return out, nil
}

// sortBucket sorts the n records at off in f by hash; two equal hashes are an error (a pack
// holds each object once).
func sortBucket(f *os.File, off int64, n int) error {
	if n < 2 {
		return nil
	}
	buf := make([]byte, n*idxRecord)
	if _, err := f.ReadAt(buf, off); err != nil {
		return err
	}
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = buf[i*idxRecord : (i+1)*idxRecord]
	}
	slices.SortFunc(recs, func(a, b []byte) int { return bytes.Compare(a[:20], b[:20]) })
	out := make([]byte, 0, len(buf))
	for i, r := range recs {
		if i > 0 && bytes.Equal(r[:20], recs[i-1][:20]) {
			return fmt.Errorf("object %x written twice", r[:20])
		}
		out = append(out, r...)
	}
	_, err := f.WriteAt(out, off)
	return err
}

// sections writes the names, the CRCs, the 32-bit offsets and the 64-bit ones: one pass over
// the sorted entries each.
func (b *idxBuilder) sections(sorted *os.File, out *bufio.Writer) error {
	large := uint32(0) // 64-bit offsets so far
	for part := range 4 {
		if b.n == 0 {
			break
		}
		in := bufio.NewReaderSize(io.NewSectionReader(sorted, 0, int64(b.n*idxRecord)), 64<<10)
		var rec [idxRecord]byte
		for range b.n {
			if _, err := io.ReadFull(in, rec[:]); err != nil {
				return fmt.Errorf("read pack index entries: %w", err)
			}
			off := binary.BigEndian.Uint64(rec[24:])
			switch {
			case part == 0:
				out.Write(rec[:20])
			case part == 1:
				out.Write(rec[20:24])
			case part == 2 && off > 0x7fffffff:
				out.Write(binary.BigEndian.AppendUint32(nil, large|1<<31))
				large++
			case part == 2:
				out.Write(rec[28:32])
			case part == 3 && off > 0x7fffffff:
				out.Write(rec[24:32])
			}
		}
	}
	return nil
}
