// Package verifykeydead is the `openai.verify-key-dead` step: call the API with the leaked value
// itself and require the one answer that proves a key is gone, HTTP 401 with error code
// invalid_api_key. Any other answer (200, another 401, 403) leaves death unproven: the step
// keeps checking until `within`, then fails loudly quoting what the API said. A revocation that
// did not take is the worst outcome of a run.
package verifykeydead

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// VerifyDead's parameters.
type VerifyDead struct {
	// Key is the leaked secret. A key ID cannot be tested: the step is skipped with a reason.
	Key string `yaml:"key"`
	// Within is how long revocation may take to propagate (default 30s); the key is polled
	// until then.
	Within time.Duration `yaml:"within"`
	// Every is the polling interval (default 2s).
	Every time.Duration `yaml:"every"`

	client checker
}

type checker interface {
	CheckKey(ctx context.Context, secret string) (openai.KeyCheck, error)
}

var _ checker = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.verify-key-dead",
	New:     func() steps.Step { return &VerifyDead{} },
	Outputs: Outputs{},
	Summary: "prove the leaked key is dead: GET /v1/models with it must answer 401 invalid_api_key",
	// It needs no credential: it calls the API with the leaked key itself.
	Traits: steps.Traits{Effects: []steps.Effect{steps.ProvesKeyDead}},
}

// Outputs are the step's results.
type Outputs struct {
	Dead   bool   `json:"dead"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Checks int    `json:"checks"`
}

// KeyDead: the key answered invalid_api_key.
func (o *Outputs) KeyDead() bool { return o.Dead }

// Preflight builds the client (the admin key is not used for the check itself).
func (v *VerifyDead) Preflight(ctx context.Context, env *steps.Env) error {
	_, err := openaikit.Client(env)
	return err
}

// ErrStillLive is the loud failure: the key was accepted.
var ErrStillLive = errors.New("THE LEAKED KEY STILL WORKS")

// ErrNotProven is the other loud failure: the key was refused, but not with invalid_api_key, so
// it may well be live (a wrong organization header, a missing scope or permission all answer
// 401 or 403 for live keys).
var ErrNotProven = errors.New("THE LEAKED KEY IS NOT PROVEN DEAD")

// Run polls until the key answers 401 invalid_api_key or Within passes.
func (v *VerifyDead) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	key := strings.TrimSpace(v.Key)
	if key == "" || openai.IsKeyID(key) {
		return nil, &steps.Skip{Reason: "only a key ID was given: there is no value to test"}
	}
	env.Secret(key)
	c := v.client
	if c == nil {
		cl, err := openaikit.Client(env)
		if err != nil {
			return nil, err
		}
		c = cl
	}
	within, every := v.Within, v.Every
	if within == 0 {
		within = 30 * time.Second
	}
	if every == 0 {
		every = 2 * time.Second
	}
	if env.DryRun {
		// Nothing was revoked in a dry run, so a live key is expected; say what it is now.
		st, err := c.CheckKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return nil, &steps.Skip{Reason: fmt.Sprintf("dry run: nothing was revoked; %s currently answers %s", redact.Mask(key), st)}
	}
	deadline := env.Now().Add(within)
	checks := 0
	for {
		st, err := c.CheckKey(ctx, key)
		checks++
		if err != nil {
			return nil, err // transient: the engine's retry policy decides
		}
		if st.Dead() {
			env.Logf("%s answers %s: dead", redact.Mask(key), st)
			return steps.Outputs{"dead": true, "status": st.Status, "code": st.Code, "checks": checks}, nil
		}
		if !env.Now().Add(every).Before(deadline) {
			return nil, failure(key, st, checks, within)
		}
		env.Logf("%s answers %s, which does not prove it dead; checking again in %s (revocation can take a moment)",
			redact.Mask(key), st, every)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// failure is the loud error after the last check, quoting what the API said.
func failure(key string, st openai.KeyCheck, checks int, within time.Duration) error {
	said := st.String()
	if st.Message != "" {
		said += fmt.Sprintf(" (%q)", st.Message)
	}
	if st.Works() {
		return fmt.Errorf("%w: GET /v1/models with %s answered %s after %d checks over %s. "+
			"Revoke it by hand in the dashboard NOW, then find out why the revocation did not take",
			ErrStillLive, redact.Mask(key), said, checks, within)
	}
	return fmt.Errorf("%w: GET /v1/models with %s answered %s after %d checks over %s; only 401 %s proves a key is gone, "+
		"and this answer is also given to live keys. Check in the dashboard that the key is deleted, and revoke it by hand if it is not",
		ErrNotProven, redact.Mask(key), said, checks, within, openai.CodeInvalidAPIKey)
}
