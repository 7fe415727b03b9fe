package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/journal"
)

// TestRehearsalFromAlert: the world's GitHub raises the alert, its webhook reaches the server's
// handler, and the run revokes the key and passes every check with nobody typing the key.
func TestRehearsalFromAlert(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	r := respond(t, env, "", "rehearse", "--from-alert", "--seed", "43", "--json", jsonFile, "openai-key-leak")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var res struct {
		RunID         string `json:"run_id"`
		AlertToRevoke int64  `json:"alert_to_revoke_ms"`
		TimeToRevoke  int64  `json:"time_to_revoke_ms"`
		Verifications []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"verifications"`
	}
	b, _ := os.ReadFile(jsonFile)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.AlertToRevoke <= 0 || res.AlertToRevoke < res.TimeToRevoke || len(res.Verifications) < 8 {
		t.Errorf("alert to revocation %d ms, time to revoke %d ms, %d checks", res.AlertToRevoke, res.TimeToRevoke, len(res.Verifications))
	}
	for _, v := range res.Verifications {
		if !v.OK {
			t.Errorf("verification failed: %s", v.Name)
		}
	}
	if !strings.Contains(r.stdout, "from GitHub's alert to the revocation") {
		t.Error("the time from alert to revocation is not shown")
	}
	recs, err := journal.Read(state, res.RunID)
	if err != nil || len(recs) == 0 {
		t.Fatalf("journal: %v", err)
	}
	start := recs[0].Data
	if start["started_by"] != "github-secret-scanning" || !strings.Contains(string(mustJSON(t, start["secret_refs"])), "github-alert:acme/storefront#") {
		t.Errorf("run.started: started_by %v, secret_refs %v", start["started_by"], start["secret_refs"])
	}
	for _, bad := range [][]string{{"--from-alert", "--dry-run"}, {"--from-alert", "--world", "x"}} {
		if r := respond(t, env, "", append(append([]string{"rehearse"}, bad...), "openai-key-leak")...); r.code != 2 {
			t.Errorf("rehearse %v: exit %d, want 2", bad, r.code)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
