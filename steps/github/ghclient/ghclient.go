// Package ghclient gives the GitHub step kinds (and the github-actions-secret delivery of a new
// key) their run-wide GitHub client, built once from the environment.
package ghclient

import (
	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/steps"
)

// Environment variables read.
const (
	EnvToken = "GITHUB_TOKEN"
	// EnvBaseURL points the steps at another REST API root (GitHub Enterprise, a simulator).
	EnvBaseURL = "RESPOND_GITHUB_API_URL"
)

// Client returns the run's GitHub client.
func Client(env *steps.Env) (*github.Client, error) {
	v, err := env.Shared("github.client", func() (any, error) {
		tok := env.Getenv(EnvToken)
		if tok == "" {
			return nil, steps.CredentialError(EnvToken+" is not set",
				"create a fine-grained token with the permissions listed in the README and export it")
		}
		env.Secret(tok)
		return github.New(github.Config{Token: tok, BaseURL: env.Getenv(EnvBaseURL)})
	})
	if err != nil {
		return nil, err
	}
	return v.(*github.Client), nil
}
