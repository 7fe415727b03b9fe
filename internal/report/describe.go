package report

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/steps"
)

// Duration is how respond writes a duration for people: milliseconds under a second, tenths of
// seconds under a minute, whole seconds beyond.
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// FullTime is how respond writes a moment for people. Times a person reads are UTC and say so: a
// Slack thread, a log and an API all agree on UTC, and a shared incident timeline cannot depend on
// who printed it.
func FullTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// Describe renders an event as text lines: the first is the event, the rest its details.
func Describe(e event.Event) []string {
	step := func(verb string) string {
		s := fmt.Sprintf("%-18s %-10s %s", e.Step, verb, e.Uses)
		if e.Duration > 0 {
			s += " (" + Duration(time.Duration(e.Duration)) + ")"
		}
		return s
	}
	switch e.Kind {
	case event.RunStarted:
		return []string{fmt.Sprintf("run %s started: %s at %s (times are UTC)", e.RunID, e.Message, FullTime(e.Time))}
	case event.RunResumed:
		return []string{fmt.Sprintf("run %s resumed: %s at %s (times are UTC)", e.RunID, e.Message, FullTime(e.Time))}
	case event.SlackThread:
		return []string{"progress posted in Slack " + e.Message}
	case event.RunFinished:
		l := fmt.Sprintf("run %s finished: %s in %s", e.RunID, e.Message, Duration(time.Duration(e.Duration)))
		if e.Error != "" {
			return []string{l, "error: " + e.Error}
		}
		return []string{l}
	case event.StepStarted:
		return []string{step("started")}
	case event.StepPlanned:
		lines := []string{step("planned") + ": " + e.Message}
		return append(lines, PlanLines(e.Data["plan"])...)
	case event.StepIntent:
		return []string{step("intent") + ": " + e.Message}
	case event.StepResult:
		if e.Error != "" {
			return []string{step("result") + ": " + FirstLine(e.Error)}
		}
		return []string{step("result") + ": " + e.Message}
	case event.StepLog:
		lines := strings.Split(e.Message, "\n")
		out := []string{fmt.Sprintf("%-18s %-10s %s", e.Step, "·", lines[0])}
		for _, l := range lines[1:] {
			out = append(out, fmt.Sprintf("%-18s %-10s %s", "", "", l))
		}
		return out
	case event.StepRetried:
		return []string{step("retry") + ": " + e.Message, "  after: " + FirstLine(e.Error)}
	case event.StepReconciled:
		return []string{step("reconcile") + ": " + e.Message}
	case event.ApprovalWaiting:
		return []string{step("waiting") + ": approval needed"}
	case event.StepApproved:
		return []string{step("approved") + ": by " + e.Message}
	case event.StepDenied:
		return []string{step("denied") + ": by " + e.Message}
	case event.StepSkipped:
		return []string{step("skipped") + ": " + e.Message}
	case event.StepSucceeded:
		return []string{step("ok")}
	case event.StepFailed:
		lines := strings.Split(e.Error, "\n")
		out := []string{step("FAILED") + ": " + lines[0]}
		for _, l := range lines[1:] {
			out = append(out, "  "+l)
		}
		return out
	}
	return []string{fmt.Sprintf("%s %s %s", e.Kind, e.Step, e.Message)}
}

// PlanLines renders a plan's actions, one per line, with their parameters.
func PlanLines(v any) []string {
	var p steps.Plan
	b, err := json.Marshal(v)
	if err != nil || json.Unmarshal(b, &p) != nil {
		return nil
	}
	var out []string
	for _, a := range p.Actions {
		l := "  → " + strings.TrimSpace(a.Method+" "+a.Target)
		if len(a.Params) > 0 {
			l += " " + formatParams(a.Params)
		}
		if a.Note != "" {
			l += "  # " + a.Note
		}
		out = append(out, l)
	}
	return out
}

func formatParams(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		b, _ := json.Marshal(m[k])
		parts[i] = k + "=" + string(b)
	}
	return strings.Join(parts, " ")
}
