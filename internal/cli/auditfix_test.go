package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai/contract"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/rehearsal"
)

// messyWorld is the messy organization behind the OpenAI contract check, with its GitHub side.
type messyWorld struct {
	sim    *openaisim.Server
	env    map[string]string
	leaked string // the value of the open GitHub alert: a live key of the organization
}

func startMessyWorld(t *testing.T, seed uint64) *messyWorld {
	t.Helper()
	sim := openaisim.New(rehearsal.MessyOpenAI(), openaisim.Options{Seed: seed})
	srv := httptest.NewServer(contract.Handler(t, sim))
	t.Cleanup(srv.Close)
	tok := fakekey.New(seed).GitHubToken()
	gs := githubsim.New(githubsim.Options{Token: tok, Seed: seed})
	leaked := sim.KeySecret("key_storefront_ci")
	if err := gs.Seed(rehearsal.MessyGitHub(leaked, sim.Now())); err != nil {
		t.Fatal(err)
	}
	gsrv := httptest.NewServer(gs)
	t.Cleanup(gsrv.Close)
	return &messyWorld{sim: sim, leaked: leaked, env: map[string]string{
		"RESPOND_STATE_DIR": t.TempDir(), "OPENAI_ADMIN_KEY": sim.AdminKey(), "RESPOND_OPENAI_BASE_URL": srv.URL + "/v1",
		"RESPOND_OPENAI_MAX_RETRY_DELAY": "20ms", "GITHUB_TOKEN": tok, "RESPOND_GITHUB_API_URL": gsrv.URL + "/"}}
}

type auditJSON struct {
	Findings []struct{ Check, Resource, Fix string }
}

// findings runs a read-only audit and returns "check on resource" for each finding, and the fix
// of each.
func (w *messyWorld) findings(t *testing.T) map[string]string {
	t.Helper()
	r := respond(t, w.env, "", "audit", "--output", "json")
	var rep auditJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("audit: exit %d, not a JSON report (%v)\n%s", r.code, err, r.stderr)
	}
	out := map[string]string{}
	for _, f := range rep.Findings {
		out[f.Check+" on "+f.Resource] = f.Fix
	}
	return out
}

var fixRunRe = regexp.MustCompile(`run (\d{8}T\d{6}Z-[0-9a-f]{6}): `)

