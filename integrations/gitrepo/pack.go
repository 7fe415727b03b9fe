package gitrepo

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// pack is one packfile with its index, read without go-git's Packfile type.
//
// Why not go-git's storage: measured on the 20,000-commit bench repository, iterating every object
// through filesystem storage (KeepDescriptors, 512 MiB LRU) took 3.2 s on one core and 2.8 s with
// one storage per worker on two, because go-git's delta base cache is keyed by object hash
// (computing a collision-detecting SHA-1 of every object it caches), a Packfile shares one seeking
// Scanner (so it is not safe for concurrent use), and workers that split a pack by offset keep
// re-resolving the same delta bases. Here the pack is opened once and read by every worker with
// positioned reads into its own buffers; deltas are resolved as a tree (each base inflated once,
// its children patched from it, the same order `git index-pack` uses), so every object is
// inflated exactly once. The index is read by readIdx (idxread.go).
//
// Entries are read with ReadAt, not through a memory map: a map's pages count in the process's
// resident memory once touched, so a scan's RSS grew by the whole pack (117 MiB on the bench's
// 100,000-commit repository); read into reused buffers, it grows by nothing. One read per
// object costs about a microsecond, next to tens for inflating it.
type pack struct {
	path    string
	f       *os.File
	size    int64
	entries []packEntry // sorted by offset
	byHash  []int32     // entry positions sorted by hash
}

// packEntry is one object of a pack: 32 bytes, one per object of the repository, so nothing else
// (its end is the next entry's offset; CRCs are written afresh). rank, its position in hash
// order, fills what would be padding: openPack needs it once, to sort by offset in place.
type packEntry struct {
	hash plumbing.Hash
	rank int32
	off  int64
}

// entryHeader is the decoded header of one pack entry.
type entryHeader struct {
	typ      plumbing.ObjectType // may be OFSDeltaObject or REFDeltaObject
	size     int64               // inflated size of the entry's own data (the delta for deltas)
	baseOff  int64               // OFS delta: offset of the base
	baseHash plumbing.Hash       // REF delta: hash of the base
	dataOff  int64               // start of the zlib stream
}

func openPack(packPath string) (*pack, error) {
	idxPath := packPath[:len(packPath)-len(".pack")] + ".idx"
	entries, err := readIdx(idxPath)
	if err != nil {
		return nil, err
	}
	pf, err := os.Open(packPath)
	if err != nil {
		return nil, fmt.Errorf("open pack: %w", err)
	}
	p := &pack{path: packPath, f: pf, entries: entries}
	var head [12]byte
	fi, err := pf.Stat()
	if err == nil {
		p.size = fi.Size()
		_, err = pf.ReadAt(head[:], 0)
	}
	if err != nil || p.size < 32 || string(head[:4]) != "PACK" {
		p.close()
		return nil, fmt.Errorf("pack %s: not a packfile", packPath)
	}
	if binary.BigEndian.Uint32(head[8:]) != uint32(len(entries)) {
		p.close()
		return nil, fmt.Errorf("pack %s: index does not match pack", packPath)
	}
	// Entries come in hash order: sort them by offset in place, and remember where each went.
	slices.SortFunc(p.entries, func(a, b packEntry) int { return cmpInt64(a.off, b.off) })
	p.byHash = make([]int32, len(p.entries))
	for pos, e := range p.entries {
		p.byHash[e.rank] = int32(pos)
	}
	trailer := p.size - 20
	for i := range p.entries {
		if end := p.end(i); p.entries[i].off < 12 || end > trailer || end <= p.entries[i].off {
			p.close()
			return nil, fmt.Errorf("pack %s: index does not match pack", packPath)
		}
	}
	return p, nil
}

// end is where entry i ends: the next entry's offset, or the trailing checksum's.
func (p *pack) end(i int) int64 {
	if i+1 < len(p.entries) {
		return p.entries[i+1].off
	}
	return p.size - 20
}

// read returns the pack's bytes [off, end), read into buf (grown when too small).
func (p *pack) read(off, end int64, buf []byte) ([]byte, error) {
	if end < off || end > p.size {
		return nil, errCorruptPack
	}
	n := int(end - off)
	if cap(buf) < n {
		buf = make([]byte, n, n+n/8)
	}
	buf = buf[:n]
	if _, err := p.f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read pack %s: %w", filepath.Base(p.path), err)
	}
	return buf, nil
}

