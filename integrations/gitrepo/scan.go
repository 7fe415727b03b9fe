// Package gitrepo owns git history work for a leaked secret, with go-git and no git binary:
// finding every occurrence in every ref's and reflog's history, in contents and in names
// (Scan), rewriting history so no object, ref name, reflog or stash entry holds it (PlanPurge,
// Purge), removing the old objects from the object store (Purge, CleanObjects), and
// force-pushing the rewritten refs under a lease (Push).
//
// Secrets are matched as exact byte strings. Objects are read by a parallel pass over the packs
// (see pack.go for why not through go-git's object storage). Writes follow git's own protocol
// rather than go-git's storage (which writes refs and the index in place and ignores lock
// files): each file is written to its git lock file (<file>.lock, held from the start of a purge
// so that git waits on it), fsynced and renamed into place; packs are written whole and indexed
// before anything names their objects (lock.go, refs.go, repack.go, worktree.go). go-git
// provides the index and pack-index codecs, .gitattributes matching and the transport.
package gitrepo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Finding kinds.
const (
	KindBlob          = "blob"
	KindCommitMessage = "commit-message"
	KindTagMessage    = "tag-message"
	// Names: Path holds the name with the secret masked (NameMask), never the secret.
	KindPath          = "path"               // a file or directory name in a commit's tree
	KindBranchName    = "branch-name"        // refs/heads/*
	KindTagName       = "tag-name"           // refs/tags/*
	KindRefName       = "ref-name"           // any other ref
	KindTagObjectName = "annotated-tag-name" // the name recorded inside an annotated tag object
	KindReflogMessage = "reflog-message"     // Path: the ref (masked); Line: the entry, 1 = newest
	KindConfig        = "config"             // the repository's config file (e.g. a branch section)
)

func refKind(name string) string {
	switch {
	case strings.HasPrefix(name, "refs/heads/"):
		return KindBranchName
	case strings.HasPrefix(name, "refs/tags/"):
		return KindTagName
	}
	return KindRefName
}

// ScanOptions says which repository to scan and for what. Exactly one of Path and URL is set.
type ScanOptions struct {
	Path    string   // local repository, bare or with a working tree
	URL     string   // clone URL; cloned as a bare mirror into a temporary directory
	Token   string   // for URL: sent as HTTP basic auth x-access-token:<Token>
	Secrets [][]byte // the leaked value and its variants, matched as exact bytes
	Workers int      // parallel readers; 0 means GOMAXPROCS
	Memory  Memory   // what is kept in memory, and where the rest goes
	// Progress, when set, is told how far the clone (for URL) and the scan have come.
	Progress Progress
}

// ScanResult is what a scan found.
//
// Findings of kind blob are introductions: a commit C and path P such that the blob at P in C
// holds more occurrences of a secret than the blob at P in every parent of C (a root commit is
// compared with the empty tree). For a commit with one parent, those together with Removals (fewer
// occurrences than in the parent) are exactly the commits `git log --all --no-renames -S<secret>`
// lists; a merge appears only when it introduces an occurrence itself (an "evil merge"), which
// git log -S never shows.
type ScanResult struct {
	Findings  []Finding
	Removals  []Finding // commits that removed occurrences (kind blob, Line 0)
	FirstSeen time.Time // earliest author (or tagger) date among Findings; zero when none

	BlobsRead   int // unique blobs read, reachable or not
	Commits     int // commits reachable from the refs
	Refs        int
	Unreachable int // blobs holding a secret that no ref reaches (they still sit in the object store)
}

