package gitrepo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/google/go-cmp/cmp"
)

// readIdx reads what go-git's decoder reads, 64-bit offsets included, and refuses what is not a
// whole version 2 index.
func TestReadIdxMatchesGoGit(t *testing.T) {
	t.Parallel()
	encode := func(t *testing.T, n int, large bool) []byte {
		r := rand.New(rand.NewPCG(9, uint64(n))) // one per call: subtests run in parallel
		var w idxfile.Writer
		_ = w.OnHeader(uint32(n))
		off := uint64(12)
		for i := range n {
			w.Add(hashObject(plumbing.BlobObject, fmt.Appendf(nil, "%d", i)), off, r.Uint32())
			off += uint64(1 + r.IntN(500))
			if large && i%3 == 0 {
				off += 1 << 30
			}
		}
		if err := w.OnFooter(plumbing.ZeroHash); err != nil {
			t.Fatal(err)
		}
		idx, err := w.Index()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := idxfile.NewEncoder(&b).Encode(idx); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	goGit := func(t *testing.T, raw []byte) []packEntry {
		idx := idxfile.NewMemoryIndex()
		if err := idxfile.NewDecoder(bytes.NewReader(raw)).Decode(idx); err != nil {
			t.Fatal(err)
		}
		it, err := idx.Entries()
		if err != nil {
			t.Fatal(err)
		}
		out := []packEntry{}
		for e, err := it.Next(); err == nil; e, err = it.Next() {
			out = append(out, packEntry{hash: e.Hash, rank: int32(len(out)), off: int64(e.Offset)})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		n     int
		large bool
	}{{"empty", 0, false}, {"one", 1, false}, {"many", 5000, false}, {"large offsets", 3000, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := encode(t, tc.n, tc.large)
			got, err := decodeIdx(bytes.NewReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			want := goGit(t, raw)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(packEntry{}), cmp.Comparer(func(a, b plumbing.Hash) bool { return a == b })); diff != "" {
				t.Errorf("entries (-go-git +readIdx):\n%s", diff)
			}
			if tc.large && !slices.ContainsFunc(got, func(e packEntry) bool { return e.off > 1<<32 }) {
				t.Error("no offset past 4 GiB: the case checks nothing")
			}
		})
	}
	good := encode(t, 300, true)
	n := 300
	for name, corrupt := range map[string]func(b []byte) []byte{
		"truncated":  func(b []byte) []byte { return b[:len(b)-1] },
		"longer":     func(b []byte) []byte { return append(b, 0) },
		"version 1":  func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 1); return b },
		"magic":      func(b []byte) []byte { b[1] = 'x'; return b },
		"fan-out":    func(b []byte) []byte { binary.BigEndian.PutUint32(b[8+4*10:], 1<<30); return b },
		"unsorted":   func(b []byte) []byte { b[idxHeaderSize+20*5] ^= 0xff; return b },
		"big offset": func(b []byte) []byte { binary.BigEndian.PutUint32(b[idxHeaderSize+24*n:], 1<<31|4000); return b },
		"empty file": func(b []byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := corrupt(slices.Clone(good))
			if _, err := decodeIdx(bytes.NewReader(b), int64(len(b))); err == nil {
				t.Error("a corrupt index was read")
			}
		})
	}
}
