package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Payload is the typed data of one kind of event. On the wire (the journal, JSON output) it is
// the event's "data" object with the keys below; those keys are stored in journals, so a field is
// never renamed, and a reader tolerates an absent one (older journals).
type Payload interface {
	Kind() Kind
}

// RunStartedData opens a run. The engine is its only writer.
type RunStartedData struct {
	Playbook  string         `json:"playbook"`
	File      string         `json:"file"`
	Source    string         `json:"source"`
	Mode      string         `json:"mode"`
	StartedBy string         `json:"started_by"`
	Inputs    map[string]any `json:"inputs"`
	// SecretInputs maps each secret input to its keyed fingerprint: a resume must be given the
	// same values, and the journal never holds them.
	SecretInputs map[string]string `json:"secret_inputs"`
	// SecretRefs maps a secret input given by reference (where its value lives) to that
	// reference: a resume resolves it again.
	SecretRefs map[string]string `json:"secret_refs,omitempty"`
	DryRun     bool              `json:"dry_run"`
}

// RunResumedData carries the playbook a resume continues with, when it was edited.
type RunResumedData struct {
	PlaybookFile   string `json:"playbook_file,omitempty"`
	PlaybookSource string `json:"playbook_source,omitempty"`
}

// RunFinishedData is a run's outcome and how many steps ended in each status.
type RunFinishedData struct {
	Outcome string         `json:"outcome"`
	Steps   map[string]int `json:"steps"`
}

// StepPlannedData is what a changing step would do (a steps.Plan, kept as JSON here so the event
// vocabulary does not depend on the step contract).
type StepPlannedData struct {
	Plan json.RawMessage `json:"plan"`
}

// StepIntentData is recorded before a side effect.
type StepIntentData struct {
	Name string         `json:"name"`
	Data map[string]any `json:"data,omitempty"`
}

// StepSucceededData carries a step's outputs.
type StepSucceededData struct {
	Outputs map[string]any `json:"outputs"`
}

// ApprovalWaitingData names who may approve.
type ApprovalWaitingData struct {
	Approvers []string `json:"approvers"`
}

// Decision is who decided an approval, how, and why.
type Decision struct {
	By     string    `json:"by"`
	Via    string    `json:"via"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// StepApprovedData is a granted approval.
type StepApprovedData struct{ Decision }

// StepDeniedData is a refused (or impossible, or timed out) approval.
type StepDeniedData struct{ Decision }

// StepRetriedData says how long the engine waits before the next attempt.
type StepRetriedData struct {
	DelayMS int64 `json:"delay_ms"`
}

// StepReconciledData says whether interrupted work had completed.
type StepReconciledData struct {
	Done bool `json:"done"`
}

// SlackThreadData is where the run's Slack message is.
type SlackThreadData struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// JournalRepairedData describes a dropped torn line by its length and hash, never its text.
type JournalRepairedData struct {
	Line   int    `json:"line"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Kind implementations tie each payload to its event kind.
func (RunStartedData) Kind() Kind      { return RunStarted }
func (RunResumedData) Kind() Kind      { return RunResumed }
func (RunFinishedData) Kind() Kind     { return RunFinished }
func (StepPlannedData) Kind() Kind     { return StepPlanned }
func (StepIntentData) Kind() Kind      { return StepIntent }
func (StepSucceededData) Kind() Kind   { return StepSucceeded }
func (ApprovalWaitingData) Kind() Kind { return ApprovalWaiting }
func (StepApprovedData) Kind() Kind    { return StepApproved }
func (StepDeniedData) Kind() Kind      { return StepDenied }
func (StepRetriedData) Kind() Kind     { return StepRetried }
func (StepReconciledData) Kind() Kind  { return StepReconciled }
func (SlackThreadData) Kind() Kind     { return SlackThread }
func (JournalRepairedData) Kind() Kind { return JournalRepaired }

// With returns e as an event of p's kind carrying p. The payload is stored in its wire shape, so
// sinks, the journal and a replay all see the same values.
func (e Event) With(p Payload) Event {
	e.Kind = p.Kind()
	e.Data = encode(p)
	return e
}

func encode(p Payload) map[string]any {
	b, err := json.Marshal(p)
	if err != nil {
		// Every payload type is plain data; this is a programming error, kept visible.
		return map[string]any{"encode_error": err.Error()}
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if len(m) == 0 {
		return nil
	}
	return m
}

// Decode reads e's payload as T. It fails when e is of another kind, or when a field has the
// wrong type (the error names the event and the field); absent fields are left zero.
func Decode[T Payload](e Event) (T, error) {
	var p T
	if e.Kind != p.Kind() {
		return p, fmt.Errorf("event %d is %s, not %s", e.Seq, e.Kind, p.Kind())
	}
	if len(e.Data) == 0 {
		return p, nil
	}
	b, err := json.Marshal(e.Data)
	if err != nil {
		return p, fmt.Errorf("event %d (%s): data: %w", e.Seq, e.Kind, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return p, fmt.Errorf("event %d (%s): data.%s: %s where %s was expected", e.Seq, e.Kind, te.Field, te.Value, te.Type)
		}
		return p, fmt.Errorf("event %d (%s): data: %w", e.Seq, e.Kind, err)
	}
	return p, nil
}
