package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/cli"
)

// containOnly is a team's playbook that only contains: find the key, revoke it, prove it dead.
const containOnly = `name: contain-only
inputs:
  key: {description: the leaked key, secret: true, required: true}
%s
steps:
  - id: identify
    uses: openai.find-key
    with: {key: "{{ .inputs.key }}"}
  - id: revoke
    uses: openai.revoke-key
    with:
      project: "{{ .steps.identify.outputs.project_id }}"
      key_id: "{{ .steps.identify.outputs.key_id }}"
  - id: verify
    uses: openai.verify-key-dead
    with: {key: "{{ .inputs.key }}", within: 10s, every: 100ms}
`

// rehearsalChecks runs a rehearsal and returns its exit code and the names of its checks, with
// whether each held.
func rehearsalChecks(t *testing.T, args ...string) (int, map[string]bool, []string, result) {
	t.Helper()
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	r := respond(t, nil, "", append([]string{"rehearse", "--seed", "11", "--json", jsonFile}, args...)...)
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		return r.code, nil, nil, r
	}
	var rep struct {
		Verifications []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"verifications"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v", err)
	}
	ok := map[string]bool{}
	var names []string
	for _, v := range rep.Verifications {
		ok[v.Name] = v.OK
		names = append(names, v.Name)
	}
	return r.code, ok, names, r
}

// A playbook is judged on the kinds it uses: no replacement, purge or budget check is held
// against a playbook that does none of them, and a notify channel of its own is served and checked.
func TestRehearseCustomPlaybookGetsItsKindsChecks(t *testing.T) {
	tests := []struct {
		name   string
		notify string
		want   []string
	}{
		{"contain only", "",
			[]string{"leaked key is dead", "leaked key is deleted", "no key in any output"}},
		{"contain and report to the team's channel", "notify:\n  slack: {channel: \"#team-ir\"}",
			[]string{"leaked key is dead", "leaked key is deleted", "Slack parent message shows every step done", "no key in any output"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := writeFile(t, "pb.yaml", strings.Replace(containOnly, "%s", tt.notify, 1))
			code, ok, names, r := rehearsalChecks(t, pb)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, r.stdout, r.stderr)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			for n, held := range ok {
				if !held {
					t.Errorf("check failed: %s", n)
				}
			}
		})
	}
}

// The built-in playbook keeps every check it always had.
func TestRehearseDefaultPlaybookKeepsEveryCheck(t *testing.T) {
	code, ok, names, r := rehearsalChecks(t, "openai-key-leak")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, r.stderr)
	}
	want := []string{"leaked key is dead", "leaked key is deleted", "exactly one replacement key", "replacement key is scoped",
		"replacement key expires", "replacement key delivered to the file", "replacement key works",
		"leaked key gone from the local clone", "leaked key gone from the remote", "Actions logs with the key deleted",
		"Actions logs without the key kept", "alert for the key resolved as revoked", "alert for another secret left open",
		"replacement key delivered to the Actions secret", "replacement key only in its sinks",
		"Slack parent message shows every step done", "project spend limit set", "project spend alerts set", "no key in any output"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	for n, held := range ok {
		if !held {
			t.Errorf("check failed: %s", n)
		}
	}
}

// An exec step runs a real program: a rehearsal refuses it unless allowed, and an allowed one is
// told it is a rehearsal, whatever the playbook's env says.
func TestRehearseExecStep(t *testing.T) {
	out := filepath.Join(t.TempDir(), "seen")
	pb := writeFile(t, "pb.yaml", strings.Replace(containOnly, "%s", "", 1)+`  - id: page
    uses: exec
    with:
      argv: [/bin/sh, -c, 'printf %s "$RESPOND_REHEARSAL" > "$0"', "`+out+`"]
      env: {RESPOND_REHEARSAL: "0"}
`)
	refused := respond(t, nil, "", "rehearse", "--seed", "11", pb)
	if refused.code != cli.ExitUsage || !strings.Contains(refused.stderr, `"page" (line 17)`) || !strings.Contains(refused.stderr, "--allow-exec") {
		t.Errorf("without --allow-exec: exit %d\n%s", refused.code, refused.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("the program ran without --allow-exec")
	}

	// A dry run plans the exec step and runs nothing: no --allow-exec needed.
	if dry := respond(t, nil, "", "rehearse", "--seed", "11", "--dry-run", pb); dry.code != 0 {
		t.Errorf("dry run: exit %d\n%s", dry.code, dry.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("the program ran in a dry run")
	}

	code, ok, names, r := rehearsalChecks(t, "--allow-exec", pb)
	if code != 0 {
		t.Fatalf("with --allow-exec: exit %d\n%s", code, r.stderr)
	}
	seen, err := os.ReadFile(out)
	if err != nil || string(seen) != "1" {
		t.Errorf("the program saw RESPOND_REHEARSAL=%q (%v), want 1", seen, err)
	}
	if want := []string{"leaked key is dead", "leaked key is deleted", "no key in any output"}; !cmp.Equal(want, names) {
		t.Errorf("checks %v, want %v (%v)", names, want, ok)
	}
}

// A playbook asking for what the world cannot fill is refused before anything runs, with what
// the world does provide.
func TestRehearseRefusesInputsTheWorldCannotFill(t *testing.T) {
	pb := writeFile(t, "pb.yaml", strings.Replace(strings.Replace(containOnly, "%s", "", 1),
		"  key: {description: the leaked key, secret: true, required: true}\n",
		"  key: {description: the leaked key, secret: true, required: true}\n  ticket: {description: incident ticket, required: true}\n", 1))
	r := respond(t, nil, "", "rehearse", "--seed", "11", pb)
	for _, want := range []string{`"ticket" (line 4)`, "provides only", "git_repos", "key", "log_paths", "secret_file"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal lacks %q: exit %d\n%s", want, r.code, r.stderr)
		}
	}
	if r.code != cli.ExitUsage {
		t.Errorf("exit %d, want %d", r.code, cli.ExitUsage)
	}
}
