package gitrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
)

// workRepo is the fixture plus everything a user may have that is not on a branch: stash
// entries (one holding the key, one with an untracked file holding it), a commit only the
// reflog remembers, the key in a file name, a branch name (checked out), a tag name and an
// annotated tag's name, and untracked and ignored files holding it.
type workRepo struct {
	*fixture
	g      *gitRunner
	branch string // the checked-out branch, named after the key
}

func newWorkRepo(t *testing.T) *workRepo {
	t.Helper()
	f := newFixture(t, fixtureOpts{})
	g := &gitRunner{t: t, dir: f.dir}
	g.when = g.when.Add(100 * time.Hour)
	w := &workRepo{fixture: f, g: g, branch: "fix-" + f.secret}

	g.write(".gitignore", "*.log\n")
	g.write("keys/"+f.secret+".txt", "named after the key\n")
	f.commits["named"] = g.commit("add named file", ".gitignore", "keys/"+f.secret+".txt")
	g.write("lost.txt", "lost "+f.secret+"\n")
	f.commits["lost"] = g.commit("lost work", "lost.txt")
	g.run("reset", "-q", "--hard", "HEAD~1") // only the reflog remembers "lost work"

	g.run("checkout", "-q", "-b", w.branch)
	g.run("symbolic-ref", "refs/alias/current", "refs/heads/"+w.branch)
	g.run("config", "branch."+w.branch+".merge", "refs/heads/"+w.branch) // its upstream
	g.run("tag", "rel-"+f.secret)
	g.run("tag", "-a", "ann-"+f.secret, "-m", "annotated")

	g.write("README.md", "stash one "+f.secret+"\n")
	g.tick()
	g.run("stash", "push", "-q", "-m", "wip one")
	g.write("README.md", "plain change\n")
	g.tick()
	g.run("stash", "push", "-q", "-m", "wip two")
	g.write("scratch.txt", "untracked in stash "+f.secret+"\n")
	g.tick()
	g.run("stash", "push", "-q", "-u", "-m", "wip three")

	g.write("local.env", "KEY="+f.secret+"\n")
	g.write("debug.log", "using "+f.secret+"\n")
	return w
}

// assertNoSecretAnywhere adds to assertNoSecret what git log --all does not see: reflogs and
// stash entries, ref names, file names, and the files of the git directory.
func assertNoSecretAnywhere(t *testing.T, dir string, secrets [][]byte) {
	t.Helper()
	assertNoSecret(t, dir, secrets)
	g := &gitRunner{t: t, dir: dir}
	refs := g.run("for-each-ref", "--format=%(refname)")
	revs := lines(g.run("rev-list", "--all", "--reflog"))
	names := g.run(append([]string{"ls-tree", "-r", "--name-only"}, revs...)...)
	reflog := g.run("log", "-g", "--format=%H %gs %B", "HEAD")
	gitDir := strings.TrimSpace(g.run("rev-parse", "--absolute-git-dir"))
	for _, s := range secrets {
		for what, text := range map[string]string{"a ref name": refs, "a file name": names, "the HEAD reflog": reflog,
			"HEAD": g.run("symbolic-ref", "-q", "HEAD")} {
			if strings.Contains(text, string(s)) {
				t.Errorf("%s holds the secret", what)
			}
		}
		for _, rev := range revs {
			if out, err := g.try("grep", "-F", "-l", "-a", string(s), rev); err == nil && out != "" {
				t.Errorf("git grep finds the secret in %s (reflog or stash)", rev)
			}
		}
		_ = filepath.WalkDir(gitDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(p, "/objects/") {
				return err
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), string(s)) || strings.Contains(p, string(s)) {
				t.Errorf("%s holds the secret", strings.ReplaceAll(p, string(s), "<secret>"))
			}
			return nil
		})
	}
}