// Each safe fix holds (the re-audit no longer has the finding), findings that need a person keep
// their fix, and respond rollback RUN puts the organization back exactly as it was.
func TestAuditFixHoldsAndRollsBack(t *testing.T) {
	w := startMessyWorld(t, 31)
	before, snap := w.findings(t), w.sim.Snapshot()
	fixed := []string{
		"openai.project-no-hard-limit on project proj_forgotten (Forgotten demo)",
		"openai.project-no-hard-limit on project proj_storefront (Storefront)",
		"openai.project-no-alerts on project proj_forgotten (Forgotten demo)",
		"openai.project-no-alerts on project proj_capped (Capped)",
		"openai.org-no-alerts on organization",
	}
	for _, f := range fixed {
		if _, ok := before[f]; !ok {
			t.Fatalf("the messy world has no %q to fix; findings: %v", f, slices.Sorted(mapKeys(before)))
		}
	}
	r := respond(t, w.env, "", "audit", "--fix", "--yes", "--alert-email", "sec@example.com")
	if r.code != cli.ExitStepFailed || !strings.Contains(r.stderr, "audit after run") {
		t.Fatalf("audit --fix: exit %d (want 1: findings that need a person remain)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	m := fixRunRe.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no run ID in:\n%s", r.stdout)
	}
	after := w.findings(t)
	for f, fix := range before {
		_, still := after[f]
		switch wantGone := slices.Contains(fixed, f) || strings.HasPrefix(f, "openai.project-no-"); {
		case wantGone && still:
			t.Errorf("after --fix: %s is still reported", f)
		case !wantGone && !still:
			t.Errorf("after --fix: %s is gone, but --fix must not touch it", f)
		case !wantGone && after[f] != fix:
			t.Errorf("after --fix: the fix of %s changed:\n%s\nwant\n%s", f, after[f], fix)
		}
	}
	// The limit set is the one the finding quoted, and a project's own limit is kept.
	quoted := regexp.MustCompile(`--fix sets \$(\d+)\.(\d\d) `).FindStringSubmatch(before[fixed[1]])
	if quoted == nil {
		t.Fatalf("the finding quotes no limit: %s", before[fixed[1]])
	}
	for project, want := range map[string]string{"proj_storefront": quoted[1] + quoted[2], "proj_capped": "50000"} {
		if limits := w.sim.State().SpendLimits; !slices.ContainsFunc(limits, func(l openaisim.SpendLimitState) bool {
			return l.ProjectID == project && fmt.Sprint(l.Cents) == want
		}) {
			t.Errorf("%s: no limit of %s cents in %+v", project, want, limits)
		}
	}
	if rb := respond(t, w.env, "", "rollback", m[1]); rb.code != 0 {
		t.Fatalf("rollback: exit %d\n%s", rb.code, rb.stderr)
	}
	if diff := cmp.Diff(string(snap), string(w.sim.Snapshot())); diff != "" {
		t.Errorf("after rollback the organization differs from before the fix (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before, w.findings(t)); diff != "" {
		t.Errorf("after rollback the findings differ (-before +after):\n%s", diff)
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// --fix --dry-run shows the plan of every fix and changes nothing; --fix without an answer to
// its approvals changes nothing either.
func TestAuditFixDryRunAndRefusalChangeNothing(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"dry run", []string{"--dry-run"}, cli.ExitStepFailed,
			[]string{"/v1/organization/projects/proj_forgotten/spend_limit", "/v1/organization/spend_alerts", "dry-run"}},
		{"nobody to approve (no terminal, no --yes)", nil, cli.ExitDenied, []string{"nobody can be asked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startMessyWorld(t, 32)
			snap := w.sim.Snapshot()
			r := respond(t, w.env, "n\n", append([]string{"audit", "--fix", "--alert-email", "sec@example.com"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("output lacks %q:\n%s\n%s", s, r.stdout, r.stderr)
				}
			}
			if diff := cmp.Diff(string(snap), string(w.sim.Snapshot())); diff != "" {
				t.Errorf("the organization changed (-before +after):\n%s", diff)
			}
			if !strings.Contains(r.stdout, "[HIGH] project proj_forgotten (Forgotten demo)") || !strings.Contains(r.stdout, "respond audit --fix sets") {
				t.Errorf("the report of what is left is missing:\n%s", r.stdout)
			}
		})
	}
}

func TestAuditFixFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fix"}, "--alert-email"},
		{[]string{"--dry-run"}, "--dry-run goes with --fix"},
		{[]string{"--fix", "--alert-email", "nobody"}, `"nobody"`},
	} {
		r := respond(t, nil, "", append([]string{"audit"}, tt.args...)...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %s", tt.args, r.code, r.stderr, cli.ExitUsage, tt.want)
		}
	}
}

// --slack posts one message, the Markdown summary with every finding, masked: not the alert's
// key, not a token. Without SLACK_BOT_TOKEN it is the missing-credentials exit, before any read.
func TestAuditSlack(t *testing.T) {
	w := startMessyWorld(t, 33)
	tok := fakekey.New(33).SlackBotToken()
	slk, srv := slacksim.NewServer(slacksim.Config{Token: tok, Channels: []slacksim.Channel{{ID: "C0SEC", Name: "security"}}})
	defer srv.Close()
	r := respond(t, w.env, "", "audit", "--slack", "#security", "--github-org", "acme")
	if r.code != cli.ExitCredentials || !strings.Contains(r.stderr, "SLACK_BOT_TOKEN") {
		t.Fatalf("without a token: exit %d, stderr %q; want %d naming SLACK_BOT_TOKEN", r.code, r.stderr, cli.ExitCredentials)
	}
	if n := len(slk.Channel("security")); n != 0 {
		t.Fatalf("%d message(s) posted without a token", n)
	}
	w.env["SLACK_BOT_TOKEN"], w.env["RESPOND_SLACK_API_URL"] = tok, slk.APIURL()
	r = respond(t, w.env, "", "audit", "--slack", "#security", "--github-org", "acme", "--output", "json")
	if r.code != cli.ExitStepFailed {
		t.Fatalf("exit %d, want 1 (findings)\n%s", r.code, r.stderr)
	}
	msgs := slk.Channel("security")
	if len(msgs) != 1 {
		t.Fatalf("%d messages posted, want 1", len(msgs))
	}
	var rep auditJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	text := msgs[0].Text
	for _, f := range rep.Findings {
		if !strings.Contains(text, strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(f.Resource)) {
			t.Errorf("the Slack summary lacks the finding on %s", f.Resource)
		}
	}
	for name, secret := range map[string]string{"the alert's key": w.leaked, "the Slack token": tok, "the admin key": w.env["OPENAI_ADMIN_KEY"],
		"the GitHub token": w.env["GITHUB_TOKEN"]} {
		if strings.Contains(text, secret) || strings.Contains(string(slk.Snapshot()), secret) {
			t.Errorf("Slack holds %s", name)
		}
	}
}

