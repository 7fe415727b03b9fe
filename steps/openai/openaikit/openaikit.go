// Package openaikit gives the OpenAI step kinds their run-wide admin client, built once from the
// environment, and the project list, read once per run: preflight reads it (proving the admin key
// can list projects) and find-key reuses it, so identifying a leaked key costs one wave of
// project listing, not two.
package openaikit

import (
	"context"
	"fmt"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
)

// Environment variables the OpenAI steps read.
const (
	EnvAdminKey = "OPENAI_ADMIN_KEY"
	// EnvBaseURL points the steps at another API root (a simulator). OPENAI_BASE_URL is honoured
	// too, as the SDK does.
	EnvBaseURL = "RESPOND_OPENAI_BASE_URL"
	// EnvMaxRetryDelay caps the wait between the SDK's own retries (a Go duration; rehearsals
	// set it low so injected faults do not stretch a practice run).
	EnvMaxRetryDelay = "RESPOND_OPENAI_MAX_RETRY_DELAY"
)

// readRetries is how often the SDK retries a read or an idempotent write before the step's own
// retry policy sees the error: a review reads dozens of pages, and one failed page should not
// restart the whole step.
const readRetries = 4

// Client returns the run's admin client.
func Client(env *steps.Env) (*openai.Client, error) {
	v, err := env.Shared("openai.client", func() (any, error) {
		key := env.Getenv(EnvAdminKey)
		if key == "" {
			return nil, steps.CredentialError(EnvAdminKey+" is not set",
				"create an admin key at platform.openai.com → Organization → Admin keys and export it")
		}
		env.Secret(key)
		base := env.Getenv(EnvBaseURL)
		if base == "" {
			base = env.Getenv("OPENAI_BASE_URL")
		}
		cfg := openai.Config{AdminKey: key, BaseURL: base, MaxRetries: readRetries}
		if d := env.Getenv(EnvMaxRetryDelay); d != "" {
			v, err := time.ParseDuration(d)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a duration", EnvMaxRetryDelay, d)
			}
			cfg.MaxRetryDelay = v
		}
		return openai.New(cfg)
	})
	if err != nil {
		return nil, err
	}
	return v.(*openai.Client), nil
}

// Projects returns the organisation's active projects, listed once per run.
func Projects(ctx context.Context, env *steps.Env) ([]openai.Project, error) {
	c, err := Client(env)
	if err != nil {
		return nil, err
	}
	v, err := env.Shared("openai.projects", func() (any, error) {
		ps, err := c.ListProjects(ctx)
		if err != nil {
			return nil, classify(err)
		}
		return ps, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]openai.Project), nil
}

// Preflight proves the admin key works by listing projects (read-only).
func Preflight(ctx context.Context, env *steps.Env) error {
	if _, err := Projects(ctx, env); err != nil {
		return fmt.Errorf("OpenAI admin API: %w", err)
	}
	return nil
}

// classify marks authentication and permission failures as credential errors (exit code 4).
func classify(err error) error {
	if openai.IsUnauthorized(err) || openai.IsPermissionDenied(err) {
		return fmt.Errorf("%w: %w", steps.ErrCredentials, err)
	}
	return err
}

// Classify is classify for the step packages.
func Classify(err error) error { return classify(err) }
