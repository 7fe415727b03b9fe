// Package replace is the `openai.create-replacement` step: mint a minimal-permission, expiring
// service-account key and put it straight into the places that use it. The value is registered
// for redaction before anything else happens with it, goes only to its sinks, and is never left
// live and undelivered: if a delivery fails, or the process dies midway, the key is deleted and
// the step starts over.
package replace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/secrets"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/ghclient"
	"github.com/respond-sec/respond/steps/openai/admin"
)

// Replace's parameters.
type Replace struct {
	Project string `yaml:"project"`
	// ServiceAccount is the name of the service account that owns the key; created when
	// missing (default respond-replacement).
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
	// start as AutoBefore so the attacker's use does not widen the new key.
	OldKeyID     string        `yaml:"old_key_id"`
	AutoLookback time.Duration `yaml:"auto_lookback"`
	AutoBefore   string        `yaml:"auto_before"`
	// DeliverTo lists the sinks. A sink whose destination renders empty (no path, argv, repo
	// or org) is left out, so one playbook serves teams with and without each kind of store;
	// at least one must remain.
	DeliverTo []secrets.Spec `yaml:"deliver_to"`

	client keyAPI
	sinks  func(env *steps.Env, specs []secrets.Spec) ([]secrets.Sink, error)
}

type keyAPI interface {
	FindServiceAccount(ctx context.Context, projectID, name string) (*openai.ServiceAccount, error)
	CreateServiceAccount(ctx context.Context, projectID, name string) (openai.ServiceAccount, error)
	CreateServiceAccountKey(ctx context.Context, projectID, saID, name string, scopes []string, expiresIn time.Duration) (openai.NewKey, error)
	FindKeysByName(ctx context.Context, projectID, saID, name string) ([]openai.ProjectKey, error)
	DeleteProjectKey(ctx context.Context, projectID, keyID string) (bool, error)
	Usage(ctx context.Context, q openai.UsageQuery) ([]openai.UsageRow, error)
}

var _ keyAPI = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name: "openai.create-replacement",
	New:  func() steps.Step { return &Replace{} },
	Outputs: []string{"key_id", "redacted_value", "fingerprint", "service_account_id", "scopes", "expires_at",
		"delivered"},
	Summary: "mint a scoped, expiring service-account key and deliver it only to its sinks (file, command, GitHub Actions secret)",
}

const (
	defaultSA      = "respond-replacement"
	defaultExpiry  = 720 * time.Hour
	defaultLookbck = 720 * time.Hour
	scopeAuto      = "auto"
)

