package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/secretref"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

// resolveSecretRefs replaces every secret input that names where its value lives (a GitHub
// secret-scanning alert) with the value, fetched with the run's GitHub credentials and
// registered for masking before anything else sees it. It returns the references by input name:
// they, not the values, are what the journal keeps. Every run goes through here (terminal,
// Slack, alert, rehearsal), so a run started without a person typing the key does everything a
// terminal run does.
func resolveSecretRefs(ctx context.Context, pb *playbook.Playbook, inputs map[string]any, getenv func(string) string,
	secrets *redact.Set) (map[string]any, map[string]string, error) {
	refs := map[string]secretref.Ref{}
	for _, in := range pb.Inputs {
		s, ok := inputs[in.Name].(string)
		if !ok || !in.Secret {
			continue
		}
		r, err := secretref.Parse(s)
		if errors.Is(err, secretref.ErrNotRef) {
			continue
		}
		if err != nil {
			return nil, nil, usageErr("input %s: %v", in.Name, err)
		}
		refs[in.Name] = r
	}
	if len(refs) == 0 {
		return inputs, nil, nil
	}
	tok := getenv(githubkit.EnvToken)
	if tok == "" {
		return nil, nil, credentialsErr("a secret input names a GitHub alert, and reading it needs %s "+
			"(a token that may read secret-scanning alerts)", githubkit.EnvToken)
	}
	secrets.Add(tok)
	client, err := github.New(github.Config{Token: tok, BaseURL: getenv(githubkit.EnvBaseURL)})
	if err != nil {
		return nil, nil, credentialsErr("%v", err)
	}
	out := make(map[string]any, len(inputs))
	for k, v := range inputs {
		out[k] = v
	}
	journaled := map[string]string{}
	for name, r := range refs {
		res, err := secretref.Resolve(ctx, client, r, secrets)
		if err != nil {
			switch {
			case errors.Is(err, github.ErrForbidden) || errors.Is(err, github.ErrUnauthorized):
				return nil, nil, credentialsErr("input %s: %v", name, err)
			case errors.Is(err, github.ErrNotFound):
				return nil, nil, usageErr("input %s: %v", name, err)
			}
			return nil, nil, fmt.Errorf("input %s: %w", name, err)
		}
		// The value is a pasted key as far as the playbook knows: cleaned like one.
		clean, _ := normalizeSecret(res.Value)
		secrets.Add(clean)
		out[name], journaled[name] = clean, r.String()
	}
	return out, journaled, nil
}