// Finding is one occurrence of a secret.
type Finding struct {
	Kind   string    // KindBlob, KindCommitMessage or KindTagMessage
	Commit string    // the commit; for a tag message, the commit the tag points to (if any)
	Path   string    // blob and path findings; the (masked) name for name findings
	Line   int       // 1-based line in the blob or the message
	Author string    // "name <email>" (the tagger for tag messages)
	Date   time.Time // author date (tagger date for tag messages)
	Refs   []string  // refs (and "<ref>@{reflog}") whose history contains it; names masked
	// InTip: still present at a ref tip. Blob: some ref's tip tree holds this secret at Path.
	// Commit message: the commit is a ref's tip (directly or through a tag). Tag message: always.
	InTip  bool
	Secret int    // index into ScanOptions.Secrets
	Blob   string // blob findings: the blob
	Tag    string // tag message findings: the tag object
}

// Scan finds every occurrence of the secrets in the history of every ref.
func Scan(ctx context.Context, o ScanOptions) (*ScanResult, error) {
	if len(o.Secrets) == 0 {
		return nil, errors.New("scan: no secret given")
	}
	for _, s := range o.Secrets {
		if len(s) == 0 {
			return nil, errors.New("scan: empty secret")
		}
	}
	ctx = withProgress(ctx, o.Progress)
	path := o.Path
	if o.URL != "" {
		dir, err := os.MkdirTemp("", "respond-scan-*")
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		defer os.RemoveAll(dir)
		if err := mirrorClone(ctx, o.URL, o.Token, dir); err != nil {
			return nil, fmt.Errorf("scan %s: %w", redactURL(o.URL), err)
		}
		path = dir
	}
	if path == "" {
		return nil, errors.New("scan: neither Path nor URL given")
	}
	gitDir, bare, err := gitDirOf(path)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	if err := checkSupported(gitDir); err != nil {
		return nil, fmt.Errorf("scan %s: %w", path, err)
	}
	d, err := load(ctx, gitDir, bare, loadOptions{secrets: o.Secrets, workers: workers(o.Workers), mem: o.Memory, lean: true})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", path, err)
	}
	defer d.close()
	res, err := d.scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", path, err)
	}
	return res, nil
}

func workers(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// checkSupported refuses repositories whose objects are not all in this object store.
func checkSupported(gitDir string) error {
	for _, f := range []string{"shallow", "objects/info/alternates"} {
		if _, err := os.Stat(gitDir + "/" + f); err == nil {
			return fmt.Errorf("repository has %s: objects outside it are not reachable here (unsupported)", f)
		}
	}
	return nil
}

func mirrorClone(ctx context.Context, url, token, dir string) error {
	opts := &git.CloneOptions{URL: localGitDir(url), Auth: auth(token), Mirror: true}
	if p, ok := ctx.Value(progressKey{}).(Progress); ok {
		opts.Progress = &sidebandProgress{p: p, phase: PhaseClone}
	}
	_, err := git.PlainCloneContext(ctx, dir, true, opts)
	return err
}

// localGitDir points a local-path URL at the repository's git directory: go-git's in-process
// server opens the path it is given as the git directory, so a working tree's path would look
// like an empty repository.
func localGitDir(url string) string {
	p, ok := localPath(url)
	if !ok {
		return url
	}
	if gitDir, bare, err := gitDirOf(p); err == nil && !bare {
		return gitDir
	}
	return url
}

func auth(token string) transport.AuthMethod {
	if token == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: token}
}

// redactURL drops userinfo from a URL for messages.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.LastIndex(u[i+3:], "@"); at >= 0 {
			return u[:i+3] + "***@" + u[i+3+at+1:]
		}
	}
	return u
}

// root is one starting point of the history: a ref, or an entry of a reflog (named
// "<ref>@{reflog}"), identified by its index in a list of names.
type root struct {
	name int
	hash plumbing.Hash
}

// roots lists the refs and every reflog entry, with the (masked) names they go by. Reflogs are
// history too: stash entries and commits left behind by a reset live only there.
func (d *repoData) roots() ([]string, []root) {
	var names []string
	var roots []root
	for _, r := range d.refs {
		roots = append(roots, root{len(names), r.hash})
		names = append(names, d.m.maskName(r.name))
	}
	for _, lg := range d.logs {
		n := len(names)
		names = append(names, d.m.maskName(lg.ref)+"@{reflog}")
		seen := map[plumbing.Hash]bool{}
		for _, e := range lg.entries {
			for _, h := range []plumbing.Hash{e.old, e.new} {
				if !h.IsZero() && !seen[h] {
					seen[h] = true
					roots = append(roots, root{n, h})
				}
			}
		}
	}
	return names, roots
}

