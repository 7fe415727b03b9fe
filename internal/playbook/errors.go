package playbook

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a playbook, at a position in its source.
type Error struct {
	File    string
	Line    int
	Col     int
	Msg     string
	snippet string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	if e.snippet != "" {
		b.WriteString("\n")
		b.WriteString(e.snippet)
	}
	return b.String()
}

// Errors is every problem found in one playbook, in source order.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// snippet renders the lines around line with a caret under col, so the reader sees the problem
// without opening the file.
func snippet(src []byte, line, col int) string {
	if line <= 0 {
		return ""
	}
	lines := strings.Split(string(src), "\n")
	if line > len(lines) {
		return ""
	}
	var b strings.Builder
	width := len(fmt.Sprint(min(line+1, len(lines))))
	for n := max(1, line-1); n <= min(len(lines), line+1); n++ {
		text := strings.TrimRight(lines[n-1], "\r")
		if n == len(lines) && text == "" {
			break
		}
		marker := " "
		if n == line {
			marker = ">"
		}
		fmt.Fprintf(&b, "%s %*d | %s\n", marker, width, n, text)
		if n == line && col > 0 {
			pad := strings.Repeat(" ", width)
			// Keep tabs so the caret lines up under tab-indented text too.
			lead := []rune(text)
			var indent strings.Builder
			for i := 0; i < col-1 && i < len(lead); i++ {
				if lead[i] == '\t' {
					indent.WriteByte('\t')
				} else {
					indent.WriteByte(' ')
				}
			}
			fmt.Fprintf(&b, "  %s | %s^\n", pad, indent.String())
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

type collector struct {
	file string
	src  []byte
	errs Errors
}

func (c *collector) add(line, col int, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...),
		snippet: snippet(c.src, line, col)})
}

func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	sort.SliceStable(c.errs, func(i, j int) bool {
		if c.errs[i].Line != c.errs[j].Line {
			return c.errs[i].Line < c.errs[j].Line
		}
		return c.errs[i].Col < c.errs[j].Col
	})
	return c.errs
}

// suggest returns the candidate closest to word when it is a likely typo (edit distance at most
// 2, or a quarter of a long word), for "did you mean" hints.
func suggest(word string, candidates []string) string {
	best, bestD := "", max(2, len(word)/4)+1
	for _, c := range candidates {
		if d := distance(word, c); d < bestD && d*2 <= max(len(word), 2) {
			best, bestD = c, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
