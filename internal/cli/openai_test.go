package cli_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/journal"
)

type simWorld struct {
	sim    *openaisim.Server
	env    map[string]string
	state  string
	key    string // the leaked value
	keyArg string // --input key=@FILE
	out    string // where the replacement key is delivered
}

func startOpenAI(t *testing.T, seed uint64) *simWorld {
	t.Helper()
	sim := openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: seed})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	state := t.TempDir()
	w := &simWorld{sim: sim, state: state, key: sim.LeakedKeySecret(),
		out: filepath.Join(t.TempDir(), "new-key")}
	w.keyArg = "key=@" + writeFile(t, "leaked", w.key)
	w.env = map[string]string{
		"RESPOND_STATE_DIR":              state,
		"OPENAI_ADMIN_KEY":               sim.AdminKey(),
		"RESPOND_OPENAI_BASE_URL":        srv.URL + "/v1",
		"RESPOND_OPENAI_MAX_RETRY_DELAY": "20ms",
	}
	return w
}

func (w *simWorld) args(extra ...string) []string {
	return append([]string{"--input", w.keyArg, "--input", "secret_file=" + w.out, "--input", "alert_emails=oncall@example.com"}, extra...)
}

// everything returns all text respond wrote: the streams and every file in the state dir.
func (w *simWorld) everything(t *testing.T, r result) string {
	t.Helper()
	var all strings.Builder
	all.WriteString(r.stdout + r.stderr)
	filepath.WalkDir(w.state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			all.Write(b)
		}
		return nil
	})
	return all.String()
}