// tips returns the commit each root reaches (after peeling tags), and for each commit the
// roots whose tip it is.
func (d *repoData) tips(roots []root) ([]plumbing.Hash, map[plumbing.Hash][]int) {
	var tips []plumbing.Hash
	at := map[plumbing.Hash][]int{}
	for _, r := range roots {
		h, typ := d.peel(r.hash)
		if typ != plumbing.CommitObject {
			continue
		}
		if _, ok := at[h]; !ok {
			tips = append(tips, h)
		}
		if !slices.Contains(at[h], r.name) {
			at[h] = append(at[h], r.name)
		}
	}
	return tips, at
}

func (d *repoData) scan(ctx context.Context) (*ScanResult, error) {
	names, roots := d.roots()
	tips, tipRefs := d.tips(roots)
	order, err := d.topoList(tips)
	if err != nil {
		return nil, err
	}
	defer order.close()
	res := &ScanResult{BlobsRead: d.blobs, Commits: order.len(), Refs: len(d.refs)}
	refTip := map[plumbing.Hash]bool{} // a ref's tip (not only a reflog entry's)
	for _, r := range d.refs {
		if h, typ := d.peel(r.hash); typ == plumbing.CommitObject {
			refTip[h] = true
		}
	}
	h := &historyScan{d: d, names: names, refTip: refTip, needRefs: map[plumbing.Hash][]findingAt{}}
	if err := h.tipPaths(tips); err != nil {
		return nil, err
	}
	named, err := d.nameFindings()
	if err != nil {
		return nil, err
	}
	res.Findings = append(res.Findings, named...)
	if err := h.commitFindings(ctx, order, res); err != nil {
		return nil, err
	}
	if err := h.fillRefs(order, tipRefs, res); err != nil {
		return nil, err
	}
	tags, err := d.tagFindings()
	if err != nil {
		return nil, err
	}
	res.Findings = append(res.Findings, tags...)
	for h := range d.bad {
		if !d.seenBad[h] && !d.refReachesBlob(h) {
			res.Unreachable++
		}
	}
	// Every answer above came through the tables: trusted only if none of them failed to
	// read its file.
	if err := d.indexErr(); err != nil {
		return nil, fmt.Errorf("scan the history: %w", err)
	}
	sortFindings(res.Findings)
	sortFindings(res.Removals)
	for _, f := range res.Findings {
		if res.FirstSeen.IsZero() || f.Date.Before(res.FirstSeen) {
			res.FirstSeen = f.Date
		}
	}
	return res, nil
}

// refBits computes which roots contain each commit: bits pushed from children to parents, a
// commit's set final once every child has pushed (order has parents first), when settled is
// told the commit, its set and the set's number. Neighbouring commits are mostly in the same
// roots, so each distinct set is stored once (a set per commit was 30 MiB on the bench's
// 100,000 commits and 2,346 roots), and only the sets still receiving bits are held apart.
// Nothing is kept per commit: the caller keeps what it needs of the sets it is told.
func (d *repoData) refBits(order *hashList, tipRefs map[plumbing.Hash][]int, roots int,
	settled func(h plumbing.Hash, id int32, set []uint64)) error {
	p := &setPusher{d: d, words: (roots + 63) / 64, tipRefs: tipRefs, settled: settled,
		ids: map[string]int32{}, pending: map[plumbing.Hash][]uint64{}}
	if err := order.eachReverse(p.push); err != nil {
		return fmt.Errorf("which refs reach each commit: %w", err)
	}
	return nil
}

