package doctor

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report as a person reads it: one line per check under its service, with
// the steps that need it, and the fix under every line that is not ✓.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "respond doctor: what playbook %s needs, checked read-only with the credentials in this environment\n", r.Playbook)
	service := ""
	for _, c := range r.Checks {
		if c.Service != service {
			service = c.Service
			fmt.Fprintf(&b, "\n%s\n", service)
		}
		line := "  " + c.Status.Mark() + " " + c.Name
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		fmt.Fprintf(&b, "%s  [%s]\n", line, strings.Join(c.Steps, ", "))
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(&b, "      fix: %s\n", c.Fix)
		}
	}
	if len(r.Checks) == 0 {
		b.WriteString("\nthe playbook's steps use no OpenAI, GitHub or Slack credential: nothing to check\n")
	}
	b.WriteString("\n")
	switch {
	case r.Failed > 0:
		fmt.Fprintf(&b, "%d check(s) failed (✗): a run would fail at the steps shown; fix them before an incident.\n", r.Failed)
	default:
		b.WriteString("no check failed.\n")
	}
	b.WriteString("✓ checked and allowed · ✗ missing, invalid or refused · ! works, with a warning · ? cannot be checked read-only\n")
	_, err := io.WriteString(w, b.String())
	return err
}
