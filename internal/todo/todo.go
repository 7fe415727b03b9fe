// Package todo owns a run's closing lists: what a person must still do after it (the to-do list)
// and what it changed. Both are derived once, from the run's (redacted) events, so the terminal
// summary, the Slack summary and the Markdown and JSON reports carry the same items in the same
// order.
package todo

import (
	"fmt"
	"strings"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/catalog"
)

// Prefixes of a skipped step's reason, as the engine writes them (events carry only the text).
const (
	approvalDeniedPrefix = engine.ApprovalDeniedPrefix
	preflightPrefix      = engine.PreflightFailedPrefix
)

// Elsewhere is the last item of every run that revokes a key: no tool sees every copy.
const Elsewhere = "Check other places the key may have been copied that no tool sees: chat, tickets, wikis, laptops."

// List folds a run's events as they arrive (it is an event.Sink) and derives the to-do list
// from all of them when asked, so a resumed run's list covers the journaled part too.
type List struct {
	event.Log
}

// Items is the to-do list for the events so far.
func (l *List) Items() []string { return FromEvents(l.All()) }

// step is one step's final state in the events.
type step struct {
	id, uses string
	final    *event.Event // the last succeeded, failed or skipped event
	mutating bool         // it recorded an intent: it changes things
	human    []string     // its findings that ask for a person
}

// FromEvents derives the to-do list from a run's events, in this order: an unrevoked key first,
// then each step's items in the order the steps ran, then how to continue the run, then the
// places no tool looks at. Items are never repeated.
func FromEvents(evs []event.Event) []string {
	r := collect(evs)
	dryRun := r.mode == "dry-run"
	resumable := r.mode != "rehearsal" && r.runID != ""

	var items []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			items = append(items, s)
		}
	}
	if r.hasRevoke && !r.revoked && !dryRun {
		add("The leaked key was NOT revoked by this run: revoke it now (OpenAI dashboard → API keys), or fix the cause and run again.")
	}
	for _, id := range r.order {
		s := r.byID[id]
		// Unprefixed, so a finding the step also returns in its "todo" output is listed once.
		for _, h := range s.human {
			add(h)
		}
		if s.final == nil {
			continue
		}
		for _, it := range stepItems(s, r.revoked, resumable, r.runID) {
			add(it)
		}
	}
	switch r.outcome {
	case "interrupted":
		if resumable {
			add("The run was interrupted: every finished step is journaled. Continue where it stopped: respond resume " + r.runID)
		}
	case "failed", "cancelled":
		if resumable {
			add("Fix the cause, then continue where it stopped: respond resume " + r.runID)
		}
	case "preflight-failed":
		add("Nothing was changed. Fix what preflight reported, then start again with the same command.")
	}
	if r.hasRevoke && !dryRun {
		add(Elsewhere)
	}
	return items
}

// run is what the to-do list needs to know of a run's events.
type run struct {
	runID, mode, outcome string
	order                []string // step IDs in the order they first appeared
	byID                 map[string]*step
	hasRevoke, revoked   bool // a step revokes; a step proved the key dead
}

func collect(evs []event.Event) *run {
	// The run's identity, mode and outcome are the fold's; the steps' findings are the list's own.
	st := engine.Fold(evs)
	r := &run{runID: st.RunID, mode: st.Mode, outcome: st.Outcome, byID: map[string]*step{}}
	for i := range evs {
		if e := &evs[i]; e.Step != "" {
			r.stepEvent(e)
		}
	}
	return r
}

func (r *run) stepEvent(e *event.Event) {
	s := r.byID[e.Step]
	if s == nil {
		s = &step{id: e.Step}
		r.byID[e.Step] = s
		r.order = append(r.order, e.Step)
	}
	if e.Uses != "" {
		s.uses = e.Uses
	}
	if catalog.Revokes(s.uses) {
		r.hasRevoke = true
	}
	switch e.Kind {
	case event.StepStarted:
		// A resumed step runs again: only its new outcome counts.
		s.final = nil
	case event.StepIntent:
		if e.Message != "attempt" {
			s.mutating = true
		}
	case event.StepLog:
		if needsHuman(*e) {
			s.human = append(s.human, strings.TrimPrefix(firstLine(e.Message), "TO-DO: "))
		}
	case event.StepSucceeded, event.StepFailed, event.StepSkipped:
		s.final = e
		if e.Kind == event.StepSucceeded && deadKey(s.uses, e) {
			r.revoked = true
		}
	}
}