// A fix run killed mid-step (after a limit was set, or after the first of several alerts) is an
// interrupted run like any other: respond resume finishes it without doubling anything, the
// re-audit has no budget finding left, and respond rollback RUN restores the organization.
func TestAuditFixCrashResumesAndRollsBack(t *testing.T) {
	tests := []struct{ name, crashAfter string }{
		{"after the limit, before the alerts", "step.log:budgets_proj_storefront"},
		{"after one of three organization alerts", "step.log:org_alerts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startMessyWorld(t, 34)
			snap, before := w.sim.Snapshot(), w.findings(t)
			var env []string
			for k, v := range w.env {
				env = append(env, k+"="+v)
			}
			code, out := runBinary(t, append(env, "RESPOND_TEST_CRASH_AFTER="+tt.crashAfter), "audit", "--fix", "--yes", "--alert-email", "sec@example.com")
			if code != -int(syscall.SIGKILL) {
				t.Fatalf("the fix was not killed (exit %d):\n%s", code, out)
			}
			runs, err := journal.List(w.env["RESPOND_STATE_DIR"])
			if err != nil || len(runs) != 1 || runs[0].Status != "interrupted" {
				t.Fatalf("runs = %+v, %v", runs, err)
			}
			id := runs[0].RunID
			if r := respond(t, w.env, "", "resume", "--yes", id); r.code != 0 {
				t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
			}
			after := w.findings(t)
			for f := range after {
				if strings.HasPrefix(f, "openai.project-no-") || strings.HasPrefix(f, "openai.org-no-alerts") {
					t.Errorf("after resume: %s is still reported", f)
				}
			}
			st := w.sim.State()
			perTarget := map[string]int{}
			for _, a := range st.SpendAlerts {
				perTarget[fmt.Sprintf("%s/%d", a.ProjectID, a.Cents)]++
			}
			for k, n := range perTarget {
				if n > 1 {
					t.Errorf("%d alerts for %s: the resume doubled what the crashed attempt made", n, k)
				}
			}
			if r := respond(t, w.env, "", "rollback", id); r.code != 0 {
				t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
			}
			if diff := cmp.Diff(string(snap), string(w.sim.Snapshot())); diff != "" {
				t.Errorf("after rollback the organization differs from before the fix (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(before, w.findings(t)); diff != "" {
				t.Errorf("after rollback the findings differ (-before +after):\n%s", diff)
			}
		})
	}
}

// respond rollback RUN without --step refuses a run with nothing it can undo, naming the run.
func TestRollbackWithoutStepNeedsSomethingToUndo(t *testing.T) {
	env := map[string]string{"RESPOND_STATE_DIR": t.TempDir()}
	pb := writeFile(t, "p.yaml", "name: p\nsteps:\n  - {id: a, uses: exec, with: {argv: [echo, hi]}}\n")
	if r := respond(t, env, "", "run", pb); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	r := respond(t, env, "", "rollback", "last")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "no succeeded step that can be rolled back") {
		t.Errorf("rollback last: exit %d, stderr %q; want %d and why", r.code, r.stderr, cli.ExitUsage)
	}
}
