package gitrepo

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
)

type findingKey struct {
	Kind, Commit, Path string
	Line, Secret       int
	InTip              bool
}

func keys(fs []Finding) []findingKey {
	var out []findingKey
	for _, f := range fs {
		out = append(out, findingKey{f.Kind, f.Commit, f.Path, f.Line, f.Secret, f.InTip})
	}
	slices.SortFunc(out, func(a, b findingKey) int {
		return strings.Compare(a.Kind+a.Commit+a.Path, b.Kind+b.Commit+b.Path)
	})
	return out
}

func TestScanMatchesGitLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	res, err := Scan(t.Context(), ScanOptions{Path: f.dir, Secrets: f.secrets(), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}

	// What is compared with the oracle: the set of commits that introduce or remove an
	// occurrence in a blob (Findings of kind blob plus Removals) equals
	// `git log --all --no-renames -S<secret>` over both secrets.
	ours := map[string]bool{}
	for _, fd := range append(slices.Clone(res.Findings), res.Removals...) {
		if fd.Kind == KindBlob {
			ours[fd.Commit] = true
		}
	}
	if diff := cmp.Diff(oracleCommits(t, f.dir, f.secrets()), ours); diff != "" {
		t.Errorf("blob commits differ from git log -S (-git +scan):\n%s", diff)
	}
	// Commit messages: `git log --all -F --grep=<secret>`.
	g := &gitRunner{t: t, dir: f.dir}
	wantMsg := set(lines(g.run("log", "--all", "-F", "--grep="+f.secret, "--format=%H"))...)
	gotMsg := map[string]bool{}
	for _, fd := range res.Findings {
		if fd.Kind == KindCommitMessage {
			gotMsg[fd.Commit] = true
		}
	}
	if diff := cmp.Diff(wantMsg, gotMsg); diff != "" {
		t.Errorf("message commits differ from git log --grep (-git +scan):\n%s", diff)
	}

	notes := strings.TrimSpace(g.run("rev-parse", "refs/notes/commits"))
	want := []findingKey{
		{KindBlob, f.commits["config"], "config.env", 2, 0, true},
		{KindBlob, f.commits["binary"], "assets/logo.bin", 1, 0, true},
		{KindCommitMessage, f.commits["message"], "", 3, 0, true}, // tag v1.0 names it
		{KindTagMessage, f.commits["message"], "", 3, 0, true},
		{KindBlob, f.commits["tmpadd"], "tmp.txt", 1, 0, false},
		{KindBlob, f.commits["feature"], "feature.txt", 1, 1, true},
		{KindBlob, notes, f.commits["config"], 1, 0, true},
	}
	slices.SortFunc(want, func(a, b findingKey) int { return strings.Compare(a.Kind+a.Commit+a.Path, b.Kind+b.Commit+b.Path) })
	if diff := cmp.Diff(want, keys(res.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]findingKey{{KindBlob, f.commits["tmprm"], "tmp.txt", 0, 0, false}}, keys(res.Removals)); diff != "" {
		t.Errorf("removals (-want +got):\n%s", diff)
	}

	for _, fd := range res.Findings {
		if fd.Commit == f.commits["config"] && fd.Kind == KindBlob {
			// Reflogs are history too (they hold stash entries and reset-away commits).
			wantRefs := []string{"refs/heads/feature", "refs/heads/main", "refs/tags/light", "refs/tags/v1.0",
				"HEAD@{reflog}", "refs/heads/feature@{reflog}", "refs/heads/main@{reflog}"}
			if diff := cmp.Diff(wantRefs, fd.Refs); diff != "" {
				t.Errorf("refs containing the config commit (-want +got):\n%s", diff)
			}
			if fd.Author != "Dev One <dev1@example.com>" || !fd.Date.Equal(res.FirstSeen) {
				t.Errorf("config finding author %q date %v, first seen %v", fd.Author, fd.Date, res.FirstSeen)
			}
		}
		if fd.Kind == KindTagMessage && (fd.Tag == "" || !slices.Equal(fd.Refs, []string{"refs/tags/v1.0"})) {
			t.Errorf("tag finding: %+v", fd)
		}
	}
	if res.Unreachable != 0 || res.Refs != 7 || res.Commits == 0 || res.BlobsRead == 0 {
		t.Errorf("counts: %+v", res)
	}
}

func TestScanURLMirrorsIntoTempDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	byPath, err := Scan(t.Context(), ScanOptions{Path: f.dir, Secrets: f.secrets()})
	if err != nil {
		t.Fatal(err)
	}
	// A file:// URL goes through go-git's transport (served in process, no git binary).
	byURL, err := Scan(t.Context(), ScanOptions{URL: "file://" + f.dir, Secrets: f.secrets(), Token: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys(byPath.Findings), keys(byURL.Findings)); diff != "" {
		t.Errorf("URL scan differs from path scan (-path +url):\n%s", diff)
	}
}

func TestScanUnreachableBlob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	g := &gitRunner{t: t, dir: f.dir}
	other := fakekey.Random().OpenAIProjectKey()
	g.write("dangling.txt", other)
	g.run("hash-object", "-w", "dangling.txt")
	res, err := Scan(t.Context(), ScanOptions{Path: f.dir, Secrets: [][]byte{[]byte(other)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 || res.Unreachable != 1 {
		t.Errorf("findings %d, unreachable %d; want 0 and 1", len(res.Findings), res.Unreachable)
	}
}

func TestPurgeBareMirror(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	dir := f.mirror(t)
	g := &gitRunner{t: t, dir: dir}
	g.run("update-ref", "refs/pull/1/head", f.commits["tmpadd"])
	// A packed store with deltas, plus one loose object, like a real repository.
	g.run("repack", "-adfq", "--window=50")
	g.write("../stray.txt", "unreachable "+f.secret)
	g.run("hash-object", "-w", "../stray.txt")
	logo := g.run("cat-file", "blob", "main:assets/logo.bin")

	o := PurgeOptions{Path: dir, Secrets: f.secrets(), MapDir: t.TempDir()}
	plan, err := PlanPurge(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Purge(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*plan, res.PurgePlan); diff != "" {
		t.Errorf("plan differs from what purge did (-plan +purge):\n%s", diff)
	}
	assertNoSecret(t, dir, f.secrets())

	// Untouched history keeps its hashes and its signature.
	if got := strings.TrimSpace(g.run("rev-parse", "refs/heads/old")); got != f.commits["signed"] {
		t.Errorf("refs/heads/old moved to %s", got)
	}
	if !strings.Contains(g.run("cat-file", "commit", f.commits["signed"]), "gpgsig -----BEGIN PGP SIGNATURE-----") {
		t.Errorf("signed commit lost its signature")
	}
	if _, err := g.try("rev-parse", "--verify", "-q", "refs/pull/1/head"); err == nil {
		t.Errorf("refs/pull/1/head still exists")
	}
	// The binary keeps its size; text gets the replacement.
	newLogo := g.run("cat-file", "blob", "main:assets/logo.bin")
	if len(newLogo) != len(logo) || !strings.Contains(newLogo, strings.Repeat("*", len(f.secret))) {
		t.Errorf("binary blob: %d bytes (was %d), mask present %v", len(newLogo), len(logo), strings.Contains(newLogo, "****"))
	}
	if cfg := g.run("cat-file", "blob", "main:config.env"); cfg != "DEBUG=1\nOPENAI_API_KEY="+DefaultReplacement+"\n" {
		t.Errorf("config.env = %q", cfg)
	}
	if msg := g.run("cat-file", "tag", "v1.0"); !strings.Contains(msg, "staging key "+DefaultReplacement) {
		t.Errorf("tag v1.0 = %q", msg)
	}
	// Tags point at the rewritten commits.
	cm := rewrittenCommits(t, res)
	for tag, commit := range map[string]string{"v1.0": "message", "light": "binary", "v0.1": "signed"} {
		want := f.commits[commit]
		if n, ok := cm[want]; ok {
			want = n
		}
		if got := strings.TrimSpace(g.run("rev-parse", tag+"^{commit}")); got != want {
			t.Errorf("tag %s -> %s, want %s", tag, got, want)
		}
	}

	// Map files.
	refMap, err := ReadRefMap(res.RefMapPath)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res.RefMap, refMap); diff != "" {
		t.Errorf("ref-map file (-result +file):\n%s", diff)
	}
	byRef := map[string]RefChange{}
	for _, r := range refMap {
		byRef[r.Ref] = r
	}
	if !byRef["refs/pull/1/head"].Deleted() || byRef["refs/heads/main"].New != strings.TrimSpace(g.run("rev-parse", "main")) {
		t.Errorf("ref-map: %+v", refMap)
	}
	if _, ok := byRef["refs/heads/old"]; ok {
		t.Errorf("unchanged ref in ref-map")
	}
	b, err := os.ReadFile(res.CommitMapPath)
	if err != nil {
		t.Fatal(err)
	}
	all := lines(g.run("rev-list", "--all"))
	cmLines := lines(string(b))
	var news []string
	for _, l := range cmLines {
		old, nw, ok := strings.Cut(l, " ")
		if !ok || len(old) != 40 || len(nw) != 40 {
			t.Fatalf("commit-map line %q", l)
		}
		news = append(news, nw)
	}
	slices.Sort(news)
	if diff := cmp.Diff(all, news); diff != "" {
		t.Errorf("commit-map new side differs from rev-list --all (-rev-list +map):\n%s", diff)
	}

	// A second purge finds nothing to do; a scan finds nothing.
	again, err := Purge(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Repack || again.Commits != 0 || len(again.RefMap) != 0 {
		t.Errorf("second purge: %+v", again.PurgePlan)
	}
	sc, err := Scan(t.Context(), ScanOptions{Path: dir, Secrets: f.secrets()})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Findings) != 0 || sc.Unreachable != 0 {
		t.Errorf("scan after purge: %d findings, %d unreachable", len(sc.Findings), sc.Unreachable)
	}
}

func TestPurgeWorkingTree(t *testing.T) {
	t.Parallel()
	for _, detached := range []bool{false, true} {
		t.Run(map[bool]string{false: "branch", true: "detached"}[detached], func(t *testing.T) {
			t.Parallel()
			testPurgeWorkingTree(t, detached)
		})
	}
}

func testPurgeWorkingTree(t *testing.T, detached bool) {
	f := newFixture(t, fixtureOpts{})
	dir := filepath.Join(t.TempDir(), "work")
	g := &gitRunner{t: t, dir: filepath.Dir(dir)}
	g.run("clone", "-q", f.dir, dir)
	g.dir = dir
	if detached {
		g.run("checkout", "-q", "--detach", "HEAD")
	}
	untracked := filepath.Join(dir, "notes.local")
	if err := os.WriteFile(untracked, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Purge(t.Context(), PurgeOptions{Path: dir, Secrets: f.secrets(), MapDir: t.TempDir(), RewriteRemoteTracking: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.WorktreeReset {
		t.Errorf("working tree not reset")
	}
	if head := strings.TrimSpace(g.run("rev-parse", "HEAD")); head != rewrittenCommits(t, res)[f.commits["last"]] {
		t.Errorf("HEAD = %s, want the rewrite of the last commit", head)
	}
	assertNoSecret(t, dir, f.secrets())
	if st := g.run("status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Errorf("git status after purge:\n%s", st)
	}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, s := range f.secrets() {
			if strings.Contains(string(b), string(s)) {
				t.Errorf("%s still holds a secret", p)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(untracked); err != nil || string(b) != "mine" {
		t.Errorf("untracked file changed: %q %v", b, err)
	}
}

func TestPurgeRefusesDirtyTree(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	g := &gitRunner{t: t, dir: f.dir}
	before := g.run("show-ref")
	g.write("README.md", "uncommitted\n")
	_, err := Purge(t.Context(), PurgeOptions{Path: f.dir, Secrets: f.secrets(), MapDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "uncommitted changes") {
		t.Fatalf("err = %v, want refusal", err)
	}
	if after := g.run("show-ref"); after != before {
		t.Errorf("refs changed")
	}
}

func TestPurgeMatchesFilterRepo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git-filter-repo"); err != nil {
		t.Skip("git-filter-repo not installed (apt-get install git-filter-repo)")
	}
	f := newFixture(t, fixtureOpts{textOnly: true})
	ours, theirs := f.mirror(t), f.mirror(t)
	expr := filepath.Join(t.TempDir(), "expressions")
	if err := os.WriteFile(expr, []byte(f.secret+"\n"+f.variant+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gt := &gitRunner{t: t, dir: theirs}
	gt.run("filter-repo", "--force", "--quiet", "--replace-text", expr)
	res, err := Purge(t.Context(), PurgeOptions{Path: ours, Secrets: f.secrets(), MapDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go_ := &gitRunner{t: t, dir: ours}
	compared := 0
	for _, r := range res.RefMap {
		if strings.HasPrefix(r.Ref, "refs/notes/") {
			// filter-repo leaves each note named after the old commit (so it vanishes from
			// git log); ours follows the commit map. Same notes, same contents, once renamed.
			want := map[string]string{}
			for _, l := range lines(gt.run("ls-tree", "-r", r.Ref)) {
				f := strings.Fields(l)
				name := f[3]
				if n, ok := rewrittenCommits(t, res)[name]; ok {
					name = n
				}
				want[name] = f[2]
			}
			got := map[string]string{}
			for _, l := range lines(go_.run("ls-tree", "-r", r.Ref)) {
				f := strings.Fields(l)
				got[f[3]] = f[2]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: notes differ from filter-repo's renamed through the commit map (-filter-repo +ours):\n%s", r.Ref, diff)
			}
			compared++
			continue
		}
		want := strings.TrimSpace(gt.run("rev-parse", r.Ref+"^{tree}"))
		got := strings.TrimSpace(go_.run("rev-parse", r.Ref+"^{tree}"))
		if want != got {
			t.Errorf("%s: tree %s, git filter-repo made %s", r.Ref, got, want)
		}
		compared++
	}
	if compared < 4 { // main, feature, v1.0, notes
		t.Errorf("only %d rewritten refs compared", compared)
	}
}

func TestPushLocalRemote(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	remote := f.mirror(t)
	work := filepath.Join(t.TempDir(), "work.git")
	gw := &gitRunner{t: t, dir: filepath.Dir(work)}
	gw.run("clone", "-q", "--mirror", remote, work)
	gw.dir = work
	res, err := Purge(t.Context(), PurgeOptions{Path: work, Secrets: f.secrets(), MapDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Push(t.Context(), PushOptions{Path: work, RefMap: res.RefMap, CleanRemote: true, Secrets: f.secrets()})
	if err != nil {
		t.Fatal(err)
	}
	gr := &gitRunner{t: t, dir: remote}
	for _, r := range res.RefMap {
		if got := strings.TrimSpace(gr.run("rev-parse", r.Ref)); got != r.New {
			t.Errorf("remote %s = %s, want %s", r.Ref, got, r.New)
		}
	}
	if len(pr.Pushed) != len(res.RefMap) {
		t.Errorf("pushed %d refs, ref-map has %d: %+v", len(pr.Pushed), len(res.RefMap), pr.Skipped)
	}
	if diff := cmp.Diff(gw.run("show-ref"), gr.run("show-ref")); diff != "" {
		t.Errorf("remote refs differ from the purged repository (-local +remote):\n%s", diff)
	}
	assertNoSecret(t, remote, f.secrets())
	if pr.Clean == nil || pr.Clean.Remaining != 0 || pr.Clean.ObjectsDropped == 0 {
		t.Errorf("remote clean: %+v", pr.Clean)
	}
	if len(pr.ForgeRemains) < 4 {
		t.Errorf("forge remains: %q", pr.ForgeRemains)
	}
}

func TestPushFromWorkingClone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{textOnly: true})
	remote := f.mirror(t)
	work := filepath.Join(t.TempDir(), "work")
	gw := &gitRunner{t: t, dir: filepath.Dir(work)}
	gw.run("clone", "-q", remote, work)
	res, err := Purge(t.Context(), PurgeOptions{Path: work, Secrets: f.secrets(), MapDir: t.TempDir(), RewriteRemoteTracking: true})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Push(t.Context(), PushOptions{Path: work, RefMap: res.RefMap, CleanRemote: true, Secrets: f.secrets()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range pr.Pushed {
		got[p.Remote] = p.Local
	}
	want := map[string]string{
		"refs/heads/main": "refs/remotes/origin/main", "refs/heads/feature": "refs/remotes/origin/feature",
		"refs/tags/v1.0": "refs/tags/v1.0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pushed (-want +got):\n%s", diff)
	}
	// The clone never fetched refs/notes/commits: the remote keeps it, and says so.
	if pr.Clean == nil || pr.Clean.Remaining == 0 {
		t.Errorf("remote clean: %+v (the notes ref still holds the secret)", pr.Clean)
	}
	if !slices.ContainsFunc(pr.Incomplete, func(l string) bool { return strings.Contains(l, "refs/notes/commits") }) {
		t.Errorf("incomplete does not name the unfetched notes ref: %q", pr.Incomplete)
	}
}

func TestPushLeaseMismatchChangesNothing(t *testing.T) {
	t.Parallel()
	for _, moved := range []string{"refs/heads/main", "refs/tags/v1.0"} {
		t.Run(moved, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOpts{textOnly: true})
			remote := f.mirror(t)
			work := filepath.Join(t.TempDir(), "work.git")
			gw := &gitRunner{t: t, dir: filepath.Dir(work)}
			gw.run("clone", "-q", "--mirror", remote, work)
			res, err := Purge(t.Context(), PurgeOptions{Path: work, Secrets: f.secrets(), MapDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			gr := &gitRunner{t: t, dir: remote}
			gr.run("update-ref", moved, f.commits["root"]) // someone pushed meanwhile
			before := gr.run("show-ref")
			_, err = Push(t.Context(), PushOptions{Path: work, Remote: "origin", RefMap: res.RefMap})
			var lease *LeaseError
			if !errors.As(err, &lease) || len(lease.Mismatches) != 1 || lease.Mismatches[0].Ref != moved {
				t.Fatalf("err = %v, want a lease error on %s", err, moved)
			}
			if after := gr.run("show-ref"); after != before {
				t.Errorf("remote refs changed:\n%s", cmp.Diff(before, after))
			}
		})
	}
}

func TestRewriteCommitDropsSignature(t *testing.T) {
	t.Parallel()
	secret := fakekey.Random().OpenAIProjectKey()
	d := &repoData{m: &matcher{secrets: [][]byte{[]byte(secret)}}}
	rw := newRewriter(d, PurgeOptions{Secrets: d.m.secrets, Replacement: "X"}, false)
	tree, parent := plumbing.NewHash(strings.Repeat("1", 40)), plumbing.NewHash(strings.Repeat("2", 40))
	raw := "tree " + strings.Repeat("a", 40) + "\nparent " + strings.Repeat("b", 40) + "\n" +
		"author A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\nencoding ISO-8859-1\n" +
		"gpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n" +
		"x-extra v\n\nsubject " + secret + "\n\nbody\n"
	got := string(rw.rewriteCommit([]byte(raw), tree, []plumbing.Hash{parent}))
	want := "tree " + tree.String() + "\nparent " + parent.String() + "\n" +
		"author A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\nencoding ISO-8859-1\n" +
		"x-extra v\n\nsubject X\n\nbody\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rewritten commit (-want +got):\n%s", diff)
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"https://x-access-token:tok@github.com/o/r.git", "https://***@github.com/o/r.git"},
		{"https://github.com/o/r.git", "https://github.com/o/r.git"},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q", tc.in, got)
		}
	}
	for _, tc := range []struct {
		in    string
		path  string
		local bool
	}{
		{"/srv/remote.git", "/srv/remote.git", true},
		{"file:///srv/r.git", "/srv/r.git", true},
		{"https://github.com/o/r", "", false},
		{"git@github.com:o/r.git", "", false},
	} {
		if p, ok := localPath(tc.in); p != tc.path || ok != tc.local {
			t.Errorf("localPath(%q) = %q, %v", tc.in, p, ok)
		}
	}
	if !IsReadOnlyForgeRef("refs/pull/7/head") || IsReadOnlyForgeRef("refs/heads/pull") {
		t.Errorf("IsReadOnlyForgeRef")
	}
}