func TestPurgeKeepsEveryPieceOfWork(t *testing.T) {
	t.Parallel()
	w := newWorkRepo(t)
	g := w.g
	stashBefore := lines(g.run("stash", "list", "--format=%gs"))
	reflogBefore := len(lines(g.run("log", "-g", "--format=%gs", "HEAD")))

	sc, err := Scan(t.Context(), ScanOptions{Path: w.dir, Secrets: w.secrets()})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string][]string{}
	lostFound := false
	for _, fd := range sc.Findings {
		kinds[fd.Kind] = append(kinds[fd.Kind], fd.Path)
		if fd.Commit == w.commits["lost"] && slices.Contains(fd.Refs, "HEAD@{reflog}") {
			lostFound = true
		}
		if strings.Contains(fd.Path, w.secret) || slices.ContainsFunc(fd.Refs, func(r string) bool { return strings.Contains(r, w.secret) }) {
			t.Errorf("a finding prints the secret: %s %s", fd.Kind, strings.ReplaceAll(fd.Path, w.secret, "<secret>"))
		}
	}
	mask := NameMask
	wantNames := map[string][]string{
		KindPath:          {"keys/" + mask + ".txt"},
		KindBranchName:    {"refs/heads/fix-" + mask},
		KindTagName:       {"refs/tags/ann-" + mask, "refs/tags/rel-" + mask},
		KindTagObjectName: {"ann-" + mask},
		KindRefName:       {"refs/alias/current -> refs/heads/fix-" + mask},
		KindConfig:        {"config"},
		KindReflogMessage: {"HEAD", "refs/stash"}, // "checkout: moving from main to fix-<key>", "On fix-<key>: wip"
	}
	for kind, want := range wantNames {
		got := slices.Clone(kinds[kind])
		slices.Sort(got)
		got = slices.Compact(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("scan findings of kind %s (-want +got):\n%s", kind, diff)
		}
	}
	if !lostFound {
		t.Errorf("scan does not report the commit only the reflog holds")
	}

	mapDir := filepath.Join(t.TempDir(), "maps")
	res, err := Purge(t.Context(), PurgeOptions{Path: w.dir, Secrets: w.secrets(), MapDir: mapDir})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecretAnywhere(t, w.dir, w.secrets())

	// Every stash entry survives, in order, rewritten where it held the key.
	for i := range stashBefore { // "On fix-<key>: wip one": the branch name is in the message
		stashBefore[i] = strings.ReplaceAll(stashBefore[i], w.secret, DefaultReplacement)
	}
	if diff := cmp.Diff(stashBefore, lines(g.run("stash", "list", "--format=%gs"))); diff != "" {
		t.Errorf("stash list (-before +after):\n%s", diff)
	}
	if res.StashTotal != 3 || res.Stash != 3 { // all three sit on a rewritten base
		t.Errorf("stash: %d of %d rewritten", res.Stash, res.StashTotal)
	}
	if one := g.run("stash", "show", "-p", "stash@{2}"); !strings.Contains(one, "stash one "+DefaultReplacement) {
		t.Errorf("stash@{2} lost its change:\n%s", one)
	}
	if three := g.run("show", "stash@{0}^3:scratch.txt"); three != "untracked in stash "+DefaultReplacement+"\n" {
		t.Errorf("stash@{0} untracked file = %q", three)
	}
	// The reset-away commit is rewritten, not dropped.
	if n := len(lines(g.run("log", "-g", "--format=%gs", "HEAD"))); n != reflogBefore {
		t.Errorf("HEAD reflog has %d entries, had %d", n, reflogBefore)
	}
	lost, ok := rewrittenCommits(t, res)[w.commits["lost"]]
	if !ok {
		t.Fatalf("the reflog-only commit is not in the commit map")
	}
	if got := g.run("show", lost+":lost.txt"); got != "lost "+DefaultReplacement+"\n" {
		t.Errorf("reflog-only commit's file = %q", got)
	}
	// Names: branch, tags, HEAD and the file renamed; the working tree follows.
	if up := strings.TrimSpace(g.run("config", "branch.fix-"+mask+".merge")); up != "refs/heads/fix-"+mask {
		t.Errorf("the renamed branch's config section says merge = %s", strings.ReplaceAll(up, w.secret, "<secret>"))
	}
	for _, sym := range []string{"HEAD", "refs/alias/current"} {
		if target := strings.TrimSpace(g.run("symbolic-ref", sym)); target != "refs/heads/fix-"+mask {
			t.Errorf("%s -> %s", sym, strings.ReplaceAll(target, w.secret, "<secret>"))
		}
	}
	for _, r := range []string{"refs/tags/rel-" + mask, "refs/tags/ann-" + mask} {
		g.run("rev-parse", "--verify", "-q", r)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "keys", mask+".txt")); err != nil {
		t.Errorf("renamed file not checked out: %v", err)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "keys", w.secret+".txt")); err == nil {
		t.Errorf("file named after the key still in the working tree")
	}
	if st := g.run("status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Errorf("git status after purge:\n%s", st)
	}
	// Notes follow their commit.
	if note := g.run("notes", "show", rewrittenCommits(t, res)[w.commits["config"]]); note != "deployed with "+DefaultReplacement+"\n" {
		t.Errorf("note of the rewritten config commit = %q", note)
	}
	if res.Notes != 1 {
		t.Errorf("notes moved: %d", res.Notes)
	}
	// Untracked and ignored files are listed, never touched.
	if diff := cmp.Diff([]string{"debug.log", "local.env"}, res.Untracked); diff != "" {
		t.Errorf("untracked files holding the key (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(w.dir, "local.env")); string(b) != "KEY="+w.secret+"\n" {
		t.Errorf("untracked file changed")
	}
	// Maps: private, and no key in them.
	st, err := os.Stat(mapDir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("map dir: %v %v", st.Mode(), err)
	}
	for _, p := range []string{res.CommitMapPath, res.RefMapPath} {
		st, err := os.Stat(p)
		b, _ := os.ReadFile(p)
		if err != nil || st.Mode().Perm() != 0o600 || strings.Contains(string(b), w.secret) {
			t.Errorf("%s: mode %v, holds the key %v, %v", p, st.Mode(), strings.Contains(string(b), w.secret), err)
		}
	}
	again, err := Scan(t.Context(), ScanOptions{Path: w.dir, Secrets: w.secrets()})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Findings) != 0 || again.Unreachable != 0 {
		t.Errorf("scan after purge: %d findings (%v), %d unreachable", len(again.Findings), again.Findings, again.Unreachable)
	}
}

