package purgelogs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubtest"
	"github.com/respond-sec/respond/steps/stepstest"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

type fixture struct{ *githubtest.Fixture }

// world: runs 101 and 103 of acme/api and 201 of acme/web print the secret (103 before t0);
// 102 prints another key, 104 nothing.
func world(secret, other string) githubsim.World {
	line := func(at time.Time, msg string) string { return at.Format(time.RFC3339Nano) + " " + msg + "\n" }
	run := func(id int64, at time.Time, log string) githubsim.Run {
		return githubsim.Run{ID: id, CreatedAt: at, Jobs: []githubsim.Job{{Name: "setup", Log: line(at, "start")}, {Name: "build", Log: log}}}
	}
	return githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", Runs: []githubsim.Run{
			run(101, t0.Add(time.Hour), line(t0.Add(time.Hour), "OPENAI_API_KEY="+secret)),
			run(102, t0.Add(2*time.Hour), line(t0.Add(2*time.Hour), "OPENAI_API_KEY="+other)),
			run(103, t0.Add(-time.Hour), line(t0.Add(-time.Hour), "echo "+secret)),
			run(104, t0.Add(3*time.Hour), line(t0.Add(3*time.Hour), "ok")),
		}},
		{Name: "acme/web", Runs: []githubsim.Run{run(201, t0, "key "+secret+"\n")}},
		{Name: "other/tool", Runs: []githubsim.Run{run(301, t0, "key "+secret+"\n")}},
	}}
}

// setup's fixture checks, once Untouched is set, that the intent is on record before the first
// DELETE.
func setup(t *testing.T, seed uint64) *fixture { return &fixture{githubtest.Start(t, seed, world)} }

// logs reports which of the seeded runs still have logs.
func (f *fixture) logs() map[string]bool {
	out := map[string]bool{}
	for _, r := range []struct {
		repo string
		id   int64
	}{{"acme/api", 101}, {"acme/api", 102}, {"acme/api", 103}, {"acme/api", 104}, {"acme/web", 201}, {"other/tool", 301}} {
		out[fmt.Sprintf("%s#%d", r.repo, r.id)] = f.Sim.HasRunLogs(r.repo, r.id)
	}
	return out
}

func allLogsBut(gone ...string) map[string]bool {
	m := map[string]bool{"acme/api#101": true, "acme/api#102": true, "acme/api#103": true, "acme/api#104": true,
		"acme/web#201": true, "other/tool#301": true}
	for _, g := range gone {
		m[g] = false
	}
	return m
}

func TestListScanDelete(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	p := &PurgeLogs{Secret: f.Secret, Repos: []string{"acme/api"}, Since: t0.Format(time.RFC3339)}
	if err := p.Preflight(t.Context(), f.Env); err != nil {
		t.Fatal(err)
	}
	plan, before := f.Plan(t, p)
	want := []steps.Action{{Method: "DELETE", Target: "/repos/acme/api/actions/runs/101/logs", Note: "scanned: the secret is in 1_build.txt:1"}}
	if d := cmp.Diff(want, plan.Actions); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}

	f.Untouched = before
	out, err := p.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	wantOut := steps.Outputs{"deleted": 1, "already_gone": 0,
		"runs": []map[string]any{{"repo": "acme/api", "run_id": int64(101), "already_gone": false}}}
	if d := cmp.Diff(wantOut, out); d != "" {
		t.Errorf("outputs (-want +got):\n%s", d)
	}
	// 103 holds the secret too but predates since.
	if d := cmp.Diff(allLogsBut("acme/api#101"), f.logs()); d != "" {
		t.Errorf("logs (-want +got):\n%s", d)
	}
	if len(f.Rec.Intents()) != 1 {
		t.Errorf("intents = %v", f.Rec.Intents())
	}

	// Idempotent: a fresh step (a resumed run) finds the logs gone and deletes nothing.
	f.Untouched = nil
	after := f.Sim.Snapshot()
	again := &PurgeLogs{Secret: f.Secret, Repos: []string{"acme/api"}, Since: t0.Format(time.RFC3339)}
	out2, err := again.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out2["deleted"] != 0 || out2["already_gone"] != 1 {
		t.Errorf("second run outputs = %v", out2)
	}
	if string(f.Sim.Snapshot()) != string(after) {
		t.Error("the second run changed something")
	}
	for _, text := range []string{stepstest.JSON(t, plan), stepstest.JSON(t, out), stepstest.JSON(t, out2), f.Rec.Text(),
		stepstest.JSON(t, f.Rec.Intents())} {
		stepstest.AssertNoSecret(t, text, f.Secret)
	}
}

func TestGivenRuns(t *testing.T) {
	t.Parallel()
	f := setup(t, 2)
	// As github.search's runs_with_secret reaches the step through {{ json ... }}.
	src := `{"secret": "` + f.Secret + `", "repos": ["acme/api", "acme/web"], "runs": [
		{"repo": "acme/api", "run_id": 101, "confirmed": true},
		{"repo": "acme/web", "run_id": 201, "confirmed": true},
		{"repo": "acme/api", "run_id": 102},
		{"repo": "acme/api", "run_id": 103},
		{"repo": "acme/api", "run_id": 999, "confirmed": true},
		{"repo": "other/tool", "run_id": 301, "confirmed": true}]}`
	var p PurgeLogs
	if err := yaml.Unmarshal([]byte(src), &p); err != nil {
		t.Fatal(err)
	}
	plan, before := f.Plan(t, &p)
	var targets []string
	for _, a := range plan.Actions {
		targets = append(targets, a.Method+" "+a.Target)
	}
	// 102 is scanned and holds another key; 103 is scanned and holds it; 301 is out of scope.
	want := []string{
		"DELETE /repos/acme/api/actions/runs/101/logs",
		"DELETE /repos/acme/web/actions/runs/201/logs",
		"DELETE /repos/acme/api/actions/runs/103/logs",
		"DELETE /repos/acme/api/actions/runs/999/logs",
	}
	if d := cmp.Diff(want, targets); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
	f.Untouched = before
	out, err := p.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	// 999 does not exist: its DELETE answers 404, which counts as already gone.
	if out["deleted"] != 3 || out["already_gone"] != 1 {
		t.Errorf("outputs = %v", out)
	}
	if d := cmp.Diff(allLogsBut("acme/api#101", "acme/web#201", "acme/api#103"), f.logs()); d != "" {
		t.Errorf("logs (-want +got):\n%s", d)
	}
	for _, text := range []string{stepstest.JSON(t, plan), stepstest.JSON(t, out), f.Rec.Text()} {
		stepstest.AssertNoSecret(t, text, f.Secret)
	}
}

