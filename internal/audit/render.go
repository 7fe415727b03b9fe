package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/slack-go/slack/slackutilsx"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("audit: encode report: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func (r *Report) summary() string {
	c := r.Count()
	return fmt.Sprintf("%d finding(s): %d critical, %d high, %d medium, %d low · %d project(s) (%d archived), %d key(s), %d repositor(ies)",
		len(r.Findings), c[Critical], c[High], c[Medium], c[Low], r.Scope.Projects, r.Scope.ArchivedProjects, r.Scope.Keys, r.Scope.Repos)
}

// WriteText writes the report for a terminal: findings most urgent first, then every key's
// blast radius, then what could not be checked.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "respond audit · %s\n%s\n", r.GeneratedAt.Format("2006-01-02 15:04 MST"), r.summary())
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n[%s] %s\n  %s\n  rule: %s\n  fix:  %s\n", strings.ToUpper(f.Severity.String()), f.Resource, f.Detail, f.Guideline, f.Fix)
	}
	if len(r.Keys) > 0 {
		b.WriteString("\nBlast radius, key by key:\n")
		for _, k := range r.Keys {
			b.WriteString("  " + k.Line() + "\n")
		}
	}
	if len(r.Gaps) > 0 {
		b.WriteString("\nNot checked:\n")
		for _, g := range r.Gaps {
			b.WriteString("  - " + g + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the report as Markdown (for a wiki page, a CI summary or Slack).
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# respond audit, %s\n\n%s\n", r.GeneratedAt.Format("2006-01-02 15:04 MST"), r.summary())
	if len(r.Findings) > 0 {
		b.WriteString("\n| severity | resource | what | rule | fix |\n|---|---|---|---|---|\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` |\n", f.Severity, cell(f.Resource), cell(f.Detail), cell(f.Guideline), cell(f.Fix))
		}
	}
	if len(r.Keys) > 0 {
		b.WriteString("\n## Blast radius\n\n")
		for _, k := range r.Keys {
			b.WriteString("- " + cell(k.Line()) + "\n")
		}
	}
	if len(r.Gaps) > 0 {
		b.WriteString("\n## Not checked\n\n")
		for _, g := range r.Gaps {
			b.WriteString("- " + cell(g) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

// SlackTextLimit keeps the Slack summary under the 40,000 characters past which chat.postMessage
// truncates a message's text.
const SlackTextLimit = 38000

// SlackText is the Markdown summary for Slack's mrkdwn (no tables, which Slack does not draw):
// the counts, then each finding most urgent first with its fix, as many as fit in
// SlackTextLimit, then how many keys and gaps the full report has. Slack's control characters
// are escaped; the caller masks secrets.
func (r *Report) SlackText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "*respond audit, %s*\n%s\n", r.GeneratedAt.Format("2006-01-02 15:04 MST"), slackutilsx.EscapeMessage(r.summary()))
	tail := fmt.Sprintf("\n%d key(s) have a blast-radius line and %d item(s) could not be checked: run `respond audit` for the full report.", len(r.Keys), len(r.Gaps))
	for i, f := range r.Findings {
		item := fmt.Sprintf("\n• *%s* %s\n    %s\n    fix: `%s`\n", strings.ToUpper(f.Severity.String()), slackutilsx.EscapeMessage(f.Resource),
			slackutilsx.EscapeMessage(f.Detail), slackutilsx.EscapeMessage(strings.ReplaceAll(f.Fix, "`", "'")))
		if b.Len()+len(item)+len(tail)+80 > SlackTextLimit {
			fmt.Fprintf(&b, "\n… and %d more finding(s).\n", len(r.Findings)-i)
			break
		}
		b.WriteString(item)
	}
	b.WriteString(tail)
	return b.String()
}
