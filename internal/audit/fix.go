package audit

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps/catalog"
	"github.com/respond-sec/respond/steps/openai/orgspendalerts"
	"github.com/respond-sec/respond/steps/openai/tightenbudgets"
)

// autoFixed are the checks whose fix is safe and reversible: spend alerts and a derived project
// limit only add a ceiling and a warning, and their step kinds record what they change for
// respond rollback. Everything else (revoking keys, changing roles, the organization's limit,
// which stops every project at once) keeps its printed command for a person to decide.
var autoFixed = map[string]bool{
	"openai.project-no-hard-limit": true,
	"openai.project-no-alerts":     true,
	"openai.org-no-alerts":         true,
}

// AutoFixed reports whether `respond audit --fix` fixes findings of the check id.
func AutoFixed(id string) bool { return autoFixed[id] }

// AlertPercents are the spend alerts --fix adds, in percent of the limit they warn about (the
// built-in playbook's choice).
var AlertPercents = []int{50, 80, 100}

// percents is AlertPercents in words ("50, 80 and 100%").
func percents() string {
	var s []string
	for _, p := range AlertPercents {
		s = append(s, fmt.Sprint(p))
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1] + "%"
}

// FixFile names the fix playbook in errors and in its journal.
const FixFile = "respond-audit-fix.yaml"

// FixOptions are the choices --fix needs from a person.
type FixOptions struct {
	// AlertEmails receive the spend alerts (the API can only email them).
	AlertEmails []string
}

// FixStep is one step of the fix playbook and the findings it fixes.
type FixStep struct {
	ID       string
	Findings []Finding
}

// Fix is what `respond audit --fix` runs: a playbook of existing step kinds, one step per
// project whose budget findings it fixes and one for the organization's alerts. Running it
// through the runner gives the plan, the approval, the journal and rollback.
type Fix struct {
	Playbook *playbook.Playbook
	Steps    []FixStep
	// Held are fixable findings left alone, and why (their project's limit could not be read:
	// a derived limit might replace one that exists).
	Held []string
}

type fixDoc struct {
	Name        string    `yaml:"name"`
	Description string    `yaml:"description"`
	Steps       []fixYAML `yaml:"steps"`
}

type fixYAML struct {
	ID        string         `yaml:"id"`
	Uses      string         `yaml:"uses"`
	With      map[string]any `yaml:"with"`
	Approval  map[string]any `yaml:"approval"`
	Retry     map[string]any `yaml:"retry"`
	Timeout   string         `yaml:"timeout"`
	OnFailure string         `yaml:"on_failure"`
}

// PlanFix builds the fix playbook for rep's auto-fixed findings; its Playbook is nil when
// there is nothing to run.
func PlanFix(inv *Inventory, rep *Report, o FixOptions) (*Fix, error) {
	if len(o.AlertEmails) == 0 {
		return nil, fmt.Errorf("audit fix: spend alerts need at least one email recipient")
	}
	byProject := map[string][]Finding{}
	var order []string
	var org []Finding
	for _, f := range rep.Findings {
		switch {
		case !autoFixed[f.Check]:
		case f.Project == "":
			org = append(org, f)
		default:
			if _, seen := byProject[f.Project]; !seen {
				order = append(order, f.Project)
			}
			byProject[f.Project] = append(byProject[f.Project], f)
		}
	}
	fix := &Fix{}
	doc := fixDoc{Name: "audit-fix", Description: "Safe, reversible fixes of respond audit findings: project spend limits " +
		"derived from recent spend, project and organization spend alerts. respond rollback RUN undoes them."}
	used := map[string]bool{}
	for _, id := range order {
		p := projectOf(inv, id)
		if p == nil {
			return nil, fmt.Errorf("audit fix: finding on project %s, which the audit did not read", id)
		}
		if p.Unread["spend limit"] {
			fix.Held = append(fix.Held, fmt.Sprintf("project %s: its spend limit could not be read, so its alerts are not added", id))
			continue
		}
		st := projectFix(p, byProject[id], o)
		st.ID = uniqueID(used, "budgets_"+id)
		doc.Steps = append(doc.Steps, st)
		fix.Steps = append(fix.Steps, FixStep{ID: st.ID, Findings: byProject[id]})
	}
	if len(org) > 0 {
		st := gated(orgspendalerts.Kind.Name, org)
		st.With = map[string]any{"cents": orgAlertCents(inv), "recipients": o.AlertEmails, "subject_prefix": "[respond audit]"}
		st.ID = uniqueID(used, "org_alerts")
		doc.Steps = append(doc.Steps, st)
		fix.Steps = append(fix.Steps, FixStep{ID: st.ID, Findings: org})
	}
	if len(doc.Steps) == 0 {
		return &Fix{Held: fix.Held}, nil
	}
	src, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("audit fix: write the playbook: %w", err)
	}
	if fix.Playbook, err = playbook.Load(FixFile, src, catalog.Lookup); err != nil {
		return nil, fmt.Errorf("audit fix: the generated playbook does not load: %w", err)
	}
	return fix, nil
}

