package gitrepo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/google/go-cmp/cmp"
)

// A table answers the same whether its data is in memory or spilled, and removes its file.
func TestTableSpillsBeyondBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		budget int64
	}{
		{"in-memory", 1 << 30},
		{"spilled", 1},
		{"half", 40 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tb := newTable(newBudget(tc.budget), dir, 0)
			r := rand.New(rand.NewPCG(1, 2))
			want := map[plumbing.Hash][]byte{}
			var wg sync.WaitGroup
			var mu sync.Mutex
			for w := range 4 {
				// Sizes from empty to larger than one read of the spill file and one chunk.
				sizes := []int{0, 1, 511, 512, 4000, chunkSize + 3, r.IntN(2000)}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i, n := range sizes {
						data := bytes.Repeat([]byte{byte('a' + w)}, n)
						h := hashObject(plumbing.BlobObject, append(data, byte(i), byte(w)))
						if err := tb.put(h, data); err != nil {
							t.Error(err)
						}
						mu.Lock()
						want[h] = data
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if tb.len() != len(want) {
				t.Fatalf("len = %d, want %d", tb.len(), len(want))
			}
			got := map[plumbing.Hash][]byte{}
			if err := tb.each(func(h plumbing.Hash, data []byte) error {
				got[h] = bytes.Clone(data)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("table content (-put +got):\n%s", diff)
			}
			var some plumbing.Hash
			for h := range want {
				some = h
			}
			tb.setFlags(some, flagKnown|flagBad)
			if f := tb.flags(some); f != flagKnown|flagBad {
				t.Errorf("flags = %x", f)
			}
			if data, ok, err := tb.get(some); err != nil || !ok || !bytes.Equal(data, want[some]) {
				t.Errorf("get after setFlags: ok %v err %v, %d bytes (want %d)", ok, err, len(data), len(want[some]))
			}
			if _, ok, _ := tb.get(plumbing.ZeroHash); ok || tb.has(plumbing.ZeroHash) {
				t.Error("a hash never put is in the table")
			}
			tb.close()
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left in the spill directory: %v", left)
			}
		})
	}
}

// patchInto is go-git's PatchDelta writing into a reused buffer: same results, same refusals.
func TestPatchIntoMatchesPatchDelta(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	text := func(n int) []byte {
		var b strings.Builder
		for b.Len() < n {
			fmt.Fprintf(&b, "line %d %d\n", r.IntN(1000), r.IntN(1000))
		}
		return []byte(b.String())
	}
	base := text(200 << 10)
	edited := append(append(bytes.Clone(base[:70000]), text(3000)...), base[90000:]...)
	var dst []byte
	for _, tc := range []struct {
		name         string
		base, target []byte
	}{
		{"edit", base, edited},
		{"same", base, base},
		{"append", base[:1000], append(bytes.Clone(base[:1000]), "more\n"...)},
		{"unrelated", base[:5000], text(5000)},
	} {
		delta := packfile.DiffDelta(tc.base, tc.target)
		want, err := packfile.PatchDelta(tc.base, delta)
		if err != nil {
			t.Fatalf("%s: PatchDelta: %v", tc.name, err)
		}
		got, err := patchInto(dst, tc.base, delta, plumbing.ZeroHash)
		if err != nil || !bytes.Equal(got, want) || !bytes.Equal(got, tc.target) {
			t.Errorf("%s: patchInto: err %v, %d bytes, equal to PatchDelta's %v", tc.name, err, len(got), bytes.Equal(got, want))
		}
		dst = got
	}
	delta := packfile.DiffDelta(base, edited)
	for name, bad := range map[string][]byte{
		"truncated":  delta[:len(delta)-3],
		"wrong base": delta,
		"zero cmd":   append(bytes.Clone(delta[:4]), 0),
		"empty":      nil,
		// A header claiming 1 TiB - 1 with one inserted byte: refused for the size it does not
		// produce, and without reserving what it claims (that would end the process).
		"claims a terabyte": append(binary.AppendUvarint(binary.AppendUvarint(nil, uint64(len(base))), 1<<40-1), 1, 'x'),
	} {
		b := base
		if name == "wrong base" {
			b = base[1:]
		}
		if _, err := patchInto(nil, b, bad, plumbing.ZeroHash); !errors.Is(err, packfile.ErrInvalidDelta) && !errors.Is(err, packfile.ErrDeltaCmd) {
			t.Errorf("%s: err = %v, want an invalid delta", name, err)
		}
	}
}

