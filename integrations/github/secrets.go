package github

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
	"golang.org/x/crypto/nacl/box"
)

// SecretTarget is where an Actions secret lives: a repository (Repo), one of its deployment
// environments (Repo and Environment), or an organization (Org).
type SecretTarget struct {
	Repo        string // owner/name
	Environment string
	Org         string
	// Visibility of an organization secret: all, private or selected. Defaults to selected
	// when SelectedRepos is set, else private.
	Visibility string
	// SelectedRepos (owner/name) may read an organization secret with visibility selected.
	SelectedRepos []string
}

// Validate checks the target's shape.
func (t SecretTarget) Validate() error {
	switch {
	case t.Org != "" && (t.Repo != "" || t.Environment != ""):
		return errors.New("github: secret target: set org, or repo (and environment), not both")
	case t.Org == "" && t.Repo == "":
		return errors.New("github: secret target: set repo or org")
	case t.Org == "" && (t.Visibility != "" || len(t.SelectedRepos) > 0):
		return errors.New("github: secret target: visibility and selected repos apply to org secrets only")
	}
	if t.Repo != "" {
		if _, _, err := splitRepo(t.Repo); err != nil {
			return err
		}
	}
	switch t.Visibility {
	case "", "all", "private", "selected":
	default:
		return fmt.Errorf("github: secret target: visibility %q: want all, private or selected", t.Visibility)
	}
	return nil
}

func (t SecretTarget) String() string {
	switch {
	case t.Org != "":
		return "org " + t.Org
	case t.Environment != "":
		return "environment " + t.Environment + " of " + t.Repo
	default:
		return "repo " + t.Repo
	}
}

// PutActionsSecret creates or updates an Actions secret: it fetches the target's public key,
// seals value with it (libsodium sealed box) and uploads the ciphertext. The value never leaves
// this process unsealed.
func (c *Client) PutActionsSecret(ctx context.Context, target SecretTarget, name string, value []byte) error {
	if err := target.Validate(); err != nil {
		return err
	}
	if err := ValidateSecretName(name); err != nil {
		return fmt.Errorf("github: %w", err)
	}
	op := fmt.Sprintf("put Actions secret %s in %s", name, target)
	key, err := c.publicKey(ctx, op, target)
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(key.GetKey())
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("%s: public key is not 32 base64 bytes", op)
	}
	sealed, err := box.SealAnonymous(nil, value, (*[32]byte)(raw), rand.Reader)
	if err != nil {
		return fmt.Errorf("%s: seal: %w", op, err)
	}
	es := &gh.EncryptedSecret{
		Name:           name,
		KeyID:          key.GetKeyID(),
		EncryptedValue: base64.StdEncoding.EncodeToString(sealed),
	}
	switch {
	case target.Org != "":
		es.Visibility = target.Visibility
		if es.Visibility == "" {
			es.Visibility = "private"
			if len(target.SelectedRepos) > 0 {
				es.Visibility = "selected"
			}
		}
		for _, r := range target.SelectedRepos {
			id, err := c.RepoID(ctx, r)
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			es.SelectedRepositoryIDs = append(es.SelectedRepositoryIDs, id)
		}
		return c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			return g.Actions.CreateOrUpdateOrgSecret(ctx, target.Org, es)
		})
	case target.Environment != "":
		id, err := c.RepoID(ctx, target.Repo)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			return g.Actions.CreateOrUpdateEnvSecret(ctx, int(id), url.PathEscape(target.Environment), es)
		})
	default:
		owner, repo, _ := splitRepo(target.Repo)
		return c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			return g.Actions.CreateOrUpdateRepoSecret(ctx, owner, repo, es)
		})
	}
}

