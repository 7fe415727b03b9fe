package cli_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

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