// setPusher is refBits' state: the sets seen so far by content, and the bits children have
// pushed to parents not yet reached.
type setPusher struct {
	d       *repoData
	words   int
	tipRefs map[plumbing.Hash][]int
	settled func(h plumbing.Hash, id int32, set []uint64)
	sets    [][]uint64
	ids     map[string]int32
	pending map[plumbing.Hash][]uint64
	key     []byte
}

// push settles commit h's set (every child has pushed its bits) and pushes it to h's parents.
func (p *setPusher) push(h plumbing.Hash) error {
	b := p.pending[h]
	delete(p.pending, h)
	if b == nil {
		b = make([]uint64, p.words)
	}
	for _, ri := range p.tipRefs[h] {
		b[ri/64] |= 1 << (ri % 64)
	}
	p.key = p.key[:0]
	for _, w := range b {
		p.key = binary.LittleEndian.AppendUint64(p.key, w)
	}
	id, ok := p.ids[string(p.key)]
	if !ok {
		id = int32(len(p.sets))
		p.sets = append(p.sets, b)
		p.ids[string(p.key)] = id
	}
	set := p.sets[id]
	p.settled(h, id, set)
	c, err := p.d.commit(h)
	if err != nil {
		return err
	}
	for _, parent := range c.parents {
		pb, ok := p.pending[parent]
		if !ok {
			p.pending[parent] = slices.Clone(set)
			continue
		}
		for w := range pb {
			pb[w] |= set[w]
		}
	}
	return nil
}

// historyScan is the state of the walk over the commits that finds blob, path and message
// findings.
type historyScan struct {
	d         *repoData
	names     []string // the roots' (masked) names
	refTip    map[plumbing.Hash]bool
	needRefs  map[plumbing.Hash][]findingAt // findings waiting for their Refs, by commit
	setNames  map[int32][]string            // refNames by set
	inTip     map[string]bool               // "<secret>\x00<path>": a ref tip holds the secret there
	inTipName map[string]bool               // names holding a secret at a ref tip
}

// findingAt is a finding of a ScanResult: in Removals or Findings, at index i.
type findingAt struct {
	removal bool
	i       int
}

// add appends f, a finding in commit c, to res and notes that its Refs are to be filled.
func (h *historyScan) add(res *ScanResult, c plumbing.Hash, f Finding, removal bool) {
	list := &res.Findings
	if removal {
		list = &res.Removals
	}
	h.needRefs[c] = append(h.needRefs[c], findingAt{removal, len(*list)})
	*list = append(*list, f)
}

// fillRefs sets the Refs of the findings add noted, once the walk is over: which roots contain
// a commit is known for every commit by a walk from children to parents, and only the commits
// with findings need it.
func (h *historyScan) fillRefs(order *hashList, tipRefs map[plumbing.Hash][]int, res *ScanResult) error {
	return h.d.refBits(order, tipRefs, len(h.names), func(c plumbing.Hash, id int32, set []uint64) {
		for _, at := range h.needRefs[c] {
			list := res.Findings
			if at.removal {
				list = res.Removals
			}
			list[at.i].Refs = h.refNames(id, set)
		}
	})
}

// refNames lists the roots in set (number id). Findings share the list of their set (read
// only), rather than one copy per finding.
func (h *historyScan) refNames(id int32, set []uint64) []string {
	if out, ok := h.setNames[id]; ok {
		return out
	}
	var out []string
	for i, name := range h.names {
		if set[i/64]&(1<<(i%64)) != 0 {
			out = append(out, name)
		}
	}
	if h.setNames == nil {
		h.setNames = map[int32][]string{}
	}
	h.setNames[id] = out
	return out
}

