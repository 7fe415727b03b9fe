package gitrepo

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
)

// packedFixture is the standard fixture, repacked with deltas.
func packedFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, fixtureOpts{})
	(&gitRunner{t: t, dir: f.dir}).run("repack", "-adfq", "--depth=250", "--window=50")
	return f
}

// loadFixture loads f as a scan does, with the given cache; closed when the test ends.
func loadFixture(t *testing.T, f *fixture, cache int64) *repoData {
	t.Helper()
	gitDir, bare, err := gitDirOf(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := load(t.Context(), gitDir, bare, loadOptions{secrets: f.secrets(), workers: 2, lean: true,
		mem: Memory{CacheBytes: cache, TempDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	return d
}

// The history's order and the roots containing each commit are the same whether the order and
// topo's marks stay in memory or live on disk; a 1-byte cache puts them on disk.
func TestScanSetsSpillToDisk(t *testing.T) {
	t.Parallel()
	type sets struct {
		Order  []string
		Roots  map[string][]string // commit -> names of the roots containing it
		OnDisk bool
	}
	f := packedFixture(t)
	walk := func(t *testing.T, cache int64) sets {
		d := loadFixture(t, f, cache)
		names, roots := d.roots()
		tips, tipRefs := d.tips(roots)
		list, err := d.topoList(tips)
		if err != nil {
			t.Fatal(err)
		}
		defer list.close()
		var order []plumbing.Hash
		_ = list.each(func(h plumbing.Hash) error { order = append(order, h); return nil })
		assertParentsFirst(t, d, order)
		// The purge's topo (a slice) gives the same order.
		if slice, err := d.topo(tips); err != nil || !slices.Equal(slice, order) {
			t.Errorf("topo = %d commits (err %v), topoList %d: want the same order", len(slice), err, len(order))
		}
		h := &historyScan{d: d, names: names}
		out := sets{Roots: map[string][]string{}, OnDisk: list.onDisk()}
		err = d.refBits(list, tipRefs, len(names), func(c plumbing.Hash, id int32, set []uint64) {
			out.Roots[c.String()] = h.refNames(id, set)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range order {
			out.Order = append(out.Order, c.String())
		}
		return out
	}
	mem, disk := walk(t, 1<<30), walk(t, 1)
	if mem.OnDisk || !disk.OnDisk {
		t.Errorf("order on disk: %v with a 1 GiB cache, %v with 1 byte; want false, true", mem.OnDisk, disk.OnDisk)
	}
	mem.OnDisk, disk.OnDisk = false, false
	if diff := cmp.Diff(mem, disk); diff != "" {
		t.Errorf("spilled sets differ (-memory +disk):\n%s", diff)
	}
	if len(mem.Order) < 5 {
		t.Errorf("order has %d commits: the fixture lost its history", len(mem.Order))
	}
}

// assertParentsFirst fails t unless every commit of order comes after its parents, once each.
func assertParentsFirst(t *testing.T, d *repoData, order []plumbing.Hash) {
	t.Helper()
	at := map[plumbing.Hash]int{}
	for i, h := range order {
		if _, dup := at[h]; dup {
			t.Fatalf("commit %s twice in the order", h)
		}
		at[h] = i
	}
	for i, h := range order {
		c, err := d.commit(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.parents {
			if j, ok := at[p]; !ok || j >= i {
				t.Errorf("commit %s at %d: parent %s at %d (present: %v)", h, i, p, j, ok)
			}
		}
	}
}

// When topo's marks cannot be written to disk, or the order or the commits read back from it,
// the scan says so instead of answering from what it could not read.
func TestScanFailsWhenItsDiskFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		run  func(d *repoData) error
		want string
	}{
		{name: "scan", run: func(d *repoData) error {
			d.tempDir = filepath.Join(d.tempDir, "gone")
			_, err := d.scan(t.Context())
			return err
		}, want: "order the history"},
		{name: "commits unreadable", run: func(d *repoData) error {
			// Every commit was spilled (1-byte cache); its file can no longer be read.
			d.commits.f.Close()
			_, err := d.scan(t.Context())
			return err
		}, want: "back from disk"},
		{name: "refBits", want: "which refs reach each commit", run: func(d *repoData) error {
			names, roots := d.roots()
			tips, tipRefs := d.tips(roots)
			order, err := d.topoList(tips)
			if err != nil {
				return err
			}
			defer order.close()
			// The order is on disk (1-byte cache); its file can no longer be read.
			order.l.f.Close()
			return d.refBits(order, tipRefs, len(names), func(plumbing.Hash, int32, []uint64) {})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := loadFixture(t, packedFixture(t), 1)
			err := tc.run(d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// hexHash decodes as plumbing.NewHash does, malformed input included.
func TestHexHashMatchesNewHash(t *testing.T) {
	t.Parallel()
	full := plumbing.ComputeHash(plumbing.BlobObject, []byte("x")).String()
	for _, s := range []string{full, full + "ff", full[:39], full[:10], "", full[:20] + "zz" + full[22:], strings.ToUpper(full)} {
		if got, want := hexHash([]byte(s)), plumbing.NewHash(s); got != want {
			t.Errorf("hexHash(%q) = %s, want %s", s, got, want)
		}
	}
}

// A lean commit keeps what the scan reads of it: tree, parents, author, and the message only
// when it holds a secret; a signature's lines (which start with a space) go.
func TestPruneCommitKeepsWhatTheScanReads(t *testing.T) {
	t.Parallel()
	secret := fakekey.Random().OpenAIProjectKey()
	tree := plumbing.ComputeHash(plumbing.TreeObject, nil).String()
	p1 := plumbing.ComputeHash(plumbing.BlobObject, []byte("1")).String()
	p2 := plumbing.ComputeHash(plumbing.BlobObject, []byte("2")).String()
	hdr := "tree " + tree + "\nparent " + p1 + "\nparent " + p2 + "\nauthor A <a@example.com> 1700000000 +0100\n" +
		"committer C <c@example.com> 1700000001 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n"
	for _, tc := range []struct {
		name, raw, wantMsg string
	}{
		{name: "plain message", raw: hdr + "\nfix the build\n", wantMsg: ""},
		{name: "secret in message", raw: hdr + "\nkey " + secret + "\n", wantMsg: "key " + secret + "\n"},
		{name: "no message", raw: hdr, wantMsg: ""},
		{name: "root", raw: "tree " + tree + "\nauthor A <a@example.com> 1 +0000\n\nfirst\n", wantMsg: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &repoData{m: &matcher{secrets: [][]byte{[]byte(secret)}}}
			pruned := d.pruneCommit([]byte(tc.raw))
			got, want := parseCommit(pruned), parseCommit([]byte(tc.raw))
			if got.tree != want.tree || !slices.Equal(got.parents, want.parents) {
				t.Errorf("pruned: tree %s parents %v, want %s %v", got.tree, got.parents, want.tree, want.parents)
			}
			if string(got.msg) != tc.wantMsg {
				t.Errorf("pruned message %q, want %q", got.msg, tc.wantMsg)
			}
			if strings.Contains(string(pruned), "committer") || strings.Contains(string(pruned), "SIGNATURE") {
				t.Errorf("pruned commit keeps more than the scan reads:\n%s", pruned)
			}
			if a := authorOf(pruned); a != authorOf([]byte(tc.raw)) || a == "" {
				t.Errorf("author %q, want %q", a, authorOf([]byte(tc.raw)))
			}
		})
	}
}

func authorOf(raw []byte) string {
	hdr, _, _ := strings.Cut(string(raw), "\n\n")
	for line := range strings.SplitSeq(hdr, "\n") {
		if a, ok := strings.CutPrefix(line, "author "); ok {
			return a
		}
	}
	return ""
}

// A hashList reads back what was added, in both directions, whether it stays in memory, goes
// to disk at once or part way.
func TestHashListSpills(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		budget int64
		n      int
		onDisk bool
	}{
		{name: "empty", budget: 1 << 30, n: 0},
		{name: "memory", budget: 1 << 30, n: 5000},
		{name: "disk", budget: 1, n: 9000, onDisk: true},
		{name: "part way", budget: int64(2 * recordChunk * hashSize), n: 9000, onDisk: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBudget(tc.budget)
			l := newHashList(b, t.TempDir())
			var want []plumbing.Hash
			for i := range tc.n {
				h := plumbing.ComputeHash(plumbing.BlobObject, []byte(strconv.Itoa(i)))
				want = append(want, h)
				l.add(h)
			}
			var fwd, rev []plumbing.Hash
			if err := l.each(func(h plumbing.Hash) error { fwd = append(fwd, h); return nil }); err != nil {
				t.Fatal(err)
			}
			if err := l.eachReverse(func(h plumbing.Hash) error { rev = append(rev, h); return nil }); err != nil {
				t.Fatal(err)
			}
			slices.Reverse(rev)
			if !slices.Equal(fwd, want) || !slices.Equal(rev, want) || l.len() != tc.n {
				t.Errorf("read back %d forwards, %d backwards, len %d; want the %d added, in order", len(fwd), len(rev), l.len(), tc.n)
			}
			if l.onDisk() != tc.onDisk {
				t.Errorf("onDisk = %v, want %v", l.onDisk(), tc.onDisk)
			}
			l.close()
			if left := b.left.Load(); left != tc.budget {
				t.Errorf("budget after close: %d, want %d back", left, tc.budget)
			}
		})
	}
}
