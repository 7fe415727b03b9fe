package gitrepo

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/respond-sec/respond/internal/fakekey"
)

// The git binary builds fixtures and serves as the oracle; the package itself never runs it.
func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not installed")
	}
}

var gitEnv = []string{
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=Dev One", "GIT_AUTHOR_EMAIL=dev1@example.com",
	"GIT_COMMITTER_NAME=Dev One", "GIT_COMMITTER_EMAIL=dev1@example.com",
	"LC_ALL=C",
}

type gitRunner struct {
	t    *testing.T
	dir  string
	when time.Time
}

// run runs git in dir and returns its stdout; a failure fails the test.
func (g *gitRunner) run(args ...string) string {
	g.t.Helper()
	out, err := g.try(args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (g *gitRunner) try(args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	cmd.Dir = g.dir
	date := g.when.Format(time.RFC3339)
	cmd.Env = append(append(os.Environ(), gitEnv...), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (g *gitRunner) tick() { g.when = g.when.Add(time.Hour) }

func (g *gitRunner) write(name, content string) {
	g.t.Helper()
	p := filepath.Join(g.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gitRunner) commit(msg string, add ...string) string {
	g.t.Helper()
	g.tick()
	g.run(append([]string{"add", "--"}, add...)...)
	g.run("commit", "-q", "-m", msg)
	return strings.TrimSpace(g.run("rev-parse", "HEAD"))
}

// fixture is a repository with the secret in every place a purge must reach.
type fixture struct {
	dir     string
	secret  string // the leaked key
	variant string // a second secret, in one file on a feature branch
	commits map[string]string
}

type fixtureOpts struct {
	textOnly bool // no binary file (git filter-repo leaves binary blobs alone)
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	needGit(t)
	src := fakekey.Random()
	f := &fixture{dir: t.TempDir(), secret: src.OpenAIProjectKey(), variant: src.OpenAIServiceAccountKey(), commits: map[string]string{}}
	g := &gitRunner{t: t, dir: f.dir, when: time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)}
	g.run("init", "-q")
	g.write("README.md", "# demo\n")
	f.commits["root"] = g.commit("initial", "README.md")

	// A signed commit (the signature need not verify: it must survive untouched).
	f.commits["signed"] = signedCommit(t, f.dir, f.commits["root"], g.when.Add(30*time.Minute))
	g.tick()
	g.run("branch", "old")
	g.run("tag", "-a", "v0.1", "-m", "first release")

	g.write("config.env", "DEBUG=1\nOPENAI_API_KEY="+f.secret+"\n")
	g.write("src/app.go", "package main\n")
	f.commits["config"] = g.commit("add config", "config.env", "src/app.go")
	if !o.textOnly {
		g.write("assets/logo.bin", "\x89PNG\x00\x01"+f.secret+"\x00\x02\x03")
		f.commits["binary"] = g.commit("add logo", "assets/logo.bin")
		g.run("tag", "light")
	}
	g.write("src/app.go", "package main\n\nfunc main() {}\n")
	f.commits["message"] = g.commit("wire main\n\nrun with OPENAI_API_KEY="+f.secret+" for now", "src/app.go")
	g.run("tag", "-a", "v1.0", "-m", "release 1.0\n\nstaging key "+f.secret)
	g.write("tmp.txt", "scratch "+f.secret+"\n")
	f.commits["tmpadd"] = g.commit("scratch", "tmp.txt")
	g.tick()
	g.run("rm", "-q", "tmp.txt")
	g.run("commit", "-q", "-m", "drop scratch")
	f.commits["tmprm"] = strings.TrimSpace(g.run("rev-parse", "HEAD"))

	g.run("checkout", "-q", "-b", "feature")
	g.write("feature.txt", "token="+f.variant+"\n")
	f.commits["feature"] = g.commit("feature work", "feature.txt")
	g.run("checkout", "-q", "main")
	g.write("README.md", "# demo\n\nmore\n")
	f.commits["main2"] = g.commit("docs", "README.md")
	g.tick()
	g.run("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
	f.commits["merge"] = strings.TrimSpace(g.run("rev-parse", "HEAD"))
	g.tick()
	g.run("notes", "add", "-m", "deployed with "+f.secret, f.commits["config"])
	g.write("README.md", "# demo\n\nmore\nand more\n")
	f.commits["last"] = g.commit("docs again", "README.md")
	return f
}

// signedCommit adds on top of parent a commit with a PGP signature header, made with go-git
// object encoding, and moves main to it.
func signedCommit(t *testing.T, dir, parent string, when time.Time) string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := repo.CommitObject(plumbing.NewHash(parent))
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "Dev Two", Email: "dev2@example.com", When: when}
	c := &object.Commit{Author: sig, Committer: sig, Message: "signed change\n", TreeHash: p.TreeHash,
		ParentHashes: []plumbing.Hash{p.Hash},
		PGPSignature: "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEEfakefakefake\n=abcd\n-----END PGP SIGNATURE-----\n"}
	o := repo.Storer.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", h)); err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func (f *fixture) secrets() [][]byte { return [][]byte{[]byte(f.secret), []byte(f.variant)} }

// mirror makes a bare mirror clone of the fixture (with the git binary) and returns its path.
func (f *fixture) mirror(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mirror.git")
	g := &gitRunner{t: t, dir: filepath.Dir(dir)}
	g.run("clone", "-q", "--mirror", f.dir, dir)
	return dir
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

func set(xs ...string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// oracleCommits returns `git log --all --no-renames -S<s>` for each secret, merged.
func oracleCommits(t *testing.T, dir string, secrets [][]byte) map[string]bool {
	t.Helper()
	g := &gitRunner{t: t, dir: dir}
	out := map[string]bool{}
	for _, s := range secrets {
		for _, c := range lines(g.run("log", "--all", "--no-renames", "-S"+string(s), "--format=%H")) {
			out[c] = true
		}
	}
	return out
}

// assertNoSecret checks with the git binary that nothing reachable or stored holds a secret.
func assertNoSecret(t *testing.T, dir string, secrets [][]byte) {
	t.Helper()
	g := &gitRunner{t: t, dir: dir}
	if out, err := g.try("fsck", "--full", "--strict", "--no-dangling"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("git fsck --full in %s: %v\n%s", dir, err, out)
	}
	if out, err := g.try("fsck", "--full", "--unreachable"); err != nil || strings.Contains(out, "unreachable") {
		t.Errorf("unreachable objects remain in %s: %v\n%s", dir, err, out)
	}
	revs := lines(g.run("rev-list", "--all"))
	for _, s := range secrets {
		if got := oracleCommits(t, dir, [][]byte{s}); len(got) != 0 {
			t.Errorf("git log --all -S finds the secret in %d commits", len(got))
		}
		out, err := g.try(append([]string{"grep", "-F", "-l", "-a", string(s)}, revs...)...)
		if err == nil || strings.TrimSpace(out) != "" {
			t.Errorf("git grep finds the secret:\n%s", strings.ReplaceAll(out, string(s), "<secret>"))
		}
		all := g.run("cat-file", "--batch-all-objects", "--batch")
		if strings.Contains(all, string(s)) {
			t.Errorf("git cat-file --batch-all-objects finds the secret in the object store")
		}
		if msgs := g.run("log", "--all", "--format=%B"); strings.Contains(msgs, string(s)) {
			t.Errorf("a commit message still holds the secret")
		}
	}
}
