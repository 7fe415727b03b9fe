package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/rehearsal"
)

// The building blocks run on the rehearsal world's generated repository and logs, with the git
// binary as the oracle of what is really in the repository afterwards.
func TestScanAndPurgeBuildingBlocks(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary (the oracle) not installed")
	}
	w, err := rehearsal.Start(t.Context(), rehearsal.Options{Seed: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	secretFile := writeFile(t, "secret", w.LeakedKey())
	env := map[string]string{"RESPOND_STATE_DIR": t.TempDir()}

	r := respond(t, env, "", "scan", "git", "--secret-file", secretFile, "--output", "json", w.Repo.Local)
	if r.code != 0 {
		t.Fatalf("scan git: exit %d\n%s", r.code, r.stderr)
	}
	var scan struct {
		Findings []struct {
			Commit string   `json:"commit"`
			Path   string   `json:"path"`
			Line   int      `json:"line"`
			Author string   `json:"author"`
			Date   string   `json:"date"`
			Refs   []string `json:"refs"`
		} `json:"findings"`
		FirstSeen string `json:"first_seen"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &scan); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(scan.Findings) < 4 || scan.FirstSeen == "" || scan.Findings[0].Author == "" || len(scan.Findings[0].Refs) == 0 {
		t.Errorf("scan result %+v", scan)
	}

	r = respond(t, env, "", "scan", "logs", "--secret-file", secretFile, w.LogDir)
	if r.code != 0 || !strings.Contains(r.stdout, "2 line(s)") || !strings.Contains(r.stdout, "app.log.1.gz:1") {
		t.Errorf("scan logs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = respond(t, env, "", "purge", "--secret-file", secretFile, "--push", w.Repo.Local)
	if r.code != 0 || !strings.Contains(r.stdout, "verified") || !strings.Contains(r.stdout, "force-pushed") {
		t.Fatalf("purge: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, repo := range []string{w.Repo.Local, w.Repo.Remote} {
		out, err := exec.Command("git", "-C", repo, "log", "--all", "-S"+w.LeakedKey(), "--oneline").CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) != 0 {
			t.Errorf("git log -S in %s after purge: %v %s", repo, err, out)
		}
		out, err = exec.Command("git", "-C", repo, "fsck", "--full").CombinedOutput()
		if err != nil {
			t.Errorf("git fsck in %s: %v\n%s", repo, err, out)
		}
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if where, ok := leak(out, w.LeakedKey()); ok {
			t.Errorf("leaked: …%s…", where)
		}
	}
}

// gitT runs the git binary (the oracle and fixture builder) in dir.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "user.name=Dev", "-c", "user.email=dev@example.com",
		"-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// purgeWorld is a bare remote and a clone of it: the key committed, stashed and in a branch name.
func purgeWorld(t *testing.T, key string) (remote, clone string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not installed")
	}
	base := t.TempDir()
	remote, clone = filepath.Join(base, "remote.git"), filepath.Join(base, "clone")
	gitT(t, base, "init", "-q", "--bare", remote)
	gitT(t, base, "clone", "-q", remote, clone)
	os.WriteFile(filepath.Join(clone, "app.env"), []byte("KEY="+key+"\n"), 0o644)
	gitT(t, clone, "add", "app.env")
	gitT(t, clone, "commit", "-q", "-m", "config")
	gitT(t, clone, "push", "-q", "origin", "main")
	gitT(t, clone, "branch", "fix-"+key)
	os.WriteFile(filepath.Join(clone, "app.env"), []byte("KEY=wip "+key+"\n"), 0o644)
	gitT(t, clone, "stash", "push", "-q", "-m", "wip")
	return remote, clone
}

func TestPurgeCommandRemotes(t *testing.T) {
	key := fakekey.New(41).OpenAIProjectKey()
	secretFile := writeFile(t, "secret", key)
	env := map[string]string{"RESPOND_STATE_DIR": t.TempDir()}

	t.Run("dry run lists everything", func(t *testing.T) {
		_, clone := purgeWorld(t, key)
		before := gitT(t, clone, "for-each-ref")
		r := respond(t, env, "", "purge", "--dry-run", "--secret-file", secretFile, clone)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"refs/heads/main ", "rename refs/heads/fix-<key> → refs/heads/fix-" + gitrepo.NameMask,
			"refs/stash ", "stash: 1 of 1 entries rewritten", "reflogs:", "refs/stash: 1 of 1 entries",
			"remote-tracking refs left where the remote is", "refs/remotes/origin/main", "respond purge --push --remote origin"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("dry run does not say %q:\n%s", want, r.stdout)
			}
		}
		if where, ok := leak(r.stdout+r.stderr, key); ok {
			t.Errorf("leaked: …%s…", where)
		}
		if after := gitT(t, clone, "for-each-ref"); after != before {
			t.Errorf("dry run changed refs")
		}
	})

	t.Run("without push the remote is untouched and said to hold the key", func(t *testing.T) {
		remote, clone := purgeWorld(t, key)
		remoteMain := gitT(t, remote, "rev-parse", "main")
		r := respond(t, env, "", "purge", "--secret-file", secretFile, clone)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "NOT FINISHED: the remote still holds the value") || strings.Contains(r.stdout, "verified:") ||
			!strings.Contains(r.stdout, "respond purge --push --remote origin --secret-file "+secretFile+" "+clone) {
			t.Errorf("output:\n%s", r.stdout)
		}
		if got := gitT(t, clone, "rev-parse", "refs/remotes/origin/main"); got != remoteMain {
			t.Errorf("origin/main moved: the clone would look in sync with a remote that still holds the key")
		}
		if n := len(strings.Split(strings.TrimSpace(gitT(t, clone, "stash", "list")), "\n")); n != 1 {
			t.Errorf("stash list has %d entries", n)
		}
	})

	t.Run("push with a remote ref the purge never saw is incomplete", func(t *testing.T) {
		remote, clone := purgeWorld(t, key)
		other := filepath.Join(t.TempDir(), "other")
		gitT(t, filepath.Dir(other), "clone", "-q", remote, other)
		os.WriteFile(filepath.Join(other, "late.txt"), []byte("late "+key+"\n"), 0o644)
		gitT(t, other, "add", "late.txt")
		gitT(t, other, "commit", "-q", "-m", "late")
		gitT(t, other, "push", "-q", "origin", "HEAD:refs/heads/late")
		r := respond(t, env, "", "purge", "--push", "--secret-file", secretFile, clone)
		if r.code == 0 || !strings.HasPrefix(afterVerified(r.stdout), "INCOMPLETE: the remote") || !strings.Contains(r.stdout, "refs/heads/late") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("push into a checked-out branch is refused", func(t *testing.T) {
		_, clone := purgeWorld(t, key)
		work := filepath.Join(t.TempDir(), "work")
		gitT(t, filepath.Dir(work), "clone", "-q", clone, work) // origin: a working tree
		before := gitT(t, clone, "rev-parse", "main")
		r := respond(t, env, "", "purge", "--push", "--secret-file", secretFile, work)
		if r.code == 0 || !strings.Contains(r.stderr, "receive.denyCurrentBranch") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if after := gitT(t, clone, "rev-parse", "main"); after != before {
			t.Errorf("the checked-out branch of the non-bare remote moved")
		}
	})
}

// afterVerified is the output from the line after the purge's verification on.
func afterVerified(out string) string {
	if _, rest, ok := strings.Cut(out, "verified: the value is in no ref, reflog, stash entry, name and no object\n"); ok {
		return rest
	}
	return out
}
