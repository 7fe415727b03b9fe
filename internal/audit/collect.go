package audit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/openai"
)

// OpenAI is what the audit reads from the admin API; every method is a read.
type OpenAI interface {
	ListAllProjects(ctx context.Context) ([]openai.Project, error)
	ListProjectKeys(ctx context.Context, projectID string) ([]openai.ProjectKey, error)
	GetSpendLimit(ctx context.Context, projectID string) (*openai.SpendLimit, error)
	ListSpendAlerts(ctx context.Context, projectID string) ([]openai.SpendAlert, error)
	ListRateLimits(ctx context.Context, projectID string) ([]openai.RateLimit, error)
	GetOrgSpendLimit(ctx context.Context) (*openai.SpendLimit, error)
	ListOrgSpendAlerts(ctx context.Context) ([]openai.SpendAlert, error)
	Costs(ctx context.Context, q openai.CostQuery) ([]openai.CostRow, error)
}

var _ OpenAI = (*openai.Client)(nil)

// GitHub is what the audit reads from GitHub; every method is a read.
type GitHub interface {
	OrgRepos(ctx context.Context, org string) ([]github.OrgRepo, error)
	GetRepo(ctx context.Context, repo string) (github.OrgRepo, error)
	ListSecretAlerts(ctx context.Context, scope github.AlertScope, secretType, state string) ([]github.Alert, error)
	ListActionsSecrets(ctx context.Context, target github.SecretTarget) ([]github.SecretInfo, error)
}

var _ GitHub = (*github.Client)(nil)

// SecretTypeOpenAI is GitHub's secret-scanning type for OpenAI keys.
const SecretTypeOpenAI = "openai_api_key"

// DefaultConcurrency is how many projects are read at once; each project's four reads go in
// parallel, so an organization of up to this many projects is read in two waves of calls.
const DefaultConcurrency = 64

// SpendWindow is the spend history read for the blast radius and for derived limits.
const SpendWindow = 30 * 24 * time.Hour

// Sources are the clients and the GitHub scope.
type Sources struct {
	OpenAI OpenAI
	// GitHub is nil when no token is set: the GitHub checks are then reported as a gap.
	GitHub      GitHub
	GitHubOrg   string
	GitHubRepos []string
	// Concurrency bounds the projects read at once (DefaultConcurrency when 0).
	Concurrency int
	// Secret registers a value with the run's redaction before anything can print it (the
	// plaintext of secret-scanning alerts).
	Secret func(...string)
	Now    func() time.Time
}

// Inventory is everything read, before any check runs.
type Inventory struct {
	Now       time.Time
	Projects  []*ProjectInfo
	OrgLimit  *openai.SpendLimit
	OrgAlerts []openai.SpendAlert
	// Spend is each project's cost in USD over SpendWindow; nil when costs could not be read.
	Spend  map[string]float64
	GitHub *GitHubInfo
	Gaps   []string

	mu sync.Mutex
}

// ProjectInfo is one project and what hangs off it.
type ProjectInfo struct {
	openai.Project
	Keys       []openai.ProjectKey
	Limit      *openai.SpendLimit
	Alerts     []openai.SpendAlert
	RateLimits []openai.RateLimit
	// Unread names the reads that failed: the checks that need them are skipped.
	Unread map[string]bool
}

// GitHubInfo is what was read from GitHub.
type GitHubInfo struct {
	Repos  []github.OrgRepo
	Alerts []github.Alert
	// Secrets by "owner/name", or "org:LOGIN" for organization secrets.
	Secrets map[string][]github.SecretInfo
}

func (inv *Inventory) gap(format string, a ...any) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.Gaps = append(inv.Gaps, fmt.Sprintf(format, a...))
}

