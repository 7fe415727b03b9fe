// Package findkey is the `openai.find-key` step: from a key ID, or from the leaked secret alone,
// find which project key it is. With only the secret it lists every project's keys at once and
// matches their redacted values, because the engineer rarely knows the key's ID at 3 a.m.
package findkey

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// FindKey's parameters.
type FindKey struct {
	// Key is the leaked secret (sk-...) or a key ID (key_...).
	Key string `yaml:"key"`
	// Project narrows the search; optional.
	Project string `yaml:"project"`
	// Concurrency bounds the parallel key listings (default: every project at once, up to 64).
	Concurrency int `yaml:"concurrency"`

	client keyLister // tests
}

type keyLister interface {
	ListProjectKeys(ctx context.Context, projectID string) ([]openai.ProjectKey, error)
	GetProjectKey(ctx context.Context, projectID, keyID string) (openai.ProjectKey, error)
	KeyDeletions(ctx context.Context, keyID string, since time.Time, limit int) ([]openai.KeyDeletion, error)
	CheckKey(ctx context.Context, secret string) (openai.KeyCheck, error)
}

var _ keyLister = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.find-key",
	New:     func() steps.Step { return &FindKey{} },
	Outputs: Outputs{},
	Summary: "identify a project API key from its ID or from the leaked secret (read-only)",
	Traits:  steps.Traits{Needs: []steps.Permission{steps.OpenAIProjects, steps.OpenAIKeys}},
}

// Outputs are the step's results.
type Outputs struct {
	ProjectID     string `json:"project_id"`
	KeyID         string `json:"key_id"`
	KeyName       string `json:"key_name"`
	Owner         string `json:"owner"`
	OwnerType     string `json:"owner_type"`
	CreatedAt     string `json:"created_at"`
	LastUsedAt    string `json:"last_used_at"`
	RedactedValue string `json:"redacted_value"`
	SecretGiven   bool   `json:"secret_given"`
	// AlreadyRevoked: the key was revoked before this run; the cleanup goes on.
	AlreadyRevoked bool   `json:"already_revoked"`
	RevokedBy      string `json:"revoked_by"`
	RevokedAt      string `json:"revoked_at"`
}

// KeyDead: a key found already revoked leaves nothing to revoke.
func (o *Outputs) KeyDead() bool { return o.AlreadyRevoked }

// ToDo asks for the key's owner to be told, once the key is dead.
func (o *Outputs) ToDo(c steps.ToDoContext) []string {
	switch {
	case o.AlreadyRevoked && o.Owner == "":
		return []string{"Find who owned the key (it was already revoked before this run) and tell them it leaked, and where the replacement now lives."}
	case o.AlreadyRevoked:
		return []string{fmt.Sprintf("Tell the key's owner (%s) it leaked (it was already revoked before this run), and where the replacement now lives.", o.Owner)}
	case c.KeyDead:
		return []string{fmt.Sprintf("Tell the key's owner (%s) it was revoked and why, and where the replacement now lives.", o.Owner)}
	}
	return nil
}

// Validate checks the parameters.
func (f *FindKey) Validate() error {
	if strings.TrimSpace(f.Key) == "" {
		return errors.New("key: the leaked secret or its key ID is required")
	}
	if f.Concurrency < 0 {
		return errors.New("concurrency must be positive")
	}
	return nil
}

// Preflight checks the admin key can list projects.
func (f *FindKey) Preflight(ctx context.Context, env *steps.Env) error {
	return openaikit.Preflight(ctx, env)
}

// Run finds the key.
func (f *FindKey) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	key := strings.TrimSpace(f.Key)
	if !openai.IsKeyID(key) {
		env.Secret(key)
	}
	c := f.client
	if c == nil {
		cl, err := openaikit.Client(env)
		if err != nil {
			return nil, err
		}
		c = cl
	}
	var projects []string
	if f.Project != "" {
		projects = []string{f.Project}
	} else {
		ps, err := openaikit.Projects(ctx, env)
		if err != nil {
			return nil, openaikit.Classify(err)
		}
		for _, p := range ps {
			projects = append(projects, p.ID)
		}
	}
	if len(projects) == 0 {
		return nil, errors.New("the organisation has no active projects: nothing to search")
	}
	var matches []openai.ProjectKey
	var err error
	if openai.IsKeyID(key) {
		matches, err = f.byID(ctx, c, projects, key)
	} else {
		matches, err = f.bySecret(ctx, env, c, projects, key)
	}
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 1:
		k := matches[0]
		env.Logf("found %s (%q) in project %s, owned by %s %s", k.ID, k.Name, k.ProjectID, k.OwnerType, owner(k))
		return steps.Outputs{
			"project_id": k.ProjectID, "key_id": k.ID, "key_name": k.Name, "owner": owner(k),
			"owner_type": k.OwnerType, "created_at": rfc3339(k.CreatedAt), "last_used_at": rfc3339(k.LastUsedAt),
			"redacted_value": k.RedactedValue, "secret_given": !openai.IsKeyID(key),
			"already_revoked": false, "revoked_by": "", "revoked_at": "",
		}, nil
	case 0:
		if out, ok, err := f.alreadyRevoked(ctx, env, c, key); ok || err != nil {
			return out, err
		}
		what := "no key with ID " + key
		if !openai.IsKeyID(key) {
			what = fmt.Sprintf("no key's redacted value matches %s", redact.Mask(key))
		}
		return nil, fmt.Errorf("%s in %d project(s). If it is an admin key or belongs to another organisation, "+
			"this playbook cannot revoke it; otherwise pass the key ID as --input key=key_... --input project=proj_... instead", what, len(projects))
	default:
		var b strings.Builder
		fmt.Fprintf(&b, "%d keys match %s; pass the right one by ID (--input key=key_... --input project=proj_...):", len(matches), redact.Mask(key))
		for _, k := range matches {
			fmt.Fprintf(&b, "\n  %s  project %s  %q  %s  owner %s  last used %s", k.ID, k.ProjectID, k.Name,
				k.RedactedValue, owner(k), orNever(k.LastUsedAt))
		}
		return nil, errors.New(b.String())
	}
}