func TestPurgeLeavesRemoteTrackingRefs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	dir := filepath.Join(t.TempDir(), "work")
	g := &gitRunner{t: t, dir: filepath.Dir(dir)}
	g.run("clone", "-q", f.dir, dir)
	g.dir = dir
	remoteMain := strings.TrimSpace(g.run("rev-parse", "refs/remotes/origin/main"))
	res, err := Purge(t.Context(), PurgeOptions{Path: dir, Secrets: f.secrets(), MapDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(g.run("rev-parse", "refs/remotes/origin/main")); got != remoteMain {
		t.Errorf("origin/main moved to %s: it must say where the remote is", got)
	}
	if !slices.Contains(res.Pinned, "refs/remotes/origin/main") || res.PinnedObjects == 0 {
		t.Errorf("pinned %v, %d objects", res.Pinned, res.PinnedObjects)
	}
	if out := g.run("log", "main", "-S"+f.secret, "--format=%H"); out != "" {
		t.Errorf("local main still holds the key")
	}
	if out, err := g.try("fsck", "--full", "--no-dangling"); err != nil || out != "" {
		t.Errorf("fsck: %v %s", err, out)
	}
}

func TestPurgeLineEndings(t *testing.T) {
	t.Parallel()
	needGit(t)
	secret := fakekey.Random().OpenAIProjectKey()
	for _, mode := range []string{"autocrlf", "gitattributes"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			g := &gitRunner{t: t, dir: t.TempDir()}
			g.run("init", "-q")
			g.write(".gitattributes", "*.bat text eol=crlf\n*.bin binary\n")
			g.write("app.cfg", "a=1\nkey="+secret+"\nb=2\n")
			g.write("run.bat", "set KEY="+secret+"\necho ok\n")
			g.commit("add", ".gitattributes", "app.cfg", "run.bat")
			if mode == "autocrlf" {
				g.run("config", "core.autocrlf", "true")
			}
			for _, p := range []string{"app.cfg", "run.bat"} {
				os.Remove(filepath.Join(g.dir, p))
			}
			g.run("checkout", "--", ".")
			if st := g.run("status", "--porcelain"); st != "" {
				t.Fatalf("fixture not clean:\n%s", st)
			}
			if _, err := Purge(t.Context(), PurgeOptions{Path: g.dir, Secrets: [][]byte{[]byte(secret)}, MapDir: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"run.bat": "set KEY=" + DefaultReplacement + "\r\necho ok\r\n",
				"app.cfg": "a=1\nkey=" + DefaultReplacement + "\nb=2\n"}
			if mode == "autocrlf" {
				want["app.cfg"] = strings.ReplaceAll(want["app.cfg"], "\n", "\r\n")
			}
			for p, w := range want {
				if b, _ := os.ReadFile(filepath.Join(g.dir, p)); string(b) != w {
					t.Errorf("%s = %q, want %q", p, b, w)
				}
			}
			if st := g.run("status", "--porcelain"); st != "" {
				t.Errorf("git status after purge:\n%s", st)
			}
			// A second purge sees a clean tree (it reads line endings as git does).
			if _, err := Purge(t.Context(), PurgeOptions{Path: g.dir, Secrets: [][]byte{[]byte(secret)}, MapDir: t.TempDir()}); err != nil {
				t.Errorf("second purge: %v", err)
			}
		})
	}
}