func (c *Client) publicKey(ctx context.Context, op string, t SecretTarget) (*gh.PublicKey, error) {
	var key *gh.PublicKey
	fetch := func(f func(g *gh.Client) (*gh.PublicKey, *gh.Response, error)) error {
		return c.do(ctx, call{op: op + ": get public key"}, func(g *gh.Client) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			key, resp, err = f(g)
			return resp, err
		})
	}
	var err error
	switch {
	case t.Org != "":
		err = fetch(func(g *gh.Client) (*gh.PublicKey, *gh.Response, error) { return g.Actions.GetOrgPublicKey(ctx, t.Org) })
	case t.Environment != "":
		id, idErr := c.RepoID(ctx, t.Repo)
		if idErr != nil {
			return nil, fmt.Errorf("%s: %w", op, idErr)
		}
		env := url.PathEscape(t.Environment)
		err = fetch(func(g *gh.Client) (*gh.PublicKey, *gh.Response, error) {
			return g.Actions.GetEnvPublicKey(ctx, int(id), env)
		})
	default:
		owner, repo, _ := splitRepo(t.Repo)
		err = fetch(func(g *gh.Client) (*gh.PublicKey, *gh.Response, error) {
			return g.Actions.GetRepoPublicKey(ctx, owner, repo)
		})
	}
	if err != nil {
		return nil, err
	}
	if key.GetKeyID() == "" || key.GetKey() == "" {
		return nil, fmt.Errorf("%s: public key response is incomplete", op)
	}
	return key, nil
}

// SecretExists reports whether an Actions secret exists and when it was last updated (for
// reconciling a delivery that may or may not have happened).
func (c *Client) SecretExists(ctx context.Context, target SecretTarget, name string) (bool, time.Time, error) {
	if err := target.Validate(); err != nil {
		return false, time.Time{}, err
	}
	op := fmt.Sprintf("get Actions secret %s in %s", name, target)
	var sec *gh.Secret
	get := func(f func(g *gh.Client) (*gh.Secret, *gh.Response, error)) error {
		return c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			sec, resp, err = f(g)
			return resp, err
		})
	}
	var err error
	switch {
	case target.Org != "":
		err = get(func(g *gh.Client) (*gh.Secret, *gh.Response, error) {
			return g.Actions.GetOrgSecret(ctx, target.Org, name)
		})
	case target.Environment != "":
		id, idErr := c.RepoID(ctx, target.Repo)
		if idErr != nil {
			return false, time.Time{}, fmt.Errorf("%s: %w", op, idErr)
		}
		env := url.PathEscape(target.Environment)
		err = get(func(g *gh.Client) (*gh.Secret, *gh.Response, error) {
			return g.Actions.GetEnvSecret(ctx, int(id), env, name)
		})
	default:
		owner, repo, _ := splitRepo(target.Repo)
		err = get(func(g *gh.Client) (*gh.Secret, *gh.Response, error) {
			return g.Actions.GetRepoSecret(ctx, owner, repo, name)
		})
	}
	if errors.Is(err, ErrNotFound) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, err
	}
	return true, sec.UpdatedAt.Time, nil
}

// DeleteActionsSecret deletes an Actions secret. A secret that is already gone is not an error,
// so an undo can be repeated.
func (c *Client) DeleteActionsSecret(ctx context.Context, target SecretTarget, name string) error {
	if err := target.Validate(); err != nil {
		return err
	}
	op := fmt.Sprintf("delete Actions secret %s in %s", name, target)
	var err error
	switch {
	case target.Org != "":
		err = c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			return g.Actions.DeleteOrgSecret(ctx, target.Org, name)
		})
	case target.Environment != "":
		id, idErr := c.RepoID(ctx, target.Repo)
		if idErr != nil {
			return fmt.Errorf("%s: %w", op, idErr)
		}
		env := url.PathEscape(target.Environment)
		err = c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			return g.Actions.DeleteEnvSecret(ctx, int(id), env, name)
		})
	default:
		owner, repo, _ := splitRepo(target.Repo)
		err = c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			return g.Actions.DeleteRepoSecret(ctx, owner, repo, name)
		})
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// ValidateSecretName checks GitHub's rules for Actions secret names: letters, digits and
// underscores, not starting with a digit, not starting with GITHUB_.
func ValidateSecretName(name string) error {
	switch {
	case name == "":
		return errors.New("secret name is empty")
	case name[0] >= '0' && name[0] <= '9':
		return fmt.Errorf("secret name %q starts with a digit", name)
	case strings.HasPrefix(strings.ToUpper(name), "GITHUB_"):
		return fmt.Errorf("secret name %q starts with GITHUB_ (reserved)", name)
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("secret name %q: only letters, digits and underscores are allowed", name)
		}
	}
	return nil
}
