// Package createreplacement is the `openai.create-replacement` step: mint a minimal-permission, expiring
// service-account key, prove it works, and put it straight into the places that use it. The
// value is registered for redaction before anything else happens with it, goes only to its
// sinks, and is never left live and undelivered: if the proof or a delivery fails, or the process
// dies midway, the key is deleted and the step starts over.
//
// The service account is created without an initial key (create_service_account_only), which
// leaves it with role none: its keys are limited by their scopes and by the owner's access, so
// they could do nothing. The step gives it role member before minting, then proves the key with
// GET /v1/models using the new value before anyone receives it.
package createreplacement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/secrets"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// Replace's parameters.
type Replace struct {
	Project string `yaml:"project"`
	// ServiceAccount is the name of the service account that owns the key; created when
	// missing (default respond-<run id>, the key's own account: under the document's reading a
	// service-account key can only be revoked by deleting its account, so one key per account
	// keeps each replacement revocable on its own).
	ServiceAccount string `yaml:"service_account"`
	// KeyName names the key (default respond-<run id>); a resumed run finds its own keys by it.
	KeyName string `yaml:"key_name"`
	// Scopes are explicit scope identifiers, or [auto] to derive them from what OldKeyID used.
	// Never empty: the API reads an empty list as all permissions.
	Scopes []string `yaml:"scopes"`
	// ExpiresIn is the key's lifetime (default 720h).
	ExpiresIn time.Duration `yaml:"expires_in"`
	// OldKeyID, AutoLookback and AutoBefore feed scopes: [auto]: what the old key used in the
	// AutoLookback (default 720h) before AutoBefore (RFC 3339, default now). Pass the exposure
	// start as AutoBefore so the attacker's use does not widen the new key. With no usage to
	// derive from, the key gets openai.DefaultScopes and the step adds a to-do.
	OldKeyID     string        `yaml:"old_key_id"`
	AutoLookback time.Duration `yaml:"auto_lookback"`
	AutoBefore   string        `yaml:"auto_before"`
	// DeliverTo lists the sinks. A sink whose destination renders empty (no path, argv, repo
	// or org) is left out, so one playbook serves teams with and without each kind of store;
	// at least one must remain.
	DeliverTo []secrets.Spec `yaml:"deliver_to"`
	// ProveWithin is how long the new key may take to work (default 30s): GET /v1/models with it
	// is tried until it answers 200; otherwise the key is deleted and the step fails.
	ProveWithin time.Duration `yaml:"prove_within"`

	client keyAPI
	sinks  func(env *steps.Env, specs []secrets.Spec) ([]secrets.Sink, error)
}

type keyAPI interface {
	FindServiceAccount(ctx context.Context, projectID, name string) (*openai.ServiceAccount, error)
	CreateServiceAccount(ctx context.Context, projectID, name string) (openai.ServiceAccount, error)
	SetServiceAccountRole(ctx context.Context, projectID, saID, role string) (openai.ServiceAccount, error)
	CheckKey(ctx context.Context, secret string) (openai.KeyCheck, error)
	CreateServiceAccountKey(ctx context.Context, projectID, saID, name string, scopes []string, expiresIn time.Duration) (openai.NewKey, error)
	FindKeysByName(ctx context.Context, projectID, saID, name string) ([]openai.ProjectKey, error)
	DeleteProjectKey(ctx context.Context, projectID, keyID string) (bool, error)
	ServiceAccountKeys(ctx context.Context, projectID, saID string) ([]openai.ProjectKey, error)
	DeleteServiceAccount(ctx context.Context, projectID, saID string) (bool, error)
	Usage(ctx context.Context, q openai.UsageQuery) ([]openai.UsageRow, error)
}

var _ keyAPI = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.create-replacement",
	New:     func() steps.Step { return &Replace{} },
	Outputs: Outputs{},
	Summary: "mint a scoped, expiring service-account key, prove it works, and deliver it only to its sinks (file, command, GitHub Actions secret)",
	Traits: steps.Traits{Needs: []steps.Permission{steps.OpenAIProjects, steps.OpenAIServiceAccounts, steps.OpenAIUsage},
		NeedsFor: needsFor, Effects: []steps.Effect{steps.DeliversReplacement}, Deliveries: deliveries},
}

