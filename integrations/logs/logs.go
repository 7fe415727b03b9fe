// Package logs finds secrets in log files: plain files, directories (recursively), globs
// (including **) and gzip-compressed files (detected by content), streamed with bounded memory
// whatever the line length, in parallel over files. A finding is a file:line with the line
// redacted, and the line's leading RFC 3339 timestamp when it has one, so the earliest finding
// dates the exposure (first seen).
package logs

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
)

// Defaults for Options fields left zero.
const (
	DefaultMask         = "[REDACTED]"
	DefaultMaxLineBytes = 240
	DefaultMaxFindings  = 10000
)

// bufSize is the read buffer per file: lines longer than this are scanned in segments.
const bufSize = 64 << 10

// Options say what to search and where.
type Options struct {
	// Paths are files, directories (searched recursively) and glob patterns (* ? [..] and **).
	Paths []string
	// Secrets are the values to look for; none may be empty or contain a newline.
	Secrets [][]byte
	// Mask returns what replaces a secret in excerpts; DefaultMask when nil. It must not
	// return the secret.
	Mask func(secret []byte) string
	// MaxLineBytes caps an excerpt: the redacted line is trimmed around the first match.
	MaxLineBytes int
	// Workers bounds how many files are scanned at once (min(4, GOMAXPROCS) when zero).
	Workers int
	// MaxFindings bounds the findings kept (DefaultMaxFindings when zero); Result.Matches still
	// counts them all and FirstSeen still considers them all.
	MaxFindings int
}

// Finding is one line that holds a secret.
type Finding struct {
	File    string
	Line    int       // 1-based
	Column  int       // 1-based byte offset of the first match in the line
	Secret  int       // index in Options.Secrets of the first match
	Excerpt string    // the line with every secret masked, trimmed to MaxLineBytes
	Time    time.Time // the line's leading RFC 3339 timestamp; zero when it has none
}

// Result is what a search found.
type Result struct {
	Findings     []Finding // sorted by file and line
	Matches      int       // lines that hold a secret (Findings may be capped)
	FilesScanned int
	BytesScanned int64     // uncompressed
	FirstSeen    time.Time // earliest timestamp of a matching line; zero when none had one
	LastSeen     time.Time
}

func (o *Options) normalize() error {
	if len(o.Secrets) == 0 {
		return errors.New("scan logs: no secret to look for")
	}
	for i, s := range o.Secrets {
		if len(s) == 0 {
			return fmt.Errorf("scan logs: secret %d is empty", i)
		}
		if bytes.IndexByte(s, '\n') >= 0 {
			return fmt.Errorf("scan logs: secret %d contains a newline (lines are searched one by one)", i)
		}
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.Workers <= 0 {
		o.Workers = min(4, runtime.GOMAXPROCS(0))
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = DefaultMaxFindings
	}
	return nil
}

// Search scans every file under o.Paths. The Result is returned even when some files could not
// be read; err then joins one error per such file (and per path that matched nothing), so a
// silent gap in coverage is impossible.
func Search(ctx context.Context, o Options) (*Result, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if len(o.Paths) == 0 {
		return nil, errors.New("scan logs: no path given")
	}
	files, pathErrs := expand(o.Paths)
	sc := newScanner(o)
	col := &collector{max: o.MaxFindings}

	var (
		mu       sync.Mutex
		fileErrs []error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for _, f := range files {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			n, err := sc.scanFile(gctx, f, col)
			col.addFile(n)
			if err != nil {
				if ctxErr := gctx.Err(); ctxErr != nil {
					return ctxErr
				}
				mu.Lock()
				fileErrs = append(fileErrs, fmt.Errorf("scan logs %s: %w", f, err))
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("scan logs: %w", err)
	}
	res := col.result()
	slices.SortFunc(fileErrs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return res, errors.Join(append(pathErrs, fileErrs...)...)
}

// ScanReader scans one stream (gzip detected by content) under the given name, e.g. a file of a
// run-logs zip. o.Paths and o.Workers are ignored.
func ScanReader(ctx context.Context, name string, r io.Reader, o Options) (*Result, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	sc := newScanner(o)
	col := &collector{max: o.MaxFindings}
	n, err := sc.scanStream(ctx, name, r, col)
	col.addFile(n)
	if err != nil {
		return col.result(), fmt.Errorf("scan logs %s: %w", name, err)
	}
	return col.result(), nil
}

// collector gathers findings from parallel scans.
type collector struct {
	mu    sync.Mutex
	max   int
	res   Result
	first time.Time
	last  time.Time
}

func (c *collector) add(f Finding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Matches++
	if len(c.res.Findings) < c.max {
		c.res.Findings = append(c.res.Findings, f)
	}
	if !f.Time.IsZero() {
		if c.first.IsZero() || f.Time.Before(c.first) {
			c.first = f.Time
		}
		if f.Time.After(c.last) {
			c.last = f.Time
		}
	}
}

func (c *collector) addFile(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.FilesScanned++
	c.res.BytesScanned += n
}

func (c *collector) result() *Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.Findings = slices.Clone(r.Findings)
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line)) < 0
	})
	r.FirstSeen, r.LastSeen = c.first, c.last
	return &r
}