// tipPaths finds the paths and names at which a ref tip still holds a secret.
func (h *historyScan) tipPaths(tips []plumbing.Hash) error {
	d := h.d
	h.inTip, h.inTipName = map[string]bool{}, map[string]bool{}
	seenTree := map[plumbing.Hash]bool{}
	for _, t := range tips {
		if !h.refTip[t] {
			continue
		}
		c, err := d.commit(t)
		if err != nil {
			return err
		}
		if seenTree[c.tree] {
			continue
		}
		seenTree[c.tree] = true
		paths := map[string][]int{}
		if err := d.badPaths(c.tree, "", paths); err != nil {
			return err
		}
		for p, ss := range paths {
			for _, s := range ss {
				h.inTip[fmt.Sprint(s, "\x00", p)] = true
			}
		}
	}
	for t := range h.refTip {
		c, err := d.commit(t)
		if err != nil {
			return err
		}
		for p := range d.badNames(c.tree) {
			h.inTipName[p] = true
		}
	}
	return nil
}

// nameFindings finds the secrets in ref names, symbolic refs, reflog messages ("checkout: moving
// from main to <branch>") and the repository's config (a branch's tracking section): not
// history, but in the repository.
func (d *repoData) nameFindings() ([]Finding, error) {
	var out []Finding
	for _, r := range d.refs {
		if !d.m.any([]byte(r.name)) {
			continue
		}
		f := Finding{Kind: refKind(r.name), Path: d.m.maskName(r.name), Refs: []string{d.m.maskName(r.name)}, InTip: true}
		if h, typ := d.peel(r.hash); typ == plumbing.CommitObject {
			f.Commit = h.String()
			a, err := d.author(h)
			if err != nil {
				return nil, err
			}
			f.Author, f.Date = sigString(a), sigTime(a)
		}
		out = append(out, f)
	}
	for _, name := range slices.Sorted(maps.Keys(d.syms)) {
		if target := d.syms[name]; d.m.any([]byte(name)) || d.m.any([]byte(target)) {
			out = append(out, Finding{Kind: KindRefName, Path: d.m.maskName(name) + " -> " + d.m.maskName(target),
				Refs: []string{d.m.maskName(name)}, InTip: true})
		}
	}
	for _, lg := range d.logs {
		for i, e := range lg.entries {
			if d.m.any(e.rest) {
				out = append(out, Finding{Kind: KindReflogMessage, Path: d.m.maskName(lg.ref), Line: len(lg.entries) - i,
					Refs: []string{d.m.maskName(lg.ref) + "@{reflog}"}})
			}
		}
	}
	if d.m.any(d.config) {
		out = append(out, Finding{Kind: KindConfig, Path: "config", Refs: []string{"config"}, InTip: true})
	}
	return out, nil
}

// commitFindings walks the commits in order and adds their blob, path and message findings to
// res.
func (h *historyScan) commitFindings(ctx context.Context, order *hashList, res *ScanResult) error {
	progress := newTicker(ctx, PhaseScan, order.len())
	return order.each(func(ch plumbing.Hash) error {
		progress.tick()
		return h.commitFinding(ctx, ch, res)
	})
}

// commitFinding adds commit ch's blob, path and message findings to res.
func (h *historyScan) commitFinding(ctx context.Context, ch plumbing.Hash, res *ScanResult) error {
	d := h.d
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := d.commit(ch)
	if err != nil {
		return err
	}
	chs, err := d.changes(c)
	if err != nil {
		return fmt.Errorf("commit %s: %w", ch, err)
	}
	names, err := d.newBadNames(c)
	if err != nil {
		return fmt.Errorf("commit %s: %w", ch, err)
	}
	hits := d.m.lineHits(c.msg)
	if len(chs) == 0 && len(names) == 0 && hits == nil {
		return nil
	}
	a, err := d.author(ch)
	if err != nil {
		return err
	}
	base := Finding{Kind: KindBlob, Commit: ch.String(), Author: sigString(a), Date: sigTime(a)}
	for _, x := range chs {
		f := base
		f.Path, f.Secret, f.Blob = x.path, x.secret, x.blob.String()
		if !x.intro {
			h.add(res, ch, f, true)
			continue
		}
		f.InTip = h.inTip[fmt.Sprint(x.secret, "\x00", x.path)]
		for _, line := range d.bad[x.blob].lines[x.secret] {
			f.Line = line
			h.add(res, ch, f, false)
		}
	}
	for _, p := range names {
		f := base
		f.Kind, f.Path = KindPath, d.m.maskName(p)
		f.InTip = h.inTipName[p]
		h.add(res, ch, f, false)
	}
	for s, lines := range hits {
		for _, line := range lines {
			f := base
			f.Kind, f.Line, f.Secret = KindCommitMessage, line, s
			f.InTip = h.refTip[ch]
			h.add(res, ch, f, false)
		}
	}
	return nil
}

