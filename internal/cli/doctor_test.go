package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/doctor/doctortest"
)

// These tests run cli.Main in-process one at a time: urfave/cli's help flag is a package-level
// value every command applies, so concurrent Mains race on it.
func TestDoctorCommand(t *testing.T) {
	ok := doctortest.Start(t, 21, doctortest.Config{})
	bad := doctortest.Start(t, 22, doctortest.Config{SlackChannel: slacksim.Channel{Private: true, WithoutBot: true}})
	for _, tc := range []struct {
		name string
		w    *doctortest.World
		args []string
		code int
		out  []string
	}{
		{"healthy, default playbook", ok, []string{"doctor", "--github-org", "acme", "--github-repo", "acme/api"}, cli.ExitOK,
			[]string{"playbook openai-key-leak", "✓ read usage", "? delete project API keys: cannot be checked read-only",
				"✓ bot can post in #security-incidents", "no check failed."}},
		{"a failing check exits 4 and says how to fix it", bad, []string{"doctor", "openai-key-leak"}, cli.ExitCredentials,
			[]string{"✗ bot can post in #security-incidents", "fix: type `/invite @respond` in #security-incidents",
				"✓ read Actions runs and logs: allowed by the token's scopes", "1 check(s) failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := respond(t, tc.w.Env, "", tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.out {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, s := range tc.w.Secrets() {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Fatal("doctor printed a credential")
				}
			}
		})
	}
}

func TestDoctorJSON(t *testing.T) {
	w := doctortest.Start(t, 23, doctortest.Config{SlackScopes: []string{"channels:read", "groups:read"}})
	r := respond(t, w.Env, "", "doctor", "--output", "json", "--github-repo", "acme/api")
	if r.code != cli.ExitCredentials {
		t.Fatalf("exit %d, want %d (chat:write missing)\n%s%s", r.code, cli.ExitCredentials, r.stdout, r.stderr)
	}
	var rep struct {
		Playbook string `json:"playbook"`
		OK       bool   `json:"ok"`
		Failed   int    `json:"failed"`
		Checks   []struct {
			Service, Check, Status, Fix string
			Steps                       []string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, r.stdout)
	}
	found := false
	for _, c := range rep.Checks {
		if c.Service == "Slack" && c.Check == "chat:write scope" {
			found = c.Status == "fail" && strings.Contains(c.Fix, "chat:write") && len(c.Steps) > 0
		}
	}
	if rep.Playbook != "openai-key-leak" || rep.OK || rep.Failed != 1 || !found {
		t.Errorf("report: %+v", rep)
	}
}

func TestDoctorUsage(t *testing.T) {
	for _, args := range [][]string{{"doctor", "a", "b"}, {"doctor", "--output", "yaml"}, {"doctor", "no-such-playbook"},
		{"doctor", "--github-repo", "acme"}, {"doctor", "--github-org", "acme/api"}} {
		if r := respond(t, nil, "", args...); r.code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, cli.ExitUsage, r.stderr)
		}
	}
	r := respond(t, nil, "", "doctor", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "read-only") {
		t.Errorf("doctor --help: exit %d\n%s", r.code, r.stdout)
	}
}