func TestOpenAIKeyLeakPlaybookContainsTheKey(t *testing.T) {
	w := startOpenAI(t, 11)
	r := respond(t, w.env, "", append([]string{"run", "--output", "json"}, w.args("openai-key-leak")...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	leaked, _ := w.sim.Key(w.sim.LeakedKeyID())
	if !leaked.Deleted {
		t.Error("the leaked key was not revoked")
	}
	value, err := os.ReadFile(w.out)
	if err != nil {
		t.Fatalf("replacement not delivered: %v", err)
	}
	st, _ := os.Stat(w.out)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("delivered file mode %v", st.Mode().Perm())
	}
	var fresh []openaisim.KeyState
	for _, k := range w.sim.State().Keys {
		if strings.HasPrefix(k.Name, "respond-") && !k.Deleted {
			fresh = append(fresh, k)
		}
	}
	if len(fresh) != 1 || fresh[0].AllPermissions() || fresh[0].ExpiresAt.IsZero() {
		t.Fatalf("replacement keys %+v: want exactly one, scoped and expiring", fresh)
	}
	var sum struct {
		Outcome string `json:"outcome"`
		Steps   []struct {
			ID      string         `json:"id"`
			Outputs map[string]any `json:"outputs"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Outcome != "succeeded" {
		t.Fatalf("summary %v %+v", err, sum)
	}
	var review map[string]any
	for _, st := range sum.Steps {
		if st.ID == "review" {
			review = st.Outputs
		}
	}
	if review["flagged"] != true || len(review["new_models"].([]any)) == 0 {
		t.Errorf("review did not flag the planted spike: %v", review["flags"])
	}
	// Neither the leaked key nor the new one appears anywhere respond wrote.
	all := w.everything(t, r)
	for name, secret := range map[string]string{"leaked key": w.key, "new key": strings.TrimSpace(string(value))} {
		if where, ok := leak(all, secret); ok {
			t.Errorf("%s leaked: …%s…", name, where)
		}
	}
}

func TestDryRunPrintsThePlanAndChangesNothing(t *testing.T) {
	w := startOpenAI(t, 12)
	before := w.sim.Snapshot()
	r := respond(t, w.env, "", append([]string{"run", "--dry-run"}, w.args("openai-key-leak")...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if after := w.sim.Snapshot(); !bytes.Equal(before, after) {
		t.Error("the simulator's state changed in a dry run")
	}
	for _, want := range []string{
		"found key_storefront_backend", // identify is real in a dry run
		"→ DELETE /v1/organization/projects/proj_storefront/api_keys/key_storefront_backend",
		"→ POST /v1/organization/projects/proj_storefront/service_accounts ",
		// Derived from the leaked key's completions, embeddings and moderations, and the
		// project's vector store storage (reported per project only).
		`scopes=["api.model.read","api.model.request","api.responses.write","api.vector_stores.read","api.vector_stores.write"]`,
		"→ GET /v1/models", // the new key is proven before delivery
		"→ deliver file " + w.out,
		"→ POST /v1/organization/projects/proj_storefront/spend_limit",
		"→ POST /v1/organization/projects/proj_storefront/spend_alerts",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("plan does not show %q", want)
		}
	}
	if _, err := os.Stat(w.out); err == nil {
		t.Error("a dry run delivered a key")
	}
	if where, ok := leak(w.everything(t, r), w.key); ok {
		t.Errorf("leaked key in dry-run output: …%s…", where)
	}
}

func TestFaultsNeitherLeakNorDuplicate(t *testing.T) {
	w := startOpenAI(t, 13)
	w.sim.SetFaults(openaisim.FaultConfig{Seed: 5, Rules: []openaisim.FaultRule{
		{Route: openaisim.RouteCreateServiceAccountKey, ApplyThenDrop: 1, MaxFaults: 1},
		{Route: openaisim.RouteDeleteProjectKey, ApplyThenDrop: 1, MaxFaults: 1},
		{Route: "GET", ServerError: 0.2, TooManyRequests: 0.1, RetryAfter: 10 * time.Millisecond},
	}})
	r := respond(t, w.env, "", append([]string{"run"}, w.args("openai-key-leak")...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "never delivered") && !strings.Contains(r.stderr, "any key it made was deleted") {
		t.Errorf("the lost key creation was not reconciled:\n%s", r.stderr)
	}
	live := 0
	for _, k := range w.sim.State().Keys {
		if strings.HasPrefix(k.Name, "respond-") && !k.Deleted {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d live replacement keys after a lost create, want 1", live)
	}
	value, _ := os.ReadFile(w.out)
	all := w.everything(t, r)
	for name, secret := range map[string]string{"leaked key": w.key, "new key": strings.TrimSpace(string(value)), "admin key": w.sim.AdminKey()} {
		if where, ok := leak(all, secret); ok {
			t.Errorf("%s leaked: …%s…", name, where)
		}
	}
}

func TestMissingAdminKeyFailsBeforeAnythingChanges(t *testing.T) {
	w := startOpenAI(t, 14)
	delete(w.env, "OPENAI_ADMIN_KEY")
	before := w.sim.Snapshot()
	r := respond(t, w.env, "", append([]string{"run"}, w.args("openai-key-leak")...)...)
	if r.code != cli.ExitCredentials || !strings.Contains(r.stderr, "OPENAI_ADMIN_KEY is not set") {
		t.Fatalf("exit %d, want 4\n%s", r.code, r.stderr)
	}
	if !bytes.Equal(before, w.sim.Snapshot()) {
		t.Error("state changed")
	}
	w.env["OPENAI_ADMIN_KEY"] = w.key // a project key is not an admin key
	r = respond(t, w.env, "", append([]string{"run"}, w.args("openai-key-leak")...)...)
	if r.code != cli.ExitCredentials {
		t.Errorf("exit %d with a non-admin key, want 4\n%s", r.code, r.stderr)
	}
	if _, ok := leak(r.stderr, w.key); ok {
		t.Error("the key used as admin key was printed")
	}
}

func TestRollbackRestoresBudgets(t *testing.T) {
	w := startOpenAI(t, 15)
	before := w.sim.State()
	if r := respond(t, w.env, "", append([]string{"run"}, w.args("openai-key-leak")...)...); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	runs, _ := journal.List(w.state)
	id := runs[0].RunID
	r := respond(t, w.env, "", "rollback", "--step", "budgets", id)
	if r.code != 0 {
		t.Fatalf("rollback exit %d\n%s", r.code, r.stderr)
	}
	after := w.sim.State()
	count := func(s openaisim.State, project string) (limits, alerts int) {
		for _, l := range s.SpendLimits {
			if l.ProjectID == project {
				limits++
			}
		}
		for _, a := range s.SpendAlerts {
			if a.ProjectID == project {
				alerts++
			}
		}
		return
	}
	bl, ba := count(before, "proj_storefront")
	al, aa := count(after, "proj_storefront")
	if bl != al || ba != aa {
		t.Errorf("after rollback: %d limits, %d alerts; before the run: %d, %d", al, aa, bl, ba)
	}
	if _, err := journal.Verify(w.state, id); err != nil {
		t.Errorf("journal after rollback: %v", err)
	}
	rep := respond(t, w.env, "", "runs", "report", id)
	for _, want := range []string{"# openai-key-leak: succeeded", "| revoke | `openai.revoke-key` | succeeded", "## What changed",
		"- **revoke**: revoked key", "## What a person must still do", "Tell the key's owner (alice@example.com)"} {
		if !strings.Contains(rep.stdout, want) {
			t.Errorf("runs report lacks %q", want)
		}
	}
	if where, ok := leak(rep.stdout, w.key); ok {
		t.Errorf("report leaks the key: …%s…", where)
	}
	if r := respond(t, w.env, "", "rollback", "--step", "identify", id); r.code != cli.ExitUsage {
		t.Errorf("rolling back a read-only step: exit %d", r.code)
	}
}

func TestChaosRehearsalEndsInTheSameState(t *testing.T) {
	env := map[string]string{"RESPOND_STATE_DIR": t.TempDir()}
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	mdFile := filepath.Join(t.TempDir(), "r.md")
	r := respond(t, env, "", "rehearse", "--chaos", "--seed", "9", "--json", jsonFile, "--report", mdFile, "openai-key-leak")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		Playbook       string `json:"playbook"`
		RunID          string `json:"run_id"`
		TimeToRevoke   int64  `json:"time_to_revoke_ms"`
		DurationMS     int64  `json:"duration_ms"`
		FaultsInjected int    `json:"faults_injected"`
		LeaksInOutputs int    `json:"leaks_in_outputs"`
		Steps          []struct {
			ID       string `json:"id"`
			Uses     string `json:"uses"`
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
		} `json:"steps"`
		Verifications []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"verifications"`
	}
	b, _ := os.ReadFile(jsonFile)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.FaultsInjected == 0 || rep.LeaksInOutputs != 0 || rep.RunID == "" || rep.DurationMS <= 0 || len(rep.Steps) < 12 {
		t.Errorf("report %+v", rep)
	}
	for _, v := range rep.Verifications {
		if !v.OK {
			t.Errorf("verification failed under chaos: %s", v.Name)
		}
	}
	md, _ := os.ReadFile(mdFile)
	for _, want := range []string{"## Timeline", "## Verifications", "## What a person must still do", "## Chaos", "Time to revoke"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestRehearsalVerifiesFromState(t *testing.T) {
	env := map[string]string{"RESPOND_STATE_DIR": t.TempDir()}
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	r := respond(t, env, "", "rehearse", "--seed", "42", "--json", jsonFile, "openai-key-leak")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var res struct {
		TimeToRevoke  int64 `json:"time_to_revoke_ms"`
		Verifications []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"verifications"`
	}
	b, _ := os.ReadFile(jsonFile)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Verifications) < 8 || res.TimeToRevoke <= 0 {
		t.Errorf("result %+v", res)
	}
	for _, v := range res.Verifications {
		if !v.OK {
			t.Errorf("verification failed: %s", v.Name)
		}
	}
	// One key, one fingerprint: the world's line and the run mask the key the same way.
	masks := regexp.MustCompile(`sk-proj-…[A-Za-z0-9_-]{4}#[0-9a-f]{6}`).FindAllString(r.stderr, -1)
	if len(masks) < 2 || slices.ContainsFunc(masks, func(m string) bool { return m != masks[0] }) {
		t.Errorf("the leaked key is shown with different fingerprints: %v", slices.Compact(slices.Sorted(slices.Values(masks))))
	}
	dry := respond(t, env, "", "rehearse", "--seed", "42", "--dry-run", "openai-key-leak")
	if dry.code != 0 || !strings.Contains(dry.stdout, "✓ dry run changed nothing") {
		t.Errorf("dry rehearsal exit %d\n%s", dry.code, dry.stderr)
	}
}

// A missing GITHUB_TOKEN must not hold back the revocation: the key dies, every step that needs
// no GitHub runs, the GitHub steps are skipped with the reason, and the run says how to finish.
func TestMissingGitHubTokenDoesNotHoldBackRevocation(t *testing.T) {
	w := startOpenAI(t, 15)
	r := respond(t, w.env, "", append([]string{"run"}, w.args("--input", "github_repos=acme/storefront", "openai-key-leak")...)...)
	if r.code != cli.ExitStepFailed {
		t.Fatalf("exit %d, want %d (revoked, GitHub steps not run)\n%s\n%s", r.code, cli.ExitStepFailed, r.stdout, r.stderr)
	}
	req, _ := http.NewRequest("GET", w.env["RESPOND_OPENAI_BASE_URL"]+"/models", nil)
	req.Header.Set("Authorization", "Bearer "+w.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the leaked key answers %d after the run, want 401", resp.StatusCode)
	}
	if !strings.Contains(r.stderr, "containment goes ahead") {
		t.Errorf("no warning before the revocation:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "Step search_github was not run (preflight failed") || !strings.Contains(r.stdout, "respond resume ") {
		t.Errorf("the summary does not say what was not run and how to finish:\n%s", r.stdout)
	}
}

// Where the replacement goes is checked before the revocation: an existing secret_file stops the
// run before anything changes, and overwrite_secret_file lets it go ahead.
func TestExistingSecretFileStopsTheRunBeforeTheRevocation(t *testing.T) {
	w := startOpenAI(t, 16)
	if err := os.WriteFile(w.out, []byte("the app's current key file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := w.sim.Snapshot()
	r := respond(t, w.env, "", append([]string{"run"}, w.args("openai-key-leak")...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "exists") || !strings.Contains(r.stderr, "overwrite") {
		t.Fatalf("exit %d, want a preflight failure naming the existing file\n%s", r.code, r.stderr)
	}
	if !bytes.Equal(before, w.sim.Snapshot()) {
		t.Error("the organization changed although the run stopped before the revocation")
	}
	if b, _ := os.ReadFile(w.out); string(b) != "the app's current key file\n" {
		t.Error("the existing file was changed")
	}
	r = respond(t, w.env, "", append([]string{"run"}, w.args("--input", "overwrite_secret_file=true", "openai-key-leak")...)...)
	if r.code != 0 {
		t.Fatalf("with overwrite_secret_file=true: exit %d\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(w.out); !strings.HasPrefix(string(b), "sk-") {
		t.Error("the replacement was not written over the file")
	}
}

// A replacement that cannot be minted does not stop the cleanup: the key is dead, the budgets are
// still tightened, and the run ends failed saying the service has no working key.
func TestFailedReplacementDoesNotStopTheCleanup(t *testing.T) {
	w := startOpenAI(t, 17)
	w.sim.SetFaults(openaisim.FaultConfig{Seed: 1, Rules: []openaisim.FaultRule{
		{Route: openaisim.RouteCreateServiceAccount, ServerError: 1},
	}})
	r := respond(t, w.env, "", append([]string{"run"}, w.args("openai-key-leak")...)...)
	if r.code != cli.ExitStepFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitStepFailed, r.stderr)
	}
	for _, want := range []string{"replace            FAILED", "review             ok", "budgets            ok"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "NO REPLACEMENT: the service has no working key") {
		t.Errorf("the summary does not say the service has no working key:\n%s", r.stdout)
	}
}

// A key a teammate already revoked in the dashboard is a state, not an error: the run says so and
// every cleanup step runs (here: the replacement and the budgets; search steps need their inputs).
func TestAlreadyRevokedKeyLetsTheCleanupRun(t *testing.T) {
	w := startOpenAI(t, 18)
	if !w.sim.RevokeByHand(w.sim.LeakedKeyID(), "bob@example.com") {
		t.Fatal("could not revoke by hand")
	}
	r := respond(t, w.env, "", append([]string{"run"}, w.args("--input", "project=proj_storefront", "openai-key-leak")...)...)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"ALREADY REVOKED", "revoked by bob@example.com", "verify             ok", "replace            ok", "budgets            ok"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, r.stderr)
		}
	}
	// Given the ID, the audit log says who and when, the ID is shown as it is, and the DELETE
	// is answered "already gone".
	r = respond(t, w.env, "", "run", "--input", "key="+w.sim.LeakedKeyID(), "--input", "secret_file="+w.out+".2", "openai-key-leak")
	if r.code != 0 || !strings.Contains(r.stderr, w.sim.LeakedKeyID()+" revoked by bob@example.com") {
		t.Errorf("by ID: exit %d\n%s", r.code, r.stderr)
	}
}
