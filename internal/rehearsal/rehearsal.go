// Package rehearsal builds the world a playbook is rehearsed in: every simulator served on
// 127.0.0.1, a fresh fake leaked key, the inputs that point the playbook at them, and the
// checks, made from the simulators' real state afterwards, that the response worked.
package rehearsal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
)

// Options shape a rehearsal world.
type Options struct {
	// Seed makes the world reproducible (keys, IDs, usage); 0 picks a random one.
	Seed uint64
	// Dir holds the world's files (the delivered key, repositories); created when empty.
	Dir string
	// Chaos injects transient faults (20% of calls: 429 with Retry-After, 500, dropped
	// connections) and latency into every simulator.
	Chaos bool
	// SlackChannel is the channel the playbook reports to; the world serves it as well as
	// Channel. Empty means Channel.
	SlackChannel string
	// Clock is the OpenAI simulator's clock (default time.Now): a fixed one gives a fixed
	// history and key timestamps, for golden tests.
	Clock func() time.Time
	// AlertArrives holds back the secret-scanning alert for the leaked key: RaiseAlert creates
	// it during the rehearsal, as GitHub does when it finds the key (and delivers its webhook).
	AlertArrives bool
}

// World is a running rehearsal environment. Close it.
type World struct {
	Seed uint64
	Dir  string

	// The parts' handles, for checks and tests that read a simulator's state directly.
	OpenAI *openaisim.Server
	GitHub *githubsim.Server
	Slack  *slacksim.Sim
	Repo   *plantedRepo
	LogDir string
	// RunWithKey is the Actions run whose logs hold the key; CleanRun's do not.
	RunWithKey, CleanRun int64
	// KeyAlert is the alert for the leaked key; OtherAlert is for a different secret and must
	// stay open.
	KeyAlert, OtherAlert int64

	parts     []Simulator
	leaked    string
	leakAt    time.Time // when the key leaked: the start of the exposure window
	openaiURL string
	rng       *rand.Rand // plants the files: drawn in start order, so a seed gives one world
	clock     func() time.Time
	env       map[string]string
	inputs    map[string]any
	channel   string // the Slack channel the playbook reports to
	ownsDir   bool
	// keyAlert is the leaked key's alert, added by RaiseAlert when the world holds it back.
	keyAlert     githubsim.Alert
	alertArrives bool
}

// Start serves the simulators and plants the leak.
func Start(ctx context.Context, o Options) (*World, error) {
	w := &World{Seed: o.Seed, Dir: o.Dir, clock: o.Clock, channel: Channel, alertArrives: o.AlertArrives}
	if w.Seed == 0 {
		w.Seed = rand.Uint64()
	}
	w.rng = rand.New(rand.NewPCG(w.Seed, w.Seed>>1|1))
	if c := o.SlackChannel; c != "" && strings.TrimPrefix(c, "#") != strings.TrimPrefix(Channel, "#") {
		w.channel = c
	}
	if w.Dir == "" {
		d, err := os.MkdirTemp("", "respond-rehearsal-")
		if err != nil {
			return nil, fmt.Errorf("rehearsal directory: %w", err)
		}
		w.Dir, w.ownsDir = d, true
	}
	if err := os.MkdirAll(filepath.Dir(w.SecretFile()), 0o700); err != nil {
		w.Close()
		return nil, fmt.Errorf("rehearsal directory: %w", err)
	}
	// exec steps pass it on to their program, so a team's tool can tell practice from an incident.
	w.env = map[string]string{"RESPOND_REHEARSAL": "1"}
	w.inputs = map[string]any{"secret_file": w.SecretFile()}
	for _, p := range simulators() {
		if err := w.register(ctx, p); err != nil {
			w.Close()
			return nil, err
		}
	}
	if o.Chaos {
		for _, p := range w.parts {
			p.Chaos(w.Seed)
		}
	}
	return w, nil
}

// register starts a part and adds what it points the run at to the world's environment and
// inputs.
func (w *World) register(ctx context.Context, p Simulator) error {
	w.parts = append(w.parts, p) // closed with the world even if it fails half-started
	if err := p.Start(ctx, w); err != nil {
		return fmt.Errorf("start the %s simulator: %w", p.Name(), err)
	}
	for k, v := range p.Env() {
		w.env[k] = v
	}
	for k, v := range p.Inputs() {
		w.inputs[k] = v
	}
	return nil
}

// FaultsInjected counts the errors the simulators injected (latency not counted): most are
// absorbed by the clients' own retries, the rest surface as step retries.
func (w *World) FaultsInjected() int {
	n := 0
	for _, p := range w.parts {
		n += p.FaultsInjected()
	}
	return n
}

// Repo is the GitHub repository of the rehearsal world.
const Repo = "acme/storefront"

// Channel is the Slack channel of the rehearsal world (the default playbook's).
const Channel = "#security-incidents"

// LeakedKey is the fake leaked secret planted in this world.
func (w *World) LeakedKey() string { return w.leaked }

// SecretFile is where the replacement key is delivered.
func (w *World) SecretFile() string { return filepath.Join(w.Dir, "delivered", "openai-api-key") }

// Getenv is the environment the playbook's steps see: the simulators' URLs and credentials and
// nothing from the real environment, so a rehearsal can never touch a real system.
func (w *World) Getenv(k string) string { return w.env[k] }

// Input returns the world's value for an input the playbook may declare.
func (w *World) Input(name string) (any, bool) {
	v, ok := w.inputs[name]
	return v, ok
}

// Secrets are the values a rehearsal must never print: the leaked key and the simulators'
// credentials.
func (w *World) Secrets() []string {
	var out []string
	for _, p := range w.parts {
		out = append(out, p.Secrets()...)
	}
	return out
}

// Close stops the simulators and removes the world's files.
func (w *World) Close() {
	for _, p := range w.parts {
		p.Close()
	}
	if w.ownsDir {
		os.RemoveAll(w.Dir)
	}
}

// OpenAIState is the OpenAI simulator's state, taken before a run so Verify can tell what the
// run created.
type OpenAIState = openaisim.State

// OpenAIState returns the OpenAI simulator's state; the zero state for a nil world.
func (w *World) OpenAIState() OpenAIState {
	if w == nil {
		return OpenAIState{}
	}
	return w.OpenAI.State()
}

// Transcript is the Slack channel as a person would see it.
func (w *World) Transcript() string { return w.Slack.Transcript(w.channel) }

// RaiseAlert creates the held-back alert for the leaked key (Options.AlertArrives) now, so the
// GitHub simulator delivers its webhook if one is set, and returns when it was created.
func (w *World) RaiseAlert() (time.Time, error) {
	if !w.alertArrives || w.KeyAlert != 0 {
		return time.Time{}, fmt.Errorf("rehearsal: no held-back alert to raise")
	}
	a := w.keyAlert
	a.CreatedAt = time.Now()
	n, err := w.GitHub.AddAlert(Repo, a)
	if err != nil {
		return time.Time{}, fmt.Errorf("rehearsal GitHub alert: %w", err)
	}
	w.KeyAlert = n
	return a.CreatedAt, nil
}