// Not parallel: these set crashHook, which Purge calls from every write.

func TestPurgeHoldsGitsLocks(t *testing.T) {
	f := newFixture(t, fixtureOpts{textOnly: true})
	g := &gitRunner{t: t, dir: f.dir}
	var commitErr, updateErr string
	crashHook = func(op, path string) {
		if op == "rename" && strings.HasSuffix(path, ".pack") && commitErr == "" {
			out, err := g.try("commit", "--allow-empty", "-q", "-m", "concurrent")
			commitErr = fmt.Sprint(err, out)
			out, err = g.try("update-ref", "refs/heads/feature", f.commits["root"])
			updateErr = fmt.Sprint(err, out)
		}
	}
	defer func() { crashHook = nil }()
	if _, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(commitErr, "index.lock") {
		t.Errorf("a concurrent git commit was not stopped by the lock: %s", commitErr)
	}
	if !strings.Contains(updateErr, "cannot lock ref") {
		t.Errorf("a concurrent update-ref was not stopped by the lock: %s", updateErr)
	}
	assertNoSecret(t, f.dir, f.secrets())
	if locks, _ := filepath.Glob(filepath.Join(f.dir, ".git", "*.lock")); len(locks) > 0 {
		t.Errorf("locks left: %v", locks)
	}
}

func TestPurgeStopsWhenARefMoves(t *testing.T) {
	f := newFixture(t, fixtureOpts{textOnly: true})
	g := &gitRunner{t: t, dir: f.dir}
	crashHook = func(op, path string) {
		if op == "rename" && strings.HasSuffix(path, ".pack") {
			// A writer that ignores git's locks.
			os.WriteFile(filepath.Join(f.dir, ".git", "refs", "heads", "feature"), []byte(f.commits["root"]+"\n"), 0o644)
		}
	}
	defer func() { crashHook = nil }()
	before := g.run("for-each-ref")
	_, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir()})
	crashHook = nil
	if err == nil || !strings.Contains(err.Error(), "refs/heads/feature moved") {
		t.Fatalf("err = %v, want a moved-ref refusal", err)
	}
	after := g.run("for-each-ref")
	want := strings.ReplaceAll(before, f.commits["feature"]+" commit\trefs/heads/feature", f.commits["root"]+" commit\trefs/heads/feature")
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("refs changed beyond the moved one (-want +got):\n%s", diff)
	}
	if st := g.run("status", "--porcelain"); st != "" {
		t.Errorf("working tree changed:\n%s", st)
	}
	if out, err := g.try("fsck", "--full", "--no-dangling"); err != nil || out != "" {
		t.Errorf("fsck: %v %s", err, out)
	}
	if _, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir()}); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	assertNoSecret(t, f.dir, f.secrets())
}

