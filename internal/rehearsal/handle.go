package rehearsal

import (
	"encoding/json"
	"fmt"
	"os"
)

// Handle is what a process needs to run a playbook against a world another process serves: the
// environment that points at its simulators, the inputs, and the secrets to mask. A crash test
// keeps the world alive in the test process while respond processes are killed and resumed,
// just as real APIs outlive a crashed responder.
type Handle struct {
	Seed    uint64            `json:"seed"`
	Env     map[string]string `json:"env"`
	Inputs  map[string]any    `json:"inputs"`
	Secrets []string          `json:"secrets"`
}

// Handle describes this world.
func (w *World) Handle() Handle {
	return Handle{Seed: w.Seed, Env: w.env, Inputs: w.inputs, Secrets: w.Secrets()}
}

// Getenv reads the world's environment.
func (h Handle) Getenv(k string) string { return h.Env[k] }

// Input returns the world's value for an input.
func (h Handle) Input(name string) (any, bool) {
	v, ok := h.Inputs[name]
	return v, ok
}

// WriteHandle writes a handle for another process (mode 0600: it holds the fake credentials).
func WriteHandle(path string, h Handle) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// ReadHandle reads a handle written by WriteHandle.
func ReadHandle(path string) (Handle, error) {
	var h Handle
	b, err := os.ReadFile(path)
	if err != nil {
		return h, fmt.Errorf("read rehearsal world: %w", err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("read rehearsal world %s: %w", path, err)
	}
	return h, nil
}
