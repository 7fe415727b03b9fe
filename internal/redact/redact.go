// Package redact owns the run-wide set of secrets and the masking of every byte that leaves the
// process: terminal, journal, JSON output, Slack, reports and error text all pass through a Set.
// A registered secret is masked in every form it is commonly written in (JSON-escaped,
// URL-encoded, HTML-escaped, hex, base64 at any alignment), known key shapes are masked even
// when nobody registered them, and masks carry a fingerprint keyed with the installation's key.
package redact

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// MinLen is the shortest value the Set registers: shorter values would mask ordinary words.
const MinLen = 6

// patterns are key shapes masked even when unregistered. Order matters: longer prefixes first so
// the masked form keeps the most specific prefix. Every pattern is made of keyChars only, which
// the streaming Writer relies on.
var patterns = regexp.MustCompile(`sk-(?:proj|admin|svcacct|None)-[A-Za-z0-9_\-]{16,}|sk-[A-Za-z0-9_\-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|xox[abpre]-[A-Za-z0-9\-]{10,}|xapp-[A-Za-z0-9\-]{10,}`)

var prefixes = []string{"sk-proj-", "sk-admin-", "sk-svcacct-", "sk-None-", "sk-", "github_pat_",
	"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xoxb-", "xoxa-", "xoxp-", "xoxe-", "xoxr-", "xapp-"}

// isKeyChar reports whether c can be part of a key shape (see patterns).
func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// Mask returns the printable form of a secret: its well-known prefix (if any), an ellipsis, its
// last four characters and its fingerprint, e.g. "sk-proj-…x7Qa#3f9a1c". Two people using the
// same installation can compare fingerprints without either seeing the value.
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

// Set is the run-wide redaction set. The zero value is not usable; call New. Safe for concurrent use.
type Set struct {
	mu     sync.Mutex
	values []string
	seen   map[string]bool
	m      *matcher // rebuilt when values or the fingerprint key change
}

// New returns an empty Set.
func New() *Set { return &Set{seen: map[string]bool{}} }

// Add registers secrets. Values shorter than MinLen are ignored (they cannot be masked without
// masking ordinary text); it reports whether every value was registered.
func (s *Set) Add(values ...string) bool {
	ok := true
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < MinLen {
			ok = ok && v == ""
			continue
		}
		if s.seen[v] {
			continue
		}
		s.seen[v] = true
		s.values = append(s.values, v)
		s.m = nil
	}
	return ok
}

// Len reports how many secrets are registered.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// matcher returns the current matcher, building it when secrets were added or the key changed.
func (s *Set) matcher() *matcher {
	if s == nil {
		return emptyMatcher
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || s.m.gen != keyGen() {
		s.m = newMatcher(s.values)
	}
	return s.m
}

// Contains reports whether text holds any registered secret, in any of its encoded forms. The
// rehearsal's leak check and the Slack server's refusal of secret-shaped commands use it.
func (s *Set) Contains(text []byte) bool {
	m := s.matcher()
	for i := 0; i+1 < len(text); i++ {
		if _, ok := m.at(text, i); ok {
			return true
		}
	}
	return false
}

// String masks every registered secret (in every form) and every known key shape in text.
func (s *Set) String(text string) string {
	out, _ := s.matcher().redact(nil, []byte(text), len(text))
	return string(maskPatterns(out))
}

// Bytes is String for byte slices.
func (s *Set) Bytes(b []byte) []byte {
	out, _ := s.matcher().redact(nil, b, len(b))
	return maskPatterns(out)
}

// markers are substrings every key shape holds; text without any is not worth the regexp,
// which is far slower than a substring search on long output.
var markers = [][]byte{[]byte("sk-"), []byte("gh"), []byte("xox"), []byte("xapp-")}

func maskPatterns(b []byte) []byte {
	for _, mk := range markers {
		if bytes.Contains(b, mk) {
			return patterns.ReplaceAllFunc(b, func(k []byte) []byte { return []byte(Mask(string(k))) })
		}
	}
	return b
}

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

// form is one way a secret can be written, and the mask that replaces it.
type form struct{ text, mask string }

// matcher finds registered forms: leftmost first, the longest at a position. Forms are indexed
// by their first two bytes so that scanning text costs one bit test per byte.
type matcher struct {
	gen    uint64
	maxLen int
	has    [1 << 16 / 64]uint64
	forms  map[uint16][]form
}

var emptyMatcher = &matcher{}

func newMatcher(values []string) *matcher {
	m := &matcher{gen: keyGen(), forms: map[uint16][]form{}}
	for _, v := range values {
		mask := Mask(v)
		for _, f := range Forms(v) {
			k := uint16(f[0])<<8 | uint16(f[1])
			m.has[k>>6] |= 1 << (k & 63)
			m.forms[k] = append(m.forms[k], form{f, mask})
			m.maxLen = max(m.maxLen, len(f))
		}
	}
	for k, fs := range m.forms {
		sort.SliceStable(fs, func(i, j int) bool { return len(fs[i].text) > len(fs[j].text) })
		m.forms[k] = fs
	}
	return m
}

// at returns the longest form that starts at b[i] and ends within b.
func (m *matcher) at(b []byte, i int) (form, bool) {
	k := uint16(b[i])<<8 | uint16(b[i+1])
	if m.has[k>>6]&(1<<(k&63)) == 0 {
		return form{}, false
	}
	for _, f := range m.forms[k] {
		if len(f.text) <= len(b)-i && string(b[i:i+len(f.text)]) == f.text {
			return f, true
		}
	}
	return form{}, false
}

// redact appends to dst the masked text of src up to the first position at or after limit that
// is not inside a match, and returns how much of src that is. Every position before limit is
// decided, so a caller that keeps src[consumed:] for later loses no match as long as limit
// leaves room for the longest form.
func (m *matcher) redact(dst, src []byte, limit int) ([]byte, int) {
	if len(m.forms) == 0 {
		n := min(limit, len(src))
		return append(dst, src[:n]...), n
	}
	last, i := 0, 0
	for i < limit && i+1 < len(src) {
		if f, ok := m.at(src, i); ok {
			dst = append(dst, src[last:i]...)
			dst = append(dst, f.mask...)
			i += len(f.text)
			last = i
			continue
		}
		i++
	}
	if limit >= len(src) {
		i = len(src)
	}
	return append(dst, src[last:i]...), i
}
