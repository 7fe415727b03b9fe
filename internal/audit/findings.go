package audit

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps/openai/findkey"
)

func findOpenAlerts(inv *Inventory, _ Options) []Finding {
	if inv.GitHub == nil {
		return nil
	}
	var out []Finding
	for _, a := range inv.GitHub.Alerts {
		f := Finding{Resource: fmt.Sprintf("secret-scanning alert #%d in %s", a.Number, a.Repo),
			Detail: fmt.Sprintf("open since %s: %s", ago(inv.Now, a.CreatedAt), a.HTMLURL)}
		if p, k, ok := matchAlert(inv, a); ok {
			f.Detail += fmt.Sprintf("; the key is %s in project %s, still live", k.ID, p.ID)
			f.Fix = fmt.Sprintf("%s --input github_repos=%s", leakCommand(p, k), a.Repo)
			f.Project = p.ID
		} else {
			f.Detail += "; no live key of the organization matches it (already revoked, or another organization's)"
			f.Fix = fmt.Sprintf("save the secret shown in the alert to a file (mode 0600), then respond run openai-key-leak "+
				"--input key=@FILE --input github_repos=%s (it proves the key dead, or revokes it, and closes the alert)", a.Repo)
		}
		out = append(out, f)
	}
	return out
}

// matchAlert finds the one live key whose redacted value fits the alert's secret.
func matchAlert(inv *Inventory, a github.Alert) (*ProjectInfo, openai.ProjectKey, bool) {
	var (
		hitP *ProjectInfo
		hitK openai.ProjectKey
		n    int
	)
	keys(inv, func(p *ProjectInfo, k openai.ProjectKey) {
		if a.Secret != "" && findkey.Matches(k.RedactedValue, a.Secret) {
			hitP, hitK = p, k
			n++
		}
	})
	return hitP, hitK, n == 1
}

func findArchivedKeys(inv *Inventory, _ Options) []Finding {
	var out []Finding
	keys(inv, func(p *ProjectInfo, k openai.ProjectKey) {
		if p.Status != "archived" {
			return
		}
		out = append(out, Finding{Resource: keyResource(p, k), Project: p.ID,
			Detail: fmt.Sprintf("project archived; key owned by %s, last used %s", ownerOf(k), ago(inv.Now, k.LastUsedAt)),
			Fix:    apiCall("DELETE", "/projects/"+p.ID+"/api_keys/"+k.ID, "")})
	})
	return out
}

func activeProjects(inv *Inventory, need string) []*ProjectInfo {
	var out []*ProjectInfo
	for _, p := range inv.Projects {
		if p.Status != "archived" && !p.Unread[need] {
			out = append(out, p)
		}
	}
	return out
}

func findNoHardLimit(inv *Inventory, _ Options) []Finding {
	var out []Finding
	for _, p := range activeProjects(inv, "spend limit") {
		if p.Limit != nil {
			continue
		}
		d := fmt.Sprintf("%d live key(s) can spend without limit", len(p.Keys))
		cents := DeriveFloorCents
		if inv.Spend != nil {
			cents = derivedLimitCents(inv.Spend[p.ID])
			d += fmt.Sprintf("; spent $%.2f in the last 30 days", inv.Spend[p.ID])
		}
		out = append(out, Finding{Resource: fmt.Sprintf("project %s (%s)", p.ID, p.Name), Project: p.ID, Detail: d,
			Fix: fmt.Sprintf("respond audit --fix sets %s (1.5 × the last 30 days' spend, at least $100, as openai.tighten-budgets derives it), "+
				"reversibly; by hand: ", dollars(cents)) +
				apiCall("POST", "/projects/"+p.ID+"/spend_limit", fmt.Sprintf(`{"threshold_amount": %d, "currency": "USD", "interval": "month"}`, cents))})
	}
	return out
}

