// Package revoke is the `openai.revoke-key` step: delete a project API key. It is the first
// thing in a run that changes anything, and it is idempotent: a key that is already gone counts
// as revoked.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/admin"
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
}

var _ deleter = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.revoke-key",
	New:     func() steps.Step { return &Revoke{} },
	Outputs: []string{"revoked", "already_revoked", "revoked_at"},
	Summary: "delete (revoke) a project API key; an already deleted key counts as revoked",
}

// Validate checks the parameters.
func (r *Revoke) Validate() error {
	if r.Project == "" || r.KeyID == "" {
		return errors.New("project and key_id are required")
	}
	return nil
}

// Preflight checks the admin key can list projects.
func (r *Revoke) Preflight(ctx context.Context, env *steps.Env) error {
	return admin.Preflight(ctx, env)
}

func (r *Revoke) api(env *steps.Env) (deleter, error) {
	if r.client != nil {
		return r.client, nil
	}
	return admin.Client(env)
}

func (r *Revoke) path() string {
	return fmt.Sprintf("/v1/organization/projects/%s/api_keys/%s", r.Project, r.KeyID)
}

// Plan shows the one call.
func (r *Revoke) Plan(context.Context, *steps.Env) (*steps.Plan, error) {
	return &steps.Plan{
		Summary: fmt.Sprintf("revoke key %s in project %s", r.KeyID, r.Project),
		Actions: []steps.Action{{Method: "DELETE", Target: r.path(), Note: "404 means already revoked"}},
		Outputs: steps.Outputs{"revoked": true, "already_revoked": false, "revoked_at": "<at run time>"},
	}, nil
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
	if err != nil {
		return nil, admin.Classify(err)
	}
	now := env.Now().UTC()
	if gone {
		env.Logf("key %s was already revoked (404)", r.KeyID)
	} else {
		env.Logf("revoked key %s in project %s", r.KeyID, r.Project)
	}
	return steps.Outputs{"revoked": true, "already_revoked": gone, "revoked_at": now.Format(time.RFC3339Nano)}, nil
}

// Reconcile asks the API whether the key still exists.
func (r *Revoke) Reconcile(ctx context.Context, env *steps.Env, _ []steps.Intent) (steps.Outputs, bool, error) {
	c, err := r.api(env)
	if err != nil {
		return nil, false, err
	}
	_, err = c.GetProjectKey(ctx, r.Project, r.KeyID)
	switch {
	case openai.IsNotFound(err):
		return steps.Outputs{"revoked": true, "already_revoked": true, "revoked_at": env.Now().UTC().Format(time.RFC3339Nano)}, true, nil
	case err != nil:
		return nil, false, admin.Classify(err)
	}
	return nil, false, nil
}
