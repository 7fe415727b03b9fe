package rehearsal

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// githubPart is GitHub: the repository with the key in a file, secret-scanning alerts (one for
// the key, one for another secret that must stay open), Actions runs with and without the key
// in their logs, and the Actions secret the replacement can be delivered to.
type githubPart struct {
	sim   *githubsim.Server
	srv   *httptest.Server
	token string
}

func (p *githubPart) Name() string { return "GitHub" }

func (p *githubPart) Start(_ context.Context, w *World) error {
	keys := fakekey.New(w.Seed + 1)
	p.token = keys.GitHubToken()
	p.sim = githubsim.New(githubsim.Options{Token: p.token, Seed: w.Seed})
	p.srv = httptest.NewServer(p.sim)
	w.GitHub = p.sim
	deploy := "#!/bin/sh\nset -eu\nexport OPENAI_API_KEY=" + w.leaked + "\n./bin/storefront --port 8080\n"
	if _, err := p.sim.AddRepo(githubsim.Repo{Name: Repo, Private: true, DefaultBranch: "main",
		Files: []githubsim.File{{Path: "scripts/deploy.sh", Content: deploy}, {Path: "README.md", Content: "# storefront\n"}}}); err != nil {
		return fmt.Errorf("rehearsal GitHub: %w", err)
	}
	if err := p.plantAlerts(w, keys.OpenAIProjectKey()); err != nil {
		return err
	}
	return p.plantRuns(w)
}

// plantAlerts adds the alert for the leaked key and one for another secret.
func (p *githubPart) plantAlerts(w *World, otherSecret string) error {
	w.keyAlert = githubsim.Alert{SecretType: "openai_api_key", SecretTypeDisplayName: "OpenAI API Key",
		Secret: w.leaked, CreatedAt: w.leakAt.Add(20 * time.Minute),
		Locations: []githubsim.Location{{Type: "commit", Path: "scripts/deploy.sh", StartLine: 3, EndLine: 3,
			CommitSHA: w.Repo.DeployCommit, BlobSHA: w.Repo.DeployBlob}}}
	if !w.alertArrives {
		keyAlert, err := p.sim.AddAlert(Repo, w.keyAlert)
		if err != nil {
			return fmt.Errorf("rehearsal GitHub alert: %w", err)
		}
		w.KeyAlert = keyAlert
	}
	other, err := p.sim.AddAlert(Repo, githubsim.Alert{SecretType: "openai_api_key", SecretTypeDisplayName: "OpenAI API Key",
		Secret: otherSecret, CreatedAt: w.leakAt.Add(-30 * 24 * time.Hour),
		Locations: []githubsim.Location{{Type: "commit", Path: "docs/old.md", StartLine: 1, EndLine: 1}}})
	if err != nil {
		return fmt.Errorf("rehearsal GitHub alert: %w", err)
	}
	w.OtherAlert = other
	return nil
}

// plantRuns adds three Actions runs: only the deploy run's log holds the key.
func (p *githubPart) plantRuns(w *World) error {
	job := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	leakAt := w.leakAt
	runs := []githubsim.Run{
		{Name: "ci", HeadBranch: "main", Event: "push", Status: "completed", Conclusion: "success", CreatedAt: leakAt.Add(-24 * time.Hour),
			Jobs: []githubsim.Job{{Name: "test", Log: job("go test ./...", "ok  	storefront	0.412s")}}},
		{Name: "deploy", HeadBranch: "main", Event: "push", Status: "completed", Conclusion: "success", CreatedAt: leakAt.Add(2 * time.Hour),
			Jobs: []githubsim.Job{{Name: "deploy", Log: job("+ ./scripts/deploy.sh", "+ export OPENAI_API_KEY="+w.leaked, "deployed in 41s")}}},
		{Name: "ci", HeadBranch: "main", Event: "push", Status: "completed", Conclusion: "success", CreatedAt: leakAt.Add(5 * time.Hour),
			Jobs: []githubsim.Job{{Name: "test", Log: job("go test ./...", "ok  	storefront	0.398s")}}},
	}
	for i, r := range runs {
		id, err := p.sim.AddRun(Repo, r)
		if err != nil {
			return fmt.Errorf("rehearsal GitHub run: %w", err)
		}
		switch i {
		case 1:
			w.RunWithKey = id
		case 2:
			w.CleanRun = id
		}
	}
	return nil
}

