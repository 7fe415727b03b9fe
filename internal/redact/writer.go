package redact

import (
	"io"
	"sync"
)

// maxToken is the longest key-shaped word the Writer waits for the end of. Real keys are a few
// hundred characters at most; a longer run is not a key, and holding it back would let one line
// of output use unbounded memory.
const maxToken = 1 << 10

// Writer returns a writer that masks secrets before they reach w. A secret split across Write
// calls is still masked: the writer holds back the last bytes that could begin one (the longest
// registered form, less one byte, and a key-shaped word that may go on). Close (or Flush)
// writes what is held back.
func (s *Set) Writer(w io.Writer) *Writer { return &Writer{set: s, w: w} }

// Writer is a redacting io.WriteCloser; see Set.Writer. It has no ReadFrom on purpose: every
// byte goes through Write.
type Writer struct {
	mu   sync.Mutex
	set  *Set
	w    io.Writer
	hold []byte
	out  []byte
}

func (rw *Writer) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.hold = append(rw.hold, p...)
	if err := rw.emit(false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// emit writes the masked text of what is decided; final decides everything.
func (rw *Writer) emit(final bool) error {
	m := rw.set.matcher()
	limit := len(rw.hold)
	if !final {
		if m.maxLen > 1 {
			limit -= m.maxLen - 1
		}
		limit = wordStart(rw.hold, limit)
		if limit <= 0 {
			return nil
		}
	}
	out, n := m.redact(rw.out[:0], rw.hold, limit)
	out = maskPatterns(out)
	rw.out = out[:0]
	rw.hold = rw.hold[:copy(rw.hold, rw.hold[n:])]
	if len(out) == 0 {
		return nil
	}
	_, err := rw.w.Write(out)
	return err
}

// wordStart moves a cut at i back to the start of the key-shaped word it would split, so a key
// shape is matched whole. A word longer than maxToken is not one key, but a key can end it (a run
// of base64 or filler with a key glued on): the last maxToken bytes are held back, and the cut
// moves to the start of any key shape that spans it.
func wordStart(b []byte, i int) int {
	if i <= 0 || i < len(b) && !isKeyChar(b[i]) {
		return i
	}
	j := i
	for j > 0 && isKeyChar(b[j-1]) {
		j--
		if i-j > maxToken {
			return safeCut(b, i-maxToken)
		}
	}
	return j
}

// safeCut moves a cut at c back to the start of a key shape that spans it. A key is shorter than
// maxToken, so one spanning c starts after c-maxToken and, held back from its start, is matched
// whole when the rest of it arrives.
func safeCut(b []byte, c int) int {
	lo := max(0, c-maxToken)
	for _, m := range patterns.FindAllIndex(b[lo:min(len(b), c+maxToken)], -1) {
		if s, e := lo+m[0], lo+m[1]; s < c && c < e {
			return s
		}
	}
	return c
}

// Flush writes everything held back.
func (rw *Writer) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.hold) == 0 {
		return nil
	}
	return rw.emit(true)
}

// Close flushes; it does not close the underlying writer.
func (rw *Writer) Close() error { return rw.Flush() }
