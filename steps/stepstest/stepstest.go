// Package stepstest is the steps' test double of the engine: a steps.Env that records what a step
// logged, announced and registered as secret, the assertion that no secret leaked into text a
// person or a journal would see, and the check of a Validate error. Only _test files import it.
package stepstest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respond-sec/respond/steps"
)

// Recorder holds a test Env and what the step handed back through it. It is safe for the
// concurrent calls a step makes from its goroutines.
type Recorder struct {
	// Env is what the step is given; a test may change its fields (RunID, Now, ...) before use.
	Env *steps.Env
	// OnIntent, when set, runs before Env.Intent records anything; an error it returns is what
	// Intent returns, and the intent is then not recorded.
	OnIntent func(name string, data map[string]any) error

	mu      sync.Mutex
	secrets []string
	logs    []string
	intents []steps.Intent

	build  sync.Mutex // Shared builds one value at a time, as the engine does
	shared sync.Map
}

// New returns a Recorder whose Env reads its environment from getenv (nil: nothing set), runs as
// attempt 1 of run "run-test", has a private t.TempDir as WorkDir, and builds each Shared value
// once.
func New(t testing.TB, getenv map[string]string) *Recorder {
	t.Helper()
	r := &Recorder{}
	r.Env = &steps.Env{
		RunID: "run-test", StepID: "step", Attempt: 1,
		Getenv:  func(k string) string { return getenv[k] },
		Now:     time.Now,
		WorkDir: t.TempDir(),
		Secret: func(v ...string) {
			r.mu.Lock()
			r.secrets = append(r.secrets, v...)
			r.mu.Unlock()
		},
		Log: func(msg string, data map[string]any) {
			r.mu.Lock()
			r.logs = append(r.logs, fmt.Sprintf("%s %v", msg, data))
			r.mu.Unlock()
		},
		Intent: func(name string, data map[string]any) error {
			if r.OnIntent != nil {
				if err := r.OnIntent(name, data); err != nil {
					return err
				}
			}
			r.mu.Lock()
			r.intents = append(r.intents, steps.Intent{Name: name, Data: data})
			r.mu.Unlock()
			return nil
		},
		Shared: func(key string, build func() (any, error)) (any, error) {
			r.build.Lock()
			defer r.build.Unlock()
			if v, ok := r.shared.Load(key); ok {
				return v, nil
			}
			v, err := build()
			if err != nil {
				return nil, err
			}
			r.shared.Store(key, v)
			return v, nil
		},
	}
	return r
}

// Share makes v the run-wide value under key, as if an earlier step had built it.
func (r *Recorder) Share(key string, v any) { r.shared.Store(key, v) }

// Logs returns the lines logged so far, each "message map[data]".
func (r *Recorder) Logs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.logs...)
}

// Text returns the lines logged so far, one a line.
func (r *Recorder) Text() string { return strings.Join(r.Logs(), "\n") }

// ResetLogs forgets the lines logged so far, for a test that runs a step again.
func (r *Recorder) ResetLogs() {
	r.mu.Lock()
	r.logs = nil
	r.mu.Unlock()
}

// Intents returns the intents recorded so far.
func (r *Recorder) Intents() []steps.Intent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]steps.Intent(nil), r.intents...)
}

// Secrets returns the values registered for redaction so far.
func (r *Recorder) Secrets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.secrets...)
}

// window is how much of a secret AssertNoSecret looks for: long enough to be no accident, short
// enough to catch part of a value that was cut or masked at its ends.
const window = 12

// AssertNoSecret fails the test if any 12-character window of secret appears in text.
func AssertNoSecret(t testing.TB, text, secret string) {
	t.Helper()
	for i := 0; i+window <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+window]) {
			t.Fatalf("secret window %d leaked into %q", i, text)
		}
	}
}

// CheckError fails the test unless err fits want: none for an empty want, else an error whose
// text contains want and no part of secret.
func CheckError(t testing.TB, err error, want, secret string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	AssertNoSecret(t, err.Error(), secret)
}

// JSON is v as the journal would hold it, for AssertNoSecret over outputs, plans and intents.
func JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
