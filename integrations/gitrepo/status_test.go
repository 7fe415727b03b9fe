package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInspect(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q", "-b", "main", "repo")
	dir = filepath.Join(dir, "repo")
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("two\n"), 0o644)
	run("add", ".")
	run("commit", "-q", "-m", "first")
	st, err := Inspect(t.Context(), dir)
	if err != nil || st.Bare || len(st.Changed) != 0 {
		t.Fatalf("clean tree: %+v %v", st, err)
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("changed\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "untracked.txt"), []byte("new\n"), 0o644)
	st, err = Inspect(t.Context(), dir)
	if err != nil || !cmp.Equal(st.Changed, []string{"a.txt"}) {
		t.Errorf("a modified file: %+v %v (untracked files are not changes)", st, err)
	}
	run("clone", "-q", "--bare", ".", filepath.Join(dir, "..", "bare.git"))
	if st, err := Inspect(t.Context(), filepath.Join(dir, "..", "bare.git")); err != nil || !st.Bare {
		t.Errorf("bare: %+v %v", st, err)
	}
	if _, err := Inspect(t.Context(), t.TempDir()); err == nil {
		t.Error("a directory that is no repository was accepted")
	}
}
