package engine

import (
	"encoding/json"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps"
)

// Run modes, as Options.Mode, Result.Mode and run.started's "mode".
const (
	ModeReal      = "real"
	ModeDryRun    = "dry-run"
	ModeRehearsal = "rehearsal"
)

// StatusInterrupted is a run's status while its journal has no run.finished after its last start
// or resume: it was stopped, crashed, or is running in another process.
const StatusInterrupted = OutcomeInterrupted

// RunState is a run as its events tell it. Fold builds it, and every reader of a run's events
// (resume, reports, `runs list`, serve, the terminal and Slack views) reads it rather than
// interpreting events again.
type RunState struct {
	RunID     string
	Playbook  string
	File      string // the playbook's file and source, the newest a resume journaled
	Source    string
	Mode      string
	DryRun    bool
	StartedBy string
	Inputs    map[string]any
	// SecretFingerprints are the secret inputs' keyed fingerprints (never their values).
	SecretFingerprints map[string]string
	// SecretRefs are the references secret inputs were resolved from.
	SecretRefs map[string]string
	Started    time.Time
	Finished   time.Time // run.finished's time, zero while unfinished
	Duration   time.Duration
	Outcome    string // run.finished's outcome; empty until the run (or its last resume) finished
	Error      string // run.finished's error
	Last       time.Time
	Events     int
	Thread     event.SlackThreadData
	// Steps are in the order the events first name them.
	Steps []*StepState
	// Err is the first event whose payload could not be read (the fold goes on without it).
	Err  error
	byID map[string]*StepState
}

// StepState is one step as its events tell it.
type StepState struct {
	StepResult
	Started time.Time // the last step.started
	Ended   time.Time // when it last succeeded, failed or was skipped
	// OpenIntent means an intent was recorded after the last result: the side effect may be
	// half done, and a resume reconciles before retrying.
	OpenIntent bool
	Intents    []steps.Intent
}

// Done reports whether the step's last attempt ended (succeeded, failed or skipped).
func (s *StepState) Done() bool {
	return s.Status == event.Succeeded || s.Status == event.Failed || s.Status == event.Skipped
}

// Fold derives a run's state from its events.
func Fold(evs []event.Event) *RunState {
	st := &RunState{}
	for _, e := range evs {
		st.Apply(e)
	}
	return st
}

// Status is the run's outcome, or StatusInterrupted when it has not finished.
func (st *RunState) Status() string {
	if st.Outcome == "" {
		return StatusInterrupted
	}
	return st.Outcome
}

// Step returns the state of step id, or nil when no event named it.
func (st *RunState) Step(id string) *StepState { return st.byID[id] }

func (st *RunState) step(id, uses string) *StepState {
	if st.byID == nil {
		st.byID = map[string]*StepState{}
	}
	s := st.byID[id]
	if s == nil {
		s = &StepState{StepResult: StepResult{ID: id, Uses: uses, Status: event.Pending}}
		st.byID[id] = s
		st.Steps = append(st.Steps, s)
	}
	if s.Uses == "" {
		s.Uses = uses
	}
	return s
}

func (st *RunState) fail(err error) {
	if err != nil && st.Err == nil {
		st.Err = err
	}
}

// Apply folds one more event into the state.
func (st *RunState) Apply(e event.Event) {
	st.Events++
	if e.RunID != "" {
		st.RunID = e.RunID
	}
	if !e.Time.IsZero() {
		st.Last = e.Time
	}
	if e.Step != "" {
		st.applyStep(st.step(e.Step, e.Uses), e)
		return
	}
	switch e.Kind {
	case event.RunStarted:
		d, err := event.Decode[event.RunStartedData](e)
		st.fail(err)
		st.Started, st.Playbook, st.File, st.Source = e.Time, d.Playbook, d.File, d.Source
		st.Mode, st.StartedBy, st.Inputs = d.Mode, d.StartedBy, d.Inputs
		// Journals from before dry_run was recorded say so only through the mode.
		st.DryRun = d.DryRun || d.Mode == ModeDryRun
		st.SecretFingerprints, st.SecretRefs = d.SecretInputs, d.SecretRefs
		if st.Inputs == nil {
			st.Inputs = map[string]any{}
		}
		if st.SecretFingerprints == nil {
			st.SecretFingerprints = map[string]string{}
		}
	case event.RunResumed:
		d, err := event.Decode[event.RunResumedData](e)
		st.fail(err)
		if d.PlaybookSource != "" {
			st.File, st.Source = d.PlaybookFile, d.PlaybookSource
		}
		st.Outcome, st.Error, st.Finished = "", "", time.Time{}
	case event.RunFinished:
		d, err := event.Decode[event.RunFinishedData](e)
		st.fail(err)
		st.Outcome = d.Outcome
		if st.Outcome == "" {
			st.Outcome = e.Message
		}
		st.Finished, st.Duration, st.Error = e.Time, time.Duration(e.Duration), e.Error
	case event.SlackThread:
		d, err := event.Decode[event.SlackThreadData](e)
		st.fail(err)
		// The run's message is the first one posted: a resume adopts and edits it.
		if st.Thread.TS == "" {
			st.Thread = d
		}
	}
}

