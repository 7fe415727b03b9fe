package rehearsal

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// plantedRepo is a generated repository with the leak in its history, a bare "remote" it was
// pushed to, and a clone of it with a working tree (what an engineer has on their laptop).
type plantedRepo struct {
	Local, Remote string
	DeployCommit  string // the commit that put the key in scripts/deploy.sh
	DeployBlob    string
}

// repoBuilder writes objects straight into a repository's storage: a few hundred commits in a
// fraction of a second, with no git binary and no working tree.
type repoBuilder struct {
	st    storer.EncodedObjectStorer
	files map[string][]byte
	head  plumbing.Hash
}

func (b *repoBuilder) blob(content []byte) (plumbing.Hash, error) {
	o := b.st.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return b.st.SetEncodedObject(o)
}

// tree writes the tree of every file under dir ("" for the root).
func (b *repoBuilder) tree(dir string) (plumbing.Hash, error) {
	children := map[string]bool{}
	var entries []object.TreeEntry
	for p, content := range b.files {
		rel := p
		if dir != "" {
			if !strings.HasPrefix(p, dir+"/") {
				continue
			}
			rel = p[len(dir)+1:]
		}
		if first, _, nested := strings.Cut(rel, "/"); nested {
			children[first] = true
			continue
		}
		h, err := b.blob(content)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		mode := filemode.Regular
		if strings.HasSuffix(p, ".sh") {
			mode = filemode.Executable
		}
		entries = append(entries, object.TreeEntry{Name: rel, Mode: mode, Hash: h})
	}
	for c := range children {
		h, err := b.tree(path.Join(dir, c))
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: c, Mode: filemode.Dir, Hash: h})
	}
	sort.Sort(object.TreeEntrySorter(entries))
	o := b.st.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return b.st.SetEncodedObject(o)
}

var people = []object.Signature{
	{Name: "Alice Ng", Email: "alice@example.com"},
	{Name: "Bruno Diaz", Email: "bruno@example.com"},
	{Name: "Carol Obi", Email: "carol@example.com"},
}

func (b *repoBuilder) commit(msg string, when time.Time, who int) (plumbing.Hash, error) {
	t, err := b.tree("")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sig := people[who%len(people)]
	sig.When = when
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: t}
	if !b.head.IsZero() {
		c.ParentHashes = []plumbing.Hash{b.head}
	}
	o := b.st.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := b.st.SetEncodedObject(o)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	b.head = h
	return h, nil
}

