// Package secrets delivers a new key to where it is used, and nowhere else: a GitHub Actions
// secret (sealed with the target's public key), a file written atomically with mode 0600, or the
// stdin of a command. It never prints or logs a value; errors name the destination, not the
// value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github"
)

// Sink types.
const (
	TypeFile                = "file"
	TypeCommand             = "command"
	TypeGitHubActionsSecret = "github-actions-secret"
)

var (
	// ErrExists: the file sink refused to replace an existing file (set overwrite).
	ErrExists = errors.New("destination already exists")
	// ErrUnsupported: the sink cannot do this (a command cannot be asked whether it holds a
	// value, nor undone).
	ErrUnsupported = errors.New("not supported by this sink")
)

// Spec describes one destination, as written in a playbook's deliver_to list.
type Spec struct {
	Type string `yaml:"type" json:"type"`

	// file
	Path      string `yaml:"path,omitempty" json:"path,omitempty"`
	Overwrite bool   `yaml:"overwrite,omitempty" json:"overwrite,omitempty"`

	// command
	Argv []string          `yaml:"argv,omitempty" json:"argv,omitempty"`
	Env  map[string]string `yaml:"env,omitempty" json:"env,omitempty"`

	// github-actions-secret
	Repo          string   `yaml:"repo,omitempty" json:"repo,omitempty"`
	Environment   string   `yaml:"environment,omitempty" json:"environment,omitempty"`
	Org           string   `yaml:"org,omitempty" json:"org,omitempty"`
	Name          string   `yaml:"name,omitempty" json:"name,omitempty"`
	Visibility    string   `yaml:"visibility,omitempty" json:"visibility,omitempty"`
	SelectedRepos []string `yaml:"selected_repos,omitempty" json:"selected_repos,omitempty"`
}

// FieldError is one problem with one Spec field (named as in YAML).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate reports every problem at once, joined, each a *FieldError.
func (s Spec) Validate() error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, &FieldError{Field: field, Message: msg}) }
	unused := func(field string, set bool) {
		if set {
			bad(field, "not used by type "+s.Type)
		}
	}
	switch s.Type {
	case "":
		bad("type", fmt.Sprintf("required (one of %s, %s, %s)", TypeFile, TypeCommand, TypeGitHubActionsSecret))
	case TypeFile:
		if strings.TrimSpace(s.Path) == "" {
			bad("path", "required")
		} else if strings.HasSuffix(s.Path, "/") {
			bad("path", "must name a file, not a directory")
		}
		unused("argv", len(s.Argv) > 0)
		unused("env", len(s.Env) > 0)
	case TypeCommand:
		if len(s.Argv) == 0 || s.Argv[0] == "" {
			bad("argv", "required: the program and its arguments (no shell); the value goes to its stdin")
		}
		for k := range s.Env {
			switch {
			case k == "" || strings.ContainsAny(k, "=\x00"):
				bad("env", fmt.Sprintf("invalid variable name %q", k))
			case strings.HasPrefix(strings.ToUpper(k), "RESPOND_INPUT_"):
				bad("env", fmt.Sprintf("%s: respond's inputs are never passed to a sink command", k))
			}
		}
		unused("path", s.Path != "")
		unused("overwrite", s.Overwrite)
	case TypeGitHubActionsSecret:
		if s.Name == "" {
			bad("name", "required")
		} else if err := github.ValidateSecretName(s.Name); err != nil {
			bad("name", err.Error())
		}
		switch {
		case s.Repo == "" && s.Org == "":
			bad("repo", "set repo (owner/name) or org")
		case s.Repo != "" && s.Org != "":
			bad("org", "set repo or org, not both")
		}
		if s.Repo != "" {
			if owner, name, ok := strings.Cut(s.Repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
				bad("repo", fmt.Sprintf("%q: want owner/name", s.Repo))
			}
		}
		if s.Environment != "" && s.Repo == "" {
			bad("environment", "needs repo")
		}
		if s.Org == "" {
			unused("visibility", s.Visibility != "")
			unused("selected_repos", len(s.SelectedRepos) > 0)
		}
		switch s.Visibility {
		case "", "all", "private", "selected":
		default:
			bad("visibility", fmt.Sprintf("%q: want all, private or selected", s.Visibility))
		}
		if s.Visibility != "" && s.Visibility != "selected" && len(s.SelectedRepos) > 0 {
			bad("selected_repos", "only with visibility selected")
		}
		unused("path", s.Path != "")
		unused("overwrite", s.Overwrite)
		unused("argv", len(s.Argv) > 0)
		unused("env", len(s.Env) > 0)
	default:
		bad("type", fmt.Sprintf("unknown type %q (want %s, %s or %s)", s.Type, TypeFile, TypeCommand, TypeGitHubActionsSecret))
	}
	if s.Type != TypeGitHubActionsSecret && s.Type != "" {
		unused("repo", s.Repo != "")
		unused("environment", s.Environment != "")
		unused("org", s.Org != "")
		unused("name", s.Name != "")
		unused("visibility", s.Visibility != "")
		unused("selected_repos", len(s.SelectedRepos) > 0)
	}
	return errors.Join(errs...)
}

