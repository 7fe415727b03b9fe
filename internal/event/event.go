// Package event defines the run's event stream: every state change of a run is one Event, and the
// terminal, the journal, JSON output and Slack are Sinks that receive them in order.
package event

import (
	"encoding/json"
	"sync"
	"time"
)

// Kind names a state change.
type Kind string

// The kinds of event. Their string values are stored in journals: never rename one.
const (
	RunStarted      Kind = "run.started"
	RunResumed      Kind = "run.resumed"
	RunFinished     Kind = "run.finished"
	StepStarted     Kind = "step.started"
	StepPlanned     Kind = "step.planned"
	StepIntent      Kind = "step.intent"
	StepResult      Kind = "step.result"
	StepLog         Kind = "step.log"
	StepRetried     Kind = "step.retried"
	StepReconciled  Kind = "step.reconciled"
	ApprovalWaiting Kind = "step.waiting_approval"
	StepApproved    Kind = "step.approved"
	StepDenied      Kind = "step.denied"
	StepSkipped     Kind = "step.skipped"
	StepSucceeded   Kind = "step.succeeded"
	StepFailed      Kind = "step.failed"
	// SlackThread records where the run's Slack message is, so a resumed run edits it.
	SlackThread Kind = "run.slack_thread"
	// JournalRepaired records that a torn last line (an append a crash cut short) was dropped.
	JournalRepaired Kind = "journal.repaired"
)

// Status is a step's or a run's state as shown to people.
type Status string

// Statuses.
const (
	Pending   Status = "pending"
	Running   Status = "running"
	Waiting   Status = "waiting"
	Planned   Status = "planned"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Skipped   Status = "skipped"
)

// Event is one state change. Data holds kind-specific fields (outputs, a plan, an intent); every
// string in it has been redacted before any sink sees it.
type Event struct {
	Seq      int            `json:"seq"`
	Time     time.Time      `json:"time"`
	RunID    string         `json:"run_id"`
	Kind     Kind           `json:"kind"`
	Step     string         `json:"step,omitempty"`
	Uses     string         `json:"uses,omitempty"`
	Attempt  int            `json:"attempt,omitempty"`
	Message  string         `json:"message,omitempty"`
	Error    string         `json:"error,omitempty"`
	Duration Duration       `json:"duration_ms,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
}

// Duration marshals as whole milliseconds, which people and jq read more easily than nanoseconds.
type Duration time.Duration

// MarshalJSON writes milliseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Milliseconds())
}

// UnmarshalJSON reads milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}

// Sink receives events in order. Emit must not block for long: a slow sink (Slack) queues.
// An error from a sink is reported by the Bus but never stops the run, except from a sink marked
// Required (the journal), whose failure stops the run: a run must not act without a record.
type Sink interface {
	Emit(Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event) error

// Emit calls f.
func (f SinkFunc) Emit(e Event) error { return f(e) }

// Log is a sink that keeps every event it is given, safe for concurrent emitters; readers that
// derive something from a whole run (its report, its to-do list) hold one.
type Log struct {
	mu     sync.Mutex
	events []Event
}

// Emit keeps e.
func (l *Log) Emit(e Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return nil
}

// All is a copy of the events kept so far.
func (l *Log) All() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// Redactor masks secrets in text.
type Redactor interface {
	String(string) string
}

// Bus numbers events, redacts them once and fans them out to its sinks in order.
type Bus struct {
	mu       sync.Mutex
	runID    string
	seq      int
	redact   Redactor
	required []Sink
	optional []Sink
	now      func() time.Time
	// OnSinkError is told about a failing optional sink (the run goes on).
	OnSinkError func(Sink, error)
}

// NewBus returns a Bus for runID whose events are redacted by r. seq is the number of events
// already recorded (non-zero when a run resumes).
func NewBus(runID string, r Redactor, seq int, now func() time.Time) *Bus {
	if now == nil {
		now = time.Now
	}
	return &Bus{runID: runID, redact: r, seq: seq, now: now}
}

// Require adds a sink whose failure fails the emit (the journal).
func (b *Bus) Require(s Sink) { b.mu.Lock(); b.required = append(b.required, s); b.mu.Unlock() }

// Attach adds a best-effort sink (terminal, Slack).
func (b *Bus) Attach(s Sink) { b.mu.Lock(); b.optional = append(b.optional, s); b.mu.Unlock() }

// Emit stamps, redacts and delivers e. It returns the first required sink's error.
func (b *Bus) Emit(e Event) (Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	e.RunID = b.runID
	if e.Time.IsZero() {
		e.Time = b.now().UTC()
	}
	e = Redact(e, b.redact)
	for _, s := range b.required {
		if err := s.Emit(e); err != nil {
			return e, err
		}
	}
	for _, s := range b.optional {
		if err := s.Emit(e); err != nil && b.OnSinkError != nil {
			b.OnSinkError(s, err)
		}
	}
	return e, nil
}

// Redact returns a copy of e with every string masked.
func Redact(e Event, r Redactor) Event {
	if r == nil {
		return e
	}
	e.Message = r.String(e.Message)
	e.Error = r.String(e.Error)
	if e.Data != nil {
		e.Data = redactValue(e.Data, r).(map[string]any)
	}
	return e
}

func redactValue(v any, r Redactor) any {
	switch v := v.(type) {
	case string:
		return r.String(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[r.String(k)] = redactValue(x, r)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactValue(x, r)
		}
		return out
	case []string:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = r.String(x)
		}
		return out
	case nil, bool, int, int64, float64, json.Number:
		return v
	default:
		// Anything else is normalised through JSON so no typed value can smuggle a secret past.
		b, err := json.Marshal(v)
		if err != nil {
			return r.String(err.Error())
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			return r.String(string(b))
		}
		return redactValue(generic, r)
	}
}
