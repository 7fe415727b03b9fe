package engine

import (
	"encoding/json"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps"
)

// priorStep is what the journal says about a step before a resume.
type priorStep struct {
	done       bool
	result     *StepResult
	attempts   int
	openIntent bool // an intent was recorded after the last result: the side effect may be half done
	intents    []steps.Intent
}

// replay folds journaled events into per-step state: what finished (succeeded, skipped or
// failed), with its outputs, and which steps have an intent without a result.
func replay(evs []event.Event) map[string]*priorStep {
	out := map[string]*priorStep{}
	get := func(id string) *priorStep {
		p := out[id]
		if p == nil {
			p = &priorStep{}
			out[id] = p
		}
		return p
	}
	for _, e := range evs {
		if e.Step == "" {
			continue
		}
		p := get(e.Step)
		if e.Attempt > p.attempts {
			p.attempts = e.Attempt
		}
		switch e.Kind {
		case event.StepStarted:
			p.done = false
		case event.StepIntent:
			p.openIntent = true
			in := steps.Intent{Name: e.Message}
			if d, ok := e.Data["data"].(map[string]any); ok {
				in.Data = d
			}
			p.intents = append(p.intents, in)
		case event.StepResult:
			p.openIntent = false
			p.intents = nil
		case event.StepSucceeded:
			p.done = true
			p.result = &StepResult{ID: e.Step, Uses: e.Uses, Status: event.Succeeded, Attempts: p.attempts,
				Duration: time.Duration(e.Duration), Outputs: outputsOf(e)}
		case event.StepSkipped:
			p.done = true
			p.result = &StepResult{ID: e.Step, Uses: e.Uses, Status: event.Skipped, Reason: e.Message,
				Duration: time.Duration(e.Duration)}
		case event.StepFailed:
			p.done = true
			p.result = &StepResult{ID: e.Step, Uses: e.Uses, Status: event.Failed, Attempts: p.attempts,
				Error: e.Error, Duration: time.Duration(e.Duration)}
		}
	}
	return out
}

func outputsOf(e event.Event) steps.Outputs {
	o, ok := e.Data["outputs"].(map[string]any)
	if !ok {
		return steps.Outputs{}
	}
	// Round-trip so numbers and nested values look the same as a fresh run's JSON-shaped outputs.
	b, _ := json.Marshal(o)
	var out steps.Outputs
	_ = json.Unmarshal(b, &out)
	return out
}

// kept reports whether a resume keeps a journaled step's result instead of running it again. A
// step that failed and stopped the run is run again: resuming is how an operator retries after
// fixing the cause. One the run continued past stays failed. A step skipped for want of an
// approval is asked again: resuming with --yes, on a terminal or from Slack is how it gets one.
func kept(p *priorStep, pb *playbook.Playbook) bool {
	if !p.done {
		return false
	}
	onFailure := ""
	for _, s := range pb.Steps {
		if s.ID == p.result.ID {
			onFailure = s.OnFailure
		}
	}
	return !(p.result.Status == event.Failed && onFailure != "continue") &&
		!SkippedForApproval(p.result) && !SkippedForPreflight(p.result)
}

// Finished returns the steps of pb a resume would not run again, as the journaled events prior
// show them, and the steps whose side effect may be half done (an intent without a result).
// An edited playbook must leave both as they were.
func Finished(pb *playbook.Playbook, prior []event.Event) (finished map[string]*StepResult, inFlight map[string]bool) {
	finished, inFlight = map[string]*StepResult{}, map[string]bool{}
	for id, p := range replay(prior) {
		if p.openIntent {
			inFlight[id] = true
		}
		if kept(p, pb) {
			finished[id] = p.result
		}
	}
	return finished, inFlight
}

// JournaledPlaybook returns the file and source of the playbook a run uses as its journal says:
// the one run.started recorded, or the newest one a resume with an edited playbook recorded.
func JournaledPlaybook(evs []event.Event) (file, source string) {
	for _, e := range evs {
		if e.Kind != event.RunStarted && e.Kind != event.RunResumed {
			continue
		}
		fk, sk := "file", "source"
		if e.Kind == event.RunResumed {
			fk, sk = "playbook_file", "playbook_source"
		}
		if s, ok := e.Data[sk].(string); ok {
			file, _ = e.Data[fk].(string)
			source = s
		}
	}
	return file, source
}