// Sink is one destination for a new key.
type Sink interface {
	// Deliver puts value at the destination; on error nothing partial is left behind where
	// the sink can prevent it.
	Deliver(ctx context.Context, value []byte) error
	// Describe says where the value goes, never what it is.
	Describe() string
	// Exists reports whether the destination currently holds a value (reconciling a delivery
	// interrupted by a crash). ErrUnsupported when the sink cannot tell.
	Exists(ctx context.Context) (bool, error)
	// Undo removes a delivered value; removing one that is not there is not an error.
	// ErrUnsupported when the sink cannot.
	Undo(ctx context.Context) error
}

// Checker is implemented by sinks that can tell, without writing anything, that a delivery would be
// refused. Callers check before the leaked key is revoked: a replacement that cannot be delivered
// would leave the service without a key.
type Checker interface {
	Check(ctx context.Context) error
}

// ActionsSecrets is what the github-actions-secret sink needs; *github.Client has it.
type ActionsSecrets interface {
	PutActionsSecret(ctx context.Context, target github.SecretTarget, name string, value []byte) error
	SecretExists(ctx context.Context, target github.SecretTarget, name string) (bool, time.Time, error)
	DeleteActionsSecret(ctx context.Context, target github.SecretTarget, name string) error
}

var _ ActionsSecrets = (*github.Client)(nil)

// Deps are the clients sinks may need.
type Deps struct {
	GitHub ActionsSecrets
}

// New validates spec and builds its sink.
func New(spec Spec, deps Deps) (Sink, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("deliver_to %s: %w", spec.Type, err)
	}
	switch spec.Type {
	case TypeFile:
		return &FileSink{Path: spec.Path, Overwrite: spec.Overwrite}, nil
	case TypeCommand:
		return &CommandSink{Argv: append([]string(nil), spec.Argv...), Env: spec.Env}, nil
	default:
		if deps.GitHub == nil {
			return nil, errors.New("deliver_to github-actions-secret: no GitHub client (is GITHUB_TOKEN set?)")
		}
		return &GitHubSink{
			Client: deps.GitHub,
			Target: github.SecretTarget{
				Repo: spec.Repo, Environment: spec.Environment, Org: spec.Org,
				Visibility: spec.Visibility, SelectedRepos: spec.SelectedRepos,
			},
			Name: spec.Name,
		}, nil
	}
}

// GitHubSink stores the value as a GitHub Actions secret.
type GitHubSink struct {
	Client ActionsSecrets
	Target github.SecretTarget
	Name   string
}

// Deliver seals and uploads the value.
func (g *GitHubSink) Deliver(ctx context.Context, value []byte) error {
	if err := g.Client.PutActionsSecret(ctx, g.Target, g.Name, value); err != nil {
		return fmt.Errorf("deliver to %s: %w", g.Describe(), err)
	}
	return nil
}

// Describe names the secret and its scope.
func (g *GitHubSink) Describe() string {
	return fmt.Sprintf("GitHub Actions secret %s in %s", g.Name, g.Target)
}

// Exists reports whether the secret exists.
// Check reads the secret's metadata: it proves the token may reach the repository's secrets.
func (g *GitHubSink) Check(ctx context.Context) error {
	if _, err := g.Exists(ctx); err != nil {
		return fmt.Errorf("deliver to %s: %w", g.Describe(), err)
	}
	return nil
}

func (g *GitHubSink) Exists(ctx context.Context) (bool, error) {
	ok, _, err := g.Client.SecretExists(ctx, g.Target, g.Name)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", g.Describe(), err)
	}
	return ok, nil
}

// Undo deletes the secret.
func (g *GitHubSink) Undo(ctx context.Context) error {
	if err := g.Client.DeleteActionsSecret(ctx, g.Target, g.Name); err != nil {
		return fmt.Errorf("delete %s: %w", g.Describe(), err)
	}
	return nil
}