// Outputs are the step's results. In a plan the key's fields are placeholders.
type Outputs struct {
	KeyID            string   `json:"key_id"`
	RedactedValue    string   `json:"redacted_value"`
	Fingerprint      string   `json:"fingerprint"`
	ServiceAccountID string   `json:"service_account_id"`
	Scopes           []string `json:"scopes"`
	ScopesBasis      string   `json:"scopes_basis"`
	ExpiresAt        string   `json:"expires_at"`
	// Proven says how the new key was shown to work ("" in a plan).
	Proven    string   `json:"proven"`
	Delivered []string `json:"delivered"`
	// Todo is what the step could not do itself.
	Todo []string `json:"todo"`
}

// ToDo is what the step could not do itself.
func (o *Outputs) ToDo(steps.ToDoContext) []string { return o.Todo }

const (
	defaultExpiry  = 720 * time.Hour
	defaultLookbck = 720 * time.Hour
	scopeAuto      = "auto"
)

const defaultProve = 30 * time.Second

// Validate checks the parameters.
func (r *Replace) Validate() error {
	var errs []error
	if r.Project == "" {
		errs = append(errs, errors.New("project is required"))
	}
	switch {
	case len(r.Scopes) == 0:
		errs = append(errs, errors.New("scopes: required, e.g. [api.model.request] or [auto]; an empty list would mean ALL permissions"))
	case slices.Contains(r.Scopes, scopeAuto) && len(r.Scopes) > 1:
		errs = append(errs, errors.New("scopes: auto stands alone"))
	case slices.Contains(r.Scopes, ""):
		errs = append(errs, errors.New("scopes: an empty scope"))
	}
	if r.ExpiresIn < 0 || (r.ExpiresIn > 0 && r.ExpiresIn < time.Hour) {
		errs = append(errs, errors.New("expires_in must be at least 1h"))
	}
	if r.ProveWithin < 0 {
		errs = append(errs, errors.New("prove_within must not be negative"))
	}
	specs := r.active()
	if len(specs) == 0 {
		errs = append(errs, errors.New("deliver_to: no sink with a destination: the new key would be delivered nowhere"))
	}
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("deliver_to[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// active drops sinks whose destination rendered empty.
func (r *Replace) active() []secrets.Spec {
	var out []secrets.Spec
	for _, s := range r.DeliverTo {
		switch s.Type {
		case secrets.TypeFile:
			if strings.TrimSpace(s.Path) == "" {
				continue
			}
		case secrets.TypeCommand:
			if len(s.Argv) == 0 || strings.TrimSpace(s.Argv[0]) == "" {
				continue
			}
		case secrets.TypeGitHubActionsSecret:
			if s.Repo == "" && s.Org == "" {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func (r *Replace) saName(env *steps.Env) string {
	if r.ServiceAccount != "" {
		return r.ServiceAccount
	}
	return "respond-" + env.RunID
}

func (r *Replace) keyName(env *steps.Env) string {
	if r.KeyName != "" {
		return r.KeyName
	}
	return "respond-" + env.RunID
}

func (r *Replace) expiry() time.Duration {
	if r.ExpiresIn > 0 {
		return r.ExpiresIn
	}
	return defaultExpiry
}

func (r *Replace) api(env *steps.Env) (keyAPI, error) {
	if r.client != nil {
		return r.client, nil
	}
	return openaikit.Client(env)
}

func (r *Replace) buildSinks(env *steps.Env) ([]secrets.Sink, error) {
	if r.sinks != nil {
		return r.sinks(env, r.active())
	}
	var out []secrets.Sink
	for _, spec := range r.active() {
		var deps secrets.Deps
		if spec.Type == secrets.TypeGitHubActionsSecret {
			gh, err := githubkit.Client(env)
			if err != nil {
				return nil, err
			}
			deps.GitHub = gh
		}
		s, err := secrets.New(spec, deps)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Preflight checks the admin key and that every sink can be built (credentials for GitHub).
func (r *Replace) Preflight(ctx context.Context, env *steps.Env) error {
	if len(r.active()) == 0 {
		return errors.New("deliver_to: no sink with a destination: the new key would be delivered nowhere (set a file path, a command or a repository)")
	}
	if err := openaikit.Preflight(ctx, env); err != nil {
		return err
	}
	// Where the replacement goes is checked before the revocation: revoking the leaked key while
	// its replacement cannot be delivered would take the service down for nothing.
	sinks, err := r.buildSinks(env)
	if err != nil {
		return steps.BeforeContainment(err)
	}
	var errs []error
	for _, s := range sinks {
		if c, ok := s.(secrets.Checker); ok {
			if err := c.Check(ctx); err != nil {
				errs = append(errs, err)
				continue
			}
			env.Logf("precondition: the replacement can be delivered to %s ✓", s.Describe())
		}
	}
	return steps.BeforeContainment(errors.Join(errs...))
}

// scopeChoice is the scopes the new key gets, why, and what a person must look at.
type scopeChoice struct {
	scopes []string
	basis  string
	todo   []string
}

// scopes resolves [auto] from the old key's usage on every usage endpoint (openai.UsageEndpoints,
// the one endpoint→scope table). Explicit scopes get api.model.read added when they allow no
// model listing: the key is proven with GET /v1/models before delivery.
func (r *Replace) scopes(ctx context.Context, env *steps.Env, c keyAPI) (scopeChoice, error) {
	if !slices.Contains(r.Scopes, scopeAuto) {
		sc := slices.Clone(r.Scopes)
		basis := "explicit"
		if !slices.Contains(sc, openai.ScopeModelRead) && !slices.Contains(sc, openai.ScopeAllRead) {
			sc = append(sc, openai.ScopeModelRead)
			basis += fmt.Sprintf(", plus %s so the key can be proven with GET /v1/models", openai.ScopeModelRead)
		}
		return scopeChoice{scopes: sc, basis: basis}, nil
	}
	if r.OldKeyID == "" {
		// The leaked key is unknown (only its value was given, and it was already revoked): no
		// usage to derive from, so the stated minimal default, and a person checks it.
		return scopeChoice{
			scopes: slices.Clone(openai.DefaultScopes),
			basis:  "the leaked key's ID is unknown (already revoked): the minimal default (list models, make model requests)",
			todo: []string{fmt.Sprintf("The replacement key has only the default scopes %s because the leaked key's usage could not be read "+
				"(its ID is unknown): check that its users need nothing more, and widen its scopes in the dashboard if they do.",
				strings.Join(openai.DefaultScopes, " "))},
		}, nil
	}
	look := r.AutoLookback
	if look == 0 {
		look = defaultLookbck
	}
	now := env.Now().UTC()
	if b := strings.TrimSpace(r.AutoBefore); b != "" && b != "<no value>" {
		t, err := time.Parse(time.RFC3339Nano, b)
		if err != nil {
			return scopeChoice{}, fmt.Errorf("auto_before: %q is not an RFC 3339 time", b)
		}
		now = t
	}
	start := now.Add(-look).Truncate(24 * time.Hour)
	kinds, projKinds, err := r.usedKinds(ctx, c, start, now)
	if err != nil {
		return scopeChoice{}, err
	}
	slices.Sort(kinds)
	slices.Sort(projKinds)
	window := fmt.Sprintf("%s to %s", start.Format("2006-01-02"), now.Format(time.RFC3339))
	if len(kinds)+len(projKinds) == 0 {
		return scopeChoice{
			scopes: slices.Clone(openai.DefaultScopes),
			basis: fmt.Sprintf("no usage of %s from %s on any usage endpoint: the minimal default (list models, make model requests)",
				r.OldKeyID, window),
			todo: []string{fmt.Sprintf("The replacement key has only the default scopes %s because %s showed no usage from %s: "+
				"check that its users need nothing more, and widen its scopes in the dashboard if they do.",
				strings.Join(openai.DefaultScopes, " "), r.OldKeyID, window)},
		}, nil
	}
	ch := scopeChoice{scopes: openai.ScopesFor(append(slices.Clone(kinds), projKinds...))}
	var parts []string
	if len(kinds) > 0 {
		parts = append(parts, fmt.Sprintf("%s's use of %s", r.OldKeyID, strings.Join(kinds, ", ")))
	}
	if len(projKinds) > 0 {
		parts = append(parts, fmt.Sprintf("project %s's use of %s (reported per project only)", r.Project, strings.Join(projKinds, ", ")))
		ch.todo = append(ch.todo, fmt.Sprintf("The replacement key can use %s because project %s did in %s, and the API cannot "+
			"tell which key did: remove those scopes in the dashboard if %s never used them.",
			strings.Join(projKinds, ", "), r.Project, window, r.OldKeyID))
	}
	ch.basis = "derived from " + strings.Join(parts, " and ") + " from " + window
	return ch, nil
}

// usedKinds lists the usage kinds the old key used between start and end, and those its project
// used on the endpoints that report per project only. Per-key endpoints say what this key did;
// project-only ones (vector store storage, code interpreter sessions) say what some key of the
// project did, which is the closest the API can tell.
func (r *Replace) usedKinds(ctx context.Context, c keyAPI, start, end time.Time) (kinds, projKinds []string, err error) {
	keyRows, err := c.Usage(ctx, openai.UsageQuery{Start: start, End: end, Bucket: "1d",
		APIKeyIDs: []string{r.OldKeyID}, GroupBy: []string{openai.GroupAPIKeyID}})
	if err != nil {
		return nil, nil, fmt.Errorf("derive scopes from the usage of %s: %w", r.OldKeyID, openaikit.Classify(err))
	}
	var projectOnly []string
	for _, e := range openai.UsageEndpoints {
		if !e.PerKey {
			projectOnly = append(projectOnly, e.Kind)
		}
	}
	projRows, err := c.Usage(ctx, openai.UsageQuery{Kinds: projectOnly, Start: start, End: end, Bucket: "1d",
		ProjectIDs: []string{r.Project}, GroupBy: []string{openai.GroupProjectID}})
	if err != nil {
		return nil, nil, fmt.Errorf("derive scopes from the usage of project %s: %w", r.Project, openaikit.Classify(err))
	}
	for _, row := range keyRows {
		if row.Active() && (row.APIKeyID == "" || row.APIKeyID == r.OldKeyID) && !slices.Contains(kinds, row.Kind) {
			kinds = append(kinds, row.Kind)
		}
	}
	for _, row := range projRows {
		if row.Active() && (row.ProjectID == "" || row.ProjectID == r.Project) && !slices.Contains(projKinds, row.Kind) {
			projKinds = append(projKinds, row.Kind)
		}
	}
	return kinds, projKinds, nil
}

// prepare is where Plan and Run start: the client, the sinks, and the scopes with how they were
// chosen.
func (r *Replace) prepare(ctx context.Context, env *steps.Env) (c keyAPI, sinks []secrets.Sink, sc scopeChoice, err error) {
	if c, err = r.api(env); err != nil {
		return nil, nil, scopeChoice{}, err
	}
	if sinks, err = r.buildSinks(env); err != nil {
		return nil, nil, scopeChoice{}, err
	}
	if sc, err = r.scopes(ctx, env, c); err != nil {
		return nil, nil, scopeChoice{}, err
	}
	return c, sinks, sc, nil
}

// Plan shows the calls and the sinks.
func (r *Replace) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	c, sinks, sc, err := r.prepare(ctx, env)
	if err != nil {
		return nil, err
	}
	base := "/v1/organization/projects/" + r.Project + "/service_accounts"
	var actions []steps.Action
	sa, err := c.FindServiceAccount(ctx, r.Project, r.saName(env))
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	saRef := "<new service account>"
	if sa == nil {
		actions = append(actions, steps.Action{Method: "POST", Target: base,
			Params: map[string]any{"name": r.saName(env), "create_service_account_only": true},
			Note:   "no initial key; the account starts with role none"})
	} else {
		saRef = sa.ID
	}
	if sa == nil || !hasRole(sa.Role) {
		actions = append(actions, steps.Action{Method: "POST", Target: base + "/" + saRef,
			Params: map[string]any{"role": openai.RoleMember}, Note: "role none would leave its keys unable to do anything"})
	}
	actions = append(actions, steps.Action{Method: "POST", Target: base + "/" + saRef + "/api_keys",
		Params: map[string]any{"name": r.keyName(env), "scopes": sc.scopes, "expires_in_seconds": int64(r.expiry() / time.Second)},
		Note:   "scopes " + sc.basis})
	actions = append(actions, steps.Action{Method: "GET", Target: "/v1/models",
		Note: "with the new value, before delivery: must answer 200, else the key is deleted"})
	var where []string
	for _, s := range sinks {
		actions = append(actions, steps.Action{Method: "deliver", Target: s.Describe()})
		where = append(where, s.Describe())
	}
	return &steps.Plan{
		Summary: fmt.Sprintf("mint a key for %s (%s, expires in %s), prove it works and deliver it to %d sink(s)",
			r.saName(env), strings.Join(sc.scopes, " "), r.expiry(), len(sinks)),
		Actions: actions,
		Outputs: steps.Outputs{"key_id": "<new key>", "redacted_value": "<new key>", "fingerprint": "", "service_account_id": saRef,
			"scopes": sc.scopes, "scopes_basis": sc.basis, "expires_at": "", "proven": "", "delivered": where, "todo": sc.todo},
	}, nil
}

func hasRole(role string) bool { return role == openai.RoleMember || role == openai.RoleOwner }

// Run mints, proves and delivers.
func (r *Replace) Run(ctx context.Context, env *steps.Env) (out steps.Outputs, err error) {
	defer func() {
		// The leaked key is dead by now: whoever reads this failure must know the service has no
		// working key (wrapping keeps transient errors retryable).
		if err != nil {
			err = fmt.Errorf("NO REPLACEMENT: the service has no working key until one is minted and delivered: %w", err)
		}
	}()
	c, sinks, sc, err := r.prepare(ctx, env)
	if err != nil {
		return nil, err
	}
	scopes, todo := sc.scopes, slices.Clone(sc.todo)
	name := r.keyName(env)
	sa, nk, err := r.mint(ctx, env, c, name, scopes)
	if err != nil {
		return nil, err
	}
	env.Secret(nk.Value)
	value := []byte(nk.Value)
	nk.Value = ""
	defer clear(value)
	masked, fp := redact.Mask(string(value)), redact.Fingerprint(string(value))

	exp := ""
	if nk.ExpiresAt.IsZero() {
		// expires_in_seconds is in the SDK but not in the August 2026 document: an API that
		// ignores it mints a key that never expires.
		env.Logf("THE NEW KEY %s HAS NO EXPIRY: the API did not return expires_at although %s was asked for", nk.ID, r.expiry())
		todo = append(todo, fmt.Sprintf("The replacement key %s came back without an expiry although %s was asked for: "+
			"set one in the dashboard, or rotate it by hand before then.", nk.ID, r.expiry()))
	} else {
		exp = nk.ExpiresAt.UTC().Format(time.RFC3339)
	}

	proven, err := r.prove(ctx, env, c, string(value), masked)
	if err != nil {
		r.abandon(ctx, env, c, sa.ID, nk.ID, nil)
		return nil, fmt.Errorf("%w; the new key %s was deleted so that no key that does not work is delivered", err, nk.ID)
	}

	where, err := r.deliver(ctx, env, c, sinks, sa.ID, nk.ID, value, fp, masked)
	if err != nil {
		return nil, err
	}
	expText := exp
	if expText == "" {
		expText = "NEVER"
	}
	env.Logf("minted %s (%s) for %s: scopes %s (%s), expires %s, %s", nk.ID, masked, sa.Name, strings.Join(scopes, " "), sc.basis, expText, proven)
	for _, t := range todo {
		// needs_human puts it in the run's "Needs a human" list (Slack summary).
		env.Log("TO-DO: "+t, map[string]any{"needs_human": true})
	}
	if todo == nil {
		todo = []string{}
	}
	return steps.Outputs{"key_id": nk.ID, "redacted_value": masked, "fingerprint": fp, "service_account_id": sa.ID,
		"scopes": scopes, "scopes_basis": sc.basis, "expires_at": exp, "proven": proven, "delivered": where, "todo": todo}, nil
}

// mint creates the replacement key under the step's service account, after deleting a key an
// earlier attempt minted but never delivered: its value was lost with that attempt, so it could
// never reach its sinks. (This may delete the account too, under the document's reading, so the
// account is looked up again after.)
func (r *Replace) mint(ctx context.Context, env *steps.Env, c keyAPI, name string, scopes []string) (*openai.ServiceAccount, openai.NewKey, error) {
	if old, err := c.FindServiceAccount(ctx, r.Project, r.saName(env)); err != nil {
		return nil, openai.NewKey{}, openaikit.Classify(err)
	} else if old != nil {
		if err := r.deleteStale(ctx, env, c, old.ID, name); err != nil {
			return nil, openai.NewKey{}, err
		}
	}
	sa, err := r.serviceAccount(ctx, env, c)
	if err != nil {
		return nil, openai.NewKey{}, err
	}
	if err := env.Intent("create key", map[string]any{"service_account_id": sa.ID, "name": name, "scopes": scopes}); err != nil {
		return nil, openai.NewKey{}, err
	}
	nk, err := c.CreateServiceAccountKey(ctx, r.Project, sa.ID, name, scopes, r.expiry())
	if err != nil {
		var oe *openai.Error
		if errors.As(err, &oe) && oe.OutcomeUnknown() {
			if derr := r.deleteStale(ctx, env, c, sa.ID, name); derr != nil {
				return nil, openai.NewKey{}, fmt.Errorf("%w; and cleaning up a possibly created key failed: %v", err, derr)
			}
			return nil, openai.NewKey{}, steps.Transient(fmt.Errorf("the answer to the key creation was lost; any key it made was deleted: %w", err))
		}
		return nil, openai.NewKey{}, openaikit.Classify(err)
	}
	return sa, nk, nil
}

// deliver records the intent to deliver, then hands the value to every sink in order; if one
// fails, the new key is deleted (and the sinks that took it are undone) so no key is left live
// and undelivered.
func (r *Replace) deliver(ctx context.Context, env *steps.Env, c keyAPI, sinks []secrets.Sink, saID, keyID string, value []byte, fp, masked string) ([]string, error) {
	var where []string
	for _, s := range sinks {
		where = append(where, s.Describe())
	}
	if err := env.Intent("deliver", map[string]any{"key_id": keyID, "fingerprint": fp, "sinks": where}); err != nil {
		r.abandon(ctx, env, c, saID, keyID, nil)
		return nil, err
	}
	var done []secrets.Sink
	for _, s := range sinks {
		if err := s.Deliver(ctx, value); err != nil {
			r.abandon(ctx, env, c, saID, keyID, done)
			return nil, fmt.Errorf("%w; the new key %s was deleted so it is not left live and undelivered", err, keyID)
		}
		done = append(done, s)
		env.Logf("new key %s delivered to %s", masked, s.Describe())
	}
	return where, nil
}

// ErrReplacementDoesNotWork is the loud failure when the new key is refused.
var ErrReplacementDoesNotWork = errors.New("THE NEW KEY DOES NOT WORK")

// prove calls GET /v1/models with the new value until it answers 200 or ProveWithin passes
// (a new key or a role change may take a moment to reach every server).
func (r *Replace) prove(ctx context.Context, env *steps.Env, c keyAPI, value, masked string) (string, error) {
	within := r.ProveWithin
	if within == 0 {
		within = defaultProve
	}
	every := min(2*time.Second, within/4+time.Millisecond)
	deadline := env.Now().Add(within)
	for checks := 1; ; checks++ {
		st, err := c.CheckKey(ctx, value)
		if err != nil {
			return "", steps.Transient(fmt.Errorf("prove the new key %s works: %w", masked, err))
		}
		if st.Works() {
			return fmt.Sprintf("GET /v1/models with the new value answered %s", st), nil
		}
		if !env.Now().Add(every).Before(deadline) {
			said := st.String()
			if st.Message != "" {
				said += fmt.Sprintf(" (%q)", st.Message)
			}
			return "", fmt.Errorf("%w: GET /v1/models with %s answered %s after %d checks over %s", ErrReplacementDoesNotWork,
				masked, said, checks, within)
		}
		env.Logf("new key %s answers %s; checking again in %s", masked, st, every)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// serviceAccount finds or creates the account, and gives it role member when it has none.
func (r *Replace) serviceAccount(ctx context.Context, env *steps.Env, c keyAPI) (*openai.ServiceAccount, error) {
	sa, err := r.findOrCreateServiceAccount(ctx, env, c)
	if err != nil || hasRole(sa.Role) {
		return sa, err
	}
	if err := env.Intent("give the service account a role", map[string]any{"service_account_id": sa.ID, "role": openai.RoleMember}); err != nil {
		return nil, err
	}
	updated, err := c.SetServiceAccountRole(ctx, r.Project, sa.ID, openai.RoleMember)
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	env.Logf("gave service account %s (%s) role %s (it had %q, which leaves its keys unable to do anything)",
		sa.Name, sa.ID, updated.Role, sa.Role)
	return &updated, nil
}

func (r *Replace) findOrCreateServiceAccount(ctx context.Context, env *steps.Env, c keyAPI) (*openai.ServiceAccount, error) {
	sa, err := c.FindServiceAccount(ctx, r.Project, r.saName(env))
	if err != nil {
		return nil, openaikit.Classify(err)
	}
	if sa != nil {
		return sa, nil
	}
	if err := env.Intent("create service account", map[string]any{"name": r.saName(env)}); err != nil {
		return nil, err
	}
	created, err := c.CreateServiceAccount(ctx, r.Project, r.saName(env))
	if err != nil {
		var oe *openai.Error
		if errors.As(err, &oe) && oe.OutcomeUnknown() {
			// Look again before anything else: it may exist now.
			if sa, ferr := c.FindServiceAccount(ctx, r.Project, r.saName(env)); ferr == nil && sa != nil {
				return sa, nil
			}
			return nil, steps.Transient(err)
		}
		return nil, openaikit.Classify(err)
	}
	env.Logf("created service account %s (%s) in %s", created.Name, created.ID, r.Project)
	return &created, nil
}

// deleteKey deletes one of the step's own keys. When the API refuses a service-account key (the
// document's reading), the key goes with its account, provided the account owns nothing else.
func (r *Replace) deleteKey(ctx context.Context, env *steps.Env, c keyAPI, saID, keyID string) error {
	_, err := c.DeleteProjectKey(ctx, r.Project, keyID)
	if !openai.IsBadRequest(err) {
		return openaikit.Classify(err)
	}
	keys, lerr := c.ServiceAccountKeys(ctx, r.Project, saID)
	if lerr != nil {
		return fmt.Errorf("%w; and listing the keys of its service account %s failed: %w", err, saID, openaikit.Classify(lerr))
	}
	for _, k := range keys {
		if k.ID != keyID {
			return fmt.Errorf("%w; its service account %s owns other keys (%s...), so it cannot be deleted in its place", err, saID, k.ID)
		}
	}
	if _, err := c.DeleteServiceAccount(ctx, r.Project, saID); err != nil {
		return openaikit.Classify(err)
	}
	env.Logf("deleted service account %s to delete its key %s (the API refused to delete the key on its own)", saID, keyID)
	return nil
}

func (r *Replace) deleteStale(ctx context.Context, env *steps.Env, c keyAPI, saID, name string) error {
	stale, err := c.FindKeysByName(ctx, r.Project, saID, name)
	if err != nil {
		return openaikit.Classify(err)
	}
	for _, k := range stale {
		if err := r.deleteKey(ctx, env, c, saID, k.ID); err != nil {
			return fmt.Errorf("delete undelivered key %s: %w", k.ID, err)
		}
		env.Logf("deleted %s, minted by an interrupted attempt and never delivered", k.ID)
	}
	return nil
}

// abandon deletes a new key whose delivery failed, undoing the deliveries that did happen.
// It runs even if ctx is done: leaving the key live is the one thing this step must not do.
func (r *Replace) abandon(ctx context.Context, env *steps.Env, c keyAPI, saID, keyID string, delivered []secrets.Sink) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, s := range delivered {
		if err := s.Undo(ctx); err != nil && !errors.Is(err, secrets.ErrUnsupported) {
			env.Logf("could not remove the new key from %s: %v", s.Describe(), err)
		}
	}
	if err := r.deleteKey(ctx, env, c, saID, keyID); err != nil {
		env.Logf("DELETE THE NEW KEY %s BY HAND: deleting it after the failed proof or delivery failed: %v", keyID, err)
	}
}

// Reconcile handles a crash between minting and the step's result: the value died with the
// process, so every key of this run's name is deleted and every sink that may hold part of a
// delivery is cleared; the step then runs again and mints one fresh key.
func (r *Replace) Reconcile(ctx context.Context, env *steps.Env, intents []steps.Intent) (steps.Outputs, bool, error) {
	c, err := r.api(env)
	if err != nil {
		return nil, false, err
	}
	sa, err := c.FindServiceAccount(ctx, r.Project, r.saName(env))
	if err != nil {
		return nil, false, openaikit.Classify(err)
	}
	if sa != nil {
		if err := r.deleteStale(ctx, env, c, sa.ID, r.keyName(env)); err != nil {
			return nil, false, err
		}
	}
	delivering := slices.ContainsFunc(intents, func(in steps.Intent) bool { return in.Name == "deliver" })
	if delivering {
		sinks, err := r.buildSinks(env)
		if err != nil {
			return nil, false, err
		}
		for _, s := range sinks {
			if err := s.Undo(ctx); err != nil && !errors.Is(err, secrets.ErrUnsupported) {
				return nil, false, fmt.Errorf("clear %s before delivering again: %w", s.Describe(), err)
			}
		}
	}
	return nil, false, nil
}

// deliveries reads the destination types of a step's literal deliver_to. A list, or a type, that
// a template decides cannot be read before the run: all is then set, with the literal types.
func deliveries(with *yaml.Node) (types []string, all bool) {
	list := mapValue(with, "deliver_to")
	switch {
	case list == nil:
		return nil, false
	case list.Kind != yaml.SequenceNode:
		return nil, true
	}
	for _, sink := range list.Content {
		t := mapValue(sink, "type")
		switch {
		case sink.Kind != yaml.MappingNode || t != nil && strings.Contains(t.Value, "{{"):
			all = true
		case t != nil && !slices.Contains(types, t.Value):
			types = append(types, t.Value)
		}
	}
	return types, all
}

// needsFor adds writing Actions secrets when a literal sink is a GitHub Actions secret.
func needsFor(with *yaml.Node) []steps.Permission {
	if types, _ := deliveries(with); slices.Contains(types, secrets.TypeGitHubActionsSecret) {
		return []steps.Permission{steps.GitHubSecretsWrite}
	}
	return nil
}

// mapValue is the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Default fills the key's lifetime.
func (r *Replace) Default() map[string]any {
	if r.ExpiresIn != 0 {
		return nil
	}
	r.ExpiresIn = defaultExpiry
	return map[string]any{"expires_in": r.ExpiresIn.String()}
}