// scanner holds what every file scan shares.
type scanner struct {
	secrets    [][]byte
	masks      []string
	order      []int // secret indexes, longest first, so a secret inside another is masked as the longer one
	maxSecret  int
	maxExcerpt int
}

func newScanner(o Options) *scanner {
	s := &scanner{secrets: o.Secrets, maxExcerpt: o.MaxLineBytes}
	for i, sec := range o.Secrets {
		m := DefaultMask
		if o.Mask != nil {
			m = o.Mask(sec)
		}
		s.masks = append(s.masks, m)
		s.order = append(s.order, i)
		s.maxSecret = max(s.maxSecret, len(sec))
	}
	slices.SortStableFunc(s.order, func(a, b int) int { return cmp.Compare(len(o.Secrets[b]), len(o.Secrets[a])) })
	return s
}

func (s *scanner) scanFile(ctx context.Context, path string, col *collector) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return s.scanStream(ctx, path, f, col)
}

// scanStream decompresses gzip transparently (by magic number, so rotated logs named .1 or
// .gz alike work) and scans.
func (s *scanner) scanStream(ctx context.Context, name string, r io.Reader, col *collector) (int64, error) {
	br := bufio.NewReaderSize(r, bufSize)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		return s.scanLines(ctx, name, bufio.NewReaderSize(zr, bufSize), col)
	}
	return s.scanLines(ctx, name, br, col)
}

// scanLines reads segments of at most bufSize bytes. A line longer than that is searched
// segment by segment with a carry of the previous segment's tail (at least the longest secret
// minus one byte), so a secret spanning a boundary is found and memory stays bounded.
func (s *scanner) scanLines(ctx context.Context, name string, br *bufio.Reader, col *collector) (int64, error) {
	keep := max(s.maxSecret-1, s.maxExcerpt)
	var (
		total   int64
		line    = 1
		carry   = make([]byte, 0, keep+bufSize)
		window  []byte
		lineOff int // bytes of the current line before carry starts
		midLine bool
		found   bool
		// The start of the line, parsed for a timestamp only when the line matches.
		head    [48]byte
		headLen int
	)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		seg, rerr := br.ReadSlice('\n')
		total += int64(len(seg))
		if len(seg) > 0 {
			// A last line without a newline ends at EOF all the same.
			eol := seg[len(seg)-1] == '\n' || errors.Is(rerr, io.EOF)
			content := bytes.TrimSuffix(seg, []byte{'\n'})
			if eol {
				content = bytes.TrimSuffix(content, []byte{'\r'})
			}
			if !midLine {
				headLen = copy(head[:], content)
			}
			if !found {
				// carry has room for a whole segment: no allocation per segment.
				window = content
				if len(carry) > 0 {
					window = append(carry, content...)
				}
				if f, ok := s.check(window, lineOff, lineOff > 0, !eol); ok {
					f.File, f.Line, f.Time = name, line, leadingTime(head[:headLen])
					col.add(f)
					found = true
				}
			}
			if eol {
				line++
				carry, lineOff, midLine, found = carry[:0], 0, false, false
			} else {
				midLine = true
				if !found {
					// Keep the tail of the window for the next segment.
					if len(window) > keep {
						lineOff += len(window) - keep
						window = window[len(window)-keep:]
					}
					carry = append(carry[:0], window...)
				}
			}
		}
		switch {
		case rerr == nil, errors.Is(rerr, bufio.ErrBufferFull):
		case errors.Is(rerr, io.EOF):
			return total, nil
		default:
			return total, rerr
		}
	}
}

// check looks for the first secret in window (bytes of one line starting at byte lineOff) and
// builds the excerpt. cutLeft/cutRight say the window is not the whole line.
func (s *scanner) check(window []byte, lineOff int, cutLeft, cutRight bool) (Finding, bool) {
	first, which := -1, -1
	for _, i := range s.order {
		if j := bytes.Index(window, s.secrets[i]); j >= 0 && (first < 0 || j < first) {
			first, which = j, i
		}
	}
	if first < 0 {
		return Finding{}, false
	}
	return Finding{
		Column:  lineOff + first + 1,
		Secret:  which,
		Excerpt: s.excerpt(window, cutLeft, cutRight),
	}, true
}

// minPartial is the shortest piece of a secret masked at a cut edge of a long line's window;
// shorter pieces reveal nothing and masking them would mangle ordinary text.
const minPartial = 4

