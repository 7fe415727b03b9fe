// Package report turns a run's events and result into what people read afterwards: the
// rehearsal's and `runs report`'s report (JSON and Markdown), the time to revoke, and the one-line
// description of each event that the terminal, `runs show` and the report's timeline share.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/rehearsal"
	"github.com/respond-sec/respond/internal/todo"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/catalog"
)

// TimeToRevoke is from the run's start to the first revocation's success; ok is false when the
// run revoked nothing (a revocation within the clock's resolution still took 0).
func TimeToRevoke(evs []event.Event) (d time.Duration, ok bool) {
	var start time.Time
	for _, e := range evs {
		if e.Kind == event.RunStarted && start.IsZero() {
			start = e.Time
		}
	}
	at, ok := RevokedAt(evs)
	if !ok || start.IsZero() {
		return 0, false
	}
	return at.Sub(start), true
}

// RevokedAt is when the run's first revocation succeeded: the end of every "time to revoke",
// whatever it is measured from.
func RevokedAt(evs []event.Event) (at time.Time, ok bool) {
	for _, e := range evs {
		if e.Kind == event.StepSucceeded && catalog.Revokes(e.Uses) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

type retryJSON struct {
	Step    string `json:"step"`
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
}

type stepJSON struct {
	ID         string `json:"id"`
	Uses       string `json:"uses"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	DurationMS int64  `json:"duration_ms"`
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Report is a run's report: machine-readable as JSON, and for people as Markdown.
type Report struct {
	Mode           string `json:"mode"`
	Playbook       string `json:"playbook"`
	RunID          string `json:"run_id"`
	Seed           uint64 `json:"seed"`
	DryRun         bool   `json:"dry_run"`
	Chaos          bool   `json:"chaos"`
	Outcome        string `json:"outcome"`
	TimeToRevokeMS int64  `json:"time_to_revoke_ms"`
	// AlertToRevokeMS is, in a rehearsal --from-alert, the time from GitHub's alert to the revocation.
	AlertToRevokeMS int64                    `json:"alert_to_revoke_ms,omitempty"`
	DurationMS      int64                    `json:"duration_ms"`
	Steps           []stepJSON               `json:"steps"`
	Verifications   []rehearsal.Verification `json:"verifications"`
	Retries         []retryJSON              `json:"retries"`
	FaultsInjected  int                      `json:"faults_injected"`
	LeaksInOutputs  int                      `json:"leaks_in_outputs"`
	LeakScanned     []string                 `json:"leak_scanned"`
	Changed         []todo.Change            `json:"changed"`
	// UsageTable is the usage review's table (the exposure window against its baseline).
	UsageTable string `json:"usage_table,omitempty"`
	// LogsWithKey are the log lines that still hold the key: searching logs changes nothing.
	LogsWithKey []logFinding `json:"logs_with_key"`
	HumanToDo   []string     `json:"human_to_do"`
	// revoked says the run revoked the key: TimeToRevokeMS is 0 both when it did not and when it
	// did within a millisecond (or on a frozen clock).
	revoked bool
}

// logFinding is one log line holding the key, with the line masked.
type logFinding struct {
	Step    string `json:"step"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Excerpt string `json:"excerpt"`
}

// maxLogFindingsShown caps the Markdown's table; the JSON report has them all.
const maxLogFindingsShown = 50

// Build makes the report of a finished run from its result and its (redacted) events; checks are
// a rehearsal's verifications, nil for a real run.
func Build(res *engine.Result, evs []event.Event, seed uint64, dryRun, chaos bool, checks []rehearsal.Verification) Report {
	revokedIn, revoked := TimeToRevoke(evs)
	r := Report{revoked: revoked, Mode: res.Mode, Playbook: res.Playbook, RunID: res.RunID, Seed: seed, DryRun: dryRun, Chaos: chaos, Outcome: res.Outcome,
		TimeToRevokeMS: revokedIn.Milliseconds(), DurationMS: res.Finished.Sub(res.Started).Milliseconds(),
		Verifications: checks, Retries: []retryJSON{}, Steps: []stepJSON{}}
	if r.Verifications == nil {
		r.Verifications = []rehearsal.Verification{}
	}
	for _, s := range res.Steps {
		r.Steps = append(r.Steps, stepJSON{ID: s.ID, Uses: s.Uses, Status: string(s.Status), Attempts: s.Attempts,
			DurationMS: s.Duration.Milliseconds(), Reason: s.Reason, Error: s.Error})
	}
	for _, e := range evs {
		if e.Kind == event.StepRetried {
			r.Retries = append(r.Retries, retryJSON{Step: e.Step, Attempt: e.Attempt, Error: FirstLine(e.Error)})
		}
	}
	r.UsageTable, r.LogsWithKey = findings(res)
	r.Changed = todo.Changes(evs)
	if r.Changed == nil {
		r.Changed = []todo.Change{}
	}
	r.HumanToDo = todo.FromEvents(evs)
	if r.HumanToDo == nil {
		r.HumanToDo = []string{}
	}
	return r
}

// findings are what the read-only steps found that the report must carry: a usage review's
// table and the log lines that still hold the key. The steps' outputs say which they carry.
func findings(res *engine.Result) (table string, logs []logFinding) {
	logs = []logFinding{}
	for _, s := range res.Steps {
		k, ok := catalog.Lookup(s.Uses)
		if s.Status != event.Succeeded || !ok {
			continue
		}
		// A field of the wrong type is left zero; the others still count.
		out, _ := k.DecodeOutputs(s.Outputs)
		if u, ok := out.(steps.UsageTabler); ok && u.UsageTable() != "" {
			table = strings.TrimRight(u.UsageTable(), "\n")
		}
		if l, ok := out.(steps.LogLiner); ok {
			for _, f := range l.LogLines() {
				logs = append(logs, logFinding{Step: s.ID, File: f.File, Line: f.Line, Excerpt: f.Excerpt})
			}
		}
	}
	return table, logs
}

// Markdown renders the report for people; evs are the run's events, for the timeline.
func (r Report) Markdown(evs []event.Event) string {
	var b strings.Builder
	r.mdHeader(&b)
	r.mdSteps(&b, evs)
	r.mdOutcome(&b)
	r.mdFindings(&b)
	b.WriteString("\n## What a person must still do\n\n")
	for _, t := range r.HumanToDo {
		fmt.Fprintf(&b, "- [ ] %s\n", mdEscape(t))
	}
	if len(r.LeakScanned) > 0 {
		fmt.Fprintf(&b, "\n## Leak check\n\n%d occurrence(s) of the leaked or the new key in: %s.\n", r.LeaksInOutputs, strings.Join(r.LeakScanned, ", "))
	}
	return b.String()
}

// mdHeader is the title and the run's one-line summary.
func (r Report) mdHeader(b *strings.Builder) {
	mode := r.Mode
	if r.Mode == "rehearsal" {
		if r.DryRun {
			mode += ", dry run"
		}
		if r.Chaos {
			mode += ", chaos"
		}
		if r.Seed != 0 {
			mode += fmt.Sprintf(", seed %d", r.Seed)
		}
	}
	revoke := "not revoked by this run"
	if r.revoked {
		revoke = "**" + Duration(time.Duration(r.TimeToRevokeMS)*time.Millisecond) + "**"
	}
	fmt.Fprintf(b, "# %s: %s\n\n", r.Playbook, r.Outcome)
	fmt.Fprintf(b, "Run `%s` (%s). Time to revoke %s, whole run %s.\n\n", r.RunID, mode, revoke,
		Duration(time.Duration(r.DurationMS)*time.Millisecond))
}

// mdSteps is the per-step table and the timeline of the run's events.
func (r Report) mdSteps(b *strings.Builder, evs []event.Event) {
	b.WriteString("## Steps\n\n| step | uses | status | attempts | duration |\n|---|---|---|---|---|\n")
	for _, s := range r.Steps {
		status := s.Status
		if s.Reason != "" {
			status += ": " + s.Reason
		}
		fmt.Fprintf(b, "| %s | `%s` | %s | %d | %s |\n", s.ID, s.Uses, mdEscape(status), s.Attempts, Duration(time.Duration(s.DurationMS)*time.Millisecond))
	}

	b.WriteString("\n## Timeline\n\n| at | step | what |\n|---|---|---|\n")
	var start time.Time
	for _, e := range evs {
		if e.Kind == event.RunStarted {
			start = e.Time
		}
		switch e.Kind {
		case event.StepStarted, event.StepIntent, event.StepResult:
			continue
		}
		lines := Describe(e)
		what := strings.Join(strings.Fields(strings.TrimPrefix(lines[0], e.Step)), " ")
		fmt.Fprintf(b, "| +%s | %s | %s |\n", Duration(e.Time.Sub(start)), e.Step, mdEscape(FirstLine(what)))
	}
}

// mdOutcome is what changed, the rehearsal's verifications, and the faults and retries.
func (r Report) mdOutcome(b *strings.Builder) {
	b.WriteString("\n## What changed\n\n")
	for _, c := range r.Changed {
		fmt.Fprintf(b, "- **%s**: %s\n", c.Step, mdEscape(c.What))
	}
	if len(r.Changed) == 0 {
		b.WriteString("Nothing.\n")
	}

	if len(r.Verifications) > 0 {
		b.WriteString("\n## Verifications (from the simulators' and repositories' state)\n\n")
	}
	for _, v := range r.Verifications {
		mark := "✅"
		if !v.OK {
			mark = "❌"
		}
		fmt.Fprintf(b, "- %s %s — %s\n", mark, v.Name, mdEscape(v.Detail))
	}
	if r.Chaos {
		fmt.Fprintf(b, "\n## Chaos\n\nThe simulators injected %d transient fault(s); the clients' own retries absorbed all but the %d below.\n", r.FaultsInjected, len(r.Retries))
	}
	if len(r.Retries) > 0 {
		b.WriteString("\n## Retries\n\n| step | attempt | error |\n|---|---|---|\n")
		for _, x := range r.Retries {
			fmt.Fprintf(b, "| %s | %d | %s |\n", x.Step, x.Attempt, mdEscape(x.Error))
		}
	}
}

// mdFindings is what the read-only steps found: the usage table and the log lines with the key.
func (r Report) mdFindings(b *strings.Builder) {
	if r.UsageTable != "" {
		b.WriteString("\n## Usage while exposed\n\n```\n" + strings.ReplaceAll(r.UsageTable, "```", "'''") + "\n```\n")
	}
	if len(r.LogsWithKey) == 0 {
		return
	}
	b.WriteString("\n## Logs that still hold the key\n\nSearching changes nothing: these lines are still there.\n\n| file | line | excerpt (masked) |\n|---|---|---|\n")
	for i, l := range r.LogsWithKey {
		if i == maxLogFindingsShown {
			fmt.Fprintf(b, "\n…and %d more lines: see the JSON report.\n", len(r.LogsWithKey)-i)
			break
		}
		fmt.Fprintf(b, "| %s | %d | `%s` |\n", mdEscape(l.File), l.Line, mdEscape(strings.ReplaceAll(l.Excerpt, "`", "'")))
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// WriteVerdict prints a rehearsal's verdict for the terminal: its checks, the faults injected and
// the time to revoke; unchecked are the kinds used that contribute no check of their own.
func (r Report) WriteVerdict(w io.Writer, unchecked []string) {
	if len(r.Verifications) > 0 {
		fmt.Fprintf(w, "\nverification (from the simulators' and repositories' state):\n")
	}
	for _, c := range r.Verifications {
		mark := "✓"
		if !c.OK {
			mark = "✗"
		}
		fmt.Fprintf(w, "  %s %-48s %s\n", mark, c.Name, c.Detail)
	}
	if len(unchecked) > 0 {
		fmt.Fprintf(w, "  (not checked from the world's state, judged by their own result: %s)\n", strings.Join(unchecked, ", "))
	}
	if r.Chaos || len(r.Retries) > 0 {
		fmt.Fprintf(w, "\nchaos: %d fault(s) injected, %d surfaced as step retries, all recovered\n", r.FaultsInjected, len(r.Retries))
	}
	if r.AlertToRevokeMS > 0 {
		fmt.Fprintf(w, "\nfrom GitHub's alert to the revocation: %s (webhook, alert fetched, key found and revoked; no person involved)", Duration(time.Duration(r.AlertToRevokeMS)*time.Millisecond))
	}
	if r.revoked {
		fmt.Fprintf(w, "\ntime to revoke: %s   whole run: %s\n", Duration(time.Duration(r.TimeToRevokeMS)*time.Millisecond), Duration(time.Duration(r.DurationMS)*time.Millisecond))
	}
}
