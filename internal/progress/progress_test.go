package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		u       Update
		elapsed time.Duration
		gained  int64
		want    string
	}{
		{"known total", Update{Phase: "scan commits", Unit: "commits", Done: 250, Total: 1000}, 10 * time.Second, 250,
			"scan commits: 250 of 1000 commits (25%), 25.0 commits/s, about 30s left"},
		{"unknown total", Update{Phase: "clone", Unit: "objects", Done: 40, Note: "acme/api"}, 2 * time.Second, 40,
			"clone: 40 objects, 20.0 objects/s — acme/api"},
		{"too early for a rate", Update{Phase: "repositories", Unit: "repos", Done: 1, Total: 3}, 0, 1,
			"repositories: 1 of 3 repos (33%)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Line(c.u, c.elapsed, c.gained); got != c.want {
				t.Errorf("Line = %q, want %q", got, c.want)
			}
		})
	}
}

// A line per tick while the work moves, none while it stands still, none after Close.
func TestLinesLogOnTicksOnlyWhenSomethingChanged(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ticks := make(chan time.Time)
	logged := make(chan struct{}, 10)
	m := newLines(func(s string) { mu.Lock(); got = append(got, s); mu.Unlock(); logged <- struct{}{} }, ticks, clock)
	tick := func() { ticks <- now }
	m.Set(Update{Phase: "scan commits", Unit: "commits", Done: 0, Total: 100})
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	m.Set(Update{Phase: "scan commits", Unit: "commits", Done: 50, Total: 100})
	tick()
	<-logged
	tick() // nothing new: no line
	m.Close()
	m.Set(Update{Phase: "scan commits", Unit: "commits", Done: 60, Total: 100})
	want := []string{"scan commits: 50 of 100 commits (50%), 5.0 commits/s, about 10s left"}
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
}

// The bar writes count, rate and ETA to its writer, and a new phase starts a new bar.
func TestBarShowsCountRateAndPhase(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	m := &bar{w: &buf}
	m.Set(Update{Phase: "clone", Unit: "objects", Done: 5, Total: 10})
	m.Set(Update{Phase: "scan commits", Unit: "commits", Done: 3, Total: 30})
	m.Close()
	out := buf.String()
	for _, want := range []string{"clone", "scan commits", "3/30", "commits/"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
}

// flushWriter is a writer that holds what it is given until Flush, like the redacting writer.
type flushWriter struct {
	held, out bytes.Buffer
}

func (w *flushWriter) Write(p []byte) (int, error) { return w.held.Write(p) }
func (w *flushWriter) Flush() error                { _, err := w.held.WriteTo(&w.out); return err }

// Every redraw is pushed through a holding writer at once, and the bar is cleared on Close.
func TestBarFlushesAHoldingWriter(t *testing.T) {
	t.Parallel()
	w := &flushWriter{}
	m := &bar{w: w}
	m.Set(Update{Phase: "scan commits", Unit: "commits", Done: 3, Total: 30})
	if w.held.Len() != 0 || !strings.Contains(w.out.String(), "3/30") {
		t.Errorf("after a redraw: held %q, shown %q", w.held.String(), w.out.String())
	}
	m.Close()
	if w.held.Len() != 0 || !strings.HasSuffix(w.out.String(), "\r") {
		t.Errorf("after Close: held %q, shown ends %q", w.held.String(), w.out.String()[max(0, w.out.Len()-10):])
	}
}
