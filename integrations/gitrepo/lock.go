package gitrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// crashHook, set only by tests, is called before every write, rename and unlink a purge makes
// in the repository. The crash matrix exits the process there to prove that a kill at any of
// those points leaves a repository git accepts and a re-run finishes the job.
var crashHook func(op, path string)

func fsOp(op, path string) {
	if crashHook != nil {
		crashHook(op, path)
	}
}

func rename(from, to string) error {
	fsOp("rename", to)
	return os.Rename(from, to)
}

func unlink(path string) error {
	fsOp("unlink", path)
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// syncDir makes a rename or unlink in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// writeAtomic replaces path with data through a temporary file in tmpDir (same file system):
// write, fsync, rename, so a reader (or a crash) sees the old content or the new, never a part.
func writeAtomic(tmpDir, path string, data []byte, perm os.FileMode) error {
	return writeAtomicWith(tmpDir, path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomicWith is writeAtomic for content that write streams (too large to hold at once).
func writeAtomicWith(tmpDir, path string, perm os.FileMode, write func(w io.Writer) error) error {
	fsOp("write", path)
	f, err := os.CreateTemp(tmpDir, "respond-tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// repoLock holds git's lock files (<file>.lock, created O_EXCL) for the index, HEAD,
// packed-refs and every ref a purge may move, for the whole purge. git takes the same files
// before it changes any of them, so a concurrent `git commit` or push fails on the lock instead
// of writing a commit that the purge would then drop. A lock is released the way git releases
// it: its new content is renamed over the file, or it is unlinked.
type repoLock struct {
	gitDir string
	held   map[string]*os.File // by file, relative to gitDir
	mask   func(string) string // for messages: a ref named after the key must not print it
}

// ErrLocked is returned (wrapped) when another process holds one of the repository's locks.
var ErrLocked = errors.New("locked by another git process")

func (l *repoLock) take(rel string) error {
	p := filepath.Join(l.gitDir, filepath.FromSlash(rel)) + ".lock"
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("lock %s: %w", l.mask(rel), err)
	}
	fsOp("write", p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s.lock exists: %w (if no git process is running, a crashed one left it: remove it)", l.mask(rel), ErrLocked)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", l.mask(rel), err)
	}
	l.held[rel] = f
	return nil
}

// hold takes rel's lock unless it is held already.
func (l *repoLock) hold(rel string) error {
	if _, ok := l.held[rel]; ok {
		return nil
	}
	return l.take(rel)
}

// commit writes data into rel's lock, fsyncs it and renames it over rel.
func (l *repoLock) commit(rel string, data []byte) error {
	f, ok := l.held[rel]
	if !ok {
		return fmt.Errorf("write %s: not locked", l.mask(rel))
	}
	p := filepath.Join(l.gitDir, filepath.FromSlash(rel))
	fsOp("write", p+".lock")
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	delete(l.held, rel)
	if err == nil {
		err = rename(p+".lock", p)
	}
	if err != nil {
		os.Remove(p + ".lock")
		return fmt.Errorf("write %s: %w", l.mask(rel), err)
	}
	return syncDir(filepath.Dir(p))
}

// drop releases rel's lock without changing rel.
func (l *repoLock) drop(rel string) error {
	f, ok := l.held[rel]
	if !ok {
		return nil
	}
	f.Close()
	delete(l.held, rel)
	return unlink(filepath.Join(l.gitDir, filepath.FromSlash(rel)) + ".lock")
}

func (l *repoLock) releaseAll() {
	for _, rel := range slices.Sorted(maps.Keys(l.held)) {
		_ = l.drop(rel)
	}
}

// journalName is the purge journal in the git directory. It never holds a secret: lock files
// and paths are recorded as SHA-256 digests of their names, enough to recognise them again.
const journalName = "respond-purge.journal"

// journal is a purge in progress. A purge writes it before taking any lock and removes it after
// its last step; finding it means a purge was interrupted: its locks and temporary files are
// removed, and the working tree may differ from HEAD at the paths it lists (the rewrite was
// between moving HEAD and resetting them).
type journal struct {
	Version int      `json:"version"`
	PID     int      `json:"pid"` // the purge's process, to tell a running purge from a crashed one
	Host    string   `json:"host"`
	Locks   []string `json:"locks"` // sha256 of each lock file, relative to the git directory
	Paths   []string `json:"paths"` // sha256 of each working-tree path being reset
	Phase   string   `json:"phase"`
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (j *journal) write(gitDir string) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := writeAtomic(gitDir, filepath.Join(gitDir, journalName), b, 0o600); err != nil {
		return fmt.Errorf("write purge journal: %w", err)
	}
	return nil
}

func readJournal(gitDir string) (*journal, error) {
	b, err := os.ReadFile(filepath.Join(gitDir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read purge journal: %w", err)
	}
	j := &journal{}
	if err := json.Unmarshal(b, j); err != nil {
		// A torn journal cannot happen (it is written atomically); an unreadable one is not ours.
		return nil, fmt.Errorf("read purge journal %s: %w", filepath.Join(gitDir, journalName), err)
	}
	return j, nil
}

func (j *journal) hasPath(p string) bool { return j != nil && slices.Contains(j.Paths, digest(p)) }

// recoverCrashed removes what an interrupted purge left: its lock files (recognised by the
// journal's digests), its temporary files and unfinished packs. The journal itself stays until
// the next purge completes.
func recoverCrashed(gitDir string, j *journal) error {
	var errs []error
	locks := map[string]bool{}
	for _, l := range j.Locks {
		locks[l] = true
	}
	check := func(rel string) {
		if locks[digest(rel)] {
			if err := unlink(filepath.Join(gitDir, filepath.FromSlash(rel)) + ".lock"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, top := range []string{"index", "HEAD", "packed-refs", "config"} {
		check(top)
	}
	_ = filepath.WalkDir(filepath.Join(gitDir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".lock") {
			return nil
		}
		rel, _ := filepath.Rel(gitDir, strings.TrimSuffix(p, ".lock"))
		check(filepath.ToSlash(rel))
		return nil
	})
	tmps, _ := filepath.Glob(filepath.Join(gitDir, "respond-tmp-*"))
	packTmps, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "tmp_*_respond_*"))
	// A pack renamed into place before its index: invisible to git, and never complete.
	packs, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "pack-*.pack"))
	for _, p := range packs {
		if _, err := os.Stat(strings.TrimSuffix(p, ".pack") + ".idx"); errors.Is(err, fs.ErrNotExist) {
			packTmps = append(packTmps, p)
		}
	}
	for _, p := range append(tmps, packTmps...) {
		if err := unlink(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// running reports whether the purge that wrote j is still alive: then its locks are not stale.
func (j *journal) running() bool {
	if j == nil || j.PID == 0 || j.PID == os.Getpid() {
		return false
	}
	if host, _ := os.Hostname(); host != j.Host {
		return true // another machine (a shared file system): cannot tell, assume it runs
	}
	return processAlive(j.PID)
}

// removeIfOurs deletes the journal if this process wrote it: a purge that lost the race for the
// locks must not delete the journal of the one that won.
func removeIfOurs(gitDir string) {
	if j, err := readJournal(gitDir); err == nil && j != nil && j.PID == os.Getpid() {
		_ = unlink(filepath.Join(gitDir, journalName))
	}
}
