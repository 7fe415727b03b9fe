package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/fakekey"
)

// fleetRepos makes bare repositories, the key committed in those named in leaky.
func fleetRepos(t *testing.T, key string, names []string, leaky map[string]bool) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not installed")
	}
	base := t.TempDir()
	out := map[string]string{}
	for _, n := range names {
		work, bare := filepath.Join(base, n), filepath.Join(base, n+".git")
		gitT(t, base, "init", "-q", work)
		content := "A=1\n"
		if leaky[n] {
			content += "KEY=" + key + "\n"
		}
		os.WriteFile(filepath.Join(work, "app.env"), []byte(content), 0o644)
		gitT(t, work, "add", "app.env")
		gitT(t, work, "commit", "-q", "-m", "config")
		gitT(t, base, "clone", "-q", "--bare", work, bare)
		out[n] = bare
	}
	return out
}

type fleetOut struct {
	Repositories []struct {
		Name     string            `json:"name"`
		Status   string            `json:"status"`
		Error    string            `json:"error"`
		Findings []json.RawMessage `json:"findings"`
	} `json:"repositories"`
	Findings int      `json:"findings"`
	Failed   int      `json:"failed"`
	Skipped  []string `json:"skipped"`
}

func (o fleetOut) summary() map[string]string {
	m := map[string]string{}
	for _, r := range o.Repositories {
		m[r.Name] = r.Status + " " + string(rune('0'+len(r.Findings)))
	}
	return m
}

// A list file with a repository that does not exist: the others are reported, the missing one
// fails the command (exit 1) after the report, as the single-repository scan fails.
func TestScanGitFleetFromAListFile(t *testing.T) {
	key := fakekey.Random().OpenAIProjectKey()
	repos := fleetRepos(t, key, []string{"api", "web"}, map[string]bool{"api": true})
	list := writeFile(t, "repos.txt", "# our services\n"+repos["api"]+"\n"+repos["web"]+"  # the site\n/nowhere/gone\n")
	secretFile := writeFile(t, "secret", key)
	r := respond(t, nil, "", "scan", "git", "--secret-file", secretFile, "--repos", list, "--output", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	var got fleetOut
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	want := map[string]string{repos["api"]: "scanned 1", repos["web"]: "scanned 0", "/nowhere/gone": "failed 0"}
	if d := cmp.Diff(want, got.summary()); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
	if !strings.Contains(r.stderr, "1 of 3 repositories could not be scanned") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if where, ok := leak(r.stdout+r.stderr, key); ok {
		t.Errorf("leaked: …%s…", where)
	}

	bad := writeFile(t, "bad.txt", repos["api"]+"\nhttps://user:pw@github.com/acme/x.git\n")
	r = respond(t, nil, "", "scan", "git", "--secret-file", secretFile, "--repos", bad)
	if r.code != 2 || !strings.Contains(r.stderr, "bad.txt:2:") || strings.Contains(r.stderr, "pw@") {
		t.Errorf("bad list: exit %d\n%s", r.code, r.stderr)
	}
}

// An organization through the GitHub API (githubsim), cloned into the cache under the state
// dir; the token is never written there nor printed; a second run fetches into the same mirrors.
func TestScanGitFleetOfAnOrganization(t *testing.T) {
	key := fakekey.Random().OpenAIProjectKey()
	repos := fleetRepos(t, key, []string{"api", "web", "old"}, map[string]bool{"api": true, "old": true})
	tok := fakekey.Random().GitHubToken()
	sim := githubsim.New(githubsim.Options{Token: tok})
	err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api", CloneURL: repos["api"]},
		{Name: "acme/web", CloneURL: repos["web"]}, {Name: "acme/old", CloneURL: repos["old"], Archived: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state, "GITHUB_TOKEN": tok, "RESPOND_GITHUB_API_URL": srv.URL}
	secretFile := writeFile(t, "secret", key)
	for _, args := range [][]string{{"--output", "json"}, {"--skip-archived", "--output", "json"}} {
		r := respond(t, env, "", append([]string{"scan", "git", "--secret-file", secretFile, "--org", "acme", "--concurrency", "2"}, args...)...)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var got fleetOut
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("json: %v\n%s", err, r.stdout)
		}
		want := map[string]string{"acme/api": "scanned 1", "acme/web": "scanned 0", "acme/old": "scanned 1"}
		if len(got.Skipped) > 0 {
			delete(want, "acme/old")
		}
		if d := cmp.Diff(want, got.summary()); d != "" {
			t.Errorf("%v: report (-want +got):\n%s", args, d)
		}
		if strings.Contains(r.stdout+r.stderr, tok) {
			t.Errorf("%v: the token was printed", args)
		}
	}
	mirrors, _ := filepath.Glob(filepath.Join(state, "mirrors", "*", "*.git"))
	if len(mirrors) != 3 {
		t.Errorf("mirrors in the cache: %v, want 3", mirrors)
	}
	filepath.WalkDir(state, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(tok)) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})

	delete(env, "GITHUB_TOKEN")
	r := respond(t, env, "", "scan", "git", "--secret-file", secretFile, "--org", "acme")
	if r.code != 4 {
		t.Errorf("--org without a token: exit %d, want 4\n%s", r.code, r.stderr)
	}
}

// An interrupted fleet exits 130 and says the same command goes on.
func TestScanGitFleetInterrupted(t *testing.T) {
	key := fakekey.Random().OpenAIProjectKey()
	repos := fleetRepos(t, key, []string{"a", "b"}, nil)
	var out, errb bytes.Buffer
	env := map[string]string{"RESPOND_STATE_DIR": t.TempDir()}
	f := &cli.Factory{IO: cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	code := cli.Main(ctx, []string{"respond", "scan", "git", "--secret-file", writeFile(t, "secret", key), repos["a"], repos["b"]}, f)
	if code != 130 || !strings.Contains(errb.String(), "run the same command again") {
		t.Errorf("exit %d\n%s%s", code, out.String(), errb.String())
	}
}
