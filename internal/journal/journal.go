// Package journal owns the run journal: one append-only JSONL file per run, mode 0600, one
// fsync'd line per event, each line carrying the SHA-256 of the line before it, so a changed,
// removed or reordered line is detected. A lock file keeps two processes off the same run.
package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
)

// Genesis is the prev-hash of a journal's first line.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// ErrLocked means another process holds the run.
var ErrLocked = errors.New("run is in use by another respond process")

// ErrNotFound means there is no journal for the run ID.
var ErrNotFound = errors.New("no such run")

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// CheckRunID refuses a run ID that could name a file outside the runs directory: run IDs come
// from command lines and Slack, and become file names.
func CheckRunID(runID string) error {
	if !runIDPattern.MatchString(runID) || strings.Contains(runID, "..") {
		return fmt.Errorf("invalid run ID %q: letters, digits, '.', '_' and '-' only, starting with a letter or digit", runID)
	}
	return nil
}

// Record is one journal line: the event plus the hash of the previous line.
type Record struct {
	Prev string `json:"prev"`
	event.Event
}

// DefaultDir is where runs live: $RESPOND_STATE_DIR, else $XDG_STATE_HOME/respond, else
// ~/.local/state/respond.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("RESPOND_STATE_DIR"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "respond"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find state directory: set RESPOND_STATE_DIR: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "respond"), nil
}

// PrepareDir creates the state directory (mode 0700) when it is missing and refuses one that is
// not safe to keep journals and the fingerprint key in, as ssh refuses loose key files: one
// another user can write into (they could plant symlinks or replace journals) or that belongs
// to someone else. The error says how to fix it.
func PrepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "runs")} {
		fi, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) && d != dir {
			continue
		}
		if err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("state directory %s is not a directory", d)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() && st.Uid != 0 {
			return fmt.Errorf("state directory %s belongs to uid %d, not to you (uid %d): use a directory of your own "+
				"(set RESPOND_STATE_DIR), or run: chown %d %s", d, st.Uid, os.Geteuid(), os.Geteuid(), d)
		}
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			return fmt.Errorf("state directory %s can be written by other users (mode %04o): run: chmod 700 %s", d, perm, d)
		}
	}
	return nil
}

// Path is the journal file of runID under dir.
func Path(dir, runID string) string { return filepath.Join(dir, "runs", runID+".jsonl") }

// Journal appends events to one run's file. Not safe for concurrent use; the event Bus serialises.
type Journal struct {
	f     *os.File
	lock  io.Closer
	prev  string
	lines int
	head  string
	// AfterAppend, when set, is called after each line is durable. Tests use it to crash the
	// process at a chosen point.
	AfterAppend func(event.Event)
}

// Create starts a new journal for runID. It fails if the run exists.
func Create(dir, runID string) (*Journal, error) {
	if err := CheckRunID(runID); err != nil {
		return nil, err
	}
	runs := filepath.Join(dir, "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, fmt.Errorf("create journal directory: %w", err)
	}
	lock, err := acquire(dir, runID)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(Path(dir, runID), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("create journal: %w", err)
	}
	if err := syncDir(runs); err != nil {
		f.Close()
		lock.Close()
		return nil, err
	}
	return &Journal{f: f, lock: lock, prev: Genesis, head: headPath(dir, runID)}, nil
}

// Open reopens an existing journal to append to it (resume). It verifies the chain first and
// returns the records read.
func Open(dir, runID string) (*Journal, []Record, error) {
	if err := CheckRunID(runID); err != nil {
		return nil, nil, err
	}
	path := Path(dir, runID)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %w", runID, ErrNotFound)
	}
	lock, err := acquire(dir, runID)
	if err != nil {
		return nil, nil, err
	}
	recs, last, err := verify(path, headPath(dir, runID))
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{f: f, lock: lock, prev: last, lines: len(recs), head: headPath(dir, runID)}, recs, nil
}

// Emit appends e as one fsync'd line. It implements event.Sink.
func (j *Journal) Emit(e event.Event) error {
	line, err := json.Marshal(Record{Prev: j.prev, Event: e})
	if err != nil {
		return fmt.Errorf("journal: encode event: %w", err)
	}
	line = append(line, '\n')
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: sync: %w", err)
	}
	j.prev = hashLine(line)
	j.lines++
	// The head file lets verify notice a removed last line. It may lag one line behind after a
	// crash, which verify accepts; it is never ahead.
	if err := writeHead(j.head, j.lines, j.prev); err != nil {
		return err
	}
	if j.AfterAppend != nil {
		j.AfterAppend(e)
	}
	return nil
}

