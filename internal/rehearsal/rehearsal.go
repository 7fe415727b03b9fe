// Package rehearsal builds the world a playbook is rehearsed in: every simulator served on
// 127.0.0.1, a fresh fake leaked key, the inputs that point the playbook at them, and the
// checks, made from the simulators' real state afterwards, that the response worked.
package rehearsal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// Options shape a rehearsal world.
type Options struct {
	// Seed makes the world reproducible (keys, IDs, usage); 0 picks a random one.
	Seed uint64
	// Dir holds the world's files (the delivered key, repositories); created when empty.
	Dir string
	// Chaos injects transient faults (20% of calls: 429 with Retry-After, 500, dropped
	// connections) and latency into every simulator.
	Chaos bool
	// SlackChannel is the channel the playbook reports to; the world serves it as well as
	// Channel. Empty means Channel.
	SlackChannel string
}

// World is a running rehearsal environment. Close it.
type World struct {
	Seed uint64
	Dir  string

	OpenAI    *openaisim.Server
	openaiSrv *httptest.Server
	GitHub    *githubsim.Server
	githubSrv *httptest.Server
	Slack     *slacksim.Sim
	slackSrv  *httptest.Server
	Repo      *plantedRepo
	LogDir    string
	// RunWithKey is the Actions run whose logs hold the key; CleanRun's do not.
	RunWithKey, CleanRun int64
	// KeyAlert is the alert for the leaked key; OtherAlert is for a different secret and must
	// stay open.
	KeyAlert, OtherAlert int64

	leaked      string
	githubToken string
	slackToken  string
	env         map[string]string
	inputs      map[string]any
	channel     string // the Slack channel the playbook reports to
	ownsDir     bool
	startedAt   time.Time
}

// Start serves the simulators and plants the leak.
func Start(ctx context.Context, o Options) (*World, error) {
	w := &World{Seed: o.Seed, Dir: o.Dir, startedAt: time.Now()}
	if w.Seed == 0 {
		w.Seed = rand.Uint64()
	}
	if w.Dir == "" {
		d, err := os.MkdirTemp("", "respond-rehearsal-")
		if err != nil {
			return nil, fmt.Errorf("rehearsal directory: %w", err)
		}
		w.Dir, w.ownsDir = d, true
	}
	if err := os.MkdirAll(filepath.Dir(w.SecretFile()), 0o700); err != nil {
		w.Close()
		return nil, fmt.Errorf("rehearsal directory: %w", err)
	}
	w.OpenAI = openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: w.Seed})
	w.openaiSrv = serve(w.OpenAI)
	w.leaked = w.OpenAI.LeakedKeySecret()
	rng := rand.New(rand.NewPCG(w.Seed, w.Seed>>1|1))
	leakAt, _ := w.OpenAI.ExposureWindow()
	now := w.OpenAI.Now()

	repo, err := buildRepo(w.Dir, w.leaked, rng, now, leakAt)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("rehearsal repository: %w", err)
	}
	w.Repo = repo
	w.LogDir = filepath.Join(w.Dir, "logs")
	if err := writeLogs(w.LogDir, w.leaked, rng, leakAt); err != nil {
		w.Close()
		return nil, fmt.Errorf("rehearsal logs: %w", err)
	}
	if err := w.startGitHub(leakAt); err != nil {
		w.Close()
		return nil, err
	}
	keys := fakekey.New(w.Seed + 2)
	w.slackToken = keys.SlackBotToken()
	w.channel = Channel
	channels := []slacksim.Channel{{ID: "C0SECURITY", Name: Channel}}
	if c := o.SlackChannel; c != "" && strings.TrimPrefix(c, "#") != strings.TrimPrefix(Channel, "#") {
		w.channel = c
		channels = append(channels, slacksim.Channel{ID: "C0PLAYBOOK", Name: c})
	}
	w.Slack, w.slackSrv = slacksim.NewServer(slacksim.Config{Token: w.slackToken, Seed: w.Seed, Channels: channels})
	if o.Chaos {
		w.chaos()
	}

	w.env = map[string]string{
		"OPENAI_ADMIN_KEY":        w.OpenAI.AdminKey(),
		"RESPOND_OPENAI_BASE_URL": w.openaiSrv.URL + "/v1",
		// Faults in a rehearsal are practice: retry fast.
		"RESPOND_OPENAI_MAX_RETRY_DELAY": "50ms",
		"GITHUB_TOKEN":                   w.githubToken,
		"RESPOND_GITHUB_API_URL":         w.githubSrv.URL + "/",
		"SLACK_BOT_TOKEN":                w.slackToken,
		"RESPOND_SLACK_API_URL":          w.Slack.APIURL(),
		// exec steps pass it on to their program, so a team's tool can tell practice from an incident.
		"RESPOND_REHEARSAL": "1",
	}
	w.inputs = map[string]any{
		"key":          w.leaked,
		"secret_file":  w.SecretFile(),
		"secret_repo":  Repo,
		"github_repos": []any{Repo},
		"git_repos":    []any{w.Repo.Local},
		"log_paths":    []any{w.LogDir},
		"alert_emails": []any{"oncall@example.com"},
	}
	return w, nil
}

