package gitrepo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// readIdx reads a pack index (version 2) straight into the pack's entries, in hash order, each
// with its rank (its position in that order).
//
// Why not go-git's idxfile.Decoder: it builds a MemoryIndex holding the whole file (names,
// CRCs, offsets: 28 bytes an object) before a caller can copy the entries out, and the copy
// needs its own 32; while a 747,000-object pack was opened that was the peak of a purge's heap.
// Read section by section, the entries are the only thing held. TestReadIdxMatchesGoGit holds
// this reader to go-git's decoder.
func readIdx(path string) ([]packEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open pack index: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open pack index: %w", err)
	}
	entries, err := decodeIdx(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("decode pack index %s: %w", path, err)
	}
	return entries, nil
}

var errBadIdx = errors.New("not a version 2 pack index, or a corrupt one")

const idxHeaderSize = 8 + 256*4 // magic, version, fan-out table

func decodeIdx(f io.ReaderAt, size int64) ([]packEntry, error) {
	var head [idxHeaderSize]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, errBadIdx
	}
	if !bytes.Equal(head[:4], []byte{0xff, 't', 'O', 'c'}) || binary.BigEndian.Uint32(head[4:8]) != 2 {
		return nil, errBadIdx
	}
	var prev uint32
	for b := range 256 {
		v := binary.BigEndian.Uint32(head[8+4*b:])
		if v < prev {
			return nil, errBadIdx
		}
		prev = v
	}
	n := int64(prev)
	// Names, CRCs and 32-bit offsets, then the 64-bit offsets, the pack's checksum and the
	// index's own: anything else is not an index of n objects.
	large := size - idxHeaderSize - n*28 - 40
	if n > 1<<31-1 || large < 0 || large%8 != 0 {
		return nil, errBadIdx
	}
	entries := make([]packEntry, n)
	r := bufio.NewReaderSize(io.NewSectionReader(f, idxHeaderSize, n*20), 64<<10)
	for k := range entries {
		if _, err := io.ReadFull(r, entries[k].hash[:]); err != nil {
			return nil, errBadIdx
		}
		if k > 0 && bytes.Compare(entries[k-1].hash[:], entries[k].hash[:]) >= 0 {
			return nil, errBadIdx // unsorted or twice: lookups would miss
		}
		entries[k].rank = int32(k)
	}
	r.Reset(io.NewSectionReader(f, idxHeaderSize+n*24, n*4))
	var b [8]byte
	for k := range entries {
		if _, err := io.ReadFull(r, b[:4]); err != nil {
			return nil, errBadIdx
		}
		off := binary.BigEndian.Uint32(b[:4])
		if off&(1<<31) == 0 {
			entries[k].off = int64(off)
			continue
		}
		at := int64(off&^(1<<31)) * 8
		if at+8 > large {
			return nil, errBadIdx
		}
		if _, err := f.ReadAt(b[:], idxHeaderSize+n*28+at); err != nil {
			return nil, errBadIdx
		}
		v := binary.BigEndian.Uint64(b[:])
		if v > 1<<62 {
			return nil, errBadIdx
		}
		entries[k].off = int64(v)
	}
	return entries, nil
}
