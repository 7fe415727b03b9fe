package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps/openai/tightenbudgets"
)

// Check is one guideline and how to find what breaks it. The runner fills each finding's
// Check, Severity and Guideline from here, so a check only says where and what.
type Check struct {
	ID        string
	Severity  Severity
	Guideline string
	Find      func(inv *Inventory, o Options) []Finding
}

// Options tune the checks.
type Options struct {
	// UnusedDays: a key unused this long is a revocation candidate (default 90).
	UnusedDays int
	// SecretMaxAgeDays: an OpenAI-looking Actions secret not updated this long is stale
	// (default 90).
	SecretMaxAgeDays int
}

func (o Options) withDefaults() Options {
	o.UnusedDays = cmp.Or(o.UnusedDays, 90)
	o.SecretMaxAgeDays = cmp.Or(o.SecretMaxAgeDays, 90)
	return o
}

// Checks is every check, most urgent first. Each entry's guideline is what the finding prints.
var Checks = []Check{
	{"github.open-openai-alert", Critical,
		"An OpenAI key GitHub found in a repository is a leak in progress until it is revoked and the alert closed.", findOpenAlerts},
	{"openai.archived-project-live-key", High,
		"An archived project should hold no live key: nobody watches it, and its keys still work.", findArchivedKeys},
	{"openai.project-no-hard-limit", High,
		"Every project needs a hard monthly spend limit, so a leaked key's bill stops at a number you chose.", findNoHardLimit},
	{"openai.org-no-hard-limit", High,
		"The organization needs a hard monthly spend limit as the safety net over every project.", findOrgNoLimit},
	{"github.secret-scanning-off", High,
		"Secret scanning must be on in every repository, so a committed key is reported within minutes.", findScanningOff},
	{"openai.service-account-owner", High,
		"A service account needs the member role at most; an owner service account's key can manage the project.", findOwnerServiceAccounts},
	{"openai.project-no-alerts", Medium,
		"Every project needs spend alerts, so someone hears about abuse before the hard limit stops production.", findNoAlerts},
	{"openai.org-no-alerts", Medium,
		"The organization needs spend alerts, so finance and security hear about a spike across all projects.", findOrgNoAlerts},
	{"github.push-protection-off", Medium,
		"Push protection must be on, so a key is refused at git push instead of reported after it is public.", findPushProtectionOff},
	{"openai.user-key", Medium,
		"Production keys belong to service accounts, not people: a person's key outlives their job and follows their permissions.", findUserKeys},
	{"openai.key-no-expiry", Medium,
		"Every key should expire, so a copy nobody knows about stops working on its own.", findNoExpiry},
	{"github.stale-openai-secret", Medium,
		"An OpenAI key stored as an Actions secret should be rotated at least every 90 days.", findStaleSecrets},
	{"openai.key-unused", Low,
		"A key nobody has used for months is pure risk: revoke it.", findUnusedKeys},
	{"openai.rate-limits-at-maximum", Low,
		"Rate limits lowered to what a project needs cap how fast a leaked key can spend.", findRateLimitsAtMax},
}

// Run runs every check on the inventory and builds the report.
func Run(inv *Inventory, o Options) *Report {
	o = o.withDefaults()
	r := &Report{GeneratedAt: inv.Now, Findings: []Finding{}}
	for _, c := range Checks {
		for _, f := range c.Find(inv, o) {
			f.Check, f.Severity, f.Guideline = c.ID, c.Severity, c.Guideline
			r.Findings = append(r.Findings, f)
		}
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	r.Gaps = slices.Clone(inv.Gaps)
	r.Keys = blastRadius(inv)
	r.Scope = scopeOf(inv)
	r.Gaps = append(r.Gaps, "key scopes: the admin API does not return a key's permissions (the published ProjectApiKey has no scopes), "+
		"so keys with every permission cannot be told from restricted ones; blast-radius lines say \"not readable\"")
	slices.Sort(r.Gaps)
	return r
}

func scopeOf(inv *Inventory) Scope {
	var s Scope
	for _, p := range inv.Projects {
		s.Projects++
		if p.Status == "archived" {
			s.ArchivedProjects++
		}
		s.Keys += len(p.Keys)
	}
	if inv.GitHub != nil {
		s.Repos = len(inv.GitHub.Repos)
	}
	return s
}

// ---- helpers shared by the checks ----

const adminAPI = "https://api.openai.com/v1/organization"

// apiCall is a copy-pasteable admin API call; OPENAI_ADMIN_KEY stays in the environment.
func apiCall(method, path, body string) string {
	s := fmt.Sprintf(`curl -sS -X %s %s%s -H "Authorization: Bearer $OPENAI_ADMIN_KEY"`, method, adminAPI, path)
	if body != "" {
		s += ` -H "Content-Type: application/json" -d '` + body + `'`
	}
	return s
}

func keyResource(p *ProjectInfo, k openai.ProjectKey) string {
	return fmt.Sprintf("key %s (%q) in project %s (%s)", k.ID, k.Name, p.ID, p.Name)
}

func ownerOf(k openai.ProjectKey) string {
	switch {
	case k.OwnerType == openai.OwnerUser && k.OwnerEmail != "":
		return "user " + k.OwnerEmail
	case k.OwnerType == openai.OwnerServiceAccount:
		return fmt.Sprintf("service account %s (%s)", k.OwnerName, k.OwnerID)
	}
	return cmp.Or(k.OwnerType, "unknown") + " " + k.OwnerID
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.Format("2006-01-02")
	case d < 24*time.Hour:
		return t.Format("2006-01-02") + " (today)"
	default:
		return fmt.Sprintf("%s (%d days ago)", t.Format("2006-01-02"), int(d.Hours()/24))
	}
}

func dollars(cents int64) string { return fmt.Sprintf("$%.2f", float64(cents)/100) }

// derivedLimitCents is the limit `openai.tighten-budgets` derives with the fix's settings
// (DeriveFactor × the last 30 days' spend, whole dollars up, at least DeriveFloorCents): the
// step's own arithmetic, so the finding, the --fix plan and the limit set agree.
func derivedLimitCents(usd float64) int64 {
	return tightenbudgets.DerivedCents(usd, DeriveBaselineDays, DeriveFactor, DeriveFloorCents)
}

// keys yields every live key of every project whose keys were read.
func keys(inv *Inventory, fn func(p *ProjectInfo, k openai.ProjectKey)) {
	for _, p := range inv.Projects {
		for _, k := range p.Keys {
			if k.ExpiresAt.IsZero() || k.ExpiresAt.After(inv.Now) {
				fn(p, k)
			}
		}
	}
}

func leakCommand(p *ProjectInfo, k openai.ProjectKey) string {
	return fmt.Sprintf("respond run openai-key-leak --input key=%s --input project=%s --input secret_file=./%s.key", k.ID, p.ID, k.ID)
}

// spendCap is a project's cap in words.
func spendCap(inv *Inventory, p *ProjectInfo) string {
	switch {
	case p.Unread["spend limit"]:
		return "unknown (not readable)"
	case p.Limit != nil:
		return dollars(p.Limit.Cents) + "/month"
	case inv.OrgLimit != nil:
		return "uncapped (only the organization's " + dollars(inv.OrgLimit.Cents) + "/month)"
	}
	return "uncapped"
}

// How a missing limit is derived in the fix text, the way openai.tighten-budgets derives one: DeriveFactor × the last 30 days' spend, in whole dollars, at least the floor.
const (
	DeriveFactor       = 1.5
	DeriveFloorCents   = int64(10000)
	DeriveBaselineDays = 30
)
