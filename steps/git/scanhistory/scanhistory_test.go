package scanhistory

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
