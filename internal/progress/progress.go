// Package progress shows how far long work (a scan, a purge, a clone, a fleet of repositories)
// has come: a bar with rate and ETA on a terminal, and elsewhere a line every few seconds for a
// log (a run's journal, and hence its Slack thread).
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Update is the latest state of the work.
type Update struct {
	Phase string // what is counted; a new phase restarts the count, the rate and the ETA
	Unit  string // what one unit is ("commits", "repos"); shown with the rate
	Done  int64
	Total int64  // 0: not known
	Note  string // what is happening right now (the repository being cloned), shown after
}

// Meter shows updates. It is safe for concurrent use; Close ends it.
type Meter interface {
	Set(Update)
	Close()
}

// Nop shows nothing (output that is not a terminal and no log, or --output json).
type Nop struct{}

// Set does nothing.
func (Nop) Set(Update) {}

// Close does nothing.
func (Nop) Close() {}

// bar draws schollz/progressbar on a terminal: a single bar redrawn in place, with count, rate
// and ETA; a new phase finishes the old bar and starts a new one.
type bar struct {
	mu       sync.Mutex
	w        io.Writer
	throttle time.Duration
	phase    string
	b        *progressbar.ProgressBar
}

// Bar draws on w, which must be a terminal.
func Bar(w io.Writer) Meter { return &bar{w: w, throttle: 100 * time.Millisecond} }

func (m *bar) Set(u Update) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b == nil || u.Phase != m.phase {
		m.finish()
		m.phase = u.Phase
		total := u.Total
		if total <= 0 {
			total = -1 // a spinner until the total is known
		}
		m.b = progressbar.NewOptions64(total, progressbar.OptionSetWriter(m.w), progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString(u.Unit),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(m.throttle),
			progressbar.OptionClearOnFinish(), progressbar.OptionSetDescription(u.Phase))
	}
	if u.Total > 0 && u.Total != m.b.GetMax64() {
		m.b.ChangeMax64(u.Total)
	}
	desc := u.Phase
	if u.Note != "" {
		desc += " " + u.Note
	}
	m.b.Describe(desc)
	_ = m.b.Set64(u.Done)
	m.flush()
}

func (m *bar) finish() {
	if m.b != nil {
		_ = m.b.Finish()
		m.b = nil
		m.flush()
	}
}

// flush pushes a render through a writer that holds back the end of what it was given (the
// redacting writer, which waits for the rest of a possible secret): a bar redrawn with \r
// never ends a line, and its last state would appear late, in the middle of the report.
func (m *bar) flush() {
	if f, ok := m.w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
}

func (m *bar) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finish()
}

// lines logs the latest update every interval, when something changed since the last line.
type lines struct {
	log  func(string)
	now  func() time.Time
	stop chan struct{}
	done chan struct{}

	mu             sync.Mutex
	cur            Update
	logged         bool // cur was logged already
	phaseStart     time.Time
	phaseStartDone int64
	once           sync.Once
}

// Lines calls log with a line saying where the work is, every interval.
func Lines(log func(string), every time.Duration) Meter {
	t := time.NewTicker(every)
	m := newLines(log, t.C, time.Now)
	go func() { <-m.done; t.Stop() }()
	return m
}

func newLines(log func(string), ticks <-chan time.Time, now func() time.Time) *lines {
	m := &lines{log: log, now: now, stop: make(chan struct{}), done: make(chan struct{}), logged: true}
	go func() {
		defer close(m.done)
		for {
			select {
			case <-ticks:
				m.emit()
			case <-m.stop:
				return
			}
		}
	}()
	return m
}

func (m *lines) Set(u Update) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u.Phase != m.cur.Phase || m.phaseStart.IsZero() {
		m.phaseStart, m.phaseStartDone = m.now(), u.Done
	}
	m.cur, m.logged = u, false
}

func (m *lines) emit() {
	m.mu.Lock()
	if m.logged {
		m.mu.Unlock()
		return
	}
	m.logged = true
	line := Line(m.cur, m.now().Sub(m.phaseStart), m.cur.Done-m.phaseStartDone)
	m.mu.Unlock()
	m.log(line)
}

func (m *lines) Close() {
	m.once.Do(func() { close(m.stop) })
	<-m.done
}

// Line describes an update in words, with the rate over elapsed (in which gained units were
// done) and the time left at that rate.
func Line(u Update, elapsed time.Duration, gained int64) string {
	s := fmt.Sprintf("%s: %d", u.Phase, u.Done)
	if u.Total > 0 {
		s += fmt.Sprintf(" of %d %s (%d%%)", u.Total, u.Unit, u.Done*100/u.Total)
	} else if u.Unit != "" {
		s += " " + u.Unit
	}
	if elapsed >= time.Second && gained > 0 {
		rate := float64(gained) / elapsed.Seconds()
		s += fmt.Sprintf(", %.1f %s/s", rate, u.Unit)
		if u.Total > u.Done {
			left := time.Duration(float64(u.Total-u.Done) / rate * float64(time.Second))
			s += ", about " + left.Round(time.Second).String() + " left"
		}
	}
	if u.Note != "" {
		s += " — " + u.Note
	}
	return s
}