// stepItems is what one finished step leaves to a person.
func stepItems(s *step, revoked, resumable bool, runID string) []string {
	e := s.final
	resume := func(extra string) string {
		if !resumable {
			return ""
		}
		return ": respond resume " + runID + extra
	}
	switch e.Kind {
	case event.StepFailed:
		msg := fmt.Sprintf("Step %s failed: %s", s.id, firstLine(e.Error))
		if s.mutating {
			msg += " (it changes things: check what it did before resuming)"
		}
		return []string{msg}
	case event.StepSkipped:
		reason := e.Message
		switch {
		case strings.HasPrefix(reason, preflightPrefix):
			return []string{fmt.Sprintf("Step %s was not run (%s). Fix that, then run it%s", s.id,
				strings.TrimPrefix(reason, "not run: "), resume(""))}
		case strings.HasPrefix(reason, approvalDeniedPrefix) && strings.Contains(reason, " via none"):
			return []string{fmt.Sprintf("Step %s needs an approval nobody could give here%s", s.id,
				resume(" --yes (or resume on a terminal, or approve in Slack)"))}
		case strings.HasPrefix(reason, approvalDeniedPrefix):
			msg := fmt.Sprintf("Step %s was not approved (%s): it did not run.", s.id,
				strings.TrimPrefix(strings.TrimPrefix(reason, approvalDeniedPrefix), " "))
			if resumable {
				msg += " To ask again: respond resume " + runID
			}
			return []string{msg}
		}
		return nil
	}
	if out, ok := outputs(s.uses, e).(steps.ToDoer); ok {
		return out.ToDo(steps.ToDoContext{StepID: s.id, KeyDead: revoked})
	}
	return nil
}

// outputs decodes a finished step's recorded outputs into its kind's outputs struct; nil for a
// kind the catalog does not know.
func outputs(uses string, e *event.Event) any {
	k, ok := catalog.Lookup(uses)
	if !ok {
		return nil
	}
	d, _ := event.Decode[event.StepSucceededData](*e)
	recorded := d.Outputs
	// A field of the wrong type is left zero; the others still count.
	out, _ := k.DecodeOutputs(recorded)
	return out
}

// deadKey reports whether a succeeded step shows the leaked key is no longer live: the revocation
// itself, or a step whose outputs say so (a key found already revoked, then there is nothing to
// revoke and the revoke step is skipped; a key proven dead).
func deadKey(uses string, e *event.Event) bool {
	if catalog.Revokes(uses) {
		return true
	}
	out, ok := outputs(uses, e).(steps.KeyDeadShower)
	return ok && out.KeyDead()
}

// needsHuman reports a finding that asks for a person: data {"needs_human": true}, or a step
// shouting BY HAND (the replacement step when it cannot clean up after itself).
func needsHuman(e event.Event) bool {
	if b, ok := e.Data["needs_human"].(bool); ok && b {
		return true
	}
	return strings.Contains(e.Message, "BY HAND")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// Change is one thing a run changed, as its step reported it.
type Change struct {
	Step string `json:"step"`
	What string `json:"what"`
}

// Changes lists what a run changed, in the order it happened: the one-line findings a step
// logged after recording a named intent (the journal line that precedes every side effect) and
// before that attempt's result. Progress and findings logged outside an intent, reminders for a
// person (they are to-dos), multi-line reports and post-change checks are not changes. A dry run
// changes nothing.
func Changes(evs []event.Event) []Change {
	var (
		out    []Change
		inside = map[string]bool{} // step → a named intent is open
		dryRun bool
	)
	for _, e := range evs {
		switch e.Kind {
		case event.RunStarted:
			d, _ := event.Decode[event.RunStartedData](e)
			dryRun = d.Mode == engine.ModeDryRun
		case event.StepIntent:
			if e.Message != "attempt" {
				inside[e.Step] = true
			}
		case event.StepResult, event.StepStarted, event.StepSucceeded, event.StepFailed, event.StepSkipped:
			inside[e.Step] = false
		case event.StepLog:
			msg := strings.TrimSpace(e.Message)
			if dryRun || !inside[e.Step] || msg == "" || strings.Contains(msg, "\n") || needsHuman(e) ||
				strings.HasPrefix(msg, "TO-DO") || isCheck(msg) {
				continue
			}
			out = append(out, Change{Step: e.Step, What: msg})
		}
	}
	return out
}

// isCheck reports a line that verifies a change rather than making one (git.purge-history's
// rescan after the rewrite).
func isCheck(msg string) bool {
	return strings.Contains(msg, "rescan finds") || strings.Contains(msg, "NOT FINISHED")
}
