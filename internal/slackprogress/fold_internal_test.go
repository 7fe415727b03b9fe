package slackprogress

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/redact"
)

// The checklist shows what the one fold says: the same statuses the report and `runs list` read.
func TestChecklistFollowsTheFold(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var evs []event.Event
	add := func(e event.Event) {
		e.Seq, e.RunID, e.Time = len(evs)+1, "r1", t0.Add(time.Duration(len(evs))*time.Second)
		evs = append(evs, e)
	}
	step := func(kind event.Kind, id string) event.Event { return event.Event{Kind: kind, Step: id, Uses: "exec"} }
	add(event.Event{Message: "p (real)"}.With(event.RunStartedData{Playbook: "p", Mode: engine.ModeReal, StartedBy: "oncall"}))
	add(step(event.StepStarted, "a"))
	add(event.Event{Step: "a", Uses: "exec"}.With(event.StepSucceededData{}))
	add(step(event.StepStarted, "b"))
	add(step(event.StepFailed, "b"))
	add(step(event.StepStarted, "c"))
	add(step(event.StepSkipped, "c"))
	add(step(event.StepStarted, "d"))
	add(event.Event{Step: "d", Uses: "exec", Message: "plan"}.With(event.StepPlannedData{}))
	add(event.Event{Step: "d", Uses: "exec"}.With(event.ApprovalWaitingData{}))

	var st state
	st.init(Meta{Playbook: "p", Steps: []StepMeta{{ID: "a", Uses: "exec"}, {ID: "b", Uses: "exec"}, {ID: "c", Uses: "exec"},
		{ID: "d", Uses: "exec"}, {ID: "e", Uses: "exec"}}}, redact.New())
	for _, e := range evs {
		st.apply(e)
	}
	got := map[string]string{}
	for _, s := range st.view.Steps {
		got[s.ID] = s.Status
	}
	want := map[string]string{"e": "pending"}
	for _, s := range engine.Fold(evs).Steps {
		want[s.ID] = string(s.Status)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checklist statuses against the fold (-fold +checklist):\n%s", diff)
	}
	if want := (map[string]string{"a": "succeeded", "b": "failed", "c": "skipped", "d": "waiting", "e": "pending"}); !cmp.Equal(want, got) {
		t.Errorf("checklist %v; want %v", got, want)
	}
	if st.mode != engine.ModeReal || st.view.Mode != slack.Live || st.view.StartedBy != "oncall" {
		t.Errorf("mode %q (badge %d), started by %q: not taken from run.started", st.mode, st.view.Mode, st.view.StartedBy)
	}
}

// Every engine outcome gets a mark; a preflight failure is a failure, not information.
func TestToneOfEveryOutcome(t *testing.T) {
	for outcome, want := range map[string]slack.Tone{
		engine.OutcomeSucceeded: slack.Good, engine.OutcomeFailed: slack.Bad, engine.OutcomePreflightFailed: slack.Bad,
		engine.OutcomeCancelled: slack.Stopped, engine.OutcomeDenied: slack.Stopped, engine.OutcomeInterrupted: slack.Neutral,
	} {
		if got := tone(outcome); got != want {
			t.Errorf("tone(%q) = %d; want %d", outcome, got, want)
		}
	}
}