// alreadyRevoked decides whether a key that matches no live key was revoked already (by a
// teammate in the dashboard, by GitHub's partner program, by an earlier run): then the run goes on
// with every cleanup step instead of failing. A key ID is looked up in the audit log. A value is
// proven dead with its own call (only 401 invalid_api_key counts); the audit log names deleted keys
// by ID only, so the recent deletions are listed as candidates, not as the answer.
func (f *FindKey) alreadyRevoked(ctx context.Context, env *steps.Env, c keyLister, key string) (steps.Outputs, bool, error) {
	out := steps.Outputs{"project_id": f.Project, "key_id": "", "key_name": "", "owner": "", "owner_type": "",
		"created_at": "", "last_used_at": "", "redacted_value": "", "secret_given": !openai.IsKeyID(key),
		"already_revoked": true, "revoked_by": "", "revoked_at": ""}
	if openai.IsKeyID(key) {
		ds, err := c.KeyDeletions(ctx, key, time.Time{}, 1)
		if err != nil {
			env.Logf("could not read the audit log to see whether %s was revoked: %v", key, err)
			return nil, false, nil
		}
		if len(ds) == 0 {
			return nil, false, nil
		}
		d := ds[0]
		out["key_id"], out["revoked_by"], out["revoked_at"] = d.KeyID, d.By, d.At.Format(time.RFC3339)
		if d.ProjectID != "" {
			out["project_id"] = d.ProjectID
		}
		env.Logf("ALREADY REVOKED: %s; the cleanup goes on", d)
		return out, true, nil
	}
	check, err := c.CheckKey(ctx, key)
	if err != nil || !check.Dead() {
		return nil, false, nil // live, or not proven dead: the caller's error says what to do
	}
	env.Logf("ALREADY REVOKED (or expired, or mistyped): %s answers %s, so it no longer authenticates anywhere; "+
		"the cleanup goes on", redact.Mask(key), check)
	if ds, err := c.KeyDeletions(ctx, "", env.Now().Add(-90*24*time.Hour), 10); err == nil && len(ds) > 0 {
		var lines []string
		for _, d := range ds {
			lines = append(lines, "  "+d.String())
		}
		env.Logf("keys revoked in the last 90 days (the audit log names keys by ID only, so which one held this value cannot be told):\n%s",
			strings.Join(lines, "\n"))
	}
	return out, true, nil
}

func (f *FindKey) workers(n int) int {
	if f.Concurrency > 0 {
		return min(f.Concurrency, n)
	}
	return min(n, 64)
}

// each calls fn for every project concurrently; the first error cancels the rest.
func (f *FindKey) each(ctx context.Context, projects []string, fn func(context.Context, string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, f.workers(len(projects)))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, p := range projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := fn(ctx, p); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func (f *FindKey) bySecret(ctx context.Context, env *steps.Env, c keyLister, projects []string, secret string) ([]openai.ProjectKey, error) {
	var mu sync.Mutex
	var matches []openai.ProjectKey
	listed := 0
	err := f.each(ctx, projects, func(ctx context.Context, p string) error {
		keys, err := c.ListProjectKeys(ctx, p)
		if err != nil {
			return openaikit.Classify(err)
		}
		mu.Lock()
		defer mu.Unlock()
		listed += len(keys)
		for _, k := range keys {
			if Matches(k.RedactedValue, secret) {
				matches = append(matches, k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	env.Logf("compared %s against %d keys in %d projects", redact.Mask(secret), listed, len(projects))
	sortKeys(matches)
	return matches, nil
}

func (f *FindKey) byID(ctx context.Context, c keyLister, projects []string, id string) ([]openai.ProjectKey, error) {
	var mu sync.Mutex
	var matches []openai.ProjectKey
	err := f.each(ctx, projects, func(ctx context.Context, p string) error {
		k, err := c.GetProjectKey(ctx, p, id)
		if openai.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return openaikit.Classify(err)
		}
		mu.Lock()
		matches = append(matches, k)
		mu.Unlock()
		return nil
	})
	sortKeys(matches)
	return matches, err
}

// Matches reports whether a redacted value such as "sk-proj-...abcd" (or with "…" or "*"
// filler) is consistent with secret: its visible head is the secret's start and its visible tail
// the secret's end. A tail of fewer than 2 characters is too weak to match anything.
func Matches(redacted, secret string) bool {
	head, tail, ok := splitRedacted(redacted)
	if !ok || len(tail) < 2 || len(head)+len(tail) > len(secret) {
		return false
	}
	return strings.HasPrefix(secret, head) && strings.HasSuffix(secret, tail)
}

func splitRedacted(r string) (head, tail string, ok bool) {
	for _, sep := range []string{"...", "…", "**"} {
		if i := strings.Index(r, sep); i >= 0 {
			head = r[:i]
			tail = strings.TrimLeft(r[i:], ".…*")
			return head, tail, true
		}
	}
	return "", "", false
}

func sortKeys(ks []openai.ProjectKey) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].ProjectID != ks[j].ProjectID {
			return ks[i].ProjectID < ks[j].ProjectID
		}
		return ks[i].ID < ks[j].ID
	})
}

func owner(k openai.ProjectKey) string {
	switch {
	case k.OwnerEmail != "":
		return k.OwnerEmail
	case k.OwnerName != "":
		return k.OwnerName
	}
	return k.OwnerID
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
