package gitrepo

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// A spillMap answers like a Go map whether it stays in memory, moves to disk part way through or
// starts there, including past the size it was told to expect (the file doubles), and removes
// its file.
func TestSpillMapMatchesGoMap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		budget int64
		hint   int
	}{
		{"in-memory", 1 << 30, 0},
		{"spills half way", 3000 * 72, 100},
		{"on disk from the start", 1, 10},
		{"no hint", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			b := newBudget(tc.budget)
			hashes := newSpillMap[plumbing.Hash](b, dir, tc.hint)
			positions := newSpillMap[uint64](b, dir, tc.hint)
			set := newSpillMap[struct{}](b, dir, tc.hint)
			wantH, wantP, wantS := map[plumbing.Hash]plumbing.Hash{}, map[plumbing.Hash]uint64{}, map[plumbing.Hash]struct{}{}
			r := rand.New(rand.NewPCG(7, 8))
			key := func(i int) plumbing.Hash {
				var h plumbing.Hash
				binary.BigEndian.PutUint64(h[:], r.Uint64())
				binary.BigEndian.PutUint32(h[16:], uint32(i))
				if i%97 == 0 {
					h[0], h[1] = 0xff, 0xff // crowd the last slots: probes wrap to the start
				}
				return h
			}
			var keys []plumbing.Hash
			for i := range 6000 {
				k := key(i)
				if i%5 == 0 && len(keys) > 0 {
					k = keys[r.IntN(len(keys))] // a replacement, not a new entry
				}
				keys = append(keys, k)
				v := key(i + 1_000_000)
				hashes.set(k, v)
				positions.set(k, uint64(i))
				set.set(k, struct{}{})
				wantH[k], wantP[k], wantS[k] = v, uint64(i), struct{}{}
			}
			for _, m := range []interface{ err() error }{hashes, positions, set} {
				if err := m.err(); err != nil {
					t.Fatal(err)
				}
			}
			if want := tc.budget < 1<<30; hashes.onDisk() != want || positions.onDisk() != want {
				t.Errorf("on disk: %v, %v; want %v", hashes.onDisk(), positions.onDisk(), want)
			}
			if hashes.len() != len(wantH) || positions.len() != len(wantP) || set.len() != len(wantS) {
				t.Errorf("len = %d, %d, %d; want %d", hashes.len(), positions.len(), set.len(), len(wantH))
			}
			for k, v := range wantH {
				if got, ok := hashes.get(k); !ok || got != v {
					t.Fatalf("get(%s) = %s, %v; want %s", k, got, ok, v)
				}
				if got, ok := positions.get(k); !ok || got != wantP[k] {
					t.Fatalf("get(%s) = %d, %v; want %d", k, got, ok, wantP[k])
				}
				if !set.has(k) {
					t.Fatalf("set lost %s", k)
				}
			}
			for range 2 { // the second time from the cache of a map on disk
				for i := range 2000 {
					if k := key(i + 5_000_000); hashes.has(k) || positions.has(k) || set.has(k) {
						t.Fatalf("%s was never set but is there", k)
					}
				}
			}
			// What a lookup remembered gives way to a later set: an absent key, then added; a
			// present one, then replaced.
			absent := key(9_000_000)
			if positions.has(absent) {
				t.Fatal("a key never set is there")
			}
			positions.set(absent, 7)
			some := keys[len(keys)/2]
			if _, ok := positions.get(some); !ok {
				t.Fatal("a key set is not there")
			}
			positions.set(some, 8)
			if v, ok := positions.get(absent); !ok || v != 7 {
				t.Errorf("after set: get = %d, %v; want 7", v, ok)
			}
			if v, ok := positions.get(some); !ok || v != 8 {
				t.Errorf("after replace: get = %d, %v; want 8", v, ok)
			}
			wantP[absent], wantP[some] = 7, 8
			if positions.len() != len(wantP) {
				t.Errorf("len = %d, want %d", positions.len(), len(wantP))
			}
			gotH := map[plumbing.Hash]plumbing.Hash{}
			if err := hashes.each(func(h, v plumbing.Hash) error { gotH[h] = v; return nil }); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantH, gotH); diff != "" {
				t.Errorf("each (-set +got):\n%s", diff)
			}
			hashes.close()
			positions.close()
			set.close()
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left in the temporary directory: %v", left)
			}
			if n := b.left.Load(); n != tc.budget {
				t.Errorf("budget after close = %d, want all %d back", n, tc.budget)
			}
		})
	}
}
