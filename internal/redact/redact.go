// Package redact owns the run-wide set of secrets and the masking of every byte that leaves the
// process: terminal, journal, JSON output, Slack, reports and error text all pass through a Set.
// Known key shapes are masked even when nobody registered them.
package redact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// MinLen is the shortest value the Set registers: shorter values would mask ordinary words.
const MinLen = 6

// patterns are key shapes masked even when unregistered. Order matters: longer prefixes first so
// the masked form keeps the most specific prefix.
var patterns = regexp.MustCompile(`sk-(?:proj|admin|svcacct|None)-[A-Za-z0-9_\-]{16,}|sk-[A-Za-z0-9_\-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|xox[abpre]-[A-Za-z0-9\-]{10,}|xapp-[A-Za-z0-9\-]{10,}`)

var prefixes = []string{"sk-proj-", "sk-admin-", "sk-svcacct-", "sk-None-", "sk-", "github_pat_",
	"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xoxb-", "xoxa-", "xoxp-", "xoxe-", "xoxr-", "xapp-"}

// Mask returns the printable form of a secret: its well-known prefix (if any), an ellipsis, its
// last four characters and a short SHA-256 fingerprint, e.g. "sk-proj-…x7Qa#3f9a1c". Two people
// can compare fingerprints without either seeing the value.
func Mask(value string) string {
	prefix := ""
	for _, p := range prefixes {
		if strings.HasPrefix(value, p) {
			prefix = p
			break
		}
	}
	tail := ""
	if len(value) >= 16 {
		tail = value[len(value)-4:]
	}
	return prefix + "…" + tail + "#" + Fingerprint(value)
}

// Fingerprint is the first 6 hex digits of the value's SHA-256.
func Fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:3])
}

// Set is the run-wide redaction set. The zero value is not usable; call New. Safe for concurrent use.
type Set struct {
	mu      sync.RWMutex
	values  []string // longest first, so a secret containing another is masked whole
	masks   map[string]string
	replace *strings.Replacer
}

// New returns an empty Set.
func New() *Set { return &Set{masks: map[string]string{}} }

// Add registers secrets. Values shorter than MinLen are ignored (they cannot be masked without
// masking ordinary text); it reports whether every value was registered.
func (s *Set) Add(values ...string) bool {
	ok := true
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < MinLen {
			ok = ok && v == ""
			continue
		}
		if _, seen := s.masks[v]; seen {
			continue
		}
		s.masks[v] = Mask(v)
		s.values = append(s.values, v)
		changed = true
	}
	if changed {
		sort.Slice(s.values, func(i, j int) bool { return len(s.values[i]) > len(s.values[j]) })
		pairs := make([]string, 0, 2*len(s.values))
		for _, v := range s.values {
			pairs = append(pairs, v, s.masks[v])
		}
		s.replace = strings.NewReplacer(pairs...)
	}
	return ok
}

// Len reports how many secrets are registered.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.values)
}

// Contains reports whether text holds any registered secret verbatim. Tests and the rehearsal's
// leak check use it.
func (s *Set) Contains(text []byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.values {
		if bytes.Contains(text, []byte(v)) {
			return true
		}
	}
	return false
}

// String masks every registered secret and every known key shape in text.
func (s *Set) String(text string) string {
	if s != nil {
		s.mu.RLock()
		r := s.replace
		s.mu.RUnlock()
		if r != nil {
			text = r.Replace(text)
		}
	}
	return patterns.ReplaceAllStringFunc(text, Mask)
}

// Bytes is String for byte slices.
func (s *Set) Bytes(b []byte) []byte { return []byte(s.String(string(b))) }

// Error returns an error whose text is redacted while keeping the original in the chain for
// errors.Is/As.
func (s *Set) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: s.String(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Writer returns a writer that masks secrets before they reach w. It holds back an incomplete
// last line so a secret split across two Write calls is still masked; Close (or Flush) writes
// what is held back.
func (s *Set) Writer(w io.Writer) *Writer { return &Writer{set: s, w: w} }

// Writer is a redacting io.WriteCloser; see Set.Writer.
type Writer struct {
	mu   sync.Mutex
	set  *Set
	w    io.Writer
	hold []byte
}

// maxHold bounds what the writer keeps waiting for a newline; past it, it flushes anyway (a
// secret is far shorter than this, and the tail it keeps covers one straddling the cut).
const maxHold = 64 << 10

func (rw *Writer) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.hold = append(rw.hold, p...)
	cut := bytes.LastIndexByte(rw.hold, '\n') + 1
	if cut == 0 && len(rw.hold) > maxHold {
		cut = len(rw.hold) - 256
	}
	if cut > 0 {
		if _, err := io.WriteString(rw.w, rw.set.String(string(rw.hold[:cut]))); err != nil {
			return 0, err
		}
		rw.hold = append(rw.hold[:0], rw.hold[cut:]...)
	}
	return len(p), nil
}

// Flush writes any held-back partial line.
func (rw *Writer) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.hold) == 0 {
		return nil
	}
	_, err := io.WriteString(rw.w, rw.set.String(string(rw.hold)))
	rw.hold = rw.hold[:0]
	return err
}

// Close flushes; it does not close the underlying writer.
func (rw *Writer) Close() error { return rw.Flush() }