// scopesFor maps a usage kind to the scopes that permit it: making model requests, and reading
// the model list clients check before they call.
var scopesFor = map[string][]string{
	openai.KindCompletions: {"api.model.read", "api.model.request"},
	openai.KindEmbeddings:  {"api.model.read", "api.model.request"},
	openai.KindImages:      {"api.model.read", "api.model.request"},
}

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
	case slices.Contains(r.Scopes, scopeAuto) && r.OldKeyID == "":
		errs = append(errs, errors.New("scopes: [auto] needs old_key_id, the key whose usage decides the scopes"))
	case slices.Contains(r.Scopes, ""):
		errs = append(errs, errors.New("scopes: an empty scope"))
	}
	if r.ExpiresIn < 0 || (r.ExpiresIn > 0 && r.ExpiresIn < time.Hour) {
		errs = append(errs, errors.New("expires_in must be at least 1h"))
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

func (r *Replace) saName() string {
	if r.ServiceAccount != "" {
		return r.ServiceAccount
	}
	return defaultSA
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
	return admin.Client(env)
}

func (r *Replace) buildSinks(env *steps.Env) ([]secrets.Sink, error) {
	if r.sinks != nil {
		return r.sinks(env, r.active())
	}
	var out []secrets.Sink
	for _, spec := range r.active() {
		var deps secrets.Deps
		if spec.Type == secrets.TypeGitHubActionsSecret {
			gh, err := ghclient.Client(env)
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
	if err := admin.Preflight(ctx, env); err != nil {
		return err
	}
	_, err := r.buildSinks(env)
	return err
}

// scopes resolves [auto] from the old key's usage.
func (r *Replace) scopes(ctx context.Context, env *steps.Env, c keyAPI) ([]string, string, error) {
	if !slices.Contains(r.Scopes, scopeAuto) {
		return r.Scopes, "explicit", nil
	}
	look := r.AutoLookback
	if look == 0 {
		look = defaultLookbck
	}
	now := env.Now().UTC()
	if b := strings.TrimSpace(r.AutoBefore); b != "" && b != "<no value>" {
		t, err := time.Parse(time.RFC3339Nano, b)
		if err != nil {
			return nil, "", fmt.Errorf("auto_before: %q is not an RFC 3339 time", b)
		}
		now = t
	}
	rows, err := c.Usage(ctx, openai.UsageQuery{Start: now.Add(-look).Truncate(24 * time.Hour), End: now, Bucket: "1d",
		APIKeyIDs: []string{r.OldKeyID}, GroupBy: []string{openai.GroupAPIKeyID}})
	if err != nil {
		return nil, "", fmt.Errorf("derive scopes from the usage of %s: %w", r.OldKeyID, admin.Classify(err))
	}
	var kinds, scopes []string
	for _, row := range rows {
		if row.Requests == 0 || (row.APIKeyID != "" && row.APIKeyID != r.OldKeyID) {
			continue
		}
		if !slices.Contains(kinds, row.Kind) {
			kinds = append(kinds, row.Kind)
		}
		for _, s := range scopesFor[row.Kind] {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	if len(scopes) == 0 {
		return nil, "", fmt.Errorf("scopes: [auto]: %s shows no usage in the last %s, so nothing to derive from; set scopes explicitly (e.g. [api.model.request])", r.OldKeyID, look)
	}
	slices.Sort(kinds)
	slices.Sort(scopes)
	return scopes, "derived from " + r.OldKeyID + "'s use of " + strings.Join(kinds, ", "), nil
}

// prepare is where Plan and Run start: the client, the sinks, and the scopes with how they were
// chosen.
func (r *Replace) prepare(ctx context.Context, env *steps.Env) (c keyAPI, sinks []secrets.Sink, scopes []string, basis string, err error) {
	if c, err = r.api(env); err != nil {
		return nil, nil, nil, "", err
	}
	if sinks, err = r.buildSinks(env); err != nil {
		return nil, nil, nil, "", err
	}
	if scopes, basis, err = r.scopes(ctx, env, c); err != nil {
		return nil, nil, nil, "", err
	}
	return c, sinks, scopes, basis, nil
}

// Plan shows the calls and the sinks.
func (r *Replace) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	c, sinks, scopes, basis, err := r.prepare(ctx, env)
	if err != nil {
		return nil, err
	}
	base := "/v1/organization/projects/" + r.Project + "/service_accounts"
	var actions []steps.Action
	sa, err := c.FindServiceAccount(ctx, r.Project, r.saName())
	if err != nil {
		return nil, admin.Classify(err)
	}
	saRef := "<new service account>"
	if sa == nil {
		actions = append(actions, steps.Action{Method: "POST", Target: base,
			Params: map[string]any{"name": r.saName(), "create_service_account_only": true}})
	} else {
		saRef = sa.ID
	}
	actions = append(actions, steps.Action{Method: "POST", Target: base + "/" + saRef + "/api_keys",
		Params: map[string]any{"name": r.keyName(env), "scopes": scopes, "expires_in_seconds": int64(r.expiry() / time.Second)},
		Note:   "scopes " + basis})
	var where []string
	for _, s := range sinks {
		actions = append(actions, steps.Action{Method: "deliver", Target: s.Describe()})
		where = append(where, s.Describe())
	}
	return &steps.Plan{
		Summary: fmt.Sprintf("mint a key for %s (%s, expires in %s) and deliver it to %d sink(s)", r.saName(), strings.Join(scopes, " "), r.expiry(), len(sinks)),
		Actions: actions,
		Outputs: steps.Outputs{"key_id": "<new key>", "redacted_value": "<new key>", "fingerprint": "", "service_account_id": saRef,
			"scopes": scopes, "expires_at": "", "delivered": where},
	}, nil
}

// Run mints and delivers.
func (r *Replace) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	c, sinks, scopes, basis, err := r.prepare(ctx, env)
	if err != nil {
		return nil, err
	}
	sa, err := r.serviceAccount(ctx, env, c)
	if err != nil {
		return nil, err
	}
	name := r.keyName(env)
	// A key an earlier attempt minted but never delivered is deleted first: its value was lost
	// with that attempt, so it could never reach its sinks.
	if err := r.deleteStale(ctx, env, c, sa.ID, name); err != nil {
		return nil, err
	}
	if err := env.Intent("create key", map[string]any{"service_account_id": sa.ID, "name": name, "scopes": scopes}); err != nil {
		return nil, err
	}
	nk, err := c.CreateServiceAccountKey(ctx, r.Project, sa.ID, name, scopes, r.expiry())
	if err != nil {
		var oe *openai.Error
		if errors.As(err, &oe) && oe.OutcomeUnknown() {
			if derr := r.deleteStale(ctx, env, c, sa.ID, name); derr != nil {
				return nil, fmt.Errorf("%w; and cleaning up a possibly created key failed: %v", err, derr)
			}
			return nil, steps.Transient(fmt.Errorf("the answer to the key creation was lost; any key it made was deleted: %w", err))
		}
		return nil, admin.Classify(err)
	}
	env.Secret(nk.Value)
	value := []byte(nk.Value)
	nk.Value = ""
	defer clear(value)
	masked, fp := redact.Mask(string(value)), redact.Fingerprint(string(value))

	var where []string
	for _, s := range sinks {
		where = append(where, s.Describe())
	}
	if err := env.Intent("deliver", map[string]any{"key_id": nk.ID, "fingerprint": fp, "sinks": where}); err != nil {
		r.abandon(ctx, env, c, nk.ID, nil)
		return nil, err
	}
	var done []secrets.Sink
	for _, s := range sinks {
		if err := s.Deliver(ctx, value); err != nil {
			r.abandon(ctx, env, c, nk.ID, done)
			return nil, fmt.Errorf("%w; the new key %s was deleted so it is not left live and undelivered", err, nk.ID)
		}
		done = append(done, s)
		env.Logf("new key %s delivered to %s", masked, s.Describe())
	}
	env.Logf("minted %s (%s) for %s: scopes %s (%s), expires %s", nk.ID, masked, sa.Name, strings.Join(scopes, " "), basis, nk.ExpiresAt.UTC().Format(time.RFC3339))
	exp := ""
	if !nk.ExpiresAt.IsZero() {
		exp = nk.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return steps.Outputs{"key_id": nk.ID, "redacted_value": masked, "fingerprint": fp, "service_account_id": sa.ID,
		"scopes": scopes, "expires_at": exp, "delivered": where}, nil
}

func (r *Replace) serviceAccount(ctx context.Context, env *steps.Env, c keyAPI) (*openai.ServiceAccount, error) {
	sa, err := c.FindServiceAccount(ctx, r.Project, r.saName())
	if err != nil {
		return nil, admin.Classify(err)
	}
	if sa != nil {
		return sa, nil
	}
	if err := env.Intent("create service account", map[string]any{"name": r.saName()}); err != nil {
		return nil, err
	}
	created, err := c.CreateServiceAccount(ctx, r.Project, r.saName())
	if err != nil {
		var oe *openai.Error
		if errors.As(err, &oe) && oe.OutcomeUnknown() {
			// Look again before anything else: it may exist now.
			if sa, ferr := c.FindServiceAccount(ctx, r.Project, r.saName()); ferr == nil && sa != nil {
				return sa, nil
			}
			return nil, steps.Transient(err)
		}
		return nil, admin.Classify(err)
	}
	env.Logf("created service account %s (%s) in %s", created.Name, created.ID, r.Project)
	return &created, nil
}

func (r *Replace) deleteStale(ctx context.Context, env *steps.Env, c keyAPI, saID, name string) error {
	stale, err := c.FindKeysByName(ctx, r.Project, saID, name)
	if err != nil {
		return admin.Classify(err)
	}
	for _, k := range stale {
		if _, err := c.DeleteProjectKey(ctx, r.Project, k.ID); err != nil {
			return fmt.Errorf("delete undelivered key %s: %w", k.ID, admin.Classify(err))
		}
		env.Logf("deleted %s, minted by an interrupted attempt and never delivered", k.ID)
	}
	return nil
}

// abandon deletes a new key whose delivery failed, undoing the deliveries that did happen.
// It runs even if ctx is done: leaving the key live is the one thing this step must not do.
func (r *Replace) abandon(ctx context.Context, env *steps.Env, c keyAPI, keyID string, delivered []secrets.Sink) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, s := range delivered {
		if err := s.Undo(ctx); err != nil && !errors.Is(err, secrets.ErrUnsupported) {
			env.Logf("could not remove the new key from %s: %v", s.Describe(), err)
		}
	}
	if _, err := c.DeleteProjectKey(ctx, r.Project, keyID); err != nil {
		env.Logf("DELETE THE NEW KEY %s BY HAND: deleting it after the failed delivery failed: %v", keyID, err)
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
	sa, err := c.FindServiceAccount(ctx, r.Project, r.saName())
	if err != nil {
		return nil, false, admin.Classify(err)
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
