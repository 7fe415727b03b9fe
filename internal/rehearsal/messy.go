package rehearsal

import (
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

// MessyOpenAI is an organization that breaks every guideline `respond audit` checks: no
// organization limit or alert, a project without a hard limit or alerts, user keys without
// expiry, an owner service account, a key unused for half a year, a live key in an archived
// project, rate limits at the ceiling; proj_capped has a hard limit and no alert. Project
// proj_tidy is the one that does it right.
func MessyOpenAI() openaisim.World {
	w := openaisim.DefaultWorld()
	w.LeakedKey, w.Exposure = "", openaisim.Exposure{}
	w.Projects = append(w.Projects,
		openaisim.ProjectSpec{ID: "proj_oldbot", Name: "Legacy bot", Status: "archived", CreatedDaysAgo: 700,
			ServiceAccounts: []openaisim.ServiceAccountSpec{{ID: "svc_acct_oldbot", Name: "legacy", Role: "owner", CreatedDaysAgo: 650}},
			Keys:            []openaisim.KeySpec{{ID: "key_oldbot", Name: "bot", ServiceAccount: "svc_acct_oldbot", CreatedDaysAgo: 600}}},
		openaisim.ProjectSpec{ID: "proj_tidy", Name: "Tidy", CreatedDaysAgo: 100, SpendLimitCents: 20000,
			SpendAlerts:     []openaisim.SpendAlertSpec{{Cents: 10000, Recipients: []string{"team@example.com"}}},
			RateLimits:      []openaisim.RateLimitSpec{{Model: "gpt-4o-mini", MaxRequestsPer1Minute: 100, MaxTokensPer1Minute: 10000}},
			ServiceAccounts: []openaisim.ServiceAccountSpec{{ID: "svc_acct_tidy", Name: "tidy", CreatedDaysAgo: 90}},
			Keys: []openaisim.KeySpec{{ID: "key_tidy", Name: "tidy", ServiceAccount: "svc_acct_tidy", CreatedDaysAgo: 30, ExpiresInDays: 60,
				Usage: []openaisim.UsageSpec{{Model: "gpt-4o-mini", RequestsPerDay: 50, InputTokens: 100, OutputTokens: 50}}}}},
		openaisim.ProjectSpec{ID: "proj_capped", Name: "Capped", CreatedDaysAgo: 60, SpendLimitCents: 50000,
			ServiceAccounts: []openaisim.ServiceAccountSpec{{ID: "svc_acct_capped", Name: "capped", CreatedDaysAgo: 50}},
			Keys: []openaisim.KeySpec{{ID: "key_capped", Name: "capped", ServiceAccount: "svc_acct_capped", CreatedDaysAgo: 20, ExpiresInDays: 70,
				Usage: []openaisim.UsageSpec{{Model: "gpt-4o-mini", RequestsPerDay: 20, InputTokens: 100, OutputTokens: 50}}}}},
		openaisim.ProjectSpec{ID: "proj_forgotten", Name: "Forgotten demo", CreatedDaysAgo: 400,
			Keys: []openaisim.KeySpec{{ID: "key_forgotten", Name: "demo", CreatedDaysAgo: 300,
				User: &openaisim.UserSpec{ID: "user_gone", Name: "Gone", Email: "gone@example.com"}}}},
	)
	return w
}

// MessyGitHub is the GitHub side of the messy organization: a repository with secret scanning
// and push protection off and a stale OpenAI Actions secret, and an open alert for leaked (an
// OpenAI key value; pass one of MessyOpenAI's live keys to have the alert match it).
func MessyGitHub(leaked string, now time.Time) githubsim.World {
	return githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/web", SecretScanning: githubsim.StatusDisabled, PushProtection: githubsim.StatusDisabled,
			Secrets: []githubsim.Secret{{Name: "OPENAI_API_KEY", Value: "x", UpdatedAt: now.AddDate(0, -7, 0)}}},
		{Name: "acme/api", Alerts: []githubsim.Alert{{SecretType: "openai_api_key", Secret: leaked, CreatedAt: now.AddDate(0, 0, -3)}},
			Secrets: []githubsim.Secret{{Name: "OPENAI_API_KEY", Value: "y", UpdatedAt: now.AddDate(0, 0, -10)}}},
	}}
}