// Close releases the file and the lock.
func (j *Journal) Close() error {
	err := j.f.Close()
	if lerr := j.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

func hashLine(line []byte) string {
	sum := sha256.Sum256(bytes.TrimSuffix(line, []byte("\n")))
	return hex.EncodeToString(sum[:])
}

func headPath(dir, runID string) string { return filepath.Join(dir, "runs", runID+".head") }

type head struct {
	Lines int    `json:"lines"`
	Last  string `json:"last"`
}

func writeHead(path string, lines int, last string) error {
	b, _ := json.Marshal(head{Lines: lines, Last: last})
	tmp := path + ".tmp"
	// A leftover from a crash is removed (never followed), and the new file is created
	// exclusively: a planted symlink cannot redirect the write.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: write head: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("journal: write head: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("journal: write head: %w", err)
	}
	return nil
}

func acquire(dir, runID string) (*os.File, error) {
	lf, err := os.OpenFile(filepath.Join(dir, "runs", runID+".lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock run: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", runID, ErrLocked)
		}
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	return lf, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Repair makes a journal with a torn tail whole again: it cuts the torn line off and appends a
// journal.repaired record saying what was dropped (its length and SHA-256, never its text), so
// the chain verifies and the repair itself is on the record. It returns that record, or nil when
// there was nothing to repair. Any other verification failure is returned untouched: tampering
// is never "repaired".
func Repair(dir, runID string, now time.Time) (*Record, error) {
	if err := CheckRunID(runID); err != nil {
		return nil, err
	}
	path := Path(dir, runID)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", runID, ErrNotFound)
	}
	lock, err := acquire(dir, runID)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	recs, last, err := verify(path, headPath(dir, runID))
	var torn *TornTailError
	if !errors.As(err, &torn) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("repair %s: %w", path, err)
	}
	j := &Journal{f: f, lock: nopCloser{}, prev: last, lines: len(recs), head: headPath(dir, runID)}
	defer j.Close()
	dropped := make([]byte, torn.Bytes)
	if _, err := f.ReadAt(dropped, torn.Offset); err != nil {
		return nil, fmt.Errorf("repair %s: read the torn line: %w", path, err)
	}
	if err := f.Truncate(torn.Offset); err != nil {
		return nil, fmt.Errorf("repair %s: cut the torn line: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return nil, fmt.Errorf("repair %s: %w", path, err)
	}
	sum := sha256.Sum256(dropped)
	e := event.Event{Seq: len(recs) + 1, Time: now.UTC(), RunID: runID,
		Message: fmt.Sprintf("dropped a torn last line (line %d, %d bytes): an append cut short, as by a crash", torn.Line, torn.Bytes)}.
		With(event.JournalRepairedData{Line: torn.Line, Bytes: torn.Bytes, SHA256: hex.EncodeToString(sum[:])})
	if err := j.Emit(e); err != nil {
		return nil, fmt.Errorf("repair %s: %w", path, err)
	}
	return &Record{Prev: last, Event: e}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Read returns the records of runID without verifying the chain. A torn last line (a write a
// crash cut short) is not a record and is left out.
func Read(dir, runID string) ([]Record, error) {
	if err := CheckRunID(runID); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(Path(dir, runID), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", runID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []Record
	err = eachLine(f, func(n int, _ int64, line []byte, terminated bool) error {
		if !terminated {
			return nil
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("%s:%d: %w", Path(dir, runID), n, err)
		}
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// VerifyError says where a journal's chain breaks.
type VerifyError struct {
	Path string
	Line int
	Msg  string
}

func (e *VerifyError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// TornTailError is a journal whose last line was not finished: a crash in the middle of an
// append. The lines before it are intact and verified; the torn line was never acknowledged, so
// no step acted on it. It is not tampering, and Repair makes the journal whole again.
type TornTailError struct {
	Path string
	// Line is the torn line's number; Intact the number of whole records before it.
	Line, Intact int
	// Offset is where the torn line starts; Bytes how long it is.
	Offset, Bytes int64
}

func (e *TornTailError) Error() string {
	return fmt.Sprintf("%s:%d: torn tail at line %d: its last write (%d bytes) was cut short, as by a crash mid-append; "+
		"the %d events before it are intact (resuming the run drops the torn line and records the repair)",
		e.Path, e.Line, e.Line, e.Bytes, e.Intact)
}

// Verify checks the hash chain, the sequence numbers and the head of runID's journal. It returns
// the number of intact records; a torn last line is a *TornTailError.
func Verify(dir, runID string) (int, error) {
	if err := CheckRunID(runID); err != nil {
		return 0, err
	}
	path := Path(dir, runID)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", runID, ErrNotFound)
	}
	recs, _, err := verify(path, headPath(dir, runID))
	return len(recs), err
}

// verify returns the intact records and the last one's hash; a torn tail is reported with them.
func verify(path, headFile string) ([]Record, string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	prev := Genesis
	var recs []Record
	var hashes []string
	var torn *TornTailError
	err = eachLine(f, func(n int, offset int64, line []byte, terminated bool) error {
		if !terminated {
			torn = &TornTailError{Path: path, Line: n, Intact: len(recs), Offset: offset, Bytes: int64(len(line))}
			return nil
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return &VerifyError{path, n, "not a journal record: " + err.Error()}
		}
		if r.Prev != prev {
			if n == 1 {
				return &VerifyError{path, n, "hash chain broken: the first line is not the run's first event (lines removed from the start?)"}
			}
			return &VerifyError{path, n, fmt.Sprintf("hash chain broken: line %d was changed, or lines were removed or reordered here", n-1)}
		}
		if r.Seq != n {
			return &VerifyError{path, n, fmt.Sprintf("sequence number %d where %d was expected", r.Seq, n)}
		}
		prev = hashLine(line)
		hashes = append(hashes, prev)
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	hb, err := os.ReadFile(headFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(recs) > 0 {
			return nil, "", &VerifyError{path, len(recs), "head file is missing"}
		}
	case err != nil:
		return nil, "", err
	default:
		var h head
		if err := json.Unmarshal(hb, &h); err != nil {
			return nil, "", &VerifyError{headFile, 1, "unreadable head: " + err.Error()}
		}
		if h.Lines > len(recs) {
			return nil, "", &VerifyError{path, len(recs), fmt.Sprintf("journal ends at line %d but %d lines were written: lines were removed from the end", len(recs), h.Lines)}
		}
		if h.Lines > 0 && hashes[h.Lines-1] != h.Last {
			return nil, "", &VerifyError{path, h.Lines, "line does not match the recorded head hash"}
		}
	}
	if torn != nil {
		return recs, prev, torn
	}
	return recs, prev, nil
}

// eachLine calls fn for every line with its number and byte offset; terminated is false for a
// last line that does not end in a newline (an append cut short).
func eachLine(r io.Reader, fn func(n int, offset int64, line []byte, terminated bool) error) error {
	br := bufio.NewReader(r)
	var offset int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return err
		}
		terminated := bytes.HasSuffix(line, []byte("\n"))
		if terminated && len(bytes.TrimSpace(line)) == 0 {
			n-- // a stray blank line is not a record
		} else if len(line) > 0 {
			if ferr := fn(n, offset, bytes.TrimSuffix(line, []byte("\n")), terminated); ferr != nil {
				return ferr
			}
		}
		offset += int64(len(line))
		if err == io.EOF {
			return nil
		}
	}
}

// Summary describes one run for `respond runs list`.
type Summary struct {
	RunID    string    `json:"run_id"`
	Playbook string    `json:"playbook"`
	Mode     string    `json:"mode"`
	Started  time.Time `json:"started"`
	Status   string    `json:"status"`
	Events   int       `json:"events"`
}

// List summarises every run under dir, newest first.
func List(dir string) ([]Summary, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "runs", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, m := range matches {
		id := strings.TrimSuffix(filepath.Base(m), ".jsonl")
		recs, err := Read(dir, id)
		if err != nil {
			out = append(out, Summary{RunID: id, Status: "unreadable: " + err.Error()})
			continue
		}
		out = append(out, Summarize(id, recs))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, nil
}

// Events are the records' events.
func Events(recs []Record) []event.Event {
	evs := make([]event.Event, len(recs))
	for i, r := range recs {
		evs[i] = r.Event
	}
	return evs
}

// Summarize derives a run's summary from its records, through the one fold of a run's events.
func Summarize(id string, recs []Record) Summary {
	st := engine.Fold(Events(recs))
	return Summary{RunID: id, Events: len(recs), Status: st.Status(), Started: st.Started, Playbook: st.Playbook, Mode: st.Mode}
}