// projectFix is the tighten-budgets step of one project: the limit derived as the finding
// quotes it when there is none (the current one kept otherwise), and alerts when there are none.
func projectFix(p *ProjectInfo, fs []Finding, o FixOptions) fixYAML {
	st := gated(tightenbudgets.Kind.Name, fs)
	with := map[string]any{"project": p.ID}
	if p.Limit != nil {
		with["spend_limit_cents"] = p.Limit.Cents
	} else {
		with["derive"] = map[string]any{"factor": DeriveFactor, "floor_cents": DeriveFloorCents, "baseline_days": DeriveBaselineDays}
	}
	if slices.ContainsFunc(fs, func(f Finding) bool { return f.Check == "openai.project-no-alerts" }) {
		with["alerts"] = map[string]any{"percents": AlertPercents, "recipients": o.AlertEmails, "subject_prefix": "[respond audit]"}
	}
	st.With = with
	return st
}

// gated is a step of kind uses that asks for approval, naming the findings it fixes, and
// retries what the API marks transient like the built-in playbook's budget step.
func gated(uses string, fs []Finding) fixYAML {
	var what []string
	for _, f := range fs {
		what = append(what, f.Check)
	}
	return fixYAML{Uses: uses, Approval: map[string]any{"required": true, "message": "fixes " + strings.Join(what, ", ") + " (undo: respond rollback RUN)"},
		Retry:   map[string]any{"attempts": 4, "backoff": "exponential", "delay": "500ms", "max_delay": "10s"},
		Timeout: "2m", OnFailure: "continue"}
}

var notIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

// uniqueID is a step ID made of base's identifier characters, distinct from those used.
func uniqueID(used map[string]bool, base string) string {
	id := notIdent.ReplaceAllString(base, "_")
	for n := 2; used[id]; n++ {
		id = fmt.Sprintf("%s_%d", notIdent.ReplaceAllString(base, "_"), n)
	}
	used[id] = true
	return id
}

func projectOf(inv *Inventory, id string) *ProjectInfo {
	i := slices.IndexFunc(inv.Projects, func(p *ProjectInfo) bool { return p.ID == id })
	if i < 0 {
		return nil
	}
	return inv.Projects[i]
}

// orgAlertCents are the organization alerts --fix adds: AlertPercents of the organization's
// limit, or of the limit the audit would derive for it.
func orgAlertCents(inv *Inventory) []int64 {
	base, _ := orgLimitCents(inv)
	out := make([]int64, 0, len(AlertPercents))
	for _, p := range AlertPercents {
		out = append(out, int64(math.Ceil(float64(base)*float64(p)/100)))
	}
	return out
}

// orgLimitCents is the organization's limit, or the one derived from its last 30 days' spend
// (with that spend, in USD, when it was read).
func orgLimitCents(inv *Inventory) (cents int64, spentUSD *float64) {
	if inv.Spend != nil {
		var usd float64
		for _, v := range inv.Spend {
			usd += v
		}
		spentUSD = &usd
	}
	switch {
	case inv.OrgLimit != nil:
		return inv.OrgLimit.Cents, spentUSD
	case spentUSD != nil:
		return derivedLimitCents(*spentUSD), spentUSD
	}
	return DeriveFloorCents, nil
}
