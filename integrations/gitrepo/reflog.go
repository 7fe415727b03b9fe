package gitrepo

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// reflog is one reflog file (logs/HEAD, logs/refs/...): every entry names the value its ref had
// before and after a change. They are the only record of stash entries beyond the newest, and of
// commits that a reset or an amend left behind, so a purge rewrites them instead of deleting
// them, and the commits they name are rewritten, not dropped.
type reflog struct {
	ref     string // "HEAD" or "refs/..."
	entries []reflogEntry
}

type reflogEntry struct {
	old, new plumbing.Hash
	rest     []byte // " committer <email> time zone\tmessage", without the newline
}

// readReflogs reads every reflog of the repository. A line that is not a reflog entry is kept
// as it is (rest holds it whole, hashes zero), so rewriting never drops one.
func readReflogs(gitDir string) ([]reflog, error) {
	var out []reflog
	add := func(path, ref string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lg := reflog{ref: ref}
		for line := range bytes.SplitSeq(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			e := reflogEntry{rest: line}
			if len(line) >= 82 && line[40] == ' ' && line[81] == ' ' && isHex(string(line[:40])) && isHex(string(line[41:81])) {
				e = reflogEntry{old: plumbing.NewHash(string(line[:40])), new: plumbing.NewHash(string(line[41:81])), rest: line[81:]}
			}
			lg.entries = append(lg.entries, e)
		}
		out = append(out, lg)
		return nil
	}
	logs := filepath.Join(gitDir, "logs")
	if err := add(filepath.Join(logs, "HEAD"), "HEAD"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	err := filepath.WalkDir(filepath.Join(logs, "refs"), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(logs, p)
		if err != nil {
			return err
		}
		return add(p, filepath.ToSlash(rel))
	})
	return out, err
}

func (e reflogEntry) raw() bool {
	return e.old.IsZero() && e.new.IsZero() && !bytes.HasPrefix(e.rest, []byte(" "))
}

func (lg reflog) encode() []byte {
	var b bytes.Buffer
	for _, e := range lg.entries {
		if !e.raw() {
			b.WriteString(e.old.String() + " " + e.new.String())
		}
		b.Write(e.rest)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// logPath is the reflog file of ref.
func logPath(gitDir, ref string) string {
	return filepath.Join(gitDir, "logs", filepath.FromSlash(ref))
}

// isStash reports whether ref is the stash, whose reflog is the list of stash entries.
func isStash(ref string) bool { return ref == "refs/stash" }

// isRemoteTracking reports whether ref records where a remote's branch is.
func isRemoteTracking(ref string) bool { return strings.HasPrefix(ref, "refs/remotes/") }
