package slack

import (
	"fmt"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
)

// SummaryView is the run's final summary, posted in the thread (and linked from the parent
// message). Strings must be redacted.
type SummaryView struct {
	Title    string
	Playbook string
	RunID    string
	Mode     Mode
	Outcome  string // shown as given
	Tone     Tone   // how Outcome is marked
	Duration time.Duration
	// TimeToRevoke is from the start of the run to the leaked key's revocation; 0 means the key
	// was not revoked by this run.
	TimeToRevoke time.Duration
	// NoRevocation says the playbook revokes nothing (an exec playbook, a search-only one): the
	// summary then says nothing about revocation rather than "NOT REVOKED".
	NoRevocation bool
	// Facts are further figures shown side by side: exposure window, spend in the window…
	Facts []Fact
	// Changed lists what the run changed, one item each ("revoked key_abc in proj_123").
	Changed []string
	// NeedsHuman lists what is left for a person ("GitHub still serves PR #12's diff").
	NeedsHuman []string
	// Report is where the full report is (a path or URL), optional.
	Report string
}

// maxFactSections caps the figures shown (10 per section); the rest are counted.
const maxFactSections = 2

// Fact is one labelled figure of the summary.
type Fact struct{ Label, Value string }

// Summary builds the final summary message: outcome, time to revoke, what changed and what needs
// a human.
func Summary(v SummaryView) Message {
	title := v.Title
	if title == "" {
		title = "Run summary"
	}
	blocks := []Block{header("summary_header", title)}

	status := outcomeEmoji(v.Tone) + " *Run " + escape(orDash(v.Outcome)) + "*"
	if v.Duration > 0 {
		status += " in " + FormatDuration(v.Duration)
	}
	status += "  ·  " + modeBadge(v.Mode)
	blocks = append(blocks, section("summary_status", status))

	facts := v.Facts
	if !v.NoRevocation {
		facts = append([]Fact{{Label: "Time to revoke", Value: revokeText(v)}}, v.Facts...)
	}
	fields := make([]*slackgo.TextBlockObject, 0, len(facts))
	for _, f := range facts {
		fields = append(fields, mrkdwn("*"+escapeLimit(f.Label, maxNote)+"*\n"+escapeLimit(f.Value, maxFieldText-maxNote-10)))
	}
	for i := 0; i < len(fields) && i < maxFactSections*maxFields; i += maxFields {
		chunk := fields[i:min(i+maxFields, len(fields))]
		blocks = append(blocks, slackgo.NewSectionBlock(nil, chunk, nil,
			slackgo.SectionBlockOptionBlockID(fmt.Sprintf("summary_facts_%d", i/maxFields))))
	}
	if n := len(fields) - maxFactSections*maxFields; n > 0 {
		blocks = append(blocks, slackgo.NewContextBlock("summary_facts_more", mrkdwn(fmt.Sprintf("…and %d more figures, see the report", n))))
	}

	blocks = append(blocks, bulletSections("summary_changed", "What changed", v.Changed, "Nothing was changed.")...)
	needs := "Needs a human"
	if len(v.NeedsHuman) > 0 {
		needs = ":warning: " + needs
	}
	blocks = append(blocks, bulletSections("summary_needs_human", needs, v.NeedsHuman, "Nothing is left for a human.")...)

	ctx := []string{"*Run:* `" + code(v.RunID) + "`", "*Playbook:* `" + code(v.Playbook) + "`"}
	if v.Report != "" {
		ctx = append(ctx, "*Report:* "+escape(v.Report))
	}
	blocks = append(blocks, slackgo.NewContextBlock("summary_context", mrkdwn(strings.Join(ctx, "  ·  "))))

	return Message{Text: summaryFallback(v, title), Blocks: blocks}
}

func revokeText(v SummaryView) string {
	switch {
	case v.TimeToRevoke > 0:
		return FormatDuration(v.TimeToRevoke)
	case v.Mode == DryRun:
		return "not revoked (dry run)"
	default:
		return "NOT REVOKED"
	}
}

func summaryFallback(v SummaryView, title string) string {
	var b strings.Builder
	b.WriteString(modePrefix(v.Mode))
	fmt.Fprintf(&b, "%s %s: %s", outcomeEmoji(v.Tone), escapeLimit(firstLine(title), maxHeaderText), escape(orDash(v.Outcome)))
	switch {
	case v.NoRevocation:
	case v.TimeToRevoke > 0:
		fmt.Fprintf(&b, "; key revoked %s after the start", FormatDuration(v.TimeToRevoke))
	default:
		b.WriteString("; key " + revokeText(v))
	}
	fmt.Fprintf(&b, "; %s; %s", plural(len(v.Changed), "change", "changes"),
		plural(len(v.NeedsHuman), "item needs a human", "items need a human"))
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
