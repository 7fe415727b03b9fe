// Package revokekey is the `openai.revoke-key` step: delete a project API key. It is the first
// thing in a run that changes anything, and it is idempotent: a key that is already gone counts
// as revoked.
//
// Keys owned by a service account: openai-go v3.98.0 says DELETE .../api_keys/{id} deletes them;
// the published document (August 2026) says it answers an error. When the API refuses, the step
// revokes through the service account: it deletes the account when the key is its only one (that
// deletes the key with it), and otherwise stops and says exactly what to do, since deleting the
// account would also revoke keys still in use. The path taken is the `path` output and a log line.
package revokekey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// Revoke's parameters.
type Revoke struct {
	Project string `yaml:"project"`
	KeyID   string `yaml:"key_id"`

	client deleter // tests
}

type deleter interface {
	DeleteProjectKey(ctx context.Context, projectID, keyID string) (alreadyGone bool, err error)
	GetProjectKey(ctx context.Context, projectID, keyID string) (openai.ProjectKey, error)
	ServiceAccountKeys(ctx context.Context, projectID, saID string) ([]openai.ProjectKey, error)
	DeleteServiceAccount(ctx context.Context, projectID, saID string) (alreadyGone bool, err error)
}

// Revocation paths, the `path` output.
const (
	PathKeyDeleted            = "key deleted"
	PathAlreadyGone           = "already gone"
	PathServiceAccountDeleted = "service account deleted"
)

var _ deleter = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.revoke-key",
	New:     func() steps.Step { return &Revoke{} },
	Outputs: Outputs{},
	Summary: "delete (revoke) a project API key; an already deleted key counts as revoked",
	Traits: steps.Traits{Needs: []steps.Permission{steps.OpenAIProjects, steps.OpenAIKeys, steps.OpenAIRevoke},
		Effects: []steps.Effect{steps.DeletesKey}},
}

// Outputs are the step's results.
type Outputs struct {
	Revoked        bool   `json:"revoked"`
	AlreadyRevoked bool   `json:"already_revoked"`
	RevokedAt      string `json:"revoked_at"`
	// Path says how the key was revoked (PathKeyDeleted, PathServiceAccountDeleted).
	Path             string `json:"path"`
	ServiceAccountID string `json:"service_account_id"`
}

// Validate checks the parameters.
// Contains marks revocation as the run's containment (steps.Container).
func (r *Revoke) Contains() {}

func (r *Revoke) Validate() error {
	if r.Project == "" || r.KeyID == "" {
		return errors.New("project and key_id are required")
	}
	return nil
}

// Preflight checks the admin key can list projects.
func (r *Revoke) Preflight(ctx context.Context, env *steps.Env) error {
	return openaikit.Preflight(ctx, env)
}

func (r *Revoke) api(env *steps.Env) (deleter, error) {
	if r.client != nil {
		return r.client, nil
	}
	return openaikit.Client(env)
}

func (r *Revoke) path() string {
	return fmt.Sprintf("/v1/organization/projects/%s/api_keys/%s", r.Project, r.KeyID)
}

// Plan shows the call and, for a service-account key, what happens if the API refuses it.
func (r *Revoke) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	p := &steps.Plan{
		Summary: fmt.Sprintf("revoke key %s in project %s", r.KeyID, r.Project),
		Actions: []steps.Action{{Method: "DELETE", Target: r.path(), Note: "404 means already revoked"}},
		Outputs: steps.Outputs{"revoked": true, "already_revoked": false, "revoked_at": "<at run time>", "path": PathKeyDeleted,
			"service_account_id": ""},
	}
	c, err := r.api(env)
	if err != nil {
		return nil, err
	}
	// Read-only look-ups; a plan that cannot make them still shows the DELETE.
	k, err := c.GetProjectKey(ctx, r.Project, r.KeyID)
	if err != nil || k.OwnerType != openai.OwnerServiceAccount {
		return p, nil
	}
	keys, err := c.ServiceAccountKeys(ctx, r.Project, k.OwnerID)
	if err != nil {
		return p, nil
	}
	if len(keys) <= 1 {
		p.Actions = append(p.Actions, steps.Action{Method: "DELETE",
			Target: fmt.Sprintf("/v1/organization/projects/%s/service_accounts/%s", r.Project, k.OwnerID),
			Note: fmt.Sprintf("only if the API refuses to delete a service-account key (the published document says it does): "+
				"%q owns no other key", k.OwnerName)})
	} else {
		p.Actions[0].Note += fmt.Sprintf("; if the API refuses this service-account key, the run stops: %q owns %d other key(s) "+
			"that deleting the account would revoke too", k.OwnerName, len(keys)-1)
	}
	return p, nil
}

// Run deletes the key.
func (r *Revoke) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	c, err := r.api(env)
	if err != nil {
		return nil, err
	}
	if err := env.Intent("delete key", map[string]any{"method": "DELETE", "path": r.path()}); err != nil {
		return nil, err
	}
	gone, err := c.DeleteProjectKey(ctx, r.Project, r.KeyID)
	if openai.IsBadRequest(err) {
		return r.throughServiceAccount(ctx, env, c, err)
	}
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	now := env.Now().UTC()
	path := PathKeyDeleted
	if gone {
		path = PathAlreadyGone
		env.Logf("key %s was already revoked (404)", r.KeyID)
	} else {
		env.Logf("revoked key %s in project %s (path: %s)", r.KeyID, r.Project, path)
	}
	return steps.Outputs{"revoked": true, "already_revoked": gone, "revoked_at": now.Format(time.RFC3339Nano), "path": path,
		"service_account_id": ""}, nil
}

