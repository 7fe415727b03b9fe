package scanhistory

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps/stepstest"
)

// Before the revocation, preflight says which working trees the purge would refuse, and refuses
// a path that is no repository.
func TestPreflightReportsThePreconditions(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	for _, name := range []string{"clean", "dirty"} {
		git(root, "init", "-q", "-b", "main", name)
		dir := filepath.Join(root, name)
		os.WriteFile(filepath.Join(dir, "config.env"), []byte("A=1\n"), 0o644)
		git(dir, "add", ".")
		git(dir, "commit", "-q", "-m", "first")
	}
	os.WriteFile(filepath.Join(root, "dirty", "config.env"), []byte("A=2\n"), 0o644)

	rec := stepstest.New(t, nil)
	s := &Scan{Repos: []string{filepath.Join(root, "clean"), filepath.Join(root, "dirty"), "https://example.com/acme/app.git"}}
	if err := s.Preflight(t.Context(), rec.Env); err != nil {
		t.Fatal(err)
	}
	text := rec.Text()
	for _, want := range []string{"clean is a git working tree with no uncommitted changes", "dirty has uncommitted changes (config.env)", "is a clone URL"} {
		if !strings.Contains(text, want) {
			t.Errorf("preflight does not say %q:\n%s", want, text)
		}
	}
	s.Repos = []string{filepath.Join(root, "nope")}
	if err := s.Preflight(t.Context(), rec.Env); err == nil {
		t.Error("a path that is no repository passed preflight")
	}
}

func TestValidateNamesTheParameter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		s    Scan
		want string
	}{
		{"fine", Scan{Repos: []string{"/srv/a", "https://github.com/acme/b.git"}, Org: "acme", SkipForks: true, Concurrency: 8}, ""},
		{"credentials in a URL", Scan{Repos: []string{"https://u:p@github.com/acme/b.git"}}, "repos[0]: https://***@github.com/acme/b.git carries credentials"},
		{"scheme", Scan{Repos: []string{"/a", "ftp://h/x"}}, "repos[1]: clone URL scheme"},
		{"org", Scan{Org: "acme/api"}, "org: \"acme/api\" is not an organization login"},
		{"skip without org", Scan{SkipArchived: true}, "skip_archived: only with org"},
		{"concurrency", Scan{Concurrency: 100}, "concurrency: between 1 and 32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("err = %v, want prefix %q", err, c.want)
			}
		})
	}
}

// bareRepo makes a bare repository with one commit of content.
func bareRepo(t *testing.T, root, name, content string) string {
	t.Helper()
	work, bare := filepath.Join(root, name), filepath.Join(root, name+".git")
	for _, args := range [][]string{{"init", "-q", "-b", "main", work}, {"-C", work, "add", "."}, {"-C", work, "commit", "-q", "-m", "c"},
		{"clone", "-q", "--bare", work, bare}} {
		if args[0] == "-C" && args[2] == "add" {
			os.WriteFile(filepath.Join(work, "app.env"), []byte(content), 0o644)
		}
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com",
			"GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return bare
}

// An organization (githubsim, through the run's GitHub client) plus a listed local repository
// that does not exist: the others are scanned and combined, the step fails naming the missing
// one, its next attempt scans only that one, and the journal got periodic progress lines.
func TestRunScansAnOrganizationAndResumes(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	progressEvery = time.Millisecond
	defer func() { progressEvery = 10 * time.Second }()
	key := fakekey.Random().OpenAIProjectKey()
	root := t.TempDir()
	tok := fakekey.Random().GitHubToken()
	sim := githubsim.New(githubsim.Options{Token: tok})
	if err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", CloneURL: bareRepo(t, root, "api", "KEY="+key+"\n")},
		{Name: "acme/web", CloneURL: bareRepo(t, root, "web", "A=1\n")}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	missing := filepath.Join(root, "missing")
	list := filepath.Join(root, "repos.txt")
	os.WriteFile(list, []byte("# ours\nmissing\n"), 0o644)
	rec := stepstest.New(t, map[string]string{"GITHUB_TOKEN": tok, "RESPOND_GITHUB_API_URL": srv.URL, "RESPOND_STATE_DIR": t.TempDir()})
	s := &Scan{Org: "acme", ReposFile: list, Secret: key}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Run(t.Context(), rec.Env)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 repositories could not be scanned") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want the missing repository named", err)
	}
	if text := rec.Text(); !strings.Contains(text, "acme/api: 1 finding(s)") || !strings.Contains(text, "repositories: ") {
		t.Errorf("journal lacks the results or the progress lines:\n%s", text)
	}
	bareRepo(t, root, "missing", "A=2\n")
	os.Rename(missing+".git", missing)
	sim.ResetRequests()
	out, err := s.Run(t.Context(), rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["count"] != 1 || !cmp.Equal(out["repos_with_secret"], []string{"acme/api"}) {
		t.Errorf("outputs %v", out)
	}
	if !regexp.MustCompile(`acme/api: 1 finding\(s\)[^\n]*\(scanned by an earlier attempt\)`).MatchString(rec.Text()) {
		t.Errorf("the second attempt did not take acme/api from the first:\n%s", rec.Text())
	}
	if where := strings.Index(rec.Text(), key); where >= 0 {
		t.Errorf("the journal holds the key")
	}
}