// TestPurgeCrashMatrix kills a purge at each of its writes, renames and unlinks (in a child
// process: the test binary re-run with GITREPO_CRASH_AT), then checks that git accepts the
// repository and that a re-run finishes the job.
func TestPurgeCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("crash matrix: one child process per write of a purge")
	}
	w := newWorkRepo(t)
	for _, p := range []string{"local.env", "debug.log"} { // untracked files are covered above
		os.Remove(filepath.Join(w.dir, p))
	}
	stash := lines(strings.ReplaceAll(w.g.run("stash", "list", "--format=%gs"), w.secret, DefaultReplacement))
	var ops []string
	count := copyRepo(t, w.dir)
	crashHook = func(op, path string) { ops = append(ops, op+" "+strings.ReplaceAll(path, count, "")) }
	_, err := Purge(t.Context(), PurgeOptions{Path: count, Secrets: w.secrets(), MapDir: t.TempDir()})
	crashHook = nil
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) < 20 {
		t.Fatalf("only %d crash points: %q", len(ops), ops)
	}
	t.Logf("%d crash points", len(ops))
	for i := range ops {
		dir := copyRepo(t, w.dir)
		cmd := exec.Command(os.Args[0], "-test.run=^TestPurgeCrashChild$")
		cmd.Env = append(os.Environ(), "GITREPO_CRASH_AT="+strconv.Itoa(i), "GITREPO_CRASH_DIR="+dir,
			"GITREPO_CRASH_S1="+w.secret, "GITREPO_CRASH_S2="+w.variant)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != crashExit {
			t.Fatalf("crash at %d (%s): child did not crash there: %v\n%s", i, ops[i], err, out)
		}
		g := &gitRunner{t: t, dir: dir}
		if out, err := g.try("fsck", "--full", "--no-dangling"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("crash at %d (%s): git fsck: %v\n%s", i, ops[i], err, out)
		}
		if _, err := g.try("rev-parse", "--verify", "HEAD"); err != nil {
			t.Errorf("crash at %d (%s): HEAD does not resolve", i, ops[i])
		}
		res, err := Purge(t.Context(), PurgeOptions{Path: dir, Secrets: w.secrets(), MapDir: t.TempDir()})
		if err != nil {
			t.Errorf("crash at %d (%s): re-run: %v", i, ops[i], err)
			continue
		}
		_ = res
		assertStoreClean(t, dir, w.secrets())
		if st := g.run("status", "--porcelain"); st != "" {
			t.Errorf("crash at %d (%s): working tree after the re-run:\n%s", i, ops[i], st)
		}
		if diff := cmp.Diff(stash, lines(g.run("stash", "list", "--format=%gs"))); diff != "" {
			t.Errorf("crash at %d (%s): stash list (-before +after):\n%s", i, ops[i], diff)
		}
		if t.Failed() {
			t.Logf("stopped at crash point %d (%s)", i, ops[i])
			return
		}
	}
}

const crashExit = 86

// TestPurgeCrashChild is the child of TestPurgeCrashMatrix: it exits at crash point N.
func TestPurgeCrashChild(t *testing.T) {
	at, err := strconv.Atoi(os.Getenv("GITREPO_CRASH_AT"))
	if err != nil {
		t.Skip("run by TestPurgeCrashMatrix")
	}
	n := 0
	crashHook = func(string, string) {
		if n == at {
			os.Exit(crashExit)
		}
		n++
	}
	secrets := [][]byte{[]byte(os.Getenv("GITREPO_CRASH_S1")), []byte(os.Getenv("GITREPO_CRASH_S2"))}
	_, err = Purge(t.Context(), PurgeOptions{Path: os.Getenv("GITREPO_CRASH_DIR"), Secrets: secrets, MapDir: t.TempDir()})
	t.Fatalf("purge finished without reaching crash point %d: %v", at, err)
}

// copyRepo copies a repository (working tree and git directory) with cp -a, keeping mtimes.
func copyRepo(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

// assertStoreClean is the crash matrix's (cheaper) check: no object in the store, no ref name and
// no file of the git directory holds a secret, and git fsck finds no unreachable object.
func assertStoreClean(t *testing.T, dir string, secrets [][]byte) {
	t.Helper()
	g := &gitRunner{t: t, dir: dir}
	if out, err := g.try("fsck", "--full", "--unreachable"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("git fsck --full --unreachable: %v\n%s", err, out)
	}
	all := g.run("cat-file", "--batch-all-objects", "--batch")
	refs := g.run("for-each-ref", "--format=%(refname)")
	for _, s := range secrets {
		if strings.Contains(all, string(s)) || strings.Contains(refs, string(s)) {
			t.Errorf("an object or a ref name still holds the secret")
		}
		_ = filepath.WalkDir(filepath.Join(dir, ".git"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(p, "/objects/") {
				return err
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), string(s)) || strings.Contains(p, string(s)) {
				t.Errorf("%s holds the secret", strings.ReplaceAll(p, string(s), "<secret>"))
			}
			return nil
		})
	}
}

