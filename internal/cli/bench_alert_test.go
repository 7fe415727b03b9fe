package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/slackserver"
)

// BenchmarkWebhookToRevoke measures respond serve's own time from receiving GitHub's
// secret_scanning_alert webhook to the revocation's DELETE, with every OpenAI, GitHub and Slack
// call taking 100 ms more. waves is that time in units of the latency: the target is the two
// waves of BenchmarkTimeToRevoke (projects, then their keys) plus one to fetch the alert.
//
//	go test ./internal/cli -run '^$' -bench WebhookToRevoke -benchtime 5x
func BenchmarkWebhookToRevoke(b *testing.B) {
	const latency = 100 * time.Millisecond
	keys := fakekey.Random()
	ghTok, hookSecret, slackTok := keys.GitHubToken(), keys.Hex(32), keys.SlackBotToken()
	gh := githubsim.New(githubsim.Options{Token: ghTok})
	if _, err := gh.AddRepo(githubsim.Repo{Name: "acme/storefront", Private: true}); err != nil {
		b.Fatal(err)
	}
	gh.AddFaults(githubsim.Fault{Kind: githubsim.FaultLatency, Latency: latency})
	ghSrv := httptest.NewServer(gh)
	defer ghSrv.Close()
	// Each iteration gets a fresh OpenAI world (its key is revoked by the last); the server's
	// environment points at this switch.
	var oa atomic.Pointer[openaisim.Server]
	oaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { oa.Load().ServeHTTP(w, r) }))
	defer oaSrv.Close()
	sl, slSrv := slacksim.NewServer(slacksim.Config{Token: slackTok, Channels: []slacksim.Channel{{ID: "C0INCIDENT", Name: "security-incidents"}}})
	defer slSrv.Close()
	for _, m := range []string{slacksim.MethodPostMessage, slacksim.MethodUpdate} {
		sl.SetLatency(m, latency)
	}
	first := openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: 1})
	oa.Store(first)
	dir := b.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": dir, "OPENAI_ADMIN_KEY": first.AdminKey(), "RESPOND_OPENAI_BASE_URL": oaSrv.URL + "/v1",
		"GITHUB_TOKEN": ghTok, "RESPOND_GITHUB_API_URL": ghSrv.URL, "SLACK_BOT_TOKEN": slackTok, "RESPOND_SLACK_API_URL": sl.APIURL()}
	srv, runner := benchServer(b, env, hookSecret, filepath.Join(dir, "new-key"))
	hooks := httptest.NewServer(srv)
	defer hooks.Close()
	gh.SetWebhook(&githubsim.Webhook{URL: hooks.URL + "/github/webhook", Secret: hookSecret, APIURL: ghSrv.URL})

	var total time.Duration
	for i := range b.N {
		sim := openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: uint64(i + 2)})
		sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{{Latency: latency}}})
		oa.Store(sim)
		env["OPENAI_ADMIN_KEY"] = sim.AdminKey()
		if _, err := gh.AddAlert("acme/storefront", githubsim.Alert{SecretType: "openai_api_key", Secret: sim.LeakedKeySecret()}); err != nil {
			b.Fatal(err)
		}
		ds := gh.Deliveries()
		received := ds[len(ds)-1].Sent
		deleted := waitForDelete(b, sim)
		total += deleted.Sub(received)
		if testing.Verbose() {
			for _, rec := range sim.RequestLog() {
				b.Logf("openai %6.0fms %s", float64(rec.Time.Sub(received))/1e6, rec.Route)
			}
		}
		for len(runner.runs.Active()) > 0 { // the run finishes before the next alert
			time.Sleep(10 * time.Millisecond)
		}
	}
	avg := total / time.Duration(b.N)
	b.ReportMetric(float64(avg.Milliseconds()), "ms-to-revoke")
	b.ReportMetric(float64(avg)/float64(latency), "waves")
}

// benchServer is respond serve's handler with github_alerts for openai-key-leak.
func benchServer(b *testing.B, env map[string]string, hookSecret, newKey string) (*slackserver.Server, *serveRunner) {
	b.Helper()
	f := &Factory{IO: IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, Getenv: func(k string) string { return env[k] },
		Now: time.Now, Secrets: redact.New()}
	cfg, err := slackserver.ParseConfig("bench.yaml", []byte("playbooks:\n  openai-key-leak: {users: [U0ALICE], channels: [C0INCIDENT], approvers: [U0BOB]}\n"+
		"github_alerts:\n  playbook: openai-key-leak\n  channel: C0INCIDENT\n  secret_types: [openai_api_key]\n"+
		"  inputs: {secret_file: "+newKey+", overwrite_secret_file: 'true'}\n"))
	if err != nil {
		b.Fatal(err)
	}
	client, err := slack.New(slack.Config{Token: env["SLACK_BOT_TOKEN"], APIURL: env["RESPOND_SLACK_API_URL"]})
	if err != nil {
		b.Fatal(err)
	}
	runner := &serveRunner{f: f, client: client, dir: env["RESPOND_STATE_DIR"], runs: slackserver.NewRuns(), logf: func(string, ...any) {}}
	srv, err := slackserver.New(slackserver.Options{Config: cfg, Runner: runner, Slack: client, Secrets: f.Secrets, GitHubWebhookSecret: hookSecret})
	if err != nil {
		b.Fatal(err)
	}
	return srv, runner
}

// waitForDelete waits for the revocation and returns when its DELETE arrived.
func waitForDelete(b *testing.B, sim *openaisim.Server) time.Time {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, rec := range sim.RequestLog() {
			if rec.Route == openaisim.RouteDeleteProjectKey {
				return rec.Time
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal(fmt.Errorf("no revocation within a minute"))
	return time.Time{}
}
