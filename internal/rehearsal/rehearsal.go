// Package rehearsal builds the world a playbook is rehearsed in: every simulator served on
// 127.0.0.1, a fresh fake leaked key, the inputs that point the playbook at them, and the
// checks, made from the simulators' real state afterwards, that the response worked.
package rehearsal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/integrations/openai"
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
	w.Slack, w.slackSrv = slacksim.NewServer(slacksim.Config{Token: w.slackToken, Seed: w.Seed,
		Channels: []slacksim.Channel{{ID: "C0SECURITY", Name: Channel}}})
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

// Verification is one check of the final state.
type Verification struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Verify checks, from the simulators' state (not from step outputs), that the response worked.
// baseline is the OpenAI state before the run.
func (w *World) Verify(ctx context.Context, before openaisim.State) []Verification {
	var out []Verification
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, Verification{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	after := w.OpenAI.State()
	leakedID := w.OpenAI.LeakedKeyID()
	oc, err := openai.New(openai.Config{AdminKey: w.OpenAI.AdminKey(), BaseURL: w.openaiSrv.URL + "/v1", MaxRetries: 3})
	if err != nil {
		add("simulator reachable", false, "%v", err)
		return out
	}
	check := func(value string) openai.KeyCheck {
		st, _ := oc.CheckKey(ctx, value) // a transport failure leaves Status 0: neither dead nor working
		return st
	}
	status := check(w.leaked)
	add("leaked key is dead", status.Dead(), "GET /v1/models with the leaked value answers %s (only 401 %s proves it)",
		status, openai.CodeInvalidAPIKey)
	if k, ok := w.OpenAI.Key(leakedID); ok {
		add("leaked key is deleted", k.Deleted, "%s deleted=%v", leakedID, k.Deleted)
	}

	existed := map[string]bool{}
	for _, k := range before.Keys {
		existed[k.ID] = true
	}
	var fresh []openaisim.KeyState
	for _, k := range after.Keys {
		if !existed[k.ID] && !k.Deleted {
			fresh = append(fresh, k)
		}
	}
	add("exactly one replacement key", len(fresh) == 1, "%d new live key(s)", len(fresh))
	if len(fresh) == 1 {
		k := fresh[0]
		add("replacement key is scoped", !k.AllPermissions(), "scopes %v", k.Scopes)
		add("replacement key expires", !k.ExpiresAt.IsZero(), "expires %s", k.ExpiresAt.Format(time.RFC3339))
		b, err := os.ReadFile(w.SecretFile())
		switch {
		case err != nil:
			add("replacement key delivered to the file", false, "%v", err)
		default:
			value := strings.TrimSpace(string(b))
			sum := sha256.Sum256([]byte(value))
			match := strings.HasPrefix(hex.EncodeToString(sum[:]), k.Fingerprint)
			st, _ := os.Stat(w.SecretFile())
			add("replacement key delivered to the file", match && st.Mode().Perm() == 0o600,
				"%s holds key %s (mode %v)", w.SecretFile(), k.ID, st.Mode().Perm())
			live := check(value)
			add("replacement key works", live.Works(), "GET /v1/models with the delivered value answers %s", live)
		}
	}
	w.verifyGitHubAndRepos(ctx, add, fresh)
	w.verifySlack(add)
	if k, ok := w.OpenAI.Key(leakedID); ok {
		var limit *openaisim.SpendLimitState
		for i, l := range after.SpendLimits {
			if l.ProjectID == k.ProjectID {
				limit = &after.SpendLimits[i]
			}
		}
		add("project spend limit set", limit != nil && limit.Cents > 0, "%s: %v", k.ProjectID, describeLimit(limit))
		alerts := 0
		for _, a := range after.SpendAlerts {
			if a.ProjectID == k.ProjectID {
				alerts++
			}
		}
		add("project spend alerts set", alerts > 0, "%d alert(s) on %s", alerts, k.ProjectID)
	}
	return out
}

func describeLimit(l *openaisim.SpendLimitState) string {
	if l == nil {
		return "none"
	}
	return fmt.Sprintf("$%.2f/month", float64(l.Cents)/100)
}

// verifyGitHubAndRepos checks the copies: the repositories' refs and object stores, the Actions
// logs, the alerts, and the Actions secret that received the new key.
func (w *World) verifyGitHubAndRepos(ctx context.Context, add func(string, bool, string, ...any), fresh []openaisim.KeyState) {
	secrets := [][]byte{[]byte(w.leaked)}
	for _, r := range []struct{ name, path string }{{"local clone", w.Repo.Local}, {"remote", w.Repo.Remote}} {
		res, err := gitrepo.Scan(ctx, gitrepo.ScanOptions{Path: r.path, Secrets: secrets})
		if err != nil {
			add("leaked key gone from the "+r.name, false, "%v", err)
			continue
		}
		n := len(res.Findings) + res.Unreachable
		add("leaked key gone from the "+r.name, n == 0, "%d finding(s) in %d refs, %d unreachable object(s) holding it",
			len(res.Findings), res.Refs, res.Unreachable)
	}
	add("Actions logs with the key deleted", !w.GitHub.HasRunLogs(Repo, w.RunWithKey),
		"run %d logs present: %v", w.RunWithKey, w.GitHub.HasRunLogs(Repo, w.RunWithKey))
	add("Actions logs without the key kept", w.GitHub.HasRunLogs(Repo, w.CleanRun),
		"run %d logs present: %v", w.CleanRun, w.GitHub.HasRunLogs(Repo, w.CleanRun))
	a, _ := w.GitHub.AlertState(Repo, w.KeyAlert)
	add("alert for the key resolved as revoked", a.State == "resolved" && a.Resolution == "revoked",
		"alert %d: %s, %s", w.KeyAlert, a.State, a.Resolution)
	o, _ := w.GitHub.AlertState(Repo, w.OtherAlert)
	add("alert for another secret left open", o.State == "open", "alert %d: %s", w.OtherAlert, o.State)
	sv, ok := w.GitHub.ActionsSecret(githubsim.SecretRef{Repo: Repo}, "OPENAI_API_KEY")
	delivered := false
	if ok && len(fresh) == 1 {
		sum := sha256.Sum256(bytes.TrimSpace(sv.Value))
		delivered = strings.HasPrefix(hex.EncodeToString(sum[:]), fresh[0].Fingerprint)
	}
	add("replacement key delivered to the Actions secret", delivered, "%s secret OPENAI_API_KEY decrypts to the new key: %v", Repo, delivered)
	if !ok || len(fresh) != 1 {
		return
	}
	// The new value lives only in its sinks: not in any repository, not in the logs.
	value := bytes.TrimSpace(sv.Value)
	copies := 0
	for _, repo := range []string{w.Repo.Local, w.Repo.Remote} {
		if res, err := gitrepo.Scan(ctx, gitrepo.ScanOptions{Path: repo, Secrets: [][]byte{value}}); err == nil {
			copies += len(res.Findings) + res.Unreachable
		}
	}
	filepath.WalkDir(w.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == w.SecretFile() || strings.Contains(p, ".git") {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, value) {
			copies++
		}
		return nil
	})
	add("replacement key only in its sinks", copies == 0, "%d other copies in the world's repositories and files", copies)
}