// chaos makes every simulator unreliable the way real APIs are on a bad day: one call in five
// fails transiently, and every call is a little slow.
func (w *World) chaos() {
	w.OpenAI.SetFaults(openaisim.FaultConfig{Seed: w.Seed, Rules: []openaisim.FaultRule{
		{Latency: 2 * time.Millisecond, Jitter: 8 * time.Millisecond,
			TooManyRequests: 0.07, RetryAfter: 20 * time.Millisecond, ServerError: 0.07, Drop: 0.04, ApplyThenDrop: 0.02},
	}})
	for _, m := range []string{slacksim.MethodPostMessage, slacksim.MethodUpdate} {
		w.Slack.FailRate(m, 0.1, slacksim.Fault{Status: 429, RetryAfter: time.Second})
		w.Slack.FailRate(m, 0.05, slacksim.Fault{Status: 500})
	}
	w.GitHub.AddFaults(
		githubsim.Fault{Kind: githubsim.FaultLatency, Latency: 5 * time.Millisecond},
		githubsim.Fault{Kind: githubsim.FaultTooManyRequests, Rate: 0.05},
		githubsim.Fault{Kind: githubsim.FaultSecondaryRateLimit, Rate: 0.03},
		githubsim.Fault{Kind: githubsim.FaultServerError, Rate: 0.08},
		githubsim.Fault{Kind: githubsim.FaultDrop, Rate: 0.04, Times: 0},
	)
}

// FaultsInjected counts the errors the simulators injected (latency not counted): most are
// absorbed by the clients' own retries, the rest surface as step retries.
func (w *World) FaultsInjected() int {
	n := 0
	for _, c := range w.OpenAI.InjectedFaults() {
		n += c
	}
	for i, c := range w.GitHub.FaultsFired() {
		if i > 0 { // the first GitHub fault is latency
			n += c
		}
	}
	return n
}

// Repo is the GitHub repository of the rehearsal world.
const Repo = "acme/storefront"

// Channel is the Slack channel of the rehearsal world (the default playbook's).
const Channel = "#security-incidents"