func (p *githubPart) Env() map[string]string {
	return map[string]string{"GITHUB_TOKEN": p.token, "RESPOND_GITHUB_API_URL": p.srv.URL + "/"}
}

func (p *githubPart) Inputs() map[string]any {
	return map[string]any{"secret_repo": Repo, "github_repos": []any{Repo}}
}

func (p *githubPart) Secrets() []string { return []string{p.token} }

func (p *githubPart) Snapshots() []Snapshot {
	return []Snapshot{{Name: "github", State: p.sim.Snapshot()}}
}

func (p *githubPart) Chaos(uint64) {
	// The simulator draws from its own Options.Seed, which is the world's.
	p.sim.AddFaults(
		githubsim.Fault{Kind: githubsim.FaultLatency, Latency: 5 * time.Millisecond},
		githubsim.Fault{Kind: githubsim.FaultTooManyRequests, Rate: 0.05},
		githubsim.Fault{Kind: githubsim.FaultSecondaryRateLimit, Rate: 0.03},
		githubsim.Fault{Kind: githubsim.FaultServerError, Rate: 0.08},
		githubsim.Fault{Kind: githubsim.FaultDrop, Rate: 0.04, Times: 0},
	)
}

func (p *githubPart) FaultsInjected() int { return p.sim.FaultsInjected() }

// Checks include the replacement's sinks: the Actions secret is GitHub's, and the check that the
// new value is nowhere else needs the secret's value.
func (p *githubPart) Checks() map[string]func(*verifier) {
	return map[string]func(*verifier){
		checkActionsLogs:      (*verifier).actionsLogs,
		checkAlerts:           (*verifier).alerts,
		checkReplacementSinks: (*verifier).replacementSinks,
	}
}

func (p *githubPart) Close() {
	if p.srv != nil {
		p.srv.Close()
	}
}

// slackPart is the Slack workspace: the world's channel, and the playbook's when it names
// another.
type slackPart struct {
	sim   *slacksim.Sim
	srv   *httptest.Server
	token string
}

func (p *slackPart) Name() string { return "Slack" }

func (p *slackPart) Start(_ context.Context, w *World) error {
	p.token = fakekey.New(w.Seed + 2).SlackBotToken()
	channels := []slacksim.Channel{{ID: "C0SECURITY", Name: Channel}}
	if w.channel != Channel {
		channels = append(channels, slacksim.Channel{ID: "C0PLAYBOOK", Name: w.channel})
	}
	p.sim, p.srv = slacksim.NewServer(slacksim.Config{Token: p.token, Seed: w.Seed, Channels: channels})
	w.Slack = p.sim
	return nil
}

func (p *slackPart) Env() map[string]string {
	return map[string]string{"SLACK_BOT_TOKEN": p.token, "RESPOND_SLACK_API_URL": p.sim.APIURL()}
}

func (p *slackPart) Inputs() map[string]any { return nil }

func (p *slackPart) Secrets() []string { return []string{p.token} }

// Snapshots are none: a dry run reports its plan to the channel, which is the point of it.
func (p *slackPart) Snapshots() []Snapshot { return nil }

func (p *slackPart) Chaos(uint64) {
	// The simulator draws from its own Config.Seed, which is the world's.
	for _, m := range []string{slacksim.MethodPostMessage, slacksim.MethodUpdate} {
		p.sim.FailRate(m, 0.1, slacksim.Fault{Status: 429, RetryAfter: time.Second})
		p.sim.FailRate(m, 0.05, slacksim.Fault{Status: 500})
	}
}

func (p *slackPart) FaultsInjected() int { return p.sim.FaultsInjected() }

func (p *slackPart) Checks() map[string]func(*verifier) {
	return map[string]func(*verifier){checkSlack: (*verifier).slack}
}

func (p *slackPart) Close() {
	if p.srv != nil {
		p.srv.Close()
	}
}