// buildRepo generates the storefront repository: 300 commits over 60 days on main plus a
// feature branch, the key committed at leakAt into scripts/deploy.sh (still at the tip), into
// config/settings.env (removed again later), into a binary file, a commit message and an
// annotated tag's message.
func buildRepo(dir, secret string, rng *rand.Rand, now, leakAt time.Time) (*plantedRepo, error) {
	remote := filepath.Join(dir, "remote", "storefront.git")
	repo, err := git.PlainInit(remote, true)
	if err != nil {
		return nil, fmt.Errorf("create the remote repository: %w", err)
	}
	// Objects are staged in memory and written as one packfile at the end: writing thousands of
	// loose objects one file each took seconds.
	mem := memory.NewStorage()
	b := &repoBuilder{st: mem, files: map[string][]byte{
		"README.md":                []byte("# storefront\n\nThe shop's backend.\n"),
		"src/app/main.go":          []byte("package main\n\nfunc main() { serve() }\n"),
		"src/app/handlers.go":      []byte("package main\n\nfunc serve() {}\n"),
		"src/app/recommend.go":     []byte("package main\n\n// Recommendations call the OpenAI API.\n"),
		"config/settings.env":      []byte("LOG_LEVEL=info\nREGION=eu-west-1\n"),
		"scripts/deploy.sh":        []byte("#!/bin/sh\nset -eu\n./bin/storefront --port 8080\n"),
		"docs/runbook.md":          []byte("# Runbook\n"),
		"assets/logo.png.bin":      append([]byte{0x89, 'P', 'N', 'G', 0, 0, 0, 0x0d}, randomBytes(rng, 512)...),
		".github/workflows/ci.yml": []byte("name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: go test ./...\n"),
	}}
	m, err := b.mainline(secret, rng, now, leakAt)
	if err != nil {
		return nil, err
	}
	mainHead := b.head
	// A feature branch that descends from the leak: rewritten too.
	b.head = m.featureBase
	for i := 0; i < 6; i++ {
		b.files["src/app/search.go"] = append(b.files["src/app/search.go"], []byte(fmt.Sprintf("// search %d\n", i))...)
		if _, err := b.commit(fmt.Sprintf("search: step %d", i), leakAt.Add(time.Duration(30+i)*time.Hour), i+1); err != nil {
			return nil, err
		}
	}
	feature := b.head

	tagger := people[0]
	tagger.When = leakAt.Add(20 * time.Hour)
	tag := &object.Tag{Name: "v1.4.0", Tagger: tagger, Target: m.annotatedTarget, TargetType: plumbing.CommitObject,
		Message: "v1.4.0\n\nRecommender launch. Deploy with OPENAI_API_KEY=" + secret + "\n"}
	to := mem.NewEncodedObject()
	if err := tag.Encode(to); err != nil {
		return nil, err
	}
	tagHash, err := mem.SetEncodedObject(to)
	if err != nil {
		return nil, err
	}
	if err := writePack(repo.Storer, mem); err != nil {
		return nil, fmt.Errorf("write the generated history: %w", err)
	}
	if err := setRefs(repo, []*plumbing.Reference{
		plumbing.NewHashReference("refs/heads/main", mainHead),
		plumbing.NewHashReference("refs/heads/feature/search", feature),
		plumbing.NewHashReference("refs/tags/v1.3.0", m.lightweight),
		plumbing.NewHashReference("refs/tags/v1.4.0", tagHash),
		// Someone named a branch after the key: the purge must rename it, here and on the remote.
		plumbing.NewHashReference(plumbing.ReferenceName("refs/heads/debug-"+secret), m.featureBase),
		plumbing.NewSymbolicReference(plumbing.HEAD, "refs/heads/main"),
	}); err != nil {
		return nil, err
	}
	local := filepath.Join(dir, "storefront")
	if _, err := git.PlainClone(local, false, &git.CloneOptions{URL: remote}); err != nil {
		return nil, fmt.Errorf("clone the generated repository: %w", err)
	}
	deployBlob := ""
	if c, err := object.GetCommit(mem, m.deployCommit); err == nil {
		if f, err := c.File("scripts/deploy.sh"); err == nil {
			deployBlob = f.Hash.String()
		}
	}
	return &plantedRepo{Local: local, Remote: remote, DeployCommit: m.deployCommit.String(), DeployBlob: deployBlob}, nil
}

// mainlineMarks are the commits of main that the refs and verifications point at.
type mainlineMarks struct {
	deployCommit, lightweight, annotatedTarget, featureBase plumbing.Hash
}

