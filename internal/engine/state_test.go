package engine_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/steps"
)

func TestFold(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	started := event.Event{Time: at(0), RunID: "r1", Message: "p (real)"}.With(event.RunStartedData{
		Playbook: "p", File: "p.yaml", Source: "v1", Mode: engine.ModeReal, StartedBy: "oncall"})
	step := func(kind event.Kind, id string, s int) event.Event {
		return event.Event{Kind: kind, Step: id, Uses: "exec", Time: at(s)}
	}
	type stepView struct {
		Status     event.Status
		Attempts   int
		OpenIntent bool
		Intents    int
		Outputs    steps.Outputs
	}
	type view struct {
		Status, Mode, File, Source string
		DryRun                     bool
		Thread                     event.SlackThreadData
		Steps                      map[string]stepView
	}
	cases := []struct {
		name string
		evs  []event.Event
		want view
	}{
		{"crash between an intent and its result", []event.Event{started, step(event.StepStarted, "a", 1),
			event.Event{Step: "a", Uses: "exec", Attempt: 1, Message: "attempt"}.With(event.StepIntentData{Name: "attempt"})},
			view{Status: "interrupted", Mode: "real", File: "p.yaml", Source: "v1",
				Steps: map[string]stepView{"a": {Status: event.Running, Attempts: 1, OpenIntent: true, Intents: 1}}}},
		{"finished, with outputs and a thread", []event.Event{started, step(event.StepStarted, "a", 1),
			event.Event{Message: "#ir"}.With(event.SlackThreadData{Channel: "C1", TS: "1.1"}),
			event.Event{Step: "a", Uses: "exec", Attempt: 2}.With(event.StepSucceededData{Outputs: map[string]any{"n": 1.0}}),
			event.Event{Message: "#ir"}.With(event.SlackThreadData{Channel: "C1", TS: "2.2"}),
			event.Event{Message: "succeeded"}.With(event.RunFinishedData{Outcome: "succeeded"})},
			view{Status: "succeeded", Mode: "real", File: "p.yaml", Source: "v1", Thread: event.SlackThreadData{Channel: "C1", TS: "1.1"},
				Steps: map[string]stepView{"a": {Status: event.Succeeded, Attempts: 2, Outputs: steps.Outputs{"n": 1.0}}}}},
		{"a resume with an edited playbook reopens the run", []event.Event{started,
			event.Event{Message: "failed"}.With(event.RunFinishedData{Outcome: "failed"}),
			event.Event{Message: "resuming p"}.With(event.RunResumedData{PlaybookFile: "q.yaml", PlaybookSource: "v2"})},
			view{Status: "interrupted", Mode: "real", File: "q.yaml", Source: "v2", Steps: map[string]stepView{}}},
		{"an old dry run says so only through its mode", []event.Event{{Kind: event.RunStarted, Time: at(0),
			Data: map[string]any{"mode": "dry-run", "playbook": "p"}}},
			view{Status: "interrupted", Mode: "dry-run", DryRun: true, Steps: map[string]stepView{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := engine.Fold(c.evs)
			if st.Err != nil {
				t.Fatal(st.Err)
			}
			got := view{Status: st.Status(), Mode: st.Mode, File: st.File, Source: st.Source, DryRun: st.DryRun,
				Thread: st.Thread, Steps: map[string]stepView{}}
			for _, s := range st.Steps {
				got.Steps[s.ID] = stepView{Status: s.Status, Attempts: s.Attempts, OpenIntent: s.OpenIntent,
					Intents: len(s.Intents), Outputs: s.Outputs}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("fold (-want +got):\n%s", diff)
			}
		})
	}
}

// A payload that cannot be read is reported with the event and the field, and the fold goes on.
func TestFoldReportsUnreadablePayload(t *testing.T) {
	st := engine.Fold([]event.Event{{Seq: 1, Kind: event.RunStarted, Data: map[string]any{"inputs": "x"}},
		{Seq: 2, Kind: event.RunFinished, Message: "failed"}})
	if st.Err == nil || st.Err.Error() != "event 1 (run.started): data.inputs: string where map[string]interface {} was expected" {
		t.Errorf("Err = %v", st.Err)
	}
	if st.Status() != "failed" {
		t.Errorf("status %q after an unreadable start; want the fold to go on to failed", st.Status())
	}
}
