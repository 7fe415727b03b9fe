package slacksim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/slack-go/slack"
)

// Transcript renders the channel (ID or name) as a person in it sees it: each top-level message
// in its final state, with its thread indented under it, and the ephemeral messages marked with
// whom they were shown to. Blocks are rendered as text: a header as "# Title", sections and
// context as their text, buttons as [Approve], emoji shortcodes the sim knows as emoji, mentions
// as @name. `respond rehearse` prints it.
func (s *Sim) Transcript(channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupChannel(channel)
	if c == nil {
		return fmt.Sprintf("(no channel %s)\n", channel)
	}

	type entry struct {
		ts, thread, head string
		body             string
		topLevel         bool
	}
	var entries []entry
	for _, m := range s.msgs {
		if m.Channel != c.ID || m.Deleted {
			continue
		}
		head := s.userName(m.User)
		if n := len(m.History); n > 0 {
			head += fmt.Sprintf(" (edited %s)", times(n))
		}
		body := s.render(m.Text, m.Blocks)
		if m.ThreadTS != "" {
			entries = append(entries, entry{ts: m.TS, thread: m.ThreadTS, head: head, body: body})
		}
		if m.ThreadTS == "" || m.Broadcast {
			if m.Broadcast {
				head += " (reply, also sent to the channel)"
			}
			entries = append(entries, entry{ts: m.TS, head: head, body: body, topLevel: true})
		}
	}
	for _, e := range s.eph {
		if e.Channel != c.ID || e.Deleted {
			continue
		}
		head := s.userName(s.cfg.BotUserID) + ", only visible to @" + s.userName(e.User)
		if n := len(e.History); n > 0 {
			head += fmt.Sprintf(" (edited %s)", times(n))
		}
		entries = append(entries, entry{ts: e.TS, thread: e.ThreadTS, head: head,
			body: s.render(e.Text, e.Blocks), topLevel: e.ThreadTS == ""})
	}
	sort.SliceStable(entries, func(i, j int) bool { return tsLess(entries[i].ts, entries[j].ts) })

	var b strings.Builder
	fmt.Fprintf(&b, "#%s\n", c.Name)
	for _, top := range entries {
		if !top.topLevel {
			continue
		}
		fmt.Fprintf(&b, "\n[%s] %s\n", top.ts, top.head)
		writeIndented(&b, "  ", top.body)
		for _, r := range entries {
			if r.topLevel || r.thread != top.ts {
				continue
			}
			fmt.Fprintf(&b, "  | [%s] %s\n", r.ts, r.head)
			writeIndented(&b, "  |   ", r.body)
		}
	}
	return b.String()
}

// Render is the text a person sees for a message with this text and these blocks: the blocks
// when there are any (text is then only the notification), else the text.
func (s *Sim) Render(text string, blocks json.RawMessage) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.render(text, blocks)
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// tsLess orders Slack timestamps numerically (seconds may one day have more digits).
func tsLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func writeIndented(b *strings.Builder, prefix, text string) {
	for _, line := range strings.Split(text, "\n") {
		b.WriteString(strings.TrimRight(prefix+line, " "))
		b.WriteByte('\n')
	}
}

func (s *Sim) userName(id string) string {
	if u, ok := s.users[id]; ok && u.Name != "" {
		return u.Name
	}
	return id
}

func (s *Sim) render(text string, raw json.RawMessage) string {
	var bs slack.Blocks
	if len(raw) == 0 || json.Unmarshal(raw, &bs) != nil || len(bs.BlockSet) == 0 {
		return s.mrkdwn(text)
	}
	var lines []string
	for _, blk := range bs.BlockSet {
		lines = append(lines, s.renderBlock(blk)...)
	}
	return strings.Join(lines, "\n")
}