func findNoAlerts(inv *Inventory, _ Options) []Finding {
	var out []Finding
	for _, p := range activeProjects(inv, "spend alerts") {
		if len(p.Alerts) > 0 {
			continue
		}
		out = append(out, Finding{Resource: fmt.Sprintf("project %s (%s)", p.ID, p.Name), Project: p.ID,
			Detail: "no spend alert: nobody is emailed as spend climbs",
			Fix: fmt.Sprintf("respond audit --fix --alert-email YOU@EXAMPLE.COM adds alerts at %s of the limit, reversibly; by hand: ", percents()) +
				apiCall("POST", "/projects/"+p.ID+"/spend_alerts",
					fmt.Sprintf(`{"threshold_amount": %d, "currency": "USD", "interval": "month", "notification_channel": {"type": "email", "recipients": ["YOU@EXAMPLE.COM"]}}`, alertCents(inv, p)))})
	}
	return out
}

// alertCents is half the project's hard limit, or of the limit it would get.
func alertCents(inv *Inventory, p *ProjectInfo) int64 {
	if p.Limit != nil {
		return max(1, p.Limit.Cents/2)
	}
	if inv.Spend != nil {
		return derivedLimitCents(inv.Spend[p.ID]) / 2
	}
	return DeriveFloorCents / 2
}

func findOrgNoLimit(inv *Inventory, _ Options) []Finding {
	if inv.OrgLimit != nil || slices.ContainsFunc(inv.Gaps, func(g string) bool { return strings.HasPrefix(g, "organization spend limit") }) {
		return nil
	}
	cents, usd := orgLimitCents(inv)
	d := "no organization hard limit"
	if usd != nil {
		d += fmt.Sprintf("; the organization spent $%.2f in the last 30 days", *usd)
	}
	// Not in --fix: an organization limit stops every project at once, which only the
	// organization's owners should decide.
	return []Finding{{Resource: "organization", Detail: d,
		Fix: apiCall("POST", "/spend_limit", fmt.Sprintf(`{"threshold_amount": %d, "currency": "USD", "interval": "month"}`, cents)) +
			fmt.Sprintf("   (%s = 1.5 × the last 30 days; it stops every project when reached)", dollars(cents))}}
}

func findOrgNoAlerts(inv *Inventory, _ Options) []Finding {
	if len(inv.OrgAlerts) > 0 || slices.ContainsFunc(inv.Gaps, func(g string) bool { return strings.HasPrefix(g, "organization spend alerts") }) {
		return nil
	}
	var amounts []string
	for _, c := range orgAlertCents(inv) {
		amounts = append(amounts, dollars(c))
	}
	return []Finding{{Resource: "organization", Detail: "no organization spend alert",
		Fix: fmt.Sprintf("respond audit --fix --alert-email YOU@EXAMPLE.COM adds alerts at %s (%s of the organization's limit, "+
			"or of the one it should have), reversibly: respond rollback RUN removes them", strings.Join(amounts, ", "), percents())}}
}

func findOwnerServiceAccounts(inv *Inventory, _ Options) []Finding {
	var out []Finding
	seen := map[string]bool{}
	keys(inv, func(p *ProjectInfo, k openai.ProjectKey) {
		if k.OwnerType != openai.OwnerServiceAccount || k.OwnerRole != "owner" || seen[p.ID+"/"+k.OwnerID] {
			return
		}
		seen[p.ID+"/"+k.OwnerID] = true
		out = append(out, Finding{Resource: fmt.Sprintf("service account %s (%s) in project %s", k.OwnerName, k.OwnerID, p.ID), Project: p.ID,
			Detail: "role owner; its key " + k.ID + " can manage the project's users, keys and service accounts",
			Fix:    apiCall("POST", "/projects/"+p.ID+"/service_accounts/"+k.OwnerID, `{"role": "member"}`)})
	})
	return out
}