func (st *RunState) applyStep(s *StepState, e event.Event) {
	if e.Attempt > s.Attempts {
		s.Attempts = e.Attempt
	}
	ended := func(status event.Status) {
		s.Status, s.Ended = status, e.Time
		s.Duration = time.Duration(e.Duration)
		if s.Duration == 0 && !s.Started.IsZero() && !e.Time.IsZero() {
			s.Duration = e.Time.Sub(s.Started)
		}
	}
	switch e.Kind {
	case event.StepStarted:
		s.Status, s.Started, s.Reason, s.Error = event.Running, e.Time, "", ""
	case event.StepPlanned:
		d, err := event.Decode[event.StepPlannedData](e)
		st.fail(err)
		s.Status, s.Plan = event.Planned, decodePlan(d.Plan)
		if s.Plan != nil && st.DryRun {
			s.Outputs = s.Plan.Outputs
		}
	case event.ApprovalWaiting:
		s.Status = event.Waiting
	case event.StepApproved:
		d, err := event.Decode[event.StepApprovedData](e)
		st.fail(err)
		s.Status, s.Approval = event.Running, decision(d.Decision, true)
	case event.StepDenied:
		d, err := event.Decode[event.StepDeniedData](e)
		st.fail(err)
		s.Approval = decision(d.Decision, false)
	case event.StepIntent:
		d, err := event.Decode[event.StepIntentData](e)
		st.fail(err)
		// The message names the intent in every journal; data.name came later.
		s.OpenIntent = true
		s.Intents = append(s.Intents, steps.Intent{Name: e.Message, Data: d.Data})
	case event.StepResult:
		s.OpenIntent, s.Intents = false, nil
	case event.StepSucceeded:
		d, err := event.Decode[event.StepSucceededData](e)
		st.fail(err)
		ended(event.Succeeded)
		s.Outputs = steps.Outputs(d.Outputs)
		if s.Outputs == nil {
			s.Outputs = steps.Outputs{}
		}
	case event.StepFailed:
		ended(event.Failed)
		s.Error = e.Error
	case event.StepSkipped:
		ended(event.Skipped)
		s.Reason = e.Message
	}
}

func decodePlan(raw json.RawMessage) *steps.Plan {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var p steps.Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil
	}
	return &p
}

func decision(d event.Decision, approved bool) *Decision {
	return &Decision{Approved: approved, By: d.By, Via: d.Via, Reason: d.Reason, At: d.At}
}

// Result is the run's outcome as the engine would have returned it, with pb's steps in order:
// a step the events leave unfinished is pending (it is not running now, whatever it was doing
// when they stop).
func (st *RunState) Result(pb *playbook.Playbook) *Result {
	res := &Result{RunID: st.RunID, Playbook: st.Playbook, Mode: st.Mode, Outcome: st.Status(),
		Started: st.Started, Finished: st.Finished}
	if pb != nil {
		res.Playbook = pb.Name
	}
	if res.Finished.IsZero() {
		res.Finished = st.Last
	}
	seen := map[string]bool{}
	add := func(id, uses string) {
		seen[id] = true
		sr := &StepResult{ID: id, Uses: uses, Status: event.Pending}
		if s := st.byID[id]; s != nil {
			cp := s.StepResult
			sr = &cp
			if !s.Done() && s.Status != event.Planned {
				sr.Status = event.Pending
			}
		}
		res.Steps = append(res.Steps, sr)
	}
	if pb != nil {
		for _, s := range pb.Steps {
			add(s.ID, s.Uses)
		}
		return res
	}
	for _, s := range st.Steps {
		add(s.ID, s.Uses)
	}
	return res
}