// tagFindings finds the secrets in the names and messages of the annotated tags reachable from
// refs (tags of tags included).
func (d *repoData) tagFindings() ([]Finding, error) {
	tagRefs := map[plumbing.Hash][]string{}
	for _, r := range d.refs {
		h := r.hash
		for range 100 {
			raw, ok := d.tags[h]
			if !ok {
				break
			}
			tagRefs[h] = append(tagRefs[h], d.m.maskName(r.name))
			t, ok := tagTarget(raw)
			if !ok {
				break
			}
			h = t
		}
	}
	var out []Finding
	for th, names := range tagRefs {
		var tag object.Tag
		if err := tag.Decode(memObject(plumbing.TagObject, d.tags[th])); err != nil {
			return nil, fmt.Errorf("tag %s: %w", th, err)
		}
		base := Finding{Tag: th.String(), Author: sigString(tag.Tagger), Date: sigTime(tag.Tagger),
			Refs: slices.Sorted(slices.Values(names)), InTip: true}
		if target, typ := d.peel(th); typ == plumbing.CommitObject {
			base.Commit = target.String()
		}
		if d.m.any([]byte(tag.Name)) {
			f := base
			f.Kind, f.Path = KindTagObjectName, d.m.maskName(tag.Name)
			out = append(out, f)
		}
		for s, lines := range d.m.lineHits([]byte(tag.Message)) {
			for _, line := range lines {
				f := base
				f.Kind, f.Line, f.Secret = KindTagMessage, line, s
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// refReachesBlob says whether a ref that names a tree or a blob directly (not through a commit)
// reaches blob h; filled lazily. Blobs in commits' trees need no walk: diff meets every blob
// holding a secret in a reachable commit's tree (seenBad), because each one either differs from
// the parents' at its path in some commit, or came with the root commit, where diff compares with
// the empty tree.
func (d *repoData) refReachesBlob(h plumbing.Hash) bool {
	if d.reachBad == nil {
		d.reachBad = map[plumbing.Hash]bool{}
		seen := map[plumbing.Hash]bool{}
		var walk func(t plumbing.Hash)
		walk = func(t plumbing.Hash) {
			if seen[t] {
				return
			}
			seen[t] = true
			if ok, _ := d.hasBad(t); !ok {
				return
			}
			_ = d.forEntries(t, func(e treeEntry) bool {
				switch {
				case e.isDir():
					walk(e.hash)
				case e.isBlob() && d.bad[e.hash] != nil:
					d.reachBad[e.hash] = true
				}
				return true
			})
		}
		for _, r := range d.refs {
			if t, typ := d.peel(r.hash); typ == plumbing.TreeObject {
				walk(t)
			} else if typ == plumbing.BlobObject && d.bad[t] != nil {
				d.reachBad[t] = true
			}
		}
	}
	return d.reachBad[h]
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := a.Date.Compare(b.Date); c != 0 {
			return c
		}
		if c := strings.Compare(a.Commit, b.Commit); c != 0 {
			return c
		}
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Secret - b.Secret
	})
}

func memObject(t plumbing.ObjectType, data []byte) plumbing.EncodedObject {
	o := &plumbing.MemoryObject{}
	o.SetType(t)
	o.SetSize(int64(len(data)))
	_, _ = o.Write(data)
	return o
}
