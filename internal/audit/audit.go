// Package audit owns `respond audit`: a read-only measure of how bad the next leak of an OpenAI
// key would be. It reads the organization once (projects, keys, budgets, rate limits and, with a
// GitHub token, repositories, secret-scanning alerts and Actions secrets), runs checks that are
// data (Checks), and reports findings — each with a severity, the resource, the guideline it
// breaks, the exact fix — and one blast-radius line per key.
package audit

import (
	"fmt"
	"strings"
	"time"
)

// Severity orders findings; --fail-on compares against it.
type Severity int

// Severities, lowest first.
const (
	Low Severity = iota + 1
	Medium
	High
	Critical
)

var severityNames = map[Severity]string{Low: "low", Medium: "medium", High: "high", Critical: "critical"}

func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText writes the name, so JSON reports say "high", not 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseSeverity reads a severity name; "any" is the lowest.
func ParseSeverity(v string) (Severity, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "any" {
		return Low, nil
	}
	for s, n := range severityNames {
		if n == v {
			return s, nil
		}
	}
	return 0, fmt.Errorf("severity %q: want any, low, medium, high or critical", v)
}

// Finding is one broken guideline on one resource.
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Resource names what is wrong ("key key_abc (\"ci\") in project proj_x").
	Resource string `json:"resource"`
	// Guideline is the rule broken, in one sentence.
	Guideline string `json:"guideline"`
	// Detail is what was seen ("never expires; last used 3 days ago").
	Detail string `json:"detail"`
	// Fix is the exact thing to do: a respond command where one exists, else the API call.
	Fix string `json:"fix"`
	// Project is the OpenAI project concerned, when there is one (for --fix).
	Project string `json:"project,omitempty"`
}

// KeyBlast is what one key could do in the wrong hands.
type KeyBlast struct {
	KeyID    string `json:"key_id"`
	Name     string `json:"name"`
	Project  string `json:"project"`
	Owner    string `json:"owner"`
	Role     string `json:"role"`
	Scopes   string `json:"scopes"`
	SpendCap string `json:"spend_cap"`
	LastUsed string `json:"last_used"`
	Expires  string `json:"expires"`
}

// Line is the blast radius in one line.
func (k KeyBlast) Line() string {
	return fmt.Sprintf("%s %q · project %s · owner %s (%s) · scopes: %s · spend cap: %s · last used %s · expires %s",
		k.KeyID, k.Name, k.Project, k.Owner, k.Role, k.Scopes, k.SpendCap, k.LastUsed, k.Expires)
}

// Report is the audit's result.
type Report struct {
	GeneratedAt time.Time  `json:"generated_at"`
	Scope       Scope      `json:"scope"`
	Findings    []Finding  `json:"findings"`
	Keys        []KeyBlast `json:"keys"`
	// Gaps are what could not be checked, and why; a report with gaps is not a clean bill.
	Gaps []string `json:"gaps"`
}

// Scope is how much was looked at.
type Scope struct {
	Projects         int      `json:"projects"`
	ArchivedProjects int      `json:"archived_projects"`
	Keys             int      `json:"keys"`
	Repos            int      `json:"repos"`
	GitHub           []string `json:"github,omitempty"` // the org and repos given
}

// Worst is the highest severity among the findings (0 when there are none).
func (r *Report) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w
}

// Count returns how many findings have each severity.
func (r *Report) Count() map[Severity]int {
	out := map[Severity]int{}
	for _, f := range r.Findings {
		out[f.Severity]++
	}
	return out
}