// throughServiceAccount handles a refused DELETE: a service-account key is revoked by deleting
// its account, but only when that revokes nothing else.
func (r *Revoke) throughServiceAccount(ctx context.Context, env *steps.Env, c deleter, refused error) (steps.Outputs, error) {
	k, err := c.GetProjectKey(ctx, r.Project, r.KeyID)
	if openai.IsNotFound(err) {
		env.Logf("key %s is gone (404) although its DELETE was refused", r.KeyID)
		return steps.Outputs{"revoked": true, "already_revoked": true, "revoked_at": env.Now().UTC().Format(time.RFC3339Nano),
			"path": PathAlreadyGone, "service_account_id": ""}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w; and looking the key up to revoke it another way failed: %w", refused, openaikit.Classify(err))
	}
	if k.OwnerType != openai.OwnerServiceAccount {
		return nil, fmt.Errorf("the API refused to delete user key %s: %w. Delete it by hand in the dashboard "+
			"(Project %s → API keys) NOW", r.KeyID, refused, r.Project)
	}
	env.Logf("the API refused to delete %s on its own: it belongs to service account %s (%q)", r.KeyID, k.OwnerID, k.OwnerName)
	keys, err := c.ServiceAccountKeys(ctx, r.Project, k.OwnerID)
	if err != nil {
		return nil, fmt.Errorf("list the other keys of service account %s: %w", k.OwnerID, openaikit.Classify(err))
	}
	var others []string
	for _, o := range keys {
		if o.ID != r.KeyID {
			others = append(others, fmt.Sprintf("%s (%q, last used %s)", o.ID, o.Name, lastUsed(o.LastUsedAt)))
		}
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("KEY %s IS NOT REVOKED: the API refuses to delete a service account's key on its own, and its "+
			"service account %s (%q) owns %d other live key(s) that deleting the account would revoke too: %s. Do one of: "+
			"(1) in the dashboard, Project %s → Service accounts → %q → delete the key %s; "+
			"(2) if those keys may go as well, delete the service account (DELETE /v1/organization/projects/%s/service_accounts/%s, "+
			"or the dashboard), then resume this run so the next steps prove the key dead",
			r.KeyID, k.OwnerID, k.OwnerName, len(others), strings.Join(others, ", "), r.Project, k.OwnerName, r.KeyID, r.Project, k.OwnerID)
	}
	if err := env.Intent("delete service account", map[string]any{"method": "DELETE",
		"path": fmt.Sprintf("/v1/organization/projects/%s/service_accounts/%s", r.Project, k.OwnerID), "key_id": r.KeyID,
		"service_account_id": k.OwnerID}); err != nil {
		return nil, err
	}
	gone, err := c.DeleteServiceAccount(ctx, r.Project, k.OwnerID)
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	// Neither the document nor the SDK says in so many words that an account's keys go with it:
	// check that this one did before saying it is revoked.
	if _, err := c.GetProjectKey(ctx, r.Project, r.KeyID); !openai.IsNotFound(err) {
		seen := "is still listed"
		if err != nil {
			seen = "could not be looked up: " + err.Error()
		}
		return nil, fmt.Errorf("KEY %s MAY NOT BE REVOKED: its service account %s was deleted, but the key %s. "+
			"Check the dashboard (Project %s → API keys) and delete it by hand NOW if it is there", r.KeyID, k.OwnerID, seen, r.Project)
	}
	env.Logf("revoked key %s by deleting its service account %s (%q), which owned no other key (path: %s)",
		r.KeyID, k.OwnerID, k.OwnerName, PathServiceAccountDeleted)
	return steps.Outputs{"revoked": true, "already_revoked": gone, "revoked_at": env.Now().UTC().Format(time.RFC3339Nano),
		"path": PathServiceAccountDeleted, "service_account_id": k.OwnerID}, nil
}

func lastUsed(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// Reconcile asks the API whether the key still exists.
func (r *Revoke) Reconcile(ctx context.Context, env *steps.Env, intents []steps.Intent) (steps.Outputs, bool, error) {
	c, err := r.api(env)
	if err != nil {
		return nil, false, err
	}
	_, err = c.GetProjectKey(ctx, r.Project, r.KeyID)
	switch {
	case openai.IsNotFound(err):
		out := steps.Outputs{"revoked": true, "already_revoked": true, "revoked_at": env.Now().UTC().Format(time.RFC3339Nano),
			"path": PathAlreadyGone, "service_account_id": ""}
		for _, in := range intents {
			if in.Name == "delete service account" {
				out["path"], out["service_account_id"] = PathServiceAccountDeleted, in.Data["service_account_id"]
			}
		}
		return out, true, nil
	case err != nil:
		return nil, false, openaikit.Classify(err)
	}
	return nil, false, nil
}