func findUserKeys(inv *Inventory, _ Options) []Finding {
	var out []Finding
	keys(inv, func(p *ProjectInfo, k openai.ProjectKey) {
		if k.OwnerType != openai.OwnerUser || p.Status == "archived" {
			return
		}
		d := fmt.Sprintf("owned by %s (project role %s), last used %s", ownerOf(k), k.OwnerRole, ago(inv.Now, k.LastUsedAt))
		if k.OwnerProjectAccess == "inactive" {
			d += "; the owner no longer has access to the project, and the key still works"
		}
		out = append(out, Finding{Resource: keyResource(p, k), Project: p.ID, Detail: d,
			Fix: "replace it with a scoped, expiring service-account key and revoke it: " + leakCommand(p, k) +
				" (respond plan … first shows every change)"})
	})
	return out
}

func findNoExpiry(inv *Inventory, _ Options) []Finding {
	var out []Finding
	keys(inv, func(p *ProjectInfo, k openai.ProjectKey) {
		if !k.ExpiresAt.IsZero() || p.Status == "archived" {
			return
		}
		f := Finding{Resource: keyResource(p, k), Project: p.ID, Detail: "never expires; owned by " + ownerOf(k)}
		if k.OwnerType == openai.OwnerServiceAccount {
			f.Fix = apiCall("POST", "/projects/"+p.ID+"/api_keys/"+k.ID, `{"expires_in_seconds": 7776000}`) + "   (90 days; mint the next key before then)"
		} else {
			f.Fix = "a user key's expiry is set when it is created: replace it with " + leakCommand(p, k)
		}
		out = append(out, f)
	})
	return out
}

func findUnusedKeys(inv *Inventory, o Options) []Finding {
	var out []Finding
	cutoff := inv.Now.Add(-time.Duration(o.UnusedDays) * 24 * time.Hour)
	keys(inv, func(p *ProjectInfo, k openai.ProjectKey) {
		last := k.LastUsedAt
		if last.IsZero() {
			last = k.CreatedAt
		}
		if p.Status == "archived" || last.After(cutoff) {
			return
		}
		out = append(out, Finding{Resource: keyResource(p, k), Project: p.ID,
			Detail: fmt.Sprintf("last used %s, created %s; owned by %s", ago(inv.Now, k.LastUsedAt), ago(inv.Now, k.CreatedAt), ownerOf(k)),
			Fix:    apiCall("DELETE", "/projects/"+p.ID+"/api_keys/"+k.ID, "")})
	})
	return out
}

func findRateLimitsAtMax(inv *Inventory, _ Options) []Finding {
	// The API does not publish the organization's own limits; a project's limit cannot exceed
	// them and starts equal to them, so the highest value any project has is taken as the ceiling.
	ceiling := map[string][2]int64{}
	for _, p := range inv.Projects {
		for _, r := range p.RateLimits {
			c := ceiling[r.Model]
			ceiling[r.Model] = [2]int64{max(c[0], r.MaxRequestsPer1Minute), max(c[1], r.MaxTokensPer1Minute)}
		}
	}
	var out []Finding
	for _, p := range activeProjects(inv, "rate limits") {
		var at []string
		for _, r := range p.RateLimits {
			if c := ceiling[r.Model]; r.MaxRequestsPer1Minute == c[0] && r.MaxTokensPer1Minute == c[1] {
				at = append(at, r.Model)
			}
		}
		if len(at) == 0 {
			continue
		}
		first := p.RateLimits[slices.IndexFunc(p.RateLimits, func(r openai.RateLimit) bool { return r.Model == at[0] })]
		out = append(out, Finding{Resource: fmt.Sprintf("project %s (%s)", p.ID, p.Name), Project: p.ID,
			Detail: fmt.Sprintf("%d of %d models at the organization's ceiling: %s", len(at), len(p.RateLimits), strings.Join(at, ", ")),
			Fix: "lower each to what the project needs, e.g. " + apiCall("POST", "/projects/"+p.ID+"/rate_limits/"+first.ID,
				fmt.Sprintf(`{"max_requests_per_1_minute": %d}`, max(1, first.MaxRequestsPer1Minute/10)))})
	}
	return out
}