func TestPushRefusesCheckedOutBranchOfNonBareRemote(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	work := filepath.Join(t.TempDir(), "work")
	g := &gitRunner{t: t, dir: filepath.Dir(work)}
	g.run("clone", "-q", f.dir, work) // origin is f.dir: a working tree with main checked out
	res, err := Purge(t.Context(), PurgeOptions{Path: work, Secrets: f.secrets(), MapDir: t.TempDir(), RewriteRemoteTracking: true})
	if err != nil {
		t.Fatal(err)
	}
	gr := &gitRunner{t: t, dir: f.dir}
	before := gr.run("show-ref")
	_, err = Push(t.Context(), PushOptions{Path: work, RefMap: res.RefMap, Secrets: f.secrets()})
	if err == nil || !strings.Contains(err.Error(), "receive.denyCurrentBranch") || !strings.Contains(err.Error(), "refs/heads/main is checked out") {
		t.Fatalf("err = %v, want a refusal naming the checked-out branch", err)
	}
	if after := gr.run("show-ref"); after != before {
		t.Errorf("remote refs changed:\n%s", cmp.Diff(before, after))
	}
	if st := gr.run("status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Errorf("remote working tree:\n%s", st)
	}
}

func TestPushRenamesRefsOnTheRemote(t *testing.T) {
	t.Parallel()
	w := newWorkRepo(t)
	remote := w.mirror(t)
	gr := &gitRunner{t: t, dir: remote}
	gr.run("update-ref", "-d", "refs/stash") // a stash is not published
	work := filepath.Join(t.TempDir(), "work.git")
	gw := &gitRunner{t: t, dir: filepath.Dir(work)}
	gw.run("clone", "-q", "--mirror", remote, work)
	gw.dir = work
	res, err := Purge(t.Context(), PurgeOptions{Path: work, Secrets: w.secrets(), MapDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// Through the ref-map file, which holds masked names only.
	refMap, err := ReadRefMap(res.RefMapPath)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Push(t.Context(), PushOptions{Path: work, RefMap: refMap, CleanRemote: true, Secrets: w.secrets()})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Incomplete) > 0 {
		t.Errorf("incomplete: %q", pr.Incomplete)
	}
	if diff := cmp.Diff(gw.run("show-ref"), gr.run("show-ref")); diff != "" {
		t.Errorf("remote refs differ from the purged repository (-local +remote):\n%s", diff)
	}
	for _, r := range []string{"refs/heads/fix-" + NameMask, "refs/tags/rel-" + NameMask, "refs/tags/ann-" + NameMask} {
		gr.run("rev-parse", "--verify", "-q", r)
	}
	assertNoSecretAnywhere(t, remote, w.secrets())
}

func TestPurgeLeavesARunningPurgeAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	gitDir := filepath.Join(f.dir, ".git")
	other := exec.Command("sleep", "30") // stands for a purge still running
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill()
	host, _ := os.Hostname()
	j := &journal{Version: 1, PID: other.Process.Pid, Host: host, Locks: []string{digest("index")}}
	if err := j.write(gitDir); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(gitDir, "index.lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir()})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	for _, p := range []string{lock, filepath.Join(gitDir, journalName)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s of the running purge was removed", filepath.Base(p))
		}
	}
	// Once it is gone (crashed), its lock is recognised and the purge goes ahead.
	other.Process.Kill()
	other.Wait()
	if _, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir()}); err != nil {
		t.Fatalf("after the other purge died: %v", err)
	}
	assertNoSecret(t, f.dir, f.secrets())
}

func TestPurgeSparseCheckout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	g := &gitRunner{t: t, dir: f.dir}
	g.run("sparse-checkout", "set", "--no-cone", "/README.md", "/src/")
	if _, err := os.Stat(filepath.Join(f.dir, "config.env")); err == nil {
		t.Fatal("fixture: config.env is checked out")
	}
	if _, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "config.env")); err == nil {
		t.Errorf("a path outside the sparse checkout was written")
	}
	if st := g.run("status", "--porcelain"); st != "" {
		t.Errorf("git status after purge:\n%s", st)
	}
	if got := g.run("ls-files", "-s", "config.env"); !strings.Contains(got, strings.TrimSpace(g.run("rev-parse", "HEAD:config.env"))) {
		t.Errorf("index entry of config.env not moved to the rewritten blob: %s", got)
	}
	assertNoSecret(t, f.dir, f.secrets())
}
