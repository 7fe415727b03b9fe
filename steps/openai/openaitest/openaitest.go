// Package openaitest starts the OpenAI simulator for the OpenAI step kinds' tests, behind the
// contract check (every exchange validated against OpenAI's published document), and gives them
// an Env pointed at it.
package openaitest

import (
	"net/http/httptest"
	"testing"

	"github.com/respond-sec/respond/integrations/openai/contract"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/steps/stepstest"
)

// World is a running simulator and a step Env that reaches it.
type World struct {
	Sim *openaisim.Server
	Rec *stepstest.Recorder
}

// Start serves the default world (seeded) and returns it with a recording Env.
func Start(t testing.TB, seed uint64) *World {
	t.Helper()
	return StartWith(t, openaisim.Options{Seed: seed})
}

// StartWith is Start with simulator options (e.g. the document's reading of a behaviour).
func StartWith(t testing.TB, opts openaisim.Options) *World {
	t.Helper()
	sim := openaisim.New(openaisim.DefaultWorld(), opts)
	// Every exchange is checked against OpenAI's published document.
	srv := httptest.NewServer(contract.Handler(t, sim))
	t.Cleanup(srv.Close)
	rec := stepstest.New(t, map[string]string{
		"OPENAI_ADMIN_KEY":               sim.AdminKey(),
		"RESPOND_OPENAI_BASE_URL":        srv.URL + "/v1",
		"RESPOND_OPENAI_MAX_RETRY_DELAY": "5ms",
	})
	return &World{Sim: sim, Rec: rec}
}
