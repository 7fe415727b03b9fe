package gitrepo

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The scan reads a lean copy of the repository (trees pruned to what can hold a secret, no blob
// data, two passes over the store); its answers must be exactly those of the full load the purge
// uses, whether objects are loose (kept whole) or packed with deltas (pruned), and whatever
// extra history holds a secret only through a blob that no commit introduces.
func TestLeanScanMatchesFullLoad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		repack []string // git repack arguments; nil leaves the objects loose
		extra  bool     // a merge identical to a parent and a secret moved between files
	}{
		{name: "loose"},
		{name: "packed", repack: []string{"-adf", "--depth=250", "--window=50"}},
		{name: "packed-extra", repack: []string{"-adf", "--depth=250", "--window=50"}, extra: true},
		{name: "two-packs", repack: []string{"-d"}, extra: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOpts{})
			g := &gitRunner{t: t, dir: f.dir}
			if tc.extra {
				g.run("repack", "-adq")
				// The same blob at another path (no new occurrence), then a merge that takes one
				// side whole.
				g.write("config.copy", "DEBUG=1\nOPENAI_API_KEY="+f.secret+"\n")
				g.commit("copy config", "config.copy")
				g.run("checkout", "-q", "-b", "side", "HEAD~1")
				g.write("side.txt", "side\n")
				g.commit("side", "side.txt")
				g.run("checkout", "-q", "main")
				g.run("merge", "-q", "-s", "ours", "-m", "take main", "side")
			}
			if tc.repack != nil {
				g.run(append([]string{"repack", "-q"}, tc.repack...)...)
			}
			gitDir, bare, err := gitDirOf(f.dir)
			if err != nil {
				t.Fatal(err)
			}
			scan := func(lean bool) *ScanResult {
				d, err := load(t.Context(), gitDir, bare, loadOptions{secrets: f.secrets(), workers: 2, lean: lean})
				if err != nil {
					t.Fatal(err)
				}
				defer d.close()
				res, err := d.scan(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			full, lean := scan(false), scan(true)
			if diff := cmp.Diff(full, lean); diff != "" {
				t.Errorf("lean scan differs from the full load (-full +lean):\n%s", diff)
			}
			if len(full.Findings) == 0 {
				t.Error("no findings: the fixture lost its secrets")
			}
		})
	}
}