// With a tiny cache every tree, commit and blob with a secret goes through the spill file; the
// scan's answers must not change.
func TestScanSpilledMatchesInMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	g := &gitRunner{t: t, dir: f.dir}
	g.run("repack", "-adfq", "--depth=250", "--window=50")
	scan := func(cache int64) *ScanResult {
		res, err := Scan(t.Context(), ScanOptions{Path: f.dir, Secrets: f.secrets(), Workers: 2,
			Memory: Memory{CacheBytes: cache, TempDir: t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	mem, spilled := scan(1<<30), scan(1)
	if diff := cmp.Diff(mem, spilled); diff != "" {
		t.Errorf("spilled scan differs (-memory +spilled):\n%s", diff)
	}
	if len(mem.Findings) == 0 {
		t.Error("no findings: the fixture lost its secrets")
	}
}

// A purge whose tables all spill writes the same history, byte for byte: the same commit and ref
// maps, the same objects, and a store git finds whole.
func TestPurgeSpilledMatchesInMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	src := f.mirror(t)
	(&gitRunner{t: t, dir: src}).run("repack", "-adfq", "--depth=250", "--window=50")
	purge := func(cache int64) (string, *PurgeResult) {
		dir := copyRepo(t, src)
		tmp := t.TempDir()
		res, err := Purge(t.Context(), PurgeOptions{Path: dir, Secrets: f.secrets(), MapDir: t.TempDir(), Workers: 2,
			Memory: Memory{CacheBytes: cache, TempDir: tmp}})
		if err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("spill files left behind: %v", left)
		}
		return dir, res
	}
	memDir, mem := purge(1 << 30)
	spillDir, spilled := purge(1)
	if diff := cmp.Diff(rewrittenCommits(t, mem), rewrittenCommits(t, spilled)); diff != "" {
		t.Errorf("commit maps differ (-memory +spilled):\n%s", diff)
	}
	if diff := cmp.Diff(mem.RefMap, spilled.RefMap); diff != "" {
		t.Errorf("ref maps differ (-memory +spilled):\n%s", diff)
	}
	if len(rewrittenCommits(t, mem)) == 0 {
		t.Error("nothing rewritten: the fixture lost its secrets")
	}
	objects := func(dir string) string {
		return (&gitRunner{t: t, dir: dir}).run("cat-file", "--batch-all-objects", "--batch")
	}
	if a, b := objects(memDir), objects(spillDir); a != b {
		t.Errorf("object stores differ: %d bytes in memory, %d spilled", len(a), len(b))
	}
	for _, dir := range []string{memDir, spillDir} {
		assertNoSecret(t, dir, f.secrets())
		if out, err := (&gitRunner{t: t, dir: dir}).try("fsck", "--full", "--no-dangling"); err != nil {
			t.Errorf("%s: git fsck: %v\n%s", filepath.Base(dir), err, out)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1048576", 1 << 20}, {"64MiB", 64 << 20}, {"64 MiB", 64 << 20}, {"512m", 512 << 20}, {"2G", 2 << 30},
		{"10KB", 10 << 10}, {"1B", 1}, {"", 0}, {"0", 0}, {"-5M", 0}, {"lots", 0}, {"9999999999G", 0},
	} {
		got, err := ParseSize(tc.in)
		if got != tc.want || (err == nil) != (tc.want != 0) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// indexSecret finds what bytes.Index finds, wherever its anchor byte falls.
func TestIndexSecretMatchesBytesIndex(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	const alphabet = "sk-proj-ABCxyz019 \n"
	for range 2000 {
		s := make([]byte, 1+r.IntN(6))
		for i := range s {
			s[i] = alphabet[r.IntN(len(alphabet))]
		}
		data := make([]byte, r.IntN(60))
		for i := range data {
			data[i] = alphabet[r.IntN(len(alphabet))]
		}
		if r.IntN(2) == 0 && len(data) > len(s) {
			copy(data[r.IntN(len(data)-len(s)):], s)
		}
		if got, want := indexSecret(data, s), bytes.Index(data, s); got != want {
			t.Fatalf("indexSecret(%q, %q) = %d, bytes.Index = %d", data, s, got, want)
		}
	}
}
