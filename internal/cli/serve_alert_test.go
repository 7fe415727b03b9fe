package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
		"GITHUB_TOKEN": ghTok, "RESPOND_GITHUB_API_URL": ghSrv.URL, "GITHUB_WEBHOOK_SECRET": hookSecret})
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
	var everything strings.Builder
	everything.WriteString(h.errs.String() + h.sim.Transcript(channelID))
	filepath.WalkDir(h.state, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			everything.Write(b)
		}
		return nil
	})
	all := everything.String()
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
