package gitrepo

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"sync"
)

// Progress is told how far a long operation has come: phase names the work (Phase…), done and
// total count its units (total 0: not known yet). It is called from the goroutine doing the
// work every few hundred units and once at the end, so it must return quickly.
type Progress func(phase string, done, total int64)

// Phases reported to a Progress.
const (
	PhaseScan  = "scan commits"    // units: commits whose changes were searched
	PhasePurge = "rewrite commits" // units: commits rewritten or kept
	PhaseClone = "clone"           // units: objects, as the remote counts them
	PhaseFetch = "fetch"
)

// progressEvery bounds the callback's cost on repositories of millions of commits.
const progressEvery = 256

type progressKey struct{}

// withProgress hands p to the loops below the entry point without widening every internal
// signature: the options field is the API, the context only carries it down.
func withProgress(ctx context.Context, p Progress) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, progressKey{}, p)
}

// ticker counts units of one phase and reports them; a nil ticker does nothing.
type ticker struct {
	p           Progress
	phase       string
	done, total int64
}

func newTicker(ctx context.Context, phase string, total int) *ticker {
	p, _ := ctx.Value(progressKey{}).(Progress)
	if p == nil {
		return nil
	}
	p(phase, 0, int64(total))
	return &ticker{p: p, phase: phase, total: int64(total)}
}

func (t *ticker) tick() {
	if t == nil {
		return
	}
	t.done++
	if t.done%progressEvery == 0 || t.done == t.total {
		t.p(t.phase, t.done, t.total)
	}
}

// sidebandProgress turns the remote's progress messages ("Counting objects:  45% (450/1000)")
// into Progress calls. Messages arrive in arbitrary pieces; only whole counters are read.
type sidebandProgress struct {
	mu    sync.Mutex
	p     Progress
	phase string
	buf   []byte
}

var counter = regexp.MustCompile(`\((\d+)/(\d+)\)`)

func (s *sidebandProgress) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, b...)
	for {
		i := bytes.IndexAny(s.buf, "\r\n")
		if i < 0 {
			break
		}
		if m := counter.FindSubmatch(s.buf[:i]); m != nil {
			done, _ := strconv.ParseInt(string(m[1]), 10, 64)
			total, _ := strconv.ParseInt(string(m[2]), 10, 64)
			s.p(s.phase, done, total)
		}
		s.buf = s.buf[i+1:]
	}
	if len(s.buf) > 4096 { // a remote that never ends a line: drop, it is only progress
		s.buf = s.buf[:0]
	}
	return len(b), nil
}