func liveRepos(inv *Inventory) []github.OrgRepo {
	if inv.GitHub == nil {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(inv.GitHub.Repos), func(r github.OrgRepo) bool { return r.Archived })
}

func securityPatch(repo, field string) string {
	return fmt.Sprintf(`gh api -X PATCH repos/%s --input - <<< '{"security_and_analysis": {"%s": {"status": "enabled"}}}'`, repo, field)
}

func findScanningOff(inv *Inventory, _ Options) []Finding {
	var out []Finding
	for _, r := range liveRepos(inv) {
		switch r.SecretScanning {
		case "enabled":
		case "":
			inv.gap("GitHub: %s: secret scanning status not shown (GitHub shows it only to a token with admin rights on the repository)", r.FullName)
		default:
			out = append(out, Finding{Resource: "repository " + r.FullName, Detail: "secret scanning " + r.SecretScanning,
				Fix: securityPatch(r.FullName, "secret_scanning")})
		}
	}
	return out
}

func findPushProtectionOff(inv *Inventory, _ Options) []Finding {
	var out []Finding
	for _, r := range liveRepos(inv) {
		if r.PushProtection != "" && r.PushProtection != "enabled" {
			out = append(out, Finding{Resource: "repository " + r.FullName, Detail: "push protection " + r.PushProtection,
				Fix: securityPatch(r.FullName, "secret_scanning_push_protection")})
		}
	}
	return out
}

// openAISecretName matches Actions secret names that hold an OpenAI key by convention.
var openAISecretName = regexp.MustCompile(`(?i)openai|(^|_)oai(_|$)`)

func findStaleSecrets(inv *Inventory, o Options) []Finding {
	if inv.GitHub == nil {
		return nil
	}
	cutoff := inv.Now.Add(-time.Duration(o.SecretMaxAgeDays) * 24 * time.Hour)
	var out []Finding
	where := make([]string, 0, len(inv.GitHub.Secrets))
	for w := range inv.GitHub.Secrets {
		where = append(where, w)
	}
	slices.Sort(where)
	for _, w := range where {
		for _, s := range inv.GitHub.Secrets[w] {
			if !openAISecretName.MatchString(s.Name) || s.UpdatedAt.After(cutoff) {
				continue
			}
			target, flag := "repository "+w, "--repo "+w
			if org, ok := strings.CutPrefix(w, "org:"); ok {
				target, flag = "organization "+org, "--org "+org
			}
			out = append(out, Finding{Resource: fmt.Sprintf("Actions secret %s in %s", s.Name, target),
				Detail: "last set " + ago(inv.Now, s.UpdatedAt),
				Fix: fmt.Sprintf("mint a scoped, expiring service-account key, then gh secret set %s %s < NEW_KEY_FILE, then revoke the old key",
					s.Name, flag)})
		}
	}
	return out
}

func blastRadius(inv *Inventory) []KeyBlast {
	var out []KeyBlast
	keys(inv, func(p *ProjectInfo, k openai.ProjectKey) {
		b := KeyBlast{KeyID: k.ID, Name: k.Name, Project: fmt.Sprintf("%s (%s)", p.ID, p.Name), Owner: ownerOf(k),
			Role: k.OwnerRole, Scopes: "not readable through the admin API", SpendCap: spendCap(inv, p),
			LastUsed: ago(inv.Now, k.LastUsedAt), Expires: "never"}
		if p.Status == "archived" {
			b.Project += ", archived"
		}
		if !k.ExpiresAt.IsZero() {
			b.Expires = k.ExpiresAt.Format("2006-01-02")
		}
		if inv.Spend != nil {
			b.SpendCap += fmt.Sprintf(", spent $%.2f in 30 days", inv.Spend[p.ID])
		}
		out = append(out, b)
	})
	return out
}
