package gitrepo

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/google/go-cmp/cmp"
)

// rewriteState is what a rewrite computed, read out of its maps and lists.
type rewriteState struct {
	Commits, Trees, Blobs, OldTree map[string]string
	Keep                           []string
	Written                        []string // in creation order
	Topo                           []string
}

func readHashMap(t *testing.T, m *hashMap) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := m.each(func(k, v plumbing.Hash) error { out[k.String()] = v.String(); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// rewriteAt runs the rewrite and the keep walk of a purge of dir with the given cache, and
// reports what it computed and which of its maps went to disk.
func rewriteAt(t *testing.T, dir string, secrets [][]byte, cache int64) (rewriteState, map[string]bool) {
	t.Helper()
	tmp := t.TempDir()
	d, err := load(t.Context(), dir, true, loadOptions{secrets: secrets, workers: 2, mem: Memory{CacheBytes: cache, TempDir: tmp}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	rw := newRewriter(d, PurgeOptions{Secrets: secrets, Replacement: DefaultReplacement}, true)
	if err := rw.run(t.Context()); err != nil {
		t.Fatal(err)
	}
	keep, err := rw.reachableOld()
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.err(); err != nil {
		t.Fatal(err)
	}
	st := rewriteState{Commits: readHashMap(t, rw.commits), Trees: readHashMap(t, rw.trees),
		Blobs: readHashMap(t, rw.blobs), OldTree: readHashMap(t, rw.oldTree)}
	_ = keep.each(func(h plumbing.Hash, _ uint64) error { st.Keep = append(st.Keep, h.String()); return nil })
	slices.Sort(st.Keep)
	_ = rw.written.each(func(h plumbing.Hash, typ plumbing.ObjectType) error {
		st.Written = append(st.Written, typ.String()+" "+h.String())
		return nil
	})
	_ = rw.topo.each(func(h plumbing.Hash) error { st.Topo = append(st.Topo, h.String()); return nil })
	onDisk := map[string]bool{"topo": rw.topo.onDisk(), "commits": rw.commits.onDisk(), "trees": rw.trees.onDisk(), "blobs": rw.blobs.onDisk(),
		"oldTree": rw.oldTree.onDisk(), "keep": keep.onDisk(), "written": rw.written.onDisk()}
	rw.close()
	d.close()
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("cache %d: files left behind: %v", cache, left)
	}
	return st, onDisk
}

// The rewriter's maps, the keep set and the list of new objects give the same answers in memory
// and on disk, and a 1-byte cache really puts every one of them on disk.
func TestRewriterMapsSpillToDisk(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	src := f.mirror(t)
	want, inMem := rewriteAt(t, src, f.secrets(), 1<<30)
	if len(want.Written) == 0 || len(want.Keep) == 0 || len(want.OldTree) == 0 {
		t.Fatalf("the fixture rewrote nothing: %+v", want)
	}
	for name, disk := range inMem {
		if disk {
			t.Errorf("1 GiB cache: %s on disk", name)
		}
	}
	for _, cache := range []int64{1, 4 << 10} {
		got, onDisk := rewriteAt(t, src, f.secrets(), cache)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("cache %d: rewrite differs (-memory +spilled):\n%s", cache, diff)
		}
		if cache == 1 {
			for name, disk := range onDisk {
				if !disk {
					t.Errorf("1-byte cache: %s still in memory", name)
				}
			}
		}
	}
}

// An object list gives back what was added, in order, in batches of any size, from memory or
// from its file, and leaves no file.
func TestObjectList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		budget int64
		n      int
	}{
		{"empty", 1 << 30, 0},
		{"in-memory", 1 << 30, 3*recordChunk + 5},
		{"spilled at once", 1, 1000},
		{"spilled midway", int64(recordChunk * objectRecord * 5 / 2), 4*recordChunk + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			b := newBudget(tc.budget)
			l := newObjectList(b, dir)
			var want []newObject
			for i := range tc.n {
				h := hashObject(plumbing.BlobObject, fmt.Appendf(nil, "%d", i))
				typ := []plumbing.ObjectType{plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject}[i%4]
				l.add(h, typ)
				want = append(want, newObject{hash: h, typ: typ})
			}
			for _, size := range []int{1, 7, newBatch} {
				var got []newObject
				err := l.batches(size, func(batch []newObject) error {
					if len(batch) > size {
						t.Errorf("batch of %d, want at most %d", len(batch), size)
					}
					got = append(got, batch...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, cmp.AllowUnexported(newObject{})); diff != "" {
					t.Fatalf("batches of %d differ:\n%s", size, diff)
				}
			}
			l.close()
			if left := b.left.Load(); left != tc.budget {
				t.Errorf("budget after close = %d, want %d", left, tc.budget)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("files left behind: %v", left)
			}
		})
	}
}

// chainReader resolves every entry of a pack with delta chains 250 deep, in pack order (the
// order copyKept asks, with its memo hit), exactly as pack.object does.
func TestChainReaderMatchesObject(t *testing.T) {
	t.Parallel()
	needGit(t)
	dir := t.TempDir()
	g := &gitRunner{t: t, dir: dir}
	g.run("init", "-q")
	var body strings.Builder
	for i := range 60 {
		fmt.Fprintf(&body, "line %d of a file that changes a little in every commit\n", i)
		g.write("a.txt", body.String())
		g.write("b.txt", strings.Repeat(body.String(), 3))
		g.commit(fmt.Sprintf("c%d", i), "a.txt", "b.txt")
	}
	g.run("repack", "-adfq", "--depth=250", "--window=250")
	st, err := openStore(filepath.Join(dir, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	c := &chainReader{z: new(inflater)}
	deltas := 0
	for _, p := range st.packs {
		for _, order := range [][]int{ascending(len(p.entries)), descending(len(p.entries))} {
			for _, i := range order {
				wantT, want, err := p.object(new(inflater), i, st)
				if err != nil {
					t.Fatal(err)
				}
				gotT, got, err := c.object(st, p, i)
				if err != nil {
					t.Fatal(err)
				}
				if gotT != wantT || !bytes.Equal(got, want) {
					t.Fatalf("entry %s: got %v (%d bytes), want %v (%d bytes)", p.entries[i].hash, gotT, len(got), wantT, len(want))
				}
				if len(c.steps) > 0 {
					deltas++
				}
				c.release(got)
			}
		}
	}
	if deltas == 0 {
		t.Fatal("no delta in the pack: the test checks nothing")
	}
}

func ascending(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func descending(n int) []int {
	out := ascending(n)
	slices.Reverse(out)
	return out
}

// A store holding objects twice (in two packs, and loose) purges to one copy of each: the same
// objects as a purge of the store packed once, and git finds it whole.
func TestPurgeDuplicatedObjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	src := f.mirror(t)
	(&gitRunner{t: t, dir: src}).run("repack", "-adq")
	dup := copyRepo(t, src)
	// A second pack with what main~2 reaches, and loose copies of a packed blob and commit.
	cmd := exec.Command("sh", "-c", "git rev-list --objects main~2 | git pack-objects -q objects/pack/pack")
	cmd.Dir = dup
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pack-objects: %v\n%s", err, out)
	}
	gd := &gitRunner{t: t, dir: dup}
	writeLoose(t, dup, plumbing.BlobObject, []byte(gd.run("cat-file", "blob", "main:README.md")))
	writeLoose(t, dup, plumbing.CommitObject, []byte(gd.run("cat-file", "commit", "main~1")))
	if packs, _ := filepath.Glob(filepath.Join(dup, "objects", "pack", "*.pack")); len(packs) != 2 {
		t.Fatalf("%d packs, want 2", len(packs))
	}
	objects := func(dir string) string {
		return (&gitRunner{t: t, dir: dir}).run("cat-file", "--batch-all-objects", "--batch")
	}
	for _, cache := range []int64{1 << 30, 1} {
		var maps []map[string]string
		var stores []string
		for _, dir := range []string{copyRepo(t, src), copyRepo(t, dup)} {
			res, err := Purge(t.Context(), PurgeOptions{Path: dir, Secrets: f.secrets(), MapDir: t.TempDir(), Workers: 2,
				Memory: Memory{CacheBytes: cache, TempDir: t.TempDir()}})
			if err != nil {
				t.Fatal(err)
			}
			maps, stores = append(maps, rewrittenCommits(t, res)), append(stores, objects(dir))
			if out, err := (&gitRunner{t: t, dir: dir}).try("fsck", "--full", "--no-dangling"); err != nil {
				t.Errorf("cache %d: git fsck: %v\n%s", cache, err, out)
			}
			assertNoSecret(t, dir, f.secrets())
		}
		if diff := cmp.Diff(maps[0], maps[1]); diff != "" {
			t.Errorf("cache %d: commit maps differ (-packed once +duplicated):\n%s", cache, diff)
		}
		if stores[0] != stores[1] {
			t.Errorf("cache %d: object stores differ: %d bytes packed once, %d duplicated", cache, len(stores[0]), len(stores[1]))
		}
	}
}

// writeLoose writes a loose object by hand (git would not write one it already has packed).
func writeLoose(t *testing.T, gitDir string, typ plumbing.ObjectType, data []byte) plumbing.Hash {
	t.Helper()
	h := hashObject(typ, data)
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	fmt.Fprintf(zw, "%s %d\x00", typ, len(data))
	zw.Write(data)
	zw.Close()
	p := filepath.Join(gitDir, "objects", h.String()[:2], h.String()[2:])
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o444); err != nil {
		t.Fatal(err)
	}
	return h
}

// The pack index idxBuilder writes is go-git's, byte for byte: empty, one entry, many in every
// bucket, and offsets past 2 GiB (the 64-bit table). Two entries of one hash are refused.
func TestIdxBuilderMatchesGoGit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		n     int
		large bool
	}{
		{"empty", 0, false},
		{"one", 1, false},
		{"many", 20000, false},
		{"large offsets", 3000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(3, uint64(tc.n))) // one per subtest: they run in parallel
			dir := t.TempDir()
			b := newIdxBuilder(dir)
			defer b.close()
			var gw idxfile.Writer
			_ = gw.OnHeader(uint32(tc.n))
			off := uint64(12)
			for i := range tc.n {
				h := hashObject(plumbing.BlobObject, fmt.Appendf(nil, "%d-%s", i, tc.name))
				crc := r.Uint32()
				b.add(h, off, crc)
				gw.Add(h, off, crc)
				off += uint64(1 + r.IntN(500))
				if tc.large && i%3 == 0 {
					off += 1 << 30
				}
			}
			packSum := hashObject(plumbing.BlobObject, []byte(tc.name))
			if err := gw.OnFooter(packSum); err != nil {
				t.Fatal(err)
			}
			idx, err := gw.Index()
			if err != nil {
				t.Fatal(err)
			}
			var want, got bytes.Buffer
			if _, err := idxfile.NewEncoder(&want).Encode(idx); err != nil {
				t.Fatal(err)
			}
			if err := b.encode(&got, packSum); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("index differs from go-git's: %d bytes, want %d", got.Len(), want.Len())
			}
			if tc.large && len(idx.Offset64) == 0 {
				t.Error("no 64-bit offset: the case checks nothing")
			}
		})
	}
	t.Run("duplicate", func(t *testing.T) {
		t.Parallel()
		b := newIdxBuilder(t.TempDir())
		defer b.close()
		h := hashObject(plumbing.BlobObject, []byte("twice"))
		b.add(h, 12, 1)
		b.add(hashObject(plumbing.BlobObject, []byte("other")), 40, 2)
		b.add(h, 90, 3)
		if err := b.encode(io.Discard, plumbing.ZeroHash); err == nil || !strings.Contains(err.Error(), "written twice") {
			t.Errorf("err = %v, want an object written twice", err)
		}
	})
}

// rewrittenCommits is what a purge's commit-map says it rewrote, old → new.
func rewrittenCommits(t *testing.T, res *PurgeResult) map[string]string {
	t.Helper()
	m, err := ReadCommitMap(res.CommitMapPath)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ReadCommitMap gives the rewritten commits and names the line it cannot read.
func TestReadCommitMap(t *testing.T) {
	t.Parallel()
	a, b, c := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	for _, tc := range []struct {
		name, content string
		want          map[string]string
		err           string
	}{
		{"empty", "", map[string]string{}, ""},
		{"kept and rewritten", a + " " + a + "\n" + b + " " + c + "\n", map[string]string{b: c}, ""},
		{"short hash", a + " " + a + "\n" + b + " cc\n", nil, "commit-map:2:"},
		{"not hex", "g" + a[1:] + " " + a + "\n", nil, "commit-map:1:"},
		{"one field", a + "\n", nil, "commit-map:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "commit-map")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadCommitMap(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Error(diff)
			}
		})
	}
}
