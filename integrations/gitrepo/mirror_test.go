package gitrepo

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
)

// refsOf lists every ref of a repository with git itself, the oracle.
func refsOf(t *testing.T, dir string) []string {
	t.Helper()
	g := &gitRunner{t: t, dir: dir}
	return lines(g.run("for-each-ref", "--format=%(refname) %(objectname)"))
}

// A mirror holds every ref of the origin; the next call fetches what changed and drops what
// the origin deleted.
func TestMirrorClonesThenFetchesAndPrunes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	dir := filepath.Join(t.TempDir(), "cache", "demo.git")
	fetched, err := Mirror(t.Context(), MirrorOptions{URL: f.dir, Dir: dir})
	if err != nil || fetched {
		t.Fatalf("first Mirror: fetched=%v err=%v", fetched, err)
	}
	if d := cmp.Diff(refsOf(t, f.dir), refsOf(t, dir)); d != "" {
		t.Fatalf("mirror refs (-origin +mirror):\n%s", d)
	}
	g := &gitRunner{t: t, dir: f.dir, when: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.write("later.txt", "later\n")
	g.commit("later", "later.txt")
	g.run("branch", "-D", "old")
	fetched, err = Mirror(t.Context(), MirrorOptions{URL: f.dir, Dir: dir})
	if err != nil || !fetched {
		t.Fatalf("second Mirror: fetched=%v err=%v", fetched, err)
	}
	if d := cmp.Diff(refsOf(t, f.dir), refsOf(t, dir)); d != "" {
		t.Errorf("after the fetch (-origin +mirror):\n%s", d)
	}
	if _, err := Mirror(t.Context(), MirrorOptions{URL: t.TempDir(), Dir: dir}); err == nil {
		t.Error("a cache directory of another URL was fetched into")
	}
}

// The clone token goes over HTTP only: neither the mirror's config nor any other file of it
// holds the token, before or after a fetch; a URL with credentials in it is refused.
func TestMirrorNeverWritesTheToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	gitBin, _ := exec.LookPath("git")
	root := t.TempDir()
	(&gitRunner{t: t, dir: root}).run("clone", "-q", "--bare", f.dir, filepath.Join(root, "demo.git"))
	token := fakekey.Random().GitHubToken()
	var mu sync.Mutex
	authorized := 0
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: append([]string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}, gitEnv...)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "x-access-token" || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "auth", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		authorized++
		mu.Unlock()
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dir := filepath.Join(t.TempDir(), "demo.git")
	for range 2 {
		if _, err := Mirror(t.Context(), MirrorOptions{URL: srv.URL + "/demo.git", Token: token, Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if authorized == 0 {
		t.Fatal("the server never saw the token")
	}
	err := filepath.WalkDir(filepath.Dir(dir), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the token", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	withCreds := strings.Replace(srv.URL, "://", "://x-access-token:"+token+"@", 1) + "/demo.git"
	_, err = Mirror(t.Context(), MirrorOptions{URL: withCreds, Dir: filepath.Join(t.TempDir(), "x.git")})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("a URL with credentials: err = %v, want a refusal that does not repeat them", err)
	}
}

// Scan and purge report progress that ends at the number of commits they walked.
func TestProgressReachesTheTotal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	var mu sync.Mutex
	last := map[string][2]int64{}
	p := func(phase string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if prev := last[phase]; done < prev[0] {
			t.Errorf("%s went back from %d to %d", phase, prev[0], done)
		}
		last[phase] = [2]int64{done, total}
	}
	res, err := Scan(t.Context(), ScanOptions{Path: f.dir, Secrets: f.secrets(), Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(res.Commits)
	if got := last[PhaseScan]; got != [2]int64{n, n} {
		t.Errorf("scan progress ended at %v, want %d of %d", got, n, n)
	}
	pr, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir(), Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	if got := last[PhasePurge]; got[0] != got[1] || got[1] < int64(pr.Commits) || got[1] == 0 {
		t.Errorf("purge progress ended at %v after %d rewritten commits", got, pr.Commits)
	}
}

// The remote's progress arrives in arbitrary pieces; whole counters become calls.
func TestSidebandProgress(t *testing.T) {
	t.Parallel()
	var got [][2]int64
	s := &sidebandProgress{phase: PhaseClone, p: func(_ string, done, total int64) { got = append(got, [2]int64{done, total}) }}
	for _, piece := range []string{"Enumerating objects: 12, done.\nCounting obj", "ects:  50% (6/12)\r", "Counting objects: 100% (12/12), done.\n", "Total 12 (delta 0)"} {
		s.Write([]byte(piece))
	}
	if d := cmp.Diff([][2]int64{{6, 12}, {12, 12}}, got); d != "" {
		t.Errorf("progress (-want +got):\n%s", d)
	}
}