// rawEntry reads entry i whole (header and zlib data) into buf and decodes its header.
func (p *pack) rawEntry(i int, buf []byte) (entryHeader, []byte, error) {
	b, err := p.read(p.entries[i].off, p.end(i), buf)
	if err != nil {
		return entryHeader{}, nil, err
	}
	h, err := parseHeader(b, p.entries[i].off)
	return h, b, err
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (p *pack) close() {
	if p.f != nil {
		_ = p.f.Close()
		p.f = nil
	}
}

// find returns the position (in offset order) of the entry with hash h.
func (p *pack) find(h plumbing.Hash) (int, bool) {
	i, ok := slices.BinarySearchFunc(p.byHash, h, func(pos int32, h plumbing.Hash) int {
		return bytes.Compare(p.entries[pos].hash[:], h[:])
	})
	if !ok {
		return 0, false
	}
	return int(p.byHash[i]), true
}

// atOffset returns the position of the entry starting at off.
func (p *pack) atOffset(off int64) (int, bool) {
	return slices.BinarySearchFunc(p.entries, off, func(e packEntry, off int64) int { return cmpInt64(e.off, off) })
}

var errCorruptPack = errors.New("corrupt pack entry")

// maxHeader bounds an entry's header: type and size (10 bytes), then a base offset (10) or a
// base hash (20).
const maxHeader = 32

func (p *pack) header(i int) (entryHeader, error) {
	var buf [maxHeader]byte
	off := p.entries[i].off
	b, err := p.read(off, min(p.end(i), off+maxHeader), buf[:])
	if err != nil {
		return entryHeader{}, err
	}
	return parseHeader(b, off)
}

// eachHeader calls f with every entry's header, in offset order, reading the pack a window at a
// time rather than once per entry.
func (p *pack) eachHeader(f func(i int, h entryHeader) error) error {
	var win []byte
	var winOff int64
	for i, e := range p.entries {
		end := min(p.end(i), e.off+maxHeader)
		if e.off < winOff || end > winOff+int64(len(win)) {
			var err error
			winOff = e.off
			if win, err = p.read(e.off, min(p.size, e.off+1<<20), win); err != nil {
				return err
			}
		}
		h, err := parseHeader(win[e.off-winOff:end-winOff], e.off)
		if err != nil {
			return fmt.Errorf("pack %s: entry %s: %w", filepath.Base(p.path), e.hash, err)
		}
		if err := f(i, h); err != nil {
			return err
		}
	}
	return nil
}

// parseHeader decodes the header at the start of b, the bytes of the entry at offset off (at
// least its first maxHeader bytes, or all of it).
func parseHeader(b []byte, off int64) (entryHeader, error) {
	var h entryHeader
	if len(b) == 0 {
		return h, errCorruptPack
	}
	c := b[0]
	h.typ = plumbing.ObjectType((c >> 4) & 7)
	h.size = int64(c & 15)
	shift, n := uint(4), 1
	for c&0x80 != 0 {
		if n >= len(b) || shift > 56 {
			return h, errCorruptPack
		}
		c = b[n]
		n++
		h.size |= int64(c&0x7f) << shift
		shift += 7
	}
	switch h.typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
	case plumbing.OFSDeltaObject:
		if n >= len(b) {
			return h, errCorruptPack
		}
		c = b[n]
		n++
		rel := int64(c & 0x7f)
		for c&0x80 != 0 {
			if n >= len(b) || rel > 1<<55 {
				return h, errCorruptPack
			}
			c = b[n]
			n++
			rel = ((rel + 1) << 7) | int64(c&0x7f)
		}
		if rel <= 0 || rel > off {
			return h, errCorruptPack
		}
		h.baseOff = off - rel
	case plumbing.REFDeltaObject:
		if n+20 > len(b) {
			return h, errCorruptPack
		}
		copy(h.baseHash[:], b[n:n+20])
		n += 20
	default:
		return h, errCorruptPack
	}
	h.dataOff = off + int64(n)
	return h, nil
}

// inflater inflates pack entries; one per goroutine.
type inflater struct {
	zr io.ReadCloser
	br bytes.Reader
}

var inflaters = sync.Pool{New: func() any { return new(inflater) }}

func (z *inflater) inflate(src []byte, size int64) ([]byte, error) {
	return z.inflateInto(make([]byte, size), src)
}

// inflateInto inflates src into out, which must be exactly as long as the stream's data.
func (z *inflater) inflateInto(out, src []byte) ([]byte, error) {
	z.br.Reset(src)
	if z.zr == nil {
		zr, err := zlib.NewReader(&z.br)
		if err != nil {
			return nil, err
		}
		z.zr = zr
	} else if err := z.zr.(zlib.Resetter).Reset(&z.br, nil); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(z.zr, out); err != nil {
		return nil, err
	}
	// A stream longer than its header says is corrupt.
	var one [1]byte
	if n, _ := z.zr.Read(one[:]); n != 0 {
		return nil, errCorruptPack
	}
	return out, nil
}

// rawData returns the inflated data of entry i (the delta itself for delta entries).
func (p *pack) rawData(z *inflater, i int, h entryHeader) ([]byte, error) {
	src, err := p.read(h.dataOff, p.end(i), nil)
	if err != nil {
		return nil, err
	}
	return z.inflate(src, h.size)
}

// resolver reads single objects by hash from the packs and loose objects of a store.
type resolver interface {
	read(h plumbing.Hash) (plumbing.ObjectType, []byte, error)
}

// object returns the type and content of entry i, resolving its delta chain.
func (p *pack) object(z *inflater, i int, ext resolver) (plumbing.ObjectType, []byte, error) {
	h, err := p.header(i)
	if err != nil {
		return 0, nil, err
	}
	data, err := p.rawData(z, i, h)
	if err != nil {
		return 0, nil, fmt.Errorf("inflate %s: %w", p.entries[i].hash, err)
	}
	switch h.typ {
	case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
	default:
		return h.typ, data, nil
	}
	var typ plumbing.ObjectType
	var base []byte
	if bi, ok := p.baseOf(i, h); ok {
		typ, base, err = p.object(z, bi, ext)
	} else if ext != nil {
		typ, base, err = ext.read(h.baseHash)
	} else {
		err = fmt.Errorf("delta base %s: %w", h.baseHash, plumbing.ErrObjectNotFound)
	}
	if err != nil {
		return 0, nil, err
	}
	out, err := packfile.PatchDelta(base, data)
	if err != nil {
		return 0, nil, fmt.Errorf("apply delta %s: %w", p.entries[i].hash, err)
	}
	return typ, out, nil
}

// baseOf returns the position of the base of delta entry i when it is in this pack.
func (p *pack) baseOf(i int, h entryHeader) (int, bool) {
	if h.typ == plumbing.OFSDeltaObject {
		return p.atOffset(h.baseOff)
	}
	return p.find(h.baseHash)
}
