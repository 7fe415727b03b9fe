// Package rehearsal builds the world a playbook is rehearsed in: every simulator served on
// 127.0.0.1, a fresh fake leaked key, the inputs that point the playbook at them, and the
// checks, made from the simulators' real state afterwards, that the response worked.
package rehearsal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

// Options shape a rehearsal world.
type Options struct {
	// Seed makes the world reproducible (keys, IDs, usage); 0 picks a random one.
	Seed uint64
	// Dir holds the world's files (the delivered key, repositories); created when empty.
	Dir string
}

// World is a running rehearsal environment. Close it.
type World struct {
	Seed uint64
	Dir  string

	OpenAI    *openaisim.Server
	openaiSrv *httptest.Server

	leaked    string
	env       map[string]string
	inputs    map[string]any
	ownsDir   bool
	startedAt time.Time
}

// Start serves the simulators and plants the leak.
func Start(ctx context.Context, o Options) (*World, error) {
	w := &World{Seed: o.Seed, Dir: o.Dir, startedAt: time.Now()}
	if w.Seed == 0 {
		w.Seed = rand.Uint64()
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
	w.OpenAI = openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: w.Seed})
	w.openaiSrv = serve(w.OpenAI)
	w.leaked = w.OpenAI.LeakedKeySecret()

	w.env = map[string]string{
		"OPENAI_ADMIN_KEY":        w.OpenAI.AdminKey(),
		"RESPOND_OPENAI_BASE_URL": w.openaiSrv.URL + "/v1",
		// Faults in a rehearsal are practice: retry fast.
		"RESPOND_OPENAI_MAX_RETRY_DELAY": "50ms",
	}
	w.inputs = map[string]any{
		"key":          w.leaked,
		"secret_file":  w.SecretFile(),
		"alert_emails": []any{"oncall@example.com"},
	}
	return w, nil
}

// serve starts a simulator on a random loopback port.
func serve(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

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
func (w *World) Secrets() []string { return []string{w.leaked, w.OpenAI.AdminKey()} }

// Close stops the simulators and removes the world's files.
func (w *World) Close() {
	if w.openaiSrv != nil {
		w.openaiSrv.Close()
	}
	if w.ownsDir {
		os.RemoveAll(w.Dir)
	}
}

// Verification is one check of the final state.
type Verification struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Verify checks, from the simulators' state (not from step outputs), that the response worked.
// baseline is the OpenAI state before the run.
func (w *World) Verify(ctx context.Context, before openaisim.State) []Verification {
	var out []Verification
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, Verification{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	after := w.OpenAI.State()
	leakedID := w.OpenAI.LeakedKeyID()
	oc, err := openai.New(openai.Config{AdminKey: w.OpenAI.AdminKey(), BaseURL: w.openaiSrv.URL + "/v1", MaxRetries: 3})
	if err != nil {
		add("simulator reachable", false, "%v", err)
		return out
	}
	check := func(value string) int {
		status, err := oc.CheckKey(ctx, value)
		if err != nil {
			return 0
		}
		return status
	}
	status := check(w.leaked)
	add("leaked key is dead", status == http.StatusUnauthorized, "GET /v1/models with the leaked value answers %d", status)
	if k, ok := w.OpenAI.Key(leakedID); ok {
		add("leaked key is deleted", k.Deleted, "%s deleted=%v", leakedID, k.Deleted)
	}

	existed := map[string]bool{}
	for _, k := range before.Keys {
		existed[k.ID] = true
	}
	var fresh []openaisim.KeyState
	for _, k := range after.Keys {
		if !existed[k.ID] && !k.Deleted {
			fresh = append(fresh, k)
		}
	}
	add("exactly one replacement key", len(fresh) == 1, "%d new live key(s)", len(fresh))
	if len(fresh) == 1 {
		k := fresh[0]
		add("replacement key is scoped", !k.AllPermissions(), "scopes %v", k.Scopes)
		add("replacement key expires", !k.ExpiresAt.IsZero(), "expires %s", k.ExpiresAt.Format(time.RFC3339))
		b, err := os.ReadFile(w.SecretFile())
		switch {
		case err != nil:
			add("replacement key delivered to the file", false, "%v", err)
		default:
			value := strings.TrimSpace(string(b))
			sum := sha256.Sum256([]byte(value))
			match := strings.HasPrefix(hex.EncodeToString(sum[:]), k.Fingerprint)
			st, _ := os.Stat(w.SecretFile())
			add("replacement key delivered to the file", match && st.Mode().Perm() == 0o600,
				"%s holds key %s (mode %v)", w.SecretFile(), k.ID, st.Mode().Perm())
			live := check(value)
			add("replacement key works", live == http.StatusOK, "GET /v1/models with the delivered value answers %d", live)
		}
	}
	if k, ok := w.OpenAI.Key(leakedID); ok {
		var limit *openaisim.SpendLimitState
		for i, l := range after.SpendLimits {
			if l.ProjectID == k.ProjectID {
				limit = &after.SpendLimits[i]
			}
		}
		add("project spend limit set", limit != nil && limit.Cents > 0, "%s: %v", k.ProjectID, describeLimit(limit))
		alerts := 0
		for _, a := range after.SpendAlerts {
			if a.ProjectID == k.ProjectID {
				alerts++
			}
		}
		add("project spend alerts set", alerts > 0, "%d alert(s) on %s", alerts, k.ProjectID)
	}
	return out
}

func describeLimit(l *openaisim.SpendLimitState) string {
	if l == nil {
		return "none"
	}
	return fmt.Sprintf("$%.2f/month", float64(l.Cents)/100)
}