func (w *World) startGitHub(leakAt time.Time) error {
	keys := fakekey.New(w.Seed + 1)
	w.githubToken = keys.GitHubToken()
	w.GitHub = githubsim.New(githubsim.Options{Token: w.githubToken, Seed: w.Seed})
	w.githubSrv = serve(w.GitHub)
	deploy := "#!/bin/sh\nset -eu\nexport OPENAI_API_KEY=" + w.leaked + "\n./bin/storefront --port 8080\n"
	if _, err := w.GitHub.AddRepo(githubsim.Repo{Name: Repo, Private: true, DefaultBranch: "main",
		Files: []githubsim.File{{Path: "scripts/deploy.sh", Content: deploy}, {Path: "README.md", Content: "# storefront\n"}}}); err != nil {
		return fmt.Errorf("rehearsal GitHub: %w", err)
	}
	keyAlert, err := w.GitHub.AddAlert(Repo, githubsim.Alert{SecretType: "openai_api_key", SecretTypeDisplayName: "OpenAI API Key",
		Secret: w.leaked, CreatedAt: leakAt.Add(20 * time.Minute),
		Locations: []githubsim.Location{{Type: "commit", Path: "scripts/deploy.sh", StartLine: 3, EndLine: 3,
			CommitSHA: w.Repo.DeployCommit, BlobSHA: w.Repo.DeployBlob}}})
	if err != nil {
		return fmt.Errorf("rehearsal GitHub alert: %w", err)
	}
	w.KeyAlert = keyAlert
	other, err := w.GitHub.AddAlert(Repo, githubsim.Alert{SecretType: "openai_api_key", SecretTypeDisplayName: "OpenAI API Key",
		Secret: keys.OpenAIProjectKey(), CreatedAt: leakAt.Add(-30 * 24 * time.Hour),
		Locations: []githubsim.Location{{Type: "commit", Path: "docs/old.md", StartLine: 1, EndLine: 1}}})
	if err != nil {
		return fmt.Errorf("rehearsal GitHub alert: %w", err)
	}
	w.OtherAlert = other
	job := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	runs := []githubsim.Run{
		{Name: "ci", HeadBranch: "main", Event: "push", Status: "completed", Conclusion: "success", CreatedAt: leakAt.Add(-24 * time.Hour),
			Jobs: []githubsim.Job{{Name: "test", Log: job("go test ./...", "ok  	storefront	0.412s")}}},
		{Name: "deploy", HeadBranch: "main", Event: "push", Status: "completed", Conclusion: "success", CreatedAt: leakAt.Add(2 * time.Hour),
			Jobs: []githubsim.Job{{Name: "deploy", Log: job("+ ./scripts/deploy.sh", "+ export OPENAI_API_KEY="+w.leaked, "deployed in 41s")}}},
		{Name: "ci", HeadBranch: "main", Event: "push", Status: "completed", Conclusion: "success", CreatedAt: leakAt.Add(5 * time.Hour),
			Jobs: []githubsim.Job{{Name: "test", Log: job("go test ./...", "ok  	storefront	0.398s")}}},
	}
	for i, r := range runs {
		id, err := w.GitHub.AddRun(Repo, r)
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

// serve starts a simulator on a random loopback port.
func serve(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

// LeakedKey is the fake leaked secret planted in this world.
func (w *World) LeakedKey() string { return w.leaked }

// SecretFile is where the replacement key is delivered.
func (w *World) SecretFile() string { return filepath.Join(w.Dir, "delivered", "openai-api-key") }

// Getenv is the environment the playbook's steps see: the simulators' URLs and credentials and
// nothing from the real environment, so a rehearsal can never touch a real system.
func (w *World) Getenv(k string) string { return w.env[k] }

// Input returns the world's value for an input the playbook may declare.
func (w *World) Input(name string) (any, bool) {
	v, ok := w.inputs[name]
	return v, ok
}

// Secrets are the values a rehearsal must never print: the leaked key and the simulators'
// credentials.
func (w *World) Secrets() []string {
	return []string{w.leaked, w.OpenAI.AdminKey(), w.githubToken, w.slackToken}
}

// Close stops the simulators and removes the world's files.
func (w *World) Close() {
	if w.openaiSrv != nil {
		w.openaiSrv.Close()
	}
	if w.githubSrv != nil {
		w.githubSrv.Close()
	}
	if w.slackSrv != nil {
		w.slackSrv.Close()
	}
	if w.ownsDir {
		os.RemoveAll(w.Dir)
	}
}

// OpenAIState is the OpenAI simulator's state, taken before a run so Verify can tell what the
// run created.
type OpenAIState = openaisim.State

// OpenAIState returns the OpenAI simulator's state; the zero state for a nil world.
func (w *World) OpenAIState() OpenAIState {
	if w == nil {
		return OpenAIState{}
	}
	return w.OpenAI.State()
}

// Transcript is the Slack channel as a person would see it.
func (w *World) Transcript() string { return w.Slack.Transcript(w.channel) }
