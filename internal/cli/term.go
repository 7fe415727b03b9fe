package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/report"
)

// termSink shows a run on the terminal. On a TTY it keeps a live step list at the bottom of the
// screen, redrawn in place, with logs and plans scrolling above it; elsewhere it prints one line
// per event, which reads well in CI logs and `script` captures.
type termSink struct {
	mu      sync.Mutex
	w       io.Writer
	live    bool
	header  string
	order   []string
	rows    map[string]*termRow
	drawn   int  // lines of the live block currently on screen
	paused  bool // a prompt is on screen: print, but do not draw the block
	stop    chan struct{}
	stopped bool
	now     func() time.Time
	// size reports the terminal's columns and rows; nil or zeros mean 80×24. The block must fit
	// both: a line that wraps or a block taller than the screen leaves stale lines behind, because
	// the redraw moves the cursor up by the number of lines it wrote.
	size func() (cols, rows int)
	// run is the fold of the events so far.
	run engine.RunState
}

// termRow is a step's line; its status and timing come from the fold (termSink.run).
type termRow struct {
	id, uses string
	note     string
}

func newTermSink(w io.Writer, live bool, pb *playbook.Playbook, now func() time.Time) *termSink {
	t := &termSink{w: w, live: live, rows: map[string]*termRow{}, now: now, stop: make(chan struct{})}
	for _, s := range pb.Steps {
		t.order = append(t.order, s.ID)
		t.rows[s.ID] = &termRow{id: s.ID, uses: s.Uses}
	}
	if live {
		go t.tick()
	}
	return t
}

// tick refreshes running durations twice a second so a slow step visibly is still alive.
func (t *termSink) tick() {
	tk := time.NewTicker(500 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
			t.mu.Lock()
			if t.drawn > 0 && !t.paused {
				t.redraw(nil)
			}
			t.mu.Unlock()
		}
	}
}

// Close stops the refresher and leaves the final block on screen.
func (t *termSink) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		close(t.stop)
	}
}

// Pause erases the live block and runs fn (a prompt); the block stays away, so the prompt and
// what the person types stay on screen, until Resume.
func (t *termSink) Pause(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live && t.drawn > 0 {
		fmt.Fprintf(t.w, "\x1b[%dA\x1b[J", t.drawn)
	}
	t.drawn = 0
	t.paused = true
	fn()
}

// Resume draws the live block again below whatever was printed while paused.
func (t *termSink) Resume() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.paused = false
	if t.live {
		t.redraw(nil)
	}
}

// Emit implements event.Sink.
func (t *termSink) Emit(e event.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apply(e)
	lines := report.Describe(e)
	if !t.live {
		stamp := timeOfDay(e.Time)
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintf(t.w, "%s %s\n", stamp, l)
			} else {
				fmt.Fprintf(t.w, "             %s\n", l)
			}
		}
		return nil
	}
	if e.Kind == event.StepStarted || e.Kind == event.StepSucceeded || e.Kind == event.StepIntent || e.Kind == event.StepResult {
		lines = nil // the block shows these
	}
	t.redraw(lines)
	if e.Kind == event.RunFinished {
		t.drawn = 0 // leave the final block in the scrollback
	}
	return nil
}

func (t *termSink) apply(e event.Event) {
	if e.Kind == event.RunStarted || e.Kind == event.RunResumed {
		var mode string
		if e.Kind == event.RunStarted {
			d, _ := event.Decode[event.RunStartedData](e)
			mode = d.Mode
		}
		t.header = fmt.Sprintf("respond · %s · run %s", e.Message, e.RunID)
		if mode != "" {
			t.header = fmt.Sprintf("respond · run %s · %s", e.RunID, e.Message)
		}
	}
	t.run.Apply(e)
	r := t.rows[e.Step]
	if r == nil {
		return
	}
	switch e.Kind {
	case event.StepStarted, event.StepSucceeded:
		r.note = ""
	case event.StepPlanned, event.StepRetried:
		r.note = e.Message
	case event.ApprovalWaiting:
		r.note = "waiting for approval"
	case event.StepApproved:
		r.note = "approved by " + e.Message
	case event.StepFailed:
		r.note = report.FirstLine(e.Error)
	case event.StepSkipped:
		r.note = report.FirstLine(e.Message)
	}
}

func (t *termSink) statusOf(id string) event.Status {
	status, _, _ := t.step(id)
	return status
}

// step is a row's status, when it last started and how long it took, from the fold.
func (t *termSink) step(id string) (status event.Status, started time.Time, took time.Duration) {
	s := t.run.Step(id)
	if s == nil {
		return event.Pending, time.Time{}, 0
	}
	return s.Status, s.Started, s.Duration
}

var symbols = map[event.Status]string{
	event.Pending: "·", event.Running: "▶", event.Waiting: "⏸", event.Planned: "◇",
	event.Succeeded: "✓", event.Failed: "✗", event.Skipped: "⊘",
}

// redraw erases the live block, prints the scrolling lines, and draws the block again.
func (t *termSink) redraw(scroll []string) {
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", t.drawn)
	}
	for _, l := range scroll {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if t.paused {
		t.drawn = 0
		io.WriteString(t.w, b.String())
		return
	}
	block := t.block()
	for _, l := range block {
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	t.drawn = len(block)
	io.WriteString(t.w, b.String())
}

func (t *termSink) screen() (cols, rows int) {
	if t.size != nil {
		if c, r := t.size(); c > 0 && r > 0 {
			return c, r
		}
	}
	return 80, 24
}

// seed shows steps that finished before a resume as they ended, without printing their events.
func (t *termSink) seed(prior []event.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range prior {
		t.apply(e)
	}
}

// block is the live step list, fitted to the screen: no line reaches the last column (the
// terminal would wrap it) and the block leaves two rows free. Finished steps at the top fold
// into one line first, then pending ones at the bottom.
func (t *termSink) block() []string {
	lines := t.rowsText()
	cols, rows := t.screen()
	maxLines := max(rows-2, 3)
	if len(lines) > maxLines {
		head, body := lines[:1], lines[1:]
		done := 0
		for done < len(t.order) && len(body)-done+1 > maxLines-1 && finished(t.statusOf(t.order[done])) {
			done++
		}
		if done > 0 {
			body = append([]string{fmt.Sprintf("  … %d earlier %s finished", done, pluralWord(done, "step"))}, body[done:]...)
		}
		if len(body) > maxLines-1 {
			more := len(body) - (maxLines - 2)
			body = append(body[:maxLines-2], fmt.Sprintf("  · %d more %s", more, pluralWord(more, "step")))
		}
		lines = append(head, body...)
	}
	for i, l := range lines {
		lines[i] = truncate(l, cols-1)
	}
	return lines
}

func finished(s event.Status) bool {
	return s == event.Succeeded || s == event.Skipped || s == event.Failed || s == event.Planned
}

func (t *termSink) rowsText() []string {
	width := 4
	uw := 4
	for _, id := range t.order {
		width = max(width, len(id))
		uw = max(uw, len(t.rows[id].uses))
	}
	out := []string{t.header}
	for _, id := range t.order {
		r := t.rows[id]
		status, started, d := t.step(id)
		took := ""
		switch {
		case status == event.Running || status == event.Waiting:
			took = report.Duration(t.now().Sub(started))
		case d > 0:
			took = report.Duration(d)
		}
		line := fmt.Sprintf("  %s %-*s  %-*s  %-9s %6s", symbols[status], width, id, uw, r.uses, status, took)
		if r.note != "" {
			line += "  " + truncate(r.note, 70)
		}
		out = append(out, strings.TrimRight(line, " "))
	}
	return out
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
