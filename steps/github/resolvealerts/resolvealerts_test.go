package resolvealerts

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubtest"
	"github.com/respond-sec/respond/steps/stepstest"
)

type fixture struct{ *githubtest.Fixture }

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func world(secret, other string) githubsim.World {
	return githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api", Alerts: []githubsim.Alert{
			{Number: 1, SecretType: "openai_api_key", Secret: secret, CreatedAt: t0},
			{Number: 2, SecretType: "openai_api_key", Secret: other, CreatedAt: t0},
			{Number: 3, SecretType: "openai_api_key", Secret: secret, State: "resolved", Resolution: "wont_fix", CreatedAt: t0},
			{Number: 4, SecretType: "generic_secret", Secret: secret, CreatedAt: t0},
		}},
		{Name: "acme/web", Alerts: []githubsim.Alert{
			{Number: 7, SecretType: "openai_api_key", Secret: secret, CreatedAt: t0},
		}},
		{Name: "acme/docs"},
		{Name: "other/tool", Alerts: []githubsim.Alert{
			{Number: 1, SecretType: "openai_api_key", Secret: secret, CreatedAt: t0},
		}},
	}}
}

// setup's fixture checks, once Untouched is set, that the intent is on record before the first
// PATCH.
func setup(t *testing.T, seed uint64) *fixture {
	t.Helper()
	f := &fixture{githubtest.Start(t, seed, world)}
	f.Env.RunID = "run-20240501-abc" // named in the resolution comment
	return f
}

type state struct{ State, Resolution, Comment string }

func (f *fixture) alert(t *testing.T, repo string, n int64) state {
	t.Helper()
	a, ok := f.Sim.AlertState(repo, n)
	if !ok {
		t.Fatalf("no alert %s#%d", repo, n)
	}
	return state{a.State, a.Resolution, a.ResolutionComment}
}

func TestPlanThenRun(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	r := &ResolveAlerts{Secret: f.Secret, Repos: []string{"acme/api", "acme/web", "acme/docs"}}
	if err := r.Preflight(t.Context(), f.Env); err != nil {
		t.Fatal(err)
	}
	plan, before := f.Plan(t, r)
	comment := "Resolved by respond run run-20240501-abc: the key was revoked and replaced."
	params := map[string]any{"state": "resolved", "resolution": "revoked", "resolution_comment": comment}
	wantActions := []steps.Action{
		{Method: "PATCH", Target: "/repos/acme/api/secret-scanning/alerts/1", Params: params},
		{Method: "PATCH", Target: "/repos/acme/web/secret-scanning/alerts/7", Params: params},
	}
	if d := cmp.Diff(wantActions, plan.Actions); d != "" {
		t.Errorf("plan actions (-want +got):\n%s", d)
	}
	if plan.Outputs["resolved"] != 2 || plan.Outputs["already_resolved"] != 1 {
		t.Errorf("plan outputs = %v", plan.Outputs)
	}

	f.Untouched = before
	out, err := r.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	want := steps.Outputs{"resolved": 2, "already_resolved": 1, "alerts": []map[string]any{
		{"repo": "acme/api", "number": int64(1), "url": "https://github.sim.invalid/acme/api/security/secret-scanning/1"},
		{"repo": "acme/web", "number": int64(7), "url": "https://github.sim.invalid/acme/web/security/secret-scanning/7"},
	}}
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("outputs (-want +got):\n%s", d)
	}
	wantStates := map[string]state{
		"acme/api#1":   {"resolved", "revoked", comment},
		"acme/api#2":   {"open", "", ""},             // another secret
		"acme/api#3":   {"resolved", "wont_fix", ""}, // already resolved: not touched
		"acme/api#4":   {"open", "", ""},             // another secret type than asked for
		"acme/web#7":   {"resolved", "revoked", comment},
		"other/tool#1": {"open", "", ""}, // out of scope
	}
	gotStates := map[string]state{}
	for k := range wantStates {
		repo, n, _ := strings.Cut(k, "#")
		var num int64
		fmt.Sscan(n, &num)
		gotStates[k] = f.alert(t, repo, num)
	}
	if d := cmp.Diff(wantStates, gotStates); d != "" {
		t.Errorf("alert states (-want +got):\n%s", d)
	}
	if len(f.Rec.Intents()) != 1 || f.Rec.Intents()[0].Name != "resolve alerts" {
		t.Errorf("intents = %v", f.Rec.Intents())
	}

	// Again: nothing open is left, nothing changes.
	after := f.Sim.Snapshot()
	out, err = r.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["resolved"] != 0 || out["already_resolved"] != 3 {
		t.Errorf("second run outputs = %v", out)
	}
	if string(f.Sim.Snapshot()) != string(after) {
		t.Error("a second run changed the state")
	}
	for _, text := range []string{stepstest.JSON(t, plan), stepstest.JSON(t, out), f.Rec.Text(), stepstest.JSON(t, f.Rec.Intents())} {
		stepstest.AssertNoSecret(t, text, f.Secret)
	}
}

