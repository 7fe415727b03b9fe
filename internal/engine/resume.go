package engine

import (
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
)

// kept reports whether a resume keeps a journaled step's result instead of running it again. A
// step that failed and stopped the run is run again: resuming is how an operator retries after
// fixing the cause. One the run continued past stays failed. A step skipped for want of an
// approval is asked again: resuming with --yes, on a terminal or from Slack is how it gets one.
func kept(p *StepState, pb *playbook.Playbook) bool {
	if !p.Done() {
		return false
	}
	onFailure := ""
	for _, s := range pb.Steps {
		if s.ID == p.ID {
			onFailure = s.OnFailure
		}
	}
	return !(p.Status == event.Failed && onFailure != "continue") &&
		!SkippedForApproval(&p.StepResult) && !SkippedForPreflight(&p.StepResult)
}

// Finished returns the steps of pb a resume would not run again, as the journaled events prior
// show them, and the steps whose side effect may be half done (an intent without a result).
// An edited playbook must leave both as they were.
func Finished(pb *playbook.Playbook, prior []event.Event) (finished map[string]*StepResult, inFlight map[string]bool) {
	finished, inFlight = map[string]*StepResult{}, map[string]bool{}
	for _, p := range Fold(prior).Steps {
		if p.OpenIntent {
			inFlight[p.ID] = true
		}
		if kept(p, pb) {
			sr := p.StepResult
			finished[p.ID] = &sr
		}
	}
	return finished, inFlight
}

// JournaledPlaybook returns the file and source of the playbook a run uses as its journal says:
// the one run.started recorded, or the newest one a resume with an edited playbook recorded.
func JournaledPlaybook(evs []event.Event) (file, source string) {
	st := Fold(evs)
	return st.File, st.Source
}