func (s *Sim) renderBlock(blk slack.Block) []string {
	switch b := blk.(type) {
	case *slack.HeaderBlock:
		return []string{"# " + s.textObj(b.Text)}
	case *slack.SectionBlock:
		var out []string
		if b.Text != nil {
			out = append(out, s.textObj(b.Text))
		}
		for _, f := range b.Fields {
			out = append(out, strings.ReplaceAll(s.textObj(f), "\n", " "))
		}
		if b.Accessory != nil {
			out = append(out, s.accessory(b.Accessory))
		}
		return out
	case *slack.ContextBlock:
		var parts []string
		for _, e := range b.ContextElements.Elements {
			switch e := e.(type) {
			case *slack.TextBlockObject:
				parts = append(parts, s.textObj(e))
			case *slack.ImageBlockElement:
				parts = append(parts, "[image: "+e.AltText+"]")
			}
		}
		return []string{strings.Join(parts, "  ")}
	case *slack.ActionBlock:
		var parts []string
		if b.Elements != nil {
			for _, e := range b.Elements.ElementSet {
				parts = append(parts, s.element(e))
			}
		}
		return []string{strings.Join(parts, " ")}
	case *slack.DividerBlock:
		return []string{"---"}
	case *slack.ImageBlock:
		return []string{"[image: " + b.AltText + "]"}
	default:
		return []string{"[" + string(blk.BlockType()) + " block]"}
	}
}

func (s *Sim) accessory(a *slack.Accessory) string {
	if a.ButtonElement != nil {
		return s.element(a.ButtonElement)
	}
	if a.ImageElement != nil {
		return "[image: " + a.ImageElement.AltText + "]"
	}
	return "[control]"
}

func (s *Sim) element(e slack.BlockElement) string {
	if btn, ok := e.(*slack.ButtonBlockElement); ok {
		return "[" + s.textObj(btn.Text) + "]"
	}
	return "[" + string(e.ElementType()) + "]"
}

func (s *Sim) textObj(t *slack.TextBlockObject) string {
	if t == nil {
		return ""
	}
	if t.Type == slack.PlainTextType {
		return emojiRe.ReplaceAllStringFunc(t.Text, emojiFor)
	}
	return s.mrkdwn(t.Text)
}

var (
	linkRe  = regexp.MustCompile(`<([^<>]+)>`)
	emojiRe = regexp.MustCompile(`:[a-z0-9_+-]+:`)
	// Slack styles *bold* and _italic_ only when the markers touch a word boundary.
	boldRe   = regexp.MustCompile(`(^|[\s(])\*([^*\n]+)\*($|[\s).,:;!?])`)
	italicRe = regexp.MustCompile(`(^|[\s(])_([^_\n]+)_($|[\s).,:;!?])`)
)

// mrkdwn turns Slack markup into what the reader sees: mentions and links resolved, emoji drawn,
// bold and italic markers dropped, entities unescaped. `code` keeps its backticks, which is how
// a reader tells an identifier from prose.
func (s *Sim) mrkdwn(text string) string {
	text = linkRe.ReplaceAllStringFunc(text, func(m string) string {
		inner := m[1 : len(m)-1]
		target, label, hasLabel := strings.Cut(inner, "|")
		switch {
		case strings.HasPrefix(target, "@"):
			if hasLabel {
				return "@" + label
			}
			return "@" + s.userName(target[1:])
		case strings.HasPrefix(target, "#"):
			if hasLabel {
				return "#" + label
			}
			if c, ok := s.chByID[target[1:]]; ok {
				return "#" + c.Name
			}
			return target
		case strings.HasPrefix(target, "!"):
			return "@" + strings.TrimPrefix(target, "!")
		case hasLabel:
			return label + " (" + target + ")"
		default:
			return target
		}
	})
	text = emojiRe.ReplaceAllStringFunc(text, emojiFor)
	for _, re := range []*regexp.Regexp{boldRe, italicRe} {
		// Twice: adjacent spans share the boundary character a single pass consumes.
		text = re.ReplaceAllString(re.ReplaceAllString(text, "$1$2$3"), "$1$2$3")
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(text)
}

// emoji are the shortcodes respond uses; others stay as :shortcode:.
var emoji = map[string]string{
	"white_check_mark":       "✅",
	"x":                      "❌",
	"hourglass_flowing_sand": "⏳",
	"raised_hand":            "✋",
	"memo":                   "📝",
	"white_circle":           "⚪",
	"fast_forward":           "⏩",
	"grey_question":          "❔",
	"no_entry":               "⛔",
	"information_source":     "ℹ️",
	"performing_arts":        "🎭",
	"rotating_light":         "🚨",
	"warning":                "⚠️",
	"key":                    "🔑",
	"lock":                   "🔒",
}

func emojiFor(code string) string {
	if e, ok := emoji[strings.Trim(code, ":")]; ok {
		return e
	}
	return code
}
