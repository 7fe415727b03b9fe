package cli

import (
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/slackserver"
)

const readersPlaybook = `name: readers
steps:
  - id: a
    uses: exec
    with: {argv: [echo, a]}
  - id: b
    uses: exec
    on_failure: continue
    with: {argv: ["false"]}
  - id: c
    uses: exec
    if: "{{ eq 1 2 }}"
    with: {argv: [echo, c]}
  - id: d
    uses: exec
    approval: {message: "go on"}
    with: {argv: [echo, d]}
`

// readersJournal is a run that stopped while its approved step d was acting (a crash after the
// intent): a succeeded, b failed and the run went on, c skipped, no run.finished.
func readersJournal(t *testing.T) (dir, runID string) {
	t.Helper()
	dir, runID = t.TempDir(), "20261129T120000Z-abcdef"
	j, err := journal.Create(dir, runID)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	n := 0
	emit := func(e event.Event) {
		n++
		e.Seq, e.RunID, e.Time = n, runID, t0.Add(time.Duration(n)*time.Second)
		if err := j.Emit(e); err != nil {
			t.Fatal(err)
		}
	}
	step := func(kind event.Kind, id string) event.Event { return event.Event{Kind: kind, Step: id, Uses: "exec"} }
	emit(event.Event{Message: "readers (real)"}.With(event.RunStartedData{Playbook: "readers", File: "readers.yaml",
		Source: readersPlaybook, Mode: engine.ModeReal, StartedBy: "oncall", Inputs: map[string]any{}}))
	emit(step(event.StepStarted, "a"))
	emit(event.Event{Step: "a", Uses: "exec", Attempt: 1, Duration: event.Duration(time.Second)}.
		With(event.StepSucceededData{Outputs: map[string]any{"stdout": "a\n"}}))
	emit(step(event.StepStarted, "b"))
	e := step(event.StepFailed, "b")
	e.Error, e.Attempt = "false exited with status 1", 1
	emit(e)
	emit(step(event.StepStarted, "c"))
	e = step(event.StepSkipped, "c")
	e.Message = "condition is false"
	emit(e)
	emit(step(event.StepStarted, "d"))
	emit(event.Event{Step: "d", Uses: "exec"}.With(event.ApprovalWaitingData{}))
	emit(event.Event{Step: "d", Uses: "exec", Message: "oncall via --yes"}.With(event.StepApprovedData{
		Decision: event.Decision{By: "oncall", Via: "--yes", At: t0}}))
	emit(event.Event{Step: "d", Uses: "exec", Attempt: 1, Message: "attempt"}.With(event.StepIntentData{Name: "attempt"}))
	return dir, runID
}

// Every reader of a run's events (the report, runs list, serve's /respond status and the
// terminal view) tells the same story from the one fold.
func TestReadersAgreeOnAJournal(t *testing.T) {
	dir, runID := readersJournal(t)
	type story struct {
		Run   string
		Steps map[string]string
	}
	// d was acting when the events stop: each reader shows it unfinished in its own words.
	want := story{Run: "interrupted", Steps: map[string]string{"a": "succeeded", "b": "failed", "c": "skipped", "d": "unfinished"}}
	done := func(s string) string {
		switch s {
		case "succeeded", "failed", "skipped":
			return s
		}
		return "unfinished"
	}

	st, err := loadResume(dir, runID)
	if err != nil {
		t.Fatal(err)
	}
	res := st.Result()
	report := story{Run: res.Outcome, Steps: map[string]string{}}
	for _, s := range res.Steps {
		report.Steps[s.ID] = done(string(s.Status))
	}

	recs, err := journal.Read(dir, runID)
	if err != nil {
		t.Fatal(err)
	}
	list := story{Run: journal.Summarize(runID, recs).Status, Steps: map[string]string{}}
	for _, s := range engine.Fold(journal.Events(recs)).Steps {
		list.Steps[s.ID] = done(serveStatus(s))
	}
	sr := &serveRunner{dir: dir, runs: slackserver.NewRuns()}
	if _, err := sr.Status(runID); err != nil {
		t.Fatal(err)
	}

	term := newTermSink(io.Discard, false, st.Playbook, time.Now)
	term.seed(st.Events)
	termStory := story{Run: term.run.Status(), Steps: map[string]string{}}
	for _, id := range term.order {
		termStory.Steps[id] = done(string(term.statusOf(id)))
	}

	for name, got := range map[string]story{"report": report, "runs list and serve": list, "terminal": termStory} {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if rs := st.Result().Steps; rs[3].Approval == nil || rs[3].Approval.By != "oncall" || rs[1].Error == "" {
		t.Errorf("the report lost d's approval or b's error: %+v %+v", rs[3], rs[1])
	}
}