// mainline commits main's 300 commits: 240 before the leak, then the key into the deploy script,
// the settings file, a commit message and a binary file, and the settings fix.
func (b *repoBuilder) mainline(secret string, rng *rand.Rand, now, leakAt time.Time) (mainlineMarks, error) {
	const total, beforeLeak = 300, 240
	editable := []string{"src/app/main.go", "src/app/handlers.go", "src/app/recommend.go", "docs/runbook.md", "README.md"}
	start := now.Add(-60 * 24 * time.Hour)
	var m mainlineMarks
	for i := 0; i < total; i++ {
		var when time.Time
		if i < beforeLeak {
			when = start.Add(time.Duration(i) * leakAt.Sub(start) / beforeLeak)
		} else {
			when = leakAt.Add(time.Duration(i-beforeLeak) * now.Add(-time.Hour).Sub(leakAt) / (total - beforeLeak))
		}
		msg := ""
		switch i {
		case beforeLeak:
			b.files["scripts/deploy.sh"] = []byte("#!/bin/sh\nset -eu\nexport OPENAI_API_KEY=" + secret + "\n./bin/storefront --port 8080\n")
			msg = "deploy: pass the OpenAI key to the recommender"
		case beforeLeak + 5:
			b.files["config/settings.env"] = []byte("LOG_LEVEL=info\nREGION=eu-west-1\nOPENAI_API_KEY=" + secret + "\n")
			msg = "config: recommender settings"
		case beforeLeak + 10:
			msg = "debug: temporarily hardcode key " + secret + " while the vault is down"
			b.files["docs/runbook.md"] = append(b.files["docs/runbook.md"], []byte("\nVault outage: see #ops.\n")...)
		case beforeLeak + 15:
			bin := append(randomBytes(rng, 300), 0, 0, 0)
			bin = append(bin, []byte(secret)...)
			bin = append(bin, randomBytes(rng, 200)...)
			b.files["assets/embeddings.idx"] = bin
			msg = "assets: precomputed embeddings index"
		case beforeLeak + 40:
			b.files["config/settings.env"] = []byte("LOG_LEVEL=info\nREGION=eu-west-1\n")
			msg = "config: read the key from the environment instead"
		default:
			f := editable[rng.IntN(len(editable))]
			b.files[f] = append(b.files[f], []byte(fmt.Sprintf("// change %d\n", i))...)
			msg = fmt.Sprintf("%s: change %d", strings.TrimSuffix(path.Base(f), path.Ext(f)), i)
		}
		h, err := b.commit(msg, when, i)
		if err != nil {
			return m, err
		}
		switch i {
		case beforeLeak:
			m.deployCommit = h
		case beforeLeak - 20:
			m.lightweight = h
		case beforeLeak + 30:
			m.annotatedTarget = h
		case beforeLeak + 45:
			m.featureBase = h
		}
	}
	return m, nil
}

func setRefs(repo *git.Repository, refs []*plumbing.Reference) error {
	for _, ref := range refs {
		if err := repo.Storer.SetReference(ref); err != nil {
			return fmt.Errorf("set %s: %w", ref.Name(), err)
		}
	}
	return nil
}

// writePack writes every object staged in mem into dst as one packfile.
func writePack(dst storer.Storer, mem *memory.Storage) error {
	pw, ok := dst.(storer.PackfileWriter)
	if !ok {
		return fmt.Errorf("storage cannot take a packfile")
	}
	var hashes []plumbing.Hash
	for h := range mem.ObjectStorage.Objects {
		hashes = append(hashes, h)
	}
	w, err := pw.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := packfile.NewEncoder(w, mem, false).Encode(hashes, 10); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// writeLogs plants the key in application logs: a plain file, a rotated .gz, and a clean one.
func writeLogs(dir, secret string, rng *rand.Rand, leakAt time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	line := func(t time.Time, msg string) string { return t.UTC().Format(time.RFC3339) + " " + msg + "\n" }
	var app, rotated, worker bytes.Buffer
	for i := 0; i < 400; i++ {
		t := leakAt.Add(-48 * time.Hour).Add(time.Duration(i) * 10 * time.Minute)
		app.WriteString(line(t, fmt.Sprintf("INFO request id=%d path=/api/recommend status=200 took=%dms", i, 20+rng.IntN(200))))
		worker.WriteString(line(t, fmt.Sprintf("INFO job=%d done", i)))
		if i == 310 {
			app.WriteString(line(t, "DEBUG outbound headers: Authorization: Bearer "+secret))
		}
		if i == 290 {
			rotated.WriteString(line(t, "WARN retrying with key="+secret))
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rotated.Bytes())
	zw.Close()
	for name, content := range map[string][]byte{"app.log": app.Bytes(), "app.log.1.gz": gz.Bytes(), "worker.log": worker.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			return err
		}
	}
	return nil
}
