package slackserver_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/slackserver"
)

const alertsConfig = configYAML + `
github_alerts:
  playbook: openai-key-leak
  channel: C0INCIDENT
  secret_types: [openai_api_key]
`

// gitHub is a simulated GitHub whose webhook points at e's server.
func gitHub(t *testing.T, e *env, secret string) *githubsim.Server {
	t.Helper()
	sim := githubsim.New(githubsim.Options{Token: fakekey.Random().GitHubToken()})
	for _, r := range []string{"acme/storefront", "acme/docs"} {
		if _, err := sim.AddRepo(githubsim.Repo{Name: r, Private: true}); err != nil {
			t.Fatal(err)
		}
	}
	sim.SetWebhook(&githubsim.Webhook{URL: e.http.URL + "/github/webhook", Secret: secret})
	return sim
}

func addAlert(t *testing.T, sim *githubsim.Server, repo, secretType string) {
	t.Helper()
	if _, err := sim.AddAlert(repo, githubsim.Alert{SecretType: secretType, Secret: fakekey.Random().OpenAIProjectKey()}); err != nil {
		t.Fatal(err)
	}
}

func TestGitHubAlertStartsOneRun(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, nil, alertsConfig)
	sim := gitHub(t, e, e.ghSecret)
	addAlert(t, sim, "acme/storefront", "openai_api_key")
	addAlert(t, sim, "acme/docs", "slack_api_token") // filtered out by type
	ds := sim.Deliveries()
	e.server.WaitBackground()
	if len(ds) != 2 || ds[0].Status != http.StatusAccepted || ds[1].Status != http.StatusAccepted {
		t.Fatalf("deliveries %+v", ds)
	}
	// GitHub redelivers the same delivery; a second webhook (the organization's) delivers the
	// same alert under another delivery ID: neither starts another run.
	if err := sim.Redeliver(ds[0].ID); err != nil {
		t.Fatal(err)
	}
	sim.SetWebhook(&githubsim.Webhook{URL: e.http.URL + "/github/webhook", Secret: e.ghSecret})
	again := sim.Deliveries()
	e.server.WaitBackground()
	if got := again[len(again)-1]; got.Status != http.StatusOK {
		t.Errorf("redelivery answered %d, want 200 (already handled)", got.Status)
	}
	got := e.runner.started()
	if len(got) != 1 {
		t.Fatalf("started %d runs, want 1: %+v", len(got), got)
	}
	req := got[0]
	want := map[string]string{"key": "github-alert:acme/storefront#1"}
	if !cmp.Equal(req.Inputs, want) || req.Playbook != "openai-key-leak" || req.Channel != incidents || req.DryRun {
		t.Errorf("run request %+v, want inputs %v in %s", req, want, incidents)
	}
	if req.Approver == nil {
		t.Error("an alert-triggered run has no Slack approver: its approval-gated steps could never run")
	}
}

func TestGitHubWebhookRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		config     string
		secret     string // the webhook's; "" unsigned, "env" the server's
		wantStatus int
	}{
		{name: "forged", config: alertsConfig, secret: fakekey.Random().Hex(32), wantStatus: http.StatusUnauthorized},
		{name: "unsigned", config: alertsConfig, secret: "", wantStatus: http.StatusUnauthorized},
		{name: "no github_alerts configured", config: configYAML, secret: "env", wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvConfig(t, nil, tt.config)
			secret := tt.secret
			if secret == "env" {
				secret = e.ghSecret
			}
			sim := gitHub(t, e, secret)
			addAlert(t, sim, "acme/storefront", "openai_api_key")
			ds := sim.Deliveries()
			e.server.WaitBackground()
			if len(ds) != 1 || ds[0].Status != tt.wantStatus {
				t.Fatalf("deliveries %+v, want status %d", ds, tt.wantStatus)
			}
			if got := e.runner.started(); len(got) != 0 {
				t.Errorf("started %+v", got)
			}
		})
	}
}

func TestGitHubWebhookPingAndOtherEvents(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, nil, alertsConfig)
	tests := []struct {
		event, delivery, body string
		want                  int
	}{
		{event: "ping", delivery: "d-1", body: `{"zen":"Keep it logically awesome."}`, want: http.StatusOK},
		{event: "push", delivery: "d-2", body: `{"ref":"refs/heads/main"}`, want: http.StatusAccepted},
		{event: "secret_scanning_alert", delivery: "d-3", body: `{"action":"created"}`, want: http.StatusBadRequest},
		{event: "secret_scanning_alert", delivery: "d-4", want: http.StatusAccepted,
			body: `{"action":"resolved","alert":{"number":3,"secret_type":"openai_api_key"},"repository":{"full_name":"acme/storefront"}}`},
		{event: "secret_scanning_alert", delivery: "", body: `{}`, want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, e.http.URL+"/github/webhook", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", tt.event)
		req.Header.Set("X-GitHub-Delivery", tt.delivery)
		req.Header.Set("X-Hub-Signature-256", githubsim.Sign([]byte(tt.body), e.ghSecret))
		if status, body, _ := e.do(req); status != tt.want {
			t.Errorf("%s %s: status %d (%s), want %d", tt.event, tt.delivery, status, body, tt.want)
		}
	}
	e.server.WaitBackground()
	if got := e.runner.started(); len(got) != 0 {
		t.Errorf("started %+v", got)
	}
}

func TestGitHubAlertThatCannotStartIsSaidInSlackAndRetried(t *testing.T) {
	t.Parallel()
	runner := &fakeRunner{startErr: errors.New("resolve github-alert:acme/storefront#1: GitHub token lacks permission")}
	e := newEnvConfig(t, runner, alertsConfig)
	e.runner = runner
	sim := gitHub(t, e, e.ghSecret)
	addAlert(t, sim, "acme/storefront", "openai_api_key")
	ds := sim.Deliveries()
	e.server.WaitBackground()
	msgs := e.sim.Channel(incidents)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "did not start") || !strings.Contains(msgs[0].Text, "lacks permission") {
		t.Fatalf("channel %+v: want one message saying the run did not start and why", msgs)
	}
	runner.mu.Lock()
	runner.startErr = nil
	runner.mu.Unlock()
	// A redelivery after the cause is fixed starts the run: the failed start did not claim the alert.
	if err := sim.Redeliver(ds[0].ID); err != nil {
		t.Fatal(err)
	}
	sim.Deliveries()
	e.server.WaitBackground()
	if got := runner.started(); len(got) != 1 {
		t.Errorf("after redelivery: started %d runs, want 1", len(got))
	}
}

var _ slackserver.Runner = (*fakeRunner)(nil)
