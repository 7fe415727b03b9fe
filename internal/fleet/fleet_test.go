package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// newRepo makes a repository with the git binary (a fixture builder here): one commit per
// content, and bare when asked (as a forge serves them).
func newRepo(t *testing.T, dir string, bare bool, contents ...string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not installed")
	}
	work := dir
	if bare {
		work = dir + ".work"
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=Dev",
			"GIT_AUTHOR_EMAIL=dev@example.com", "GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
			"GIT_AUTHOR_DATE=2024-05-01T10:00:00Z", "GIT_COMMITTER_DATE=2024-05-01T10:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", work)
	for i, c := range contents {
		if err := os.WriteFile(filepath.Join(work, "app.env"), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		git("-C", work, "add", ".")
		git("-C", work, "commit", "-q", "-m", fmt.Sprintf("change %d", i))
	}
	if bare {
		git("clone", "-q", "--bare", work, dir)
	}
}

// world is a fleet of local repositories: which hold the secret and how often.
type world struct {
	secret  string
	targets []Target
	want    map[string]int // findings per repository
}

func newWorld(t *testing.T, n int) *world {
	w := &world{secret: fakekey.Random().OpenAIProjectKey(), want: map[string]int{}}
	root := t.TempDir()
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("repo%d", i))
		contents := []string{"A=1\n"}
		if i%2 == 1 {
			contents = append(contents, "KEY="+w.secret+"\n", "KEY=\n")
			w.want[dir] = 1
		} else {
			w.want[dir] = 0
		}
		newRepo(t, dir, false, contents...)
		w.targets = append(w.targets, Target{Name: dir, Path: dir})
	}
	return w
}

func findingsByRepo(rep *Report) map[string]int {
	got := map[string]int{}
	for _, r := range rep.Results {
		if r.Err == nil {
			got[r.Target.Name] = len(r.Scan.Findings)
		}
	}
	return got
}

