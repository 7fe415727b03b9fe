package slack

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
)

// Mode is how a run's messages are badged. It is a presentation, not a name: the caller maps its
// own run modes onto it.
type Mode int

// The badges.
const (
	Live      Mode = iota // changes real systems
	DryRun                // plans only; nothing is changed
	Rehearsal             // against simulated systems
)

// Tone is how a finished run's outcome is marked; the outcome's text is shown as given.
type Tone int

// The marks.
const (
	Neutral Tone = iota // :information_source:
	Good                // :white_check_mark:
	Bad                 // :x:
	Stopped             // :no_entry: (cancelled, denied)
)

// Step statuses, as StepView.Status. They match internal/event's Status values.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusWaiting   = "waiting" // for an approval
	StatusPlanned   = "planned" // dry run: the plan was made, nothing ran
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// Slack's documented Block Kit limits that respond's content can reach.
const (
	maxHeaderText  = 150
	maxSectionText = 3000
	maxFieldText   = 2000
	maxFields      = 10
	maxNote        = 300
	// A message holds at most 50 blocks: these caps keep every builder well under it.
	maxStepSections = 40
	maxListSections = 5
)

// RunView is what the run's parent message shows. Every string must already be redacted; the
// builders escape Slack's control characters (& < >) but cannot know a secret.
type RunView struct {
	Title     string // e.g. "Leaked OpenAI API key sk-proj-…abcd"
	Playbook  string
	RunID     string
	StartedBy string // a Slack user ID (U…/W…, shown as a mention) or a name
	Mode      Mode
	Steps     []StepView
	Outcome   string // "" while the run is going; else the outcome, shown as given
	Tone      Tone   // how Outcome is marked
}

// StepView is one line of the run's checklist.
type StepView struct {
	ID       string
	Uses     string
	Status   string // a Status… value
	Duration time.Duration
	Note     string // one short line: "key_abc revoked", "3 repos to purge"
}

// RunMessage builds the run's parent message: title, who started it and how, the step checklist
// with status and duration, and where the run stands. It is posted once and then passed to
// Update as the run progresses.
func RunMessage(v RunView) Message {
	var blocks []Block
	blocks = append(blocks, header("run_header", v.Title))

	var meta []string
	if v.Playbook != "" {
		meta = append(meta, "*Playbook:* `"+code(v.Playbook)+"`")
	}
	if v.RunID != "" {
		meta = append(meta, "*Run:* `"+code(v.RunID)+"`")
	}
	if v.StartedBy != "" {
		meta = append(meta, "*Started by:* "+mention(v.StartedBy))
	}
	metaElems := []slackgo.MixedElement{mrkdwn(modeBadge(v.Mode))}
	if len(meta) > 0 {
		metaElems = append([]slackgo.MixedElement{mrkdwn(strings.Join(meta, "  ·  "))}, metaElems...)
	}
	blocks = append(blocks, slackgo.NewContextBlock("run_meta", metaElems...))

	lines := make([]string, 0, len(v.Steps))
	for _, s := range v.Steps {
		lines = append(lines, stepLine(s))
	}
	for i, chunk := range chunkLinesMax(lines, maxSectionText, maxStepSections, func(n int) string {
		return fmt.Sprintf("_…and %d more steps_", n)
	}) {
		blocks = append(blocks, section(fmt.Sprintf("run_steps_%d", i), chunk))
	}

	done, current := progress(v.Steps)
	progressText := fmt.Sprintf("%d of %d steps finished", done, len(v.Steps))
	if v.Outcome == "" {
		state := ":hourglass_flowing_sand: *Running*"
		if current.Status == StatusWaiting {
			state = ":raised_hand: *Waiting for approval* of `" + code(current.ID) + "`"
		}
		blocks = append(blocks, slackgo.NewContextBlock("run_status", mrkdwn(state+"  ·  "+progressText)))
	} else {
		blocks = append(blocks, slackgo.NewDividerBlock(),
			section("run_status", outcomeEmoji(v.Tone)+" *Run "+escape(v.Outcome)+"*  ·  "+progressText))
	}

	return Message{Text: runFallback(v, done, current), Blocks: blocks}
}

func runFallback(v RunView, done int, current StepView) string {
	var b strings.Builder
	b.WriteString(modePrefix(v.Mode))
	b.WriteString(escapeLimit(firstLine(orDefault(v.Title, "respond run")), maxHeaderText))
	switch {
	case v.Outcome != "":
		fmt.Fprintf(&b, ": %s %s", outcomeEmoji(v.Tone), escape(v.Outcome))
	case current.Status == StatusWaiting:
		fmt.Fprintf(&b, ": waiting for approval of %s", escape(current.ID))
	case current.ID != "":
		fmt.Fprintf(&b, ": running %s", escape(current.ID))
	default:
		b.WriteString(": starting")
	}
	fmt.Fprintf(&b, " (%d/%d steps finished)", done, len(v.Steps))
	return b.String()
}

// progress counts finished steps and finds the one in hand (the first running or waiting step).
func progress(steps []StepView) (done int, current StepView) {
	for _, s := range steps {
		switch s.Status {
		case StatusSucceeded, StatusFailed, StatusSkipped, StatusPlanned:
			done++
		case StatusRunning, StatusWaiting:
			if current.ID == "" {
				current = s
			}
		}
	}
	return done, current
}