// Collect reads the organization. Only a failure to list projects fails it (nothing could be
// checked); every other failed read becomes a gap and the checks that need it are skipped.
func Collect(ctx context.Context, src Sources) (*Inventory, error) {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	inv := &Inventory{Now: now().UTC()}
	var g errgroup.Group
	g.Go(func() error { return collectOpenAI(ctx, src, inv) })
	g.Go(func() error {
		collectGitHub(ctx, src, inv)
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return inv, nil
}

// collectOpenAI reads in two waves: the project list with the organization's budgets and
// costs, then every project's keys, limit, alerts and rate limits at once.
func collectOpenAI(ctx context.Context, src Sources, inv *Inventory) error {
	var (
		projects []openai.Project
		listErr  error
		g        sync.WaitGroup
	)
	g.Go(func() { projects, listErr = src.OpenAI.ListAllProjects(ctx) })
	g.Go(func() {
		l, err := src.OpenAI.GetOrgSpendLimit(ctx)
		if err != nil {
			inv.gap("organization spend limit: %v", err)
			return
		}
		inv.OrgLimit = l
	})
	g.Go(func() {
		a, err := src.OpenAI.ListOrgSpendAlerts(ctx)
		if err != nil {
			inv.gap("organization spend alerts: %v", err)
			a = nil
		}
		inv.OrgAlerts = a
	})
	// Costs feed only the blast radius and derived limits: the project reads need not wait.
	var spend sync.WaitGroup
	spend.Go(func() { inv.Spend = readSpend(ctx, src.OpenAI, inv) })
	defer spend.Wait()
	g.Wait()
	if listErr != nil {
		return fmt.Errorf("audit: %w", listErr)
	}
	limit := src.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	var eg errgroup.Group
	eg.SetLimit(limit)
	for _, p := range projects {
		pi := &ProjectInfo{Project: p, Unread: map[string]bool{}}
		inv.Projects = append(inv.Projects, pi)
		eg.Go(func() error {
			readProject(ctx, src.OpenAI, inv, pi)
			return nil
		})
	}
	return eg.Wait()
}

func readSpend(ctx context.Context, c OpenAI, inv *Inventory) map[string]float64 {
	end := inv.Now.Truncate(24 * time.Hour)
	rows, err := c.Costs(ctx, openai.CostQuery{Start: end.Add(-SpendWindow), End: end, GroupBy: []string{openai.GroupProjectID}})
	if err != nil {
		inv.gap("costs of the last 30 days (spend in blast-radius lines, derived limits): %v", err)
		return nil
	}
	out := map[string]float64{}
	for _, r := range rows {
		out[r.ProjectID] += r.AmountUSD
	}
	return out
}

// readProject makes a project's four reads in parallel.
func readProject(ctx context.Context, c OpenAI, inv *Inventory, p *ProjectInfo) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs = map[string]error{}
	)
	read := func(what string, fn func() error) {
		wg.Go(func() {
			if err := fn(); err != nil {
				mu.Lock()
				errs[what] = err
				mu.Unlock()
			}
		})
	}
	read("keys", func() (err error) { p.Keys, err = c.ListProjectKeys(ctx, p.ID); return })
	read("spend limit", func() (err error) { p.Limit, err = c.GetSpendLimit(ctx, p.ID); return })
	read("spend alerts", func() (err error) { p.Alerts, err = c.ListSpendAlerts(ctx, p.ID); return })
	read("rate limits", func() (err error) { p.RateLimits, err = c.ListRateLimits(ctx, p.ID); return })
	wg.Wait()
	for what, err := range errs {
		p.Unread[what] = true
		inv.gap("project %s: %s: %v", p.ID, what, err)
	}
}

// collectGitHub reads the repositories and alerts, then every repository's secrets at once.
func collectGitHub(ctx context.Context, src Sources, inv *Inventory) {
	if src.GitHubOrg == "" && len(src.GitHubRepos) == 0 {
		inv.gap("GitHub: no --github-org or --github-repo given: secret scanning, push protection, open alerts and Actions secrets not checked")
		return
	}
	if src.GitHub == nil {
		inv.gap("GitHub: GITHUB_TOKEN is not set: secret scanning, push protection, open alerts and Actions secrets not checked")
		return
	}
	gi := &GitHubInfo{Secrets: map[string][]github.SecretInfo{}}
	var wg sync.WaitGroup
	wg.Go(func() { gi.Repos = readRepos(ctx, src, inv) })
	wg.Go(func() {
		as, err := src.GitHub.ListSecretAlerts(ctx, github.AlertScope{Org: src.GitHubOrg, Repos: src.GitHubRepos}, SecretTypeOpenAI, "open")
		if err != nil {
			inv.gap("GitHub: open secret-scanning alerts: %v", err)
			return
		}
		for _, a := range as {
			if src.Secret != nil && a.Secret != "" {
				src.Secret(a.Secret)
			}
		}
		gi.Alerts = as
	})
	wg.Wait()
	readSecrets(ctx, src, inv, gi)
	inv.GitHub = gi
}

func readRepos(ctx context.Context, src Sources, inv *Inventory) []github.OrgRepo {
	var out []github.OrgRepo
	seen := map[string]bool{}
	if src.GitHubOrg != "" {
		rs, err := src.GitHub.OrgRepos(ctx, src.GitHubOrg)
		if err != nil {
			inv.gap("GitHub: repositories of %s: %v", src.GitHubOrg, err)
		}
		for _, r := range rs {
			seen[strings.ToLower(r.FullName)] = true
			out = append(out, r)
		}
	}
	for _, name := range src.GitHubRepos {
		if seen[strings.ToLower(name)] {
			continue
		}
		r, err := src.GitHub.GetRepo(ctx, name)
		if err != nil {
			inv.gap("GitHub: repository %s: %v", name, err)
			continue
		}
		out = append(out, r)
	}
	return out
}

func readSecrets(ctx context.Context, src Sources, inv *Inventory, gi *GitHubInfo) {
	var mu sync.Mutex
	var eg errgroup.Group
	eg.SetLimit(16)
	targets := []github.SecretTarget{}
	if src.GitHubOrg != "" {
		targets = append(targets, github.SecretTarget{Org: src.GitHubOrg})
	}
	for _, r := range gi.Repos {
		if !r.Archived {
			targets = append(targets, github.SecretTarget{Repo: r.FullName})
		}
	}
	for _, t := range targets {
		eg.Go(func() error {
			secs, err := src.GitHub.ListActionsSecrets(ctx, t)
			if err != nil {
				inv.gap("GitHub: Actions secrets of %s: %v", t, err)
				return nil
			}
			key := t.Repo
			if t.Org != "" {
				key = "org:" + t.Org
			}
			mu.Lock()
			gi.Secrets[key] = secs
			mu.Unlock()
			return nil
		})
	}
	_ = eg.Wait()
}
