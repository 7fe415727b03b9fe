// Package verifydead is the `openai.verify-key-dead` step: call the API with the leaked value
// itself and require HTTP 401. A revocation that did not take is the worst outcome of a run, so
// a live key fails the step loudly.
package verifydead

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/admin"
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
	CheckKey(ctx context.Context, secret string) (status int, err error)
}

var _ checker = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.verify-key-dead",
	New:     func() steps.Step { return &VerifyDead{} },
	Outputs: []string{"dead", "status", "checks"},
	Summary: "prove the leaked key is dead: GET /v1/models with it must answer 401",
}

// Preflight builds the client (the admin key is not used for the check itself).
func (v *VerifyDead) Preflight(ctx context.Context, env *steps.Env) error {
	_, err := admin.Client(env)
	return err
}

// ErrStillLive is the loud failure.
var ErrStillLive = errors.New("THE LEAKED KEY STILL WORKS")

// Run polls until the key answers 401 or Within passes.
func (v *VerifyDead) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	key := strings.TrimSpace(v.Key)
	if key == "" || strings.HasPrefix(key, "key_") {
		return nil, &steps.Skip{Reason: "only a key ID was given: there is no value to test"}
	}
	env.Secret(key)
	c := v.client
	if c == nil {
		cl, err := admin.Client(env)
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
		status, err := c.CheckKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return nil, &steps.Skip{Reason: fmt.Sprintf("dry run: nothing was revoked; %s currently answers %d", redact.Mask(key), status)}
	}
	deadline := env.Now().Add(within)
	checks := 0
	for {
		status, err := c.CheckKey(ctx, key)
		checks++
		if err != nil {
			return nil, err // transient: the engine's retry policy decides
		}
		if status == http.StatusUnauthorized {
			env.Logf("%s answers 401: dead", redact.Mask(key))
			return steps.Outputs{"dead": true, "status": status, "checks": checks}, nil
		}
		if !env.Now().Add(every).Before(deadline) {
			return nil, fmt.Errorf("%w: GET /v1/models with %s answered %d after %d checks over %s. "+
				"Revoke it by hand in the dashboard NOW, then find out why the revocation did not take",
				ErrStillLive, redact.Mask(key), status, checks, within)
		}
		env.Logf("%s still answers %d; checking again in %s (revocation can take a moment)", redact.Mask(key), status, every)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
