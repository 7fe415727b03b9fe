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

	"github.com/respond-sec/respond/internal/event"
)

// Genesis is the prev-hash of a journal's first line.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// ErrLocked means another process holds the run.
var ErrLocked = errors.New("run is in use by another respond process")

// ErrNotFound means there is no journal for the run ID.
var ErrNotFound = errors.New("no such run")

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

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

// Path is the journal file of runID under dir.
func Path(dir, runID string) string { return filepath.Join(dir, "runs", runID+".jsonl") }

// Journal appends events to one run's file. Not safe for concurrent use; the event Bus serialises.
type Journal struct {
	f     *os.File
	lock  *os.File
	prev  string
	lines int
	head  string
	// AfterAppend, when set, is called after each line is durable. Tests use it to crash the
	// process at a chosen point.
	AfterAppend func(event.Event)
}

// Create starts a new journal for runID. It fails if the run exists.
func Create(dir, runID string) (*Journal, error) {
	if !runIDPattern.MatchString(runID) {
		return nil, fmt.Errorf("invalid run ID %q", runID)
	}
	runs := filepath.Join(dir, "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, fmt.Errorf("create journal directory: %w", err)
	}
	lock, err := acquire(dir, runID)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(Path(dir, runID), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
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
	if !runIDPattern.MatchString(runID) {
		return nil, nil, fmt.Errorf("invalid run ID %q", runID)
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
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
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
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("journal: write head: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("journal: write head: %w", err)
	}
	return nil
}

func acquire(dir, runID string) (*os.File, error) {
	lf, err := os.OpenFile(filepath.Join(dir, "runs", runID+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
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

// Read returns the records of runID without verifying the chain.
func Read(dir, runID string) ([]Record, error) {
	f, err := os.Open(Path(dir, runID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", runID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []Record
	err = eachLine(f, func(n int, line []byte) error {
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

// Verify checks the hash chain, the sequence numbers and the head of runID's journal.
func Verify(dir, runID string) (int, error) {
	path := Path(dir, runID)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", runID, ErrNotFound)
	}
	recs, _, err := verify(path, headPath(dir, runID))
	return len(recs), err
}

func verify(path, headFile string) ([]Record, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	prev := Genesis
	var recs []Record
	var hashes []string
	err = eachLine(f, func(n int, line []byte) error {
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
	return recs, prev, nil
}

func eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if ferr := fn(n, bytes.TrimSuffix(line, []byte("\n"))); ferr != nil {
				return ferr
			}
		} else if len(line) > 0 {
			n-- // a stray blank line is not a record
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
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

// Summarize derives a run's summary from its records.
func Summarize(id string, recs []Record) Summary {
	s := Summary{RunID: id, Events: len(recs), Status: "interrupted"}
	for _, r := range recs {
		switch r.Kind {
		case event.RunStarted:
			s.Started = r.Time
			if p, ok := r.Data["playbook"].(string); ok {
				s.Playbook = p
			}
			if m, ok := r.Data["mode"].(string); ok {
				s.Mode = m
			}
		case event.RunFinished:
			s.Status = "finished"
			if o, ok := r.Data["outcome"].(string); ok {
				s.Status = o
			}
		case event.RunResumed:
			s.Status = "interrupted"
		}
	}
	return s
}