func TestRescanProtectsWrongConfirmation(t *testing.T) {
	t.Parallel()
	f := setup(t, 3)
	runs := []runRef{{Repo: "acme/api", RunID: 102, Confirmed: true}, {Repo: "acme/api", RunID: 101, Confirmed: true}}
	p := &PurgeLogs{Secret: f.Secret, Runs: runs, Rescan: true}
	out, err := p.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["deleted"] != 1 {
		t.Errorf("outputs = %v", out)
	}
	if d := cmp.Diff(allLogsBut("acme/api#101"), f.logs()); d != "" {
		t.Errorf("logs (-want +got):\n%s", d)
	}
}

func TestEmptyRunsDeletesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t, 4)
	before := f.Sim.Snapshot()
	p := &PurgeLogs{Secret: f.Secret, Repos: []string{"acme/api"}, Runs: []runRef{}}
	out, err := p.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["deleted"] != 0 || string(f.Sim.Snapshot()) != string(before) || len(f.Rec.Intents()) != 0 {
		t.Errorf("an empty runs list must mean nothing to do: %v, intents %v", out, f.Rec.Intents())
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	f := setup(t, 5)
	f.Sim.AddFaults(githubsim.Fault{Route: githubsim.RouteRunLogsDelete, Kind: githubsim.FaultSecondaryRateLimit, Times: 1, RetryAfter: 10 * time.Second})
	c := f.NoWaitClient(t)
	p := &PurgeLogs{Secret: f.Secret, Repos: []string{"acme/api", "acme/web"}, client: c}
	_, err := p.Run(t.Context(), f.Env)
	if !steps.IsTransient(err) || steps.RetryAfter(err) < 9*time.Second {
		t.Fatalf("got %v, want a transient error with Retry-After", err)
	}
	stepstest.AssertNoSecret(t, err.Error(), f.Secret)
	stepstest.AssertNoSecret(t, f.Rec.Text(), f.Secret)
	if out, done, err := p.Reconcile(t.Context(), f.Env, f.Rec.Intents()); done || out != nil || err != nil {
		t.Errorf("reconcile = %v, %v, %v", out, done, err)
	}
	p.client = nil // c remembers the 10 s gate; the engine's retry would wait it out
	out, err := p.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["deleted"] != 3 {
		t.Errorf("outputs = %v", out)
	}
	if d := cmp.Diff(allLogsBut("acme/api#101", "acme/api#103", "acme/web#201"), f.logs()); d != "" {
		t.Errorf("logs (-want +got):\n%s", d)
	}
}

func TestOrgAloneAndSkips(t *testing.T) {
	t.Parallel()
	f := setup(t, 6)
	p := &PurgeLogs{Secret: f.Secret, Org: "acme"}
	if _, err := p.Run(t.Context(), f.Env); err == nil || !strings.Contains(err.Error(), "repos:") {
		t.Errorf("org alone: got %v", err)
	}
	if _, err := p.Plan(t.Context(), f.Env); err == nil {
		t.Error("org alone: plan must fail too")
	}
	for _, p := range []*PurgeLogs{{Secret: f.Secret}, {Secret: "key_abc123", Repos: []string{"acme/api"}}} {
		if _, err := p.Run(t.Context(), f.Env); err == nil {
			t.Error("want a skip")
		} else if _, ok := steps.IsSkip(err); !ok {
			t.Errorf("got %v, want a skip", err)
		}
		if plan, err := p.Plan(t.Context(), f.Env); err != nil || len(plan.Actions) != 0 {
			t.Errorf("plan = %v, %v", plan, err)
		}
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	f := setup(t, 7)
	env := f.EnvWithToken(t, "")
	p := &PurgeLogs{Secret: f.Secret, Repos: []string{"acme/api"}}
	if err := p.Preflight(t.Context(), env); !errors.Is(err, steps.ErrCredentials) {
		t.Errorf("no token: got %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(8).OpenAIProjectKey()
	tests := []struct {
		name string
		p    PurgeLogs
		want string
	}{
		{"ok", PurgeLogs{Secret: secret, Repos: []string{"a/b"}, Since: "2024-05-01", Runs: []runRef{{Repo: "a/b", RunID: 1}}}, ""},
		{"no secret", PurgeLogs{Repos: []string{"a/b"}}, "secret: the leaked value is required"},
		{"bad run", PurgeLogs{Secret: secret, Runs: []runRef{{Repo: "a", RunID: 0}}}, `runs[0].repo: "a"`},
		{"bad run id", PurgeLogs{Secret: secret, Runs: []runRef{{Repo: "a/b"}}}, "runs[0].run_id"},
		{"bad since", PurgeLogs{Secret: secret, Since: "last week"}, "since:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stepstest.CheckError(t, tc.p.Validate(), tc.want, secret)
		})
	}
}
