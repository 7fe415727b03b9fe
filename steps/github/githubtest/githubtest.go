// Package githubtest starts the GitHub simulator for the GitHub step kinds' tests and gives them a
// recording Env pointed at it. It is apart from stepstest so that only the tests that need the
// simulator build it. Only _test files import it.
package githubtest

import (
	"net/http/httptest"
	"testing"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
	"github.com/respond-sec/respond/steps/stepstest"
)

// Fixture is a seeded simulator served for one test, and a recording Env whose token and API
// URL reach it.
type Fixture struct {
	Sim *githubsim.Server
	// URL is the simulator's API root; Token is the one it accepts.
	URL, Token string
	// Secret is the leaked value the world plants; Other is another key of the same kind, for
	// decoys.
	Secret, Other string
	Rec           *stepstest.Recorder
	Env           *steps.Env // Rec.Env
	// Untouched, when set, is the simulator state (a Snapshot) that must still hold whenever the
	// step records an intent: a step announces a change before it makes it.
	Untouched []byte
}

// Start generates a token, the secret and another key from seed, seeds a simulator (with the
// same seed) with world(secret, other), and serves it until the test ends.
func Start(t testing.TB, seed uint64, world func(secret, other string) githubsim.World) *Fixture {
	t.Helper()
	keys := fakekey.New(seed)
	f := &Fixture{Token: keys.GitHubToken(), Secret: keys.OpenAIProjectKey(), Other: keys.OpenAIProjectKey()}
	f.Sim = githubsim.New(githubsim.Options{Token: f.Token, Seed: seed})
	if err := f.Sim.Seed(world(f.Secret, f.Other)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.Sim)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	f.Rec = stepstest.New(t, map[string]string{githubkit.EnvToken: f.Token, githubkit.EnvBaseURL: srv.URL})
	f.Rec.OnIntent = func(string, map[string]any) error {
		if f.Untouched != nil && string(f.Sim.Snapshot()) != string(f.Untouched) {
			t.Error("the intent was recorded after a change")
		}
		return nil
	}
	f.Env = f.Rec.Env
	return f
}

// EnvWithToken returns a fresh Env that reaches the simulator with token (empty: none set).
func (f *Fixture) EnvWithToken(t testing.TB, token string) *steps.Env {
	t.Helper()
	return stepstest.New(t, map[string]string{githubkit.EnvToken: token, githubkit.EnvBaseURL: f.URL}).Env
}

// NoWaitClient returns a client of the simulator that never waits out a rate limit: it hands the
// limit straight back, as the engine's retry policy sees it.
func (f *Fixture) NoWaitClient(t testing.TB) *github.Client {
	t.Helper()
	c, err := github.New(github.Config{Token: f.Token, BaseURL: f.URL, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Plan plans p against the simulator and fails the test if planning changed anything; it
// returns the plan and the simulator's state before it.
func (f *Fixture) Plan(t testing.TB, p steps.Planner) (*steps.Plan, []byte) {
	t.Helper()
	before := f.Sim.Snapshot()
	plan, err := p.Plan(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Sim.Snapshot()) != string(before) {
		t.Fatal("Plan changed the simulator's state")
	}
	return plan, before
}