// excerpt masks every secret in window, masks a piece of a secret cut off at either edge, then
// trims around the first mask.
func (s *scanner) excerpt(window []byte, cutLeft, cutRight bool) string {
	var b strings.Builder
	firstMask, maskLen := -1, 0
	// The excerpt is centred on the first whole secret, not on a piece masked at an edge.
	emitMask := func(i int, whole bool) {
		if whole && firstMask < 0 {
			firstMask, maskLen = b.Len(), len(s.masks[i])
		}
		b.WriteString(s.masks[i])
	}
	lo, hi := 0, len(window)
	if cutLeft {
		if n, i := s.partialPrefix(window); n > 0 {
			emitMask(i, false)
			lo = n
		}
	}
	tailMask := -1
	if cutRight {
		if n, i := s.partialSuffix(window[lo:]); n > 0 {
			hi -= n
			tailMask = i
		}
	}
	for p := lo; p < hi; {
		matched := false
		for _, i := range s.order {
			if bytes.HasPrefix(window[p:hi], s.secrets[i]) {
				emitMask(i, true)
				p += len(s.secrets[i])
				matched = true
				break
			}
		}
		if !matched {
			// Copy up to the next possible match in one go.
			next := hi
			if k := s.nextCandidate(window[p+1 : hi]); k >= 0 {
				next = p + 1 + k
			}
			b.WriteString(clean(window[p:next]))
			p = next
		}
	}
	if tailMask >= 0 {
		emitMask(tailMask, false)
	}
	return trimAround(b.String(), firstMask, maskLen, s.maxExcerpt, cutLeft, cutRight)
}

// nextCandidate is the offset of the earliest position in b where some secret starts, or -1.
func (s *scanner) nextCandidate(b []byte) int {
	best := -1
	for _, sec := range s.secrets {
		if j := bytes.Index(b, sec); j >= 0 && (best < 0 || j < best) {
			best = j
		}
	}
	return best
}

// partialPrefix: the longest proper suffix of a secret (>= minPartial bytes) that window starts with.
func (s *scanner) partialPrefix(window []byte) (int, int) {
	best, which := 0, -1
	for i, sec := range s.secrets {
		for n := min(len(sec)-1, len(window)); n >= minPartial && n > best; n-- {
			if bytes.Equal(window[:n], sec[len(sec)-n:]) {
				best, which = n, i
				break
			}
		}
	}
	return best, which
}

// partialSuffix: the longest proper prefix of a secret (>= minPartial bytes) that window ends with.
func (s *scanner) partialSuffix(window []byte) (int, int) {
	best, which := 0, -1
	for i, sec := range s.secrets {
		for n := min(len(sec)-1, len(window)); n >= minPartial && n > best; n-- {
			if bytes.Equal(window[len(window)-n:], sec[:n]) {
				best, which = n, i
				break
			}
		}
	}
	return best, which
}

// clean makes an excerpt safe to print: valid UTF-8, no control characters (a log line may
// carry terminal escape sequences).
func clean(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// trimAround cuts s to about limit bytes keeping the mask at [at, at+n) whole and centred, on
// rune boundaries, with an ellipsis where text was cut.
func trimAround(s string, at, n, limit int, cutLeft, cutRight bool) string {
	if at < 0 {
		at, n = 0, 0
	}
	at = min(at, len(s))
	if len(s) <= limit {
		return wrap(s, cutLeft, cutRight)
	}
	room := max(limit-n, 0)
	before := room / 2
	after := room - before
	if at < before {
		after += before - at
		before = at
	}
	if rest := len(s) - at - n; rest < after {
		before += after - rest
		after = max(rest, 0)
	}
	lo := max(at-before, 0)
	hi := min(at+n+after, len(s))
	for lo > 0 && lo < len(s) && !utf8.RuneStart(s[lo]) {
		lo++
	}
	for hi < len(s) && !utf8.RuneStart(s[hi]) {
		hi--
	}
	out := s[lo:hi]
	return wrap(out, cutLeft || lo > 0, cutRight || hi < len(s))
}

func wrap(s string, left, right bool) string {
	if left {
		s = "…" + s
	}
	if right {
		s += "…"
	}
	return s
}

// leadingTime parses an RFC 3339 timestamp at the start of a line (GitHub Actions logs, most
// structured loggers), optionally after a byte-order mark or an opening bracket.
func leadingTime(line []byte) time.Time {
	line = bytes.TrimPrefix(line, []byte("\uFEFF"))
	line = bytes.TrimPrefix(line, []byte("["))
	if len(line) < len("2006-01-02T15:04:05Z") || line[4] != '-' {
		return time.Time{}
	}
	end := bytes.IndexAny(line, " \t]")
	if end < 0 {
		end = len(line)
	}
	if end > 40 {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:end]))
	if err != nil {
		return time.Time{}
	}
	return t
}
