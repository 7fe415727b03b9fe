package slackprogress

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/todo"
	"github.com/respond-sec/respond/steps/catalog"
)

// state is the run as the Sink understands it from the events so far: the checklist for the
// parent message and what the summary needs.
type state struct {
	view  slack.RunView
	mode  string // the engine's run mode (engine.Mode…); view.Mode is its badge
	index map[string]int
	// run is the fold of the events so far: statuses, durations and timing come from it.
	run    engine.RunState
	logs   map[string][]string // one-line findings per step, for the checklist's notes
	events []event.Event       // all of them: the summary's lists come from them (package todo)
}

func (st *state) init(m Meta, secrets *redact.Set) {
	st.index = map[string]int{}
	st.logs = map[string][]string{}
	r := secrets.String
	st.view = slack.RunView{Title: r(m.Title), Playbook: r(m.Playbook), RunID: r(m.RunID),
		StartedBy: r(m.StartedBy)}
	st.setMode(m.Mode)
	for _, s := range m.Steps {
		st.step(r(s.ID), r(s.Uses))
	}
}

// step returns the checklist line for id, adding it when the Meta did not list it.
func (st *state) step(id, uses string) *slack.StepView {
	i, ok := st.index[id]
	if !ok {
		i = len(st.view.Steps)
		st.index[id] = i
		st.view.Steps = append(st.view.Steps, slack.StepView{ID: id, Uses: uses, Status: slack.StatusPending})
	}
	sv := &st.view.Steps[i]
	if sv.Uses == "" {
		sv.Uses = uses
	}
	return sv
}

func (st *state) title() string {
	if st.view.Title != "" {
		return st.view.Title
	}
	if st.view.Playbook != "" {
		return "respond: " + st.view.Playbook
	}
	return "respond run"
}

func (st *state) parentMessage() slack.Message {
	v := st.view
	v.Title = st.title()
	v.Steps = append([]slack.StepView(nil), st.view.Steps...)
	return slack.RunMessage(v)
}

func str(d map[string]any, k string) string {
	s, _ := d[k].(string)
	return s
}

// apply folds e into the state. It reports whether the parent message changed and returns the
// thread messages e produces.
func (st *state) apply(e event.Event) (parent bool, items []threadItem) {
	if st.view.RunID == "" {
		st.view.RunID = e.RunID
	}
	st.events = append(st.events, e)
	st.run.Apply(e)
	if e.Step == "" {
		return st.applyRun(e)
	}
	sv := st.step(e.Step, e.Uses)
	switch e.Kind {
	case event.StepApproved, event.StepDenied:
		return st.applyDecision(e, sv)
	case event.StepSkipped, event.StepSucceeded, event.StepFailed:
		return st.applyEnd(e, sv)
	}
	return st.applyStep(e, sv)
}

// duration is how long e's step took until e.
func (st *state) duration(e event.Event) time.Duration {
	if e.Duration > 0 {
		return time.Duration(e.Duration)
	}
	if s := st.run.Step(e.Step); s != nil && !s.Started.IsZero() && !e.Time.IsZero() {
		return e.Time.Sub(s.Started)
	}
	return 0
}

// applyRun handles the events of the run as a whole.
func (st *state) applyRun(e event.Event) (parent bool, items []threadItem) {
	say := func(text string) { items = append(items, threadItem{text: text}) }
	switch e.Kind {
	case event.RunStarted:
		if st.view.StartedBy == "" {
			st.view.StartedBy = st.run.StartedBy
		}
		if st.mode == "" {
			st.setMode(st.run.Mode)
		}
		if st.view.Playbook == "" {
			st.view.Playbook = st.run.Playbook
		}
		return true, nil

	case event.RunResumed:
		st.view.Outcome, st.view.Tone = "", slack.Neutral
		say(":arrows_counterclockwise: *Run resumed*: continuing at the first unfinished step.")
		return true, items

	case event.RunFinished:
		st.view.Outcome, st.view.Tone = st.run.Outcome, tone(st.run.Outcome)
		sum := slack.Summary(st.summary(e))
		items = append(items, threadItem{text: sum.Text, blocks: sum.Blocks})
		return true, items
	}

	return false, nil
}

