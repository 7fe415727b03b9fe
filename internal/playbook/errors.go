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