// Several repositories, at most Concurrency at a time, one of them missing: the others are
// scanned, the missing one is reported, and nothing stops.
func TestScanFleetBoundedWithAFailingRepo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 6)
	bad := Target{Name: "gone", Path: filepath.Join(t.TempDir(), "gone")}
	targets := append([]Target{bad}, w.targets...)
	var mu sync.Mutex
	most := 0
	rep, err := Scan(t.Context(), Options{Targets: targets, Secrets: [][]byte{[]byte(w.secret)}, Concurrency: 2,
		StateFile: filepath.Join(t.TempDir(), "fleet.json"),
		Progress: func(s Status) {
			mu.Lock()
			most = max(most, len(s.Running))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(w.want, findingsByRepo(rep)); d != "" {
		t.Errorf("findings per repository (-want +got):\n%s", d)
	}
	if rep.Failed != 1 || rep.Results[0].Err == nil || rep.Findings != 3 {
		t.Errorf("failed=%d first err=%v findings=%d, want the missing repository failed and 3 findings", rep.Failed, rep.Results[0].Err, rep.Findings)
	}
	if most > 2 || most == 0 {
		t.Errorf("at most %d repositories ran at once, want 1 or 2 (the bound)", most)
	}
}

// Interrupted after some repositories, the progress file holds exactly the finished ones; the
// next run scans only the others, reports on all, and removes the file once all are done.
func TestScanFleetResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	progressFile := filepath.Join(t.TempDir(), "fleet.json")
	o := Options{Targets: w.targets, Secrets: [][]byte{[]byte(w.secret)}, SecretID: "abc123", Concurrency: 1, StateFile: progressFile}
	ctx, cancel := context.WithCancel(t.Context())
	o.Progress = func(s Status) {
		if s.Done == 2 {
			cancel()
		}
	}
	rep, err := Scan(ctx, o)
	if err != context.Canceled {
		t.Fatalf("interrupted fleet: err = %v, want context.Canceled", err)
	}
	var f stateFile
	b, err := os.ReadFile(progressFile)
	if err != nil || json.Unmarshal(b, &f) != nil {
		t.Fatalf("progress file after the interruption: %v\n%s", err, b)
	}
	finished := map[string]bool{}
	for _, r := range rep.Results {
		if r.Err == nil {
			finished[r.Target.Name] = true
		}
	}
	if len(f.Done) != 2 || len(finished) != 2 {
		t.Fatalf("%d recorded and %d finished, want 2 and 2", len(f.Done), len(finished))
	}
	for _, r := range f.Done {
		if !finished[r.Target.Name] {
			t.Errorf("%s recorded but not finished", r.Target.Name)
		}
	}

	var mu sync.Mutex
	started := map[string]bool{}
	o.Progress = func(s Status) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range s.Running {
			started[n] = true
		}
	}
	rep, err = Scan(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(w.want, findingsByRepo(rep)); d != "" {
		t.Errorf("resumed report (-want +got):\n%s", d)
	}
	for n := range finished {
		if started[n] {
			t.Errorf("%s was scanned again", n)
		}
	}
	if rep.Resumed != 2 || len(started) != 3 {
		t.Errorf("resumed %d and scanned %d, want 2 and 3", rep.Resumed, len(started))
	}
	if _, err := os.Stat(progressFile); !os.IsNotExist(err) {
		t.Errorf("progress file left after the whole fleet was done: %v", err)
	}
}

// A progress file written for another value is refused: its repositories were never searched
// for this one.
func TestScanFleetRefusesProgressOfAnotherSecret(t *testing.T) {
	t.Parallel()
	stateFile := filepath.Join(t.TempDir(), "fleet.json")
	if err := writeAtomic(stateFile, []byte(`{"version":1,"secret_fingerprint":"aaaaaa","done":{}}`)); err != nil {
		t.Fatal(err)
	}
	_, err := Scan(t.Context(), Options{Targets: []Target{{Name: "x", Path: "x"}}, Secrets: [][]byte{[]byte("s")}, SecretID: "bbbbbb", StateFile: stateFile})
	if err == nil || !strings.Contains(err.Error(), "another value") {
		t.Errorf("err = %v, want a refusal naming another value", err)
	}
}

// An organization listed through the GitHub API (githubsim, driven by the real client), each
// repository mirrored into the cache over go-git's file transport; the next run fetches into
// the same mirrors. Archived repositories and forks are in unless left out.
func TestScanOrganization(t *testing.T) {
	t.Parallel()
	secret := fakekey.Random().OpenAIProjectKey()
	root := t.TempDir()
	var seed []githubsim.Repo
	for i, r := range []struct {
		name           string
		leak           bool
		archived, fork bool
	}{{"api", true, false, false}, {"web", false, false, false}, {"old", true, true, false}, {"fork", false, false, true}} {
		dir := filepath.Join(root, r.name+".git")
		contents := []string{"A=1\n"}
		if r.leak {
			contents = append(contents, "KEY="+secret+"\n")
		}
		newRepo(t, dir, true, contents...)
		seed = append(seed, githubsim.Repo{Name: "acme/" + r.name, Archived: r.archived, Fork: r.fork, CloneURL: dir, ID: int64(100 + i)})
	}
	tok := fakekey.Random().GitHubToken()
	sim := githubsim.New(githubsim.Options{Token: tok})
	if err := sim.Seed(githubsim.World{Repos: seed}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gc, err := github.New(github.Config{Token: tok, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	targets, skipped, err := OrgTargets(t.Context(), gc, "acme", OrgFilter{SkipForks: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"acme/fork"}, skipped); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
	cache := filepath.Join(t.TempDir(), "mirrors")
	o := Options{Targets: targets, Secrets: [][]byte{[]byte(secret)}, Token: tok, CacheDir: cache}
	for run := range 2 {
		rep, err := Scan(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"acme/api": 1, "acme/old": 1, "acme/web": 0}
		if d := cmp.Diff(want, findingsByRepo(rep)); d != "" {
			t.Errorf("run %d: findings (-want +got):\n%s", run, d)
		}
		for _, r := range rep.Results {
			if r.Fetched != (run == 1) {
				t.Errorf("run %d: %s fetched=%v", run, r.Target.Name, r.Fetched)
			}
			if _, err := os.Stat(filepath.Join(MirrorDir(cache, r.Target.URL), "HEAD")); err != nil {
				t.Errorf("run %d: no mirror of %s in the cache: %v", run, r.Target.Name, err)
			}
		}
	}
}

func TestParseList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, text string
		want       []Target
		err        string
	}{
		{"paths, URLs, comments", "# fleet\n\nsvc/api\n/abs/web  # the site\nhttps://github.com/acme/x.git\ngit@github.com:acme/y.git\n",
			[]Target{{Name: "svc/api", Path: "/lists/svc/api"}, {Name: "/abs/web", Path: "/abs/web"},
				{Name: "https://github.com/acme/x.git", URL: "https://github.com/acme/x.git"},
				{Name: "git@github.com:acme/y.git", URL: "git@github.com:acme/y.git"}}, ""},
		{"two on a line", "a\nb c\n", nil, "repos.txt:2: one path or clone URL per line"},
		{"credentials", "https://u:p@github.com/acme/x.git\n", nil, "repos.txt:1: https://***@github.com/acme/x.git carries credentials"},
		{"scheme", "ftp://host/x\n", nil, "repos.txt:1: clone URL scheme \"ftp\""},
		{"duplicate", "a\n# c\na\n", nil, "repos.txt:3: a is listed already on line 1"},
		{"empty", "# nothing\n", nil, "repos.txt: no repositories listed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseList("repos.txt", "/lists", strings.NewReader(c.text))
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) {
					t.Fatalf("err = %v, want prefix %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// The GitHub token goes only to GitHub over http(s): a list file may name any host.
func TestTokenGoesToGitHubOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		api, url string
		sent     bool
	}{
		{"", "https://github.com/acme/x.git", true},
		{"", "https://evil.example/acme/x.git", false},
		{"", "http://github.com.evil.example/x.git", false},
		{"", "ssh://git@github.com/acme/x.git", false},
		{"https://ghe.example/api/v3", "https://ghe.example/acme/x.git", true},
		{"https://ghe.example/api/v3", "https://github.com/acme/x.git", false},
		{"https://api.github.com/", "https://github.com/acme/x.git", true},
	}
	for _, c := range cases {
		r := &runner{o: Options{Token: "tok", TokenHosts: TokenHosts(c.api)}}
		if got := r.tokenFor(c.url) != ""; got != c.sent {
			t.Errorf("API %q, clone %s: token sent = %v, want %v", c.api, c.url, got, c.sent)
		}
	}
}

func TestMirrorDirIsUniqueAndInsideTheCache(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, u := range []string{"https://github.com/acme/x.git", "https://github.com/other/x.git", "git@github.com:acme/x.git",
		"/srv/../../etc/x.git", "file:///srv/x", "https://h/..", "https://../x", ""} {
		d := MirrorDir("/cache", u)
		rel, err := filepath.Rel("/cache", d)
		if err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 1 {
			t.Errorf("%q → %s: not a host/name directory inside the cache", u, d)
		}
		if prev, ok := seen[d]; ok {
			t.Errorf("%q and %q share %s", prev, u, d)
		}
		seen[d] = u
	}
}