// verifySlack checks what a person sees in the channel: one parent message whose final state
// shows every step finished, and no key anywhere in the channel.
func (w *World) verifySlack(add func(string, bool, string, ...any)) {
	msgs := w.Slack.Channel(Channel)
	parents := 0
	var parent slacksim.Message
	for _, m := range msgs {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			parents++
			parent = m
		}
	}
	text := w.Slack.Render(parent.Text, parent.Blocks)
	done, total := -1, 0
	if m := finishedRe.FindStringSubmatch(text); m != nil {
		done, _ = strconv.Atoi(m[1])
		total, _ = strconv.Atoi(m[2])
	}
	add("Slack parent message shows every step done", parents == 1 && done == total && total > 0 && strings.Contains(text, "Run succeeded"),
		"%d parent message(s); final state %q", parents, firstLineOf(text))
	if bytes.Contains(w.Slack.Snapshot(), []byte(w.leaked)) {
		add("no key in Slack", false, "the leaked key was posted")
	}
}

var finishedRe = regexp.MustCompile(`(\d+) of (\d+) steps finished`)

func firstLineOf(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "Run ") {
			return strings.TrimSpace(l)
		}
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Transcript is the Slack channel as a person would see it.
func (w *World) Transcript() string { return w.Slack.Transcript(Channel) }