// applyStep handles a step's progress before its end.
func (st *state) applyStep(e event.Event, sv *slack.StepView) (parent bool, items []threadItem) {
	say := func(text string) { items = append(items, threadItem{text: text}) }
	dur := func() time.Duration { return st.duration(e) }
	tag := stepTag(e.Step)
	switch e.Kind {
	case event.StepStarted:
		sv.Status, sv.Note, sv.Duration = st.status(e.Step), "", 0
		return true, nil

	case event.StepPlanned:
		say(planText(tag, e))
		if st.mode == engine.ModeDryRun {
			sv.Status, sv.Duration, sv.Note = st.status(e.Step), dur(), oneLine(e.Message)
			return true, items
		}
		return false, items

	case event.StepLog:
		say(logText(tag, e.Message))
		// The engine's record of filled-in defaults says what the step will use, not what it
		// did: it is in the thread but never the step's note.
		_, defaults := e.Data["defaults"]
		if line := e.Message; line != "" && !defaults && !strings.Contains(strings.TrimSpace(line), "\n") && len(line) <= 200 {
			st.logs[e.Step] = append(st.logs[e.Step], line)
			if sv.Status == slack.StatusRunning {
				sv.Note = line
				return true, items
			}
		}
		return false, items

	case event.StepRetried:
		sv.Note = fmt.Sprintf("retrying (attempt %d)", e.Attempt+1)
		say(":repeat: " + tag + " " + escape(oneLine(e.Message)) + errSuffix(e.Error))
		return true, items

	case event.StepReconciled:
		say(":mag: " + tag + " after an interruption: " + escape(oneLine(e.Message)))
		return false, items

	case event.ApprovalWaiting:
		sv.Status = st.status(e.Step)
		line := ":raised_hand: " + tag + " is waiting for approval"
		if who := listOf(e.Data["approvers"]); len(who) > 0 {
			line += " (approvers: " + escape(strings.Join(who, ", ")) + ")"
		}
		say(line)
		return true, items

	}
	return false, nil
}

// applyDecision handles an approval's outcome.
func (st *state) applyDecision(e event.Event, sv *slack.StepView) (parent bool, items []threadItem) {
	say := func(text string) { items = append(items, threadItem{text: text}) }
	tag := stepTag(e.Step)
	switch e.Kind {
	case event.StepApproved, event.StepDenied:
		by, via := str(e.Data, "by"), str(e.Data, "via")
		sv.Status = st.status(e.Step)
		// A decision made with the Slack buttons is shown on the approval message itself.
		if via != "slack" {
			verb, emoji := "approved", ":white_check_mark:"
			if e.Kind == event.StepDenied {
				verb, emoji = "denied", ":no_entry:"
			}
			line := emoji + " " + tag + " " + verb + " by " + mention(by) + " via " + escape(via)
			if r := str(e.Data, "reason"); r != "" {
				line += ": " + escape(oneLine(r))
			}
			say(line)
		}
		return true, items

	}
	return false, nil
}

// applyEnd handles a step's end: skipped, succeeded or failed.
func (st *state) applyEnd(e event.Event, sv *slack.StepView) (parent bool, items []threadItem) {
	say := func(text string) { items = append(items, threadItem{text: text}) }
	dur := func() time.Duration { return st.duration(e) }
	tag := stepTag(e.Step)
	switch e.Kind {
	case event.StepSkipped:
		sv.Status, sv.Duration, sv.Note = st.status(e.Step), dur(), oneLine(e.Message)
		return true, items

	case event.StepSucceeded:
		sv.Status, sv.Duration = st.status(e.Step), dur()
		if l := st.logs[e.Step]; len(l) > 0 {
			sv.Note = l[len(l)-1]
		} else {
			sv.Note = ""
		}
		return true, nil

	case event.StepFailed:
		sv.Status, sv.Duration, sv.Note = st.status(e.Step), dur(), oneLine(e.Error)
		line := ":x: " + tag + " failed"
		if e.Attempt > 1 {
			line += fmt.Sprintf(" after %d attempts", e.Attempt)
		}
		if e.Error != "" {
			line += ":\n" + codeBlock(e.Error, 40)
		}
		say(line)
		return true, items
	}
	return false, nil
}

// status is step id's checklist status, from the fold. A plan made before an approval in a real
// run is not shown: the checklist's "planned" means a dry run's plan.
func (st *state) status(id string) string {
	s := st.run.Step(id)
	if s == nil {
		return slack.StatusPending
	}
	if s.Status == event.Planned && st.mode != engine.ModeDryRun {
		return slack.StatusRunning
	}
	return string(s.Status)
}

// revokedAt is when the first revoking step succeeded, or zero.
func (st *state) revokedAt() time.Time {
	var at time.Time
	for _, s := range st.run.Steps {
		if s.Status == event.Succeeded && catalog.Revokes(s.Uses) && !s.Ended.IsZero() && (at.IsZero() || s.Ended.Before(at)) {
			at = s.Ended
		}
	}
	return at
}