func TestOrgAndRepos(t *testing.T) {
	t.Parallel()
	f := setup(t, 2)
	r := &ResolveAlerts{Secret: f.Secret, Org: "acme", Repos: []string{"other/tool", "acme/api"}, SecretType: "all",
		Resolution: "used_in_tests", Comment: "rotated in INC-42"}
	out, err := r.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["resolved"] != 4 {
		t.Errorf("resolved = %v, want 4 (api#1, api#4, web#7, tool#1)", out["resolved"])
	}
	for _, k := range []struct {
		repo string
		n    int64
	}{{"acme/api", 1}, {"acme/api", 4}, {"acme/web", 7}, {"other/tool", 1}} {
		if got := f.alert(t, k.repo, k.n); got != (state{"resolved", "used_in_tests", "rotated in INC-42"}) {
			t.Errorf("%s#%d = %+v", k.repo, k.n, got)
		}
	}
	if got := f.alert(t, "acme/api", 2); got.State != "open" {
		t.Errorf("another secret's alert was touched: %+v", got)
	}
}

func TestTransientMidway(t *testing.T) {
	t.Parallel()
	f := setup(t, 3)
	// The second PATCH is rate limited; a client that does not wait hands it to the engine.
	f.Sim.AddFaults(githubsim.Fault{Route: githubsim.RouteAlertUpdate, Kind: githubsim.FaultTooManyRequests, Skip: 1, Times: 1, RetryAfter: 5 * time.Second})
	c := f.NoWaitClient(t)
	r := &ResolveAlerts{Secret: f.Secret, Repos: []string{"acme/api", "acme/web"}, client: c}
	_, err := r.Run(t.Context(), f.Env)
	if !steps.IsTransient(err) || steps.RetryAfter(err) < 4*time.Second {
		t.Fatalf("got %v, want a transient error with Retry-After", err)
	}
	stepstest.AssertNoSecret(t, err.Error(), f.Secret)
	if f.alert(t, "acme/api", 1).State != "resolved" || f.alert(t, "acme/web", 7).State != "open" {
		t.Fatal("the fault did not hit the second PATCH")
	}

	// After a crash the engine reconciles: never done, Run goes again and finishes the rest.
	// c remembers the 5 s gate (a retry would wait it out); the test takes the run's client.
	r.client = nil
	out, done, err := r.Reconcile(t.Context(), f.Env, f.Rec.Intents())
	if err != nil || done || out != nil {
		t.Fatalf("reconcile = %v, %v, %v", out, done, err)
	}
	if !strings.Contains(f.Rec.Text(), "1 still open") {
		t.Errorf("reconcile log:\n%s", f.Rec.Text())
	}
	out, err = r.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["resolved"] != 1 || out["already_resolved"] != 2 {
		t.Errorf("retry outputs = %v", out)
	}
	if f.alert(t, "acme/web", 7).State != "resolved" {
		t.Error("the retry did not resolve the remaining alert")
	}
}

func TestSkipsAndEmptyPlan(t *testing.T) {
	t.Parallel()
	f := setup(t, 4)
	for _, r := range []*ResolveAlerts{
		{Secret: "key_abc123", Repos: []string{"acme/api"}},
		{Secret: f.Secret},
	} {
		if _, err := r.Run(t.Context(), f.Env); err == nil {
			t.Errorf("%+v: want a skip", r.Repos)
		} else if _, ok := steps.IsSkip(err); !ok {
			t.Errorf("%+v: got %v, want a skip", r.Repos, err)
		}
		p, err := r.Plan(t.Context(), f.Env)
		if err != nil || len(p.Actions) != 0 || !strings.HasPrefix(p.Summary, "nothing to resolve") {
			t.Errorf("plan = %+v, %v", p, err)
		}
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	f := setup(t, 5)
	env := f.EnvWithToken(t, "")
	r := &ResolveAlerts{Secret: f.Secret, Repos: []string{"acme/api"}}
	if err := r.Preflight(t.Context(), env); !errors.Is(err, steps.ErrCredentials) {
		t.Errorf("no token: got %v", err)
	}
	if _, err := r.Run(t.Context(), env); !errors.Is(err, steps.ErrCredentials) {
		t.Errorf("no token, run: got %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(6).OpenAIProjectKey()
	tests := []struct {
		name string
		r    ResolveAlerts
		want string
	}{
		{"ok", ResolveAlerts{Secret: secret, Org: "acme", Resolution: "wont_fix", Comment: "done"}, ""},
		{"no secret", ResolveAlerts{Org: "acme"}, "secret: the leaked value is required"},
		{"bad resolution", ResolveAlerts{Secret: secret, Org: "acme", Resolution: "fixed"}, `resolution: "fixed": want one of revoked`},
		{"comment with secret", ResolveAlerts{Secret: secret, Org: "acme", Comment: "was " + secret}, "comment: holds the secret"},
		{"bad repo", ResolveAlerts{Secret: secret, Repos: []string{"acme"}}, `repos[0]: "acme"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stepstest.CheckError(t, tc.r.Validate(), tc.want, secret)
		})
	}
}
