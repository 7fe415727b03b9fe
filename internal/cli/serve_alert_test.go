package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/journal"
)

// TestServeAlertTriggeredRun: a new secret-scanning alert reaches `respond serve` as GitHub's
// webhook and the key is revoked with nobody typing anything; the value is fetched from the
// alert and appears in no log, journal, Slack message or webhook answer.
func TestServeAlertTriggeredRun(t *testing.T) {
	oa := openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: 71})
	oaSrv := httptest.NewServer(oa)
	t.Cleanup(oaSrv.Close)
	keys := fakekey.Random()
	ghTok, hookSecret := keys.GitHubToken(), keys.Hex(32)
	gh := githubsim.New(githubsim.Options{Token: ghTok})
	if _, err := gh.AddRepo(githubsim.Repo{Name: "acme/storefront", Private: true}); err != nil {
		t.Fatal(err)
	}
	ghSrv := httptest.NewServer(gh)
	t.Cleanup(ghSrv.Close)
	newKey := filepath.Join(t.TempDir(), "new-key")
	config := "playbooks:\n  openai-key-leak:\n    users: [U0ALICE]\n    channels: [C0INCIDENT]\n    approvers: [U0BOB]\n" +
		"github_alerts:\n  playbook: openai-key-leak\n  channel: C0INCIDENT\n  secret_types: [openai_api_key]\n" +
		"  inputs: {secret_file: " + newKey + "}\n"
	h := startServeWith(t, config, map[string]string{"OPENAI_ADMIN_KEY": oa.AdminKey(), "RESPOND_OPENAI_BASE_URL": oaSrv.URL + "/v1",
		"GITHUB_TOKEN": ghTok, "RESPOND_GITHUB_API_URL": ghSrv.URL, "GITHUB_WEBHOOK_SECRET": hookSecret}, "")
	gh.SetWebhook(&githubsim.Webhook{URL: "http://" + h.addr + "/github/webhook", Secret: hookSecret, APIURL: ghSrv.URL})

	leaked := oa.LeakedKeySecret()
	if _, err := gh.AddAlert("acme/storefront", githubsim.Alert{SecretType: "openai_api_key", Secret: leaked}); err != nil {
		t.Fatal(err)
	}
	if ds := gh.Deliveries(); len(ds) != 1 || ds[0].Status != http.StatusAccepted {
		t.Fatalf("deliveries %+v", ds)
	}
	h.waitFor("the leaked key to be revoked", func() bool {
		k, _ := oa.Key(oa.LeakedKeyID())
		return k.Deleted
	})
	h.waitFor("the run to finish", func() bool {
		runs, _ := journal.List(h.state)
		for _, r := range runs {
			if r.Playbook == "openai-key-leak" && r.Status != "interrupted" {
				return true
			}
		}
		return false
	})
	if err := h.stop(); err != nil {
		t.Logf("serve: %v", err)
	}
	all := h.everything(t)
	if strings.Contains(all, leaked) {
		t.Error("the alert's value appears in the server's log, the journal or Slack")
	}
	if !strings.Contains(all, `"secret_refs":{"key":"github-alert:acme/storefront#1"}`) {
		t.Error("the journal does not name the alert the key came from")
	}
	if !strings.Contains(all, "github-secret-scanning") {
		t.Error("nothing says the run was started by GitHub secret scanning")
	}
}

// TestServeOneTimeFormRun: `/respond run openai-key-leak` without the key answers with a one-time
// link; the value given there revokes the key and appears in no log, journal or Slack message.
func TestServeOneTimeFormRun(t *testing.T) {
	oa := openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: 72})
	oaSrv := httptest.NewServer(oa)
	t.Cleanup(oaSrv.Close)
	newKey := filepath.Join(t.TempDir(), "new-key")
	config := "playbooks:\n  openai-key-leak:\n    users: [U0ALICE]\n    channels: [C0INCIDENT]\n    approvers: [U0BOB]\n"
	h := startServeWith(t, config, map[string]string{"OPENAI_ADMIN_KEY": oa.AdminKey(),
		"RESPOND_OPENAI_BASE_URL": oaSrv.URL + "/v1"}, "self")
	if st := h.post("/slack/commands", url.Values{"command": {"/respond"}, "text": {"run openai-key-leak secret_file=" + newKey},
		"user_id": {"U0ALICE"}, "channel_id": {channelID}, "response_url": {h.sim.NewResponseURL(channelID, "U0ALICE", "")}}); st != http.StatusOK {
		t.Fatalf("slash command answered %d", st)
	}
	link := h.lastAnswer(regexp.MustCompile(`http://` + regexp.QuoteMeta(h.addr) + `/form/[A-Za-z0-9_-]+`))
	leaked := "  " + oa.LeakedKeySecret() + "\n" // pasted with the whitespace a copy brings
	resp, err := http.PostForm(link, url.Values{"key": {leaked}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("form answered %d:\n%s", resp.StatusCode, page)
	}
	h.waitFor("the leaked key to be revoked", func() bool {
		k, _ := oa.Key(oa.LeakedKeyID())
		return k.Deleted
	})
	h.waitFor("the run to finish", func() bool {
		runs, _ := journal.List(h.state)
		for _, r := range runs {
			if r.Playbook == "openai-key-leak" && r.Status != "interrupted" {
				return true
			}
		}
		return false
	})
	if err := h.stop(); err != nil {
		t.Logf("serve: %v", err)
	}
	if strings.Contains(h.everything(t)+string(page), strings.TrimSpace(leaked)) {
		t.Error("the value given on the form appears in the server's log, the journal, Slack or the page")
	}
}

// everything is all the server wrote: its log, the Slack channel and the state directory.
func (h *serveHarness) everything(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(h.errs.String() + h.sim.Transcript(channelID))
	for _, r := range h.sim.Responses() {
		b.WriteString(r.Text)
	}
	filepath.WalkDir(h.state, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		return nil
	})
	return b.String()
}

func TestCheckPublicURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		socket  bool
		wantErr string
	}{
		{url: ""},
		{url: "https://respond.example.com"},
		{url: "https://respond.example.com/slack/"},
		{url: "http://127.0.0.1:8080"},
		{url: "http://localhost:8080"},
		{url: "http://respond.example.com", wantErr: "must be https://"},
		{url: "respond.example.com", wantErr: "want https://HOST"},
		{url: "https://respond.example.com/?x=1", wantErr: "want https://HOST"},
		{url: "https://respond.example.com", socket: true, wantErr: "Socket Mode has no HTTP endpoint"},
	}
	for _, tt := range tests {
		err := checkPublicURL(serveOptions{PublicURL: tt.url, SocketMode: tt.socket})
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkPublicURL(%q, socket %v) = %v, want %q", tt.url, tt.socket, err, tt.wantErr)
		}
	}
}