func (st *state) summary(e event.Event) slack.SummaryView {
	v := slack.SummaryView{Title: st.title(), Playbook: st.view.Playbook, RunID: st.view.RunID, Mode: st.view.Mode,
		Outcome: st.view.Outcome, Tone: st.view.Tone, Duration: time.Duration(e.Duration)}
	if revoked := st.revokedAt(); !revoked.IsZero() && !st.run.Started.IsZero() {
		v.TimeToRevoke = max(revoked.Sub(st.run.Started), time.Millisecond)
	}
	counts := map[string]int{}
	hasRevoke := false
	for _, s := range st.view.Steps {
		counts[s.Status]++
		if catalog.Revokes(s.Uses) {
			hasRevoke = true
		}
	}
	// The same changes as the report's, at most five per step: the thread has them all.
	perStep := map[string]int{}
	changes := todo.Changes(st.events)
	for i, c := range changes {
		perStep[c.Step]++
		switch n := perStep[c.Step]; {
		case n <= 5:
			v.Changed = append(v.Changed, c.Step+": "+c.What)
		case n == 6:
			more := 0
			for _, d := range changes[i:] {
				if d.Step == c.Step {
					more++
				}
			}
			v.Changed = append(v.Changed, fmt.Sprintf("%s: …and %d more, see the thread", c.Step, more))
		}
	}
	v.NoRevocation = !hasRevoke
	v.NeedsHuman = todo.FromEvents(st.events)
	if len(counts) > 0 {
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
		v.Facts = append(v.Facts, slack.Fact{Label: "Steps", Value: strings.Join(parts, ", ")})
	}
	return v
}

func listOf(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func planText(tag string, e event.Event) string {
	line := ":memo: *Plan* for " + tag
	if e.Message != "" {
		line += ": " + escape(oneLine(e.Message))
	}
	plan, _ := e.Data["plan"].(map[string]any)
	actions, _ := plan["actions"].([]any)
	var lines []string
	for _, a := range actions {
		m, _ := a.(map[string]any)
		l := strings.TrimSpace(str(m, "method") + " " + str(m, "target"))
		if p, ok := m["params"]; ok && p != nil {
			if b, err := json.Marshal(p); err == nil && string(b) != "{}" {
				l += " " + string(b)
			}
		}
		if n := str(m, "note"); n != "" {
			l += "  # " + n
		}
		lines = append(lines, l)
	}
	if len(lines) > 0 {
		line += "\n" + codeBlock(strings.Join(lines, "\n"), 30)
	}
	return line
}

func logText(tag, msg string) string {
	msg = strings.TrimRight(msg, "\n")
	if !strings.Contains(msg, "\n") {
		return tag + " " + escape(msg)
	}
	// Tables (usage reviews) keep their columns in a preformatted block.
	return tag + "\n" + codeBlock(msg, maxLogLines)
}

// codeBlock shows text preformatted, at most maxLines lines and well under a message's size.
func codeBlock(text string, maxLines int) string {
	text = strings.ReplaceAll(strings.TrimRight(text, "\n"), "```", "'''")
	lines := strings.Split(text, "\n")
	if len(lines) > maxLines {
		lines = append(lines[:maxLines], fmt.Sprintf("… (%d more lines in the journal)", len(lines)-maxLines))
	}
	text = strings.Join(lines, "\n")
	if len(text) > maxThreadText-200 {
		text = truncateUTF8(text, maxThreadText-200) + "\n… (cut; the journal has it all)"
	}
	return "```\n" + escape(text) + "\n```"
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func errSuffix(err string) string {
	if err == "" {
		return ""
	}
	return " — " + escape(oneLine(err))
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

func stepTag(id string) string { return "`" + escape(strings.ReplaceAll(id, "`", "'")) + "`" }

var userIDRe = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

func mention(who string) string {
	if userIDRe.MatchString(who) {
		return "<@" + who + ">"
	}
	if who == "" {
		return "someone"
	}
	return escape(who)
}

// setMode records the engine's run mode and the badge Slack shows for it.
func (st *state) setMode(mode string) {
	st.mode = mode
	switch mode {
	case engine.ModeDryRun:
		st.view.Mode = slack.DryRun
	case engine.ModeRehearsal:
		st.view.Mode = slack.Rehearsal
	default:
		st.view.Mode = slack.Live
	}
}

// tone is how Slack marks an engine outcome.
func tone(outcome string) slack.Tone {
	switch outcome {
	case engine.OutcomeSucceeded:
		return slack.Good
	case engine.OutcomeFailed, engine.OutcomePreflightFailed:
		return slack.Bad
	case engine.OutcomeCancelled, engine.OutcomeDenied:
		return slack.Stopped
	default:
		return slack.Neutral
	}
}