func stepLine(s StepView) string {
	line := statusEmoji(s.Status) + " *" + escape(s.ID) + "*"
	if s.Uses != "" {
		line += "  `" + code(s.Uses) + "`"
	}
	if s.Duration > 0 {
		line += "  " + FormatDuration(s.Duration)
	}
	if s.Status == StatusWaiting {
		line += "  _waiting for approval_"
	}
	if s.Note != "" {
		line += "  — " + escapeLimit(firstLine(s.Note), maxNote)
	}
	return line
}

func statusEmoji(status string) string {
	switch status {
	case StatusPending:
		return ":white_circle:"
	case StatusRunning:
		return ":hourglass_flowing_sand:"
	case StatusWaiting:
		return ":raised_hand:"
	case StatusPlanned:
		return ":memo:"
	case StatusSucceeded:
		return ":white_check_mark:"
	case StatusFailed:
		return ":x:"
	case StatusSkipped:
		return ":fast_forward:"
	default:
		return ":grey_question:"
	}
}

func outcomeEmoji(t Tone) string {
	switch t {
	case Good:
		return ":white_check_mark:"
	case Bad:
		return ":x:"
	case Stopped:
		return ":no_entry:"
	default:
		return ":information_source:"
	}
}

func modeBadge(mode Mode) string {
	switch mode {
	case DryRun:
		return ":memo: *Dry run*: nothing is changed"
	case Rehearsal:
		return ":performing_arts: *Rehearsal*: simulated systems"
	default:
		return ":rotating_light: *Live run*"
	}
}

func modePrefix(mode Mode) string {
	switch mode {
	case DryRun:
		return "[dry run] "
	case Rehearsal:
		return "[rehearsal] "
	default:
		return ""
	}
}

// FormatDuration renders d the way the checklist shows it: 340ms, 1.2s, 42s, 2m05s, 1h02m.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute-time.Second/2: // so 59.7s reads 1m00s, not 60s
		return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

var userIDRe = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// mention shows a Slack user ID as a mention (Slack renders the person's name) and anything
// else as escaped text.
func mention(who string) string {
	if userIDRe.MatchString(who) {
		return "<@" + who + ">"
	}
	return escape(who)
}

// escape makes user content inert in mrkdwn: Slack only requires & < > to be escaped.
func escape(s string) string { return slackutilsx.EscapeMessage(s) }

// escapeLimit escapes s and cuts it to at most limit runes (ending in "…" when cut) without
// splitting an entity such as &amp;.
func escapeLimit(s string, limit int) string {
	e := escape(s)
	if runes(e) <= limit {
		return e
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece := escape(string(r))
		if n+runes(piece) > limit-1 {
			break
		}
		b.WriteString(piece)
		n += runes(piece)
	}
	return b.String() + "…"
}

// code is escape for text inside backticks, which cannot contain a backtick.
func code(s string) string { return escape(strings.ReplaceAll(s, "`", "'")) }

func mrkdwn(text string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, text, false, false)
}

func plain(text string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, text, true, false)
}

func header(blockID, text string) Block {
	text = orDefault(text, "respond run")
	return slackgo.NewHeaderBlock(plain(truncate(firstLine(text), maxHeaderText)), slackgo.HeaderBlockOptionBlockID(blockID))
}

func section(blockID, text string) *slackgo.SectionBlock {
	return slackgo.NewSectionBlock(mrkdwn(truncate(text, maxSectionText)), nil, nil, slackgo.SectionBlockOptionBlockID(blockID))
}

// bulletSections renders items as a bulleted list under a bold title, split into as many
// sections as Slack's per-section limit needs; empty says what to show when there are none.
func bulletSections(blockID, title string, items []string, empty string) []Block {
	if len(items) == 0 {
		return []Block{section(blockID, "*"+title+"*\n_"+empty+"_")}
	}
	lines := make([]string, 0, len(items)+1)
	lines = append(lines, "*"+title+"*")
	for _, it := range items {
		lines = append(lines, "• "+escapeLimit(it, maxNote*2))
	}
	var out []Block
	for i, chunk := range chunkLinesMax(lines, maxSectionText, maxListSections, func(n int) string {
		return fmt.Sprintf("_…and %d more, see the report_", n)
	}) {
		id := blockID
		if i > 0 {
			id = fmt.Sprintf("%s_%d", blockID, i)
		}
		out = append(out, section(id, chunk))
	}
	return out
}

// chunkLinesMax joins lines with "\n" into chunks of at most limit runes each, keeping at most
// maxChunks chunks (Slack allows 50 blocks per message); when lines do not fit, the last chunk
// ends with more(number of lines left out).
func chunkLinesMax(lines []string, limit, maxChunks int, more func(int) string) []string {
	var chunks [][]string
	var cur []string
	n := 0
	for _, l := range lines {
		l = truncate(l, limit)
		ln := utf8.RuneCountInString(l)
		if len(cur) > 0 && n+1+ln > limit {
			chunks = append(chunks, cur)
			cur, n = nil, 0
		}
		if len(cur) > 0 {
			n++
		}
		cur = append(cur, l)
		n += ln
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	if len(chunks) > maxChunks {
		dropped := 0
		for _, c := range chunks[maxChunks:] {
			dropped += len(c)
		}
		chunks = chunks[:maxChunks]
		last := chunks[maxChunks-1]
		for len(last) > 1 && runes(strings.Join(last, "\n"))+1+runes(more(dropped+1)) > limit {
			last, dropped = last[:len(last)-1], dropped+1
		}
		chunks[maxChunks-1] = append(last, more(dropped))
	}
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = strings.Join(c, "\n")
	}
	return out
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-1]) + "…"
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
