// Package steps is the contract between the engine and the step kinds. A step kind is one
// exported struct whose yaml-tagged fields are its `with:` parameters; it must Run, and it may
// have optional abilities found by type assertion: Planner (it changes something, so the engine
// plans instead of running it in a dry run), Preflighter (read-only checks before anything
// changes), Reconciler (decide, after a crash, whether an interrupted side effect happened),
// Validator (static checks of its parameters at load time).
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/internal/redact"
)

// Outputs are a step's results, available to later steps' templates as
// .steps.<id>.outputs.<name>. They are journaled (redacted) and must never hold a secret value.
type Outputs map[string]any

// Step is the one required ability.
type Step interface {
	Run(ctx context.Context, env *Env) (Outputs, error)
}

// Kind describes a step kind for the catalog.
type Kind struct {
	// Name is what a playbook writes in `uses:`.
	Name string
	// New returns a fresh step whose fields receive the decoded `with:` parameters.
	New func() Step
	// Outputs is the zero value of the kind's outputs struct: the json tag of each exported field
	// names an output later steps may reference (the loader checks references against them), and
	// readers of the journal decode recorded outputs into it (DecodeOutputs).
	Outputs any
	// Summary is one line for `respond playbooks show` and the docs.
	Summary string
	// Traits is what code outside steps/ needs to know about the kind; it asks the kind, never
	// its name.
	Traits Traits
}

// OutputNames lists the kind's output names, in field order.
func (k Kind) OutputNames() []string { return FieldNames(k.Outputs, "json") }

// Revokes reports whether the kind revokes the leaked credential (it is a Container): its first
// success ends the run's "time to revoke".
func (k Kind) Revokes() bool {
	_, ok := k.New().(Container)
	return ok
}

// DecodeOutputs decodes outputs as the journal recorded them (JSON numbers are float64 there) into
// a new value of the kind's outputs struct and returns a pointer to it, so readers of a run see
// the same Go types the step produced. Recorded outputs missing a field leave it zero.
func (k Kind) DecodeOutputs(recorded map[string]any) (any, error) {
	t := reflect.TypeOf(k.Outputs)
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("kind %s declares no outputs struct", k.Name)
	}
	b, err := json.Marshal(recorded)
	if err != nil {
		return nil, fmt.Errorf("decode %s outputs: %w", k.Name, err)
	}
	dst := reflect.New(t)
	if err := json.Unmarshal(b, dst.Interface()); err != nil {
		// A field of the wrong type is left zero and the rest decoded: the value is still
		// returned, for readers that make do with what they can read.
		return dst.Interface(), fmt.Errorf("decode %s outputs: %w", k.Name, err)
	}
	return dst.Interface(), nil
}

// CheckOutputs reports outputs a step returned that its kind does not declare, or whose value does
// not fit the declared field: later steps cannot reference the first, and journal readers lose the
// second. A kind without an outputs struct accepts nothing but an empty map.
func (k Kind) CheckOutputs(out Outputs) error {
	declared := map[string]bool{}
	for _, n := range k.OutputNames() {
		declared[n] = true
	}
	var unknown []string
	for name := range out {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("kind %s returned undeclared output(s) %s; it declares %v", k.Name, strings.Join(unknown, ", "), k.OutputNames())
	}
	if len(out) == 0 {
		return nil
	}
	_, err := k.DecodeOutputs(out)
	return err
}

// FieldNames lists the names the given tag gives v's exported fields (v a struct or a pointer to
// one), in field order. A field without the tag, tagged "-" or unexported names nothing: the
// catalog's test requires every outputs field to carry its tag.
func FieldNames(v any, tag string) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		names = append(names, name)
	}
	return names
}

// Mutating reports whether the kind changes something outside respond: it does exactly when it
// can Plan, and the engine then never calls Run in a dry run.
func (k Kind) Mutating() bool {
	_, ok := k.New().(Planner)
	return ok
}

// Action is one external call a mutating step would make, shown by `respond plan` and recorded
// in the journal. Params must already be redacted-safe (the engine redacts them again anyway).
type Action struct {
	Method string         `json:"method,omitempty"` // e.g. DELETE, or "write", "push"
	Target string         `json:"target"`           // e.g. /v1/organization/projects/p/api_keys/k, a path, a remote
	Params map[string]any `json:"params,omitempty"`
	Note   string         `json:"note,omitempty"`
}

// Plan is what a mutating step would do. Outputs are the values (or placeholders) later steps'
// templates will see in a dry run.
type Plan struct {
	Summary string   `json:"summary"`
	Actions []Action `json:"actions"`
	Outputs Outputs  `json:"outputs,omitempty"`
}

// Planner is implemented by steps that change something.
type Planner interface {
	Plan(ctx context.Context, env *Env) (*Plan, error)
}

// Preflighter is implemented by steps that can check credentials and permissions read-only. All
// preflights run before the first step. Fields filled from earlier steps' outputs are still zero
// when Preflight runs.
type Preflighter interface {
	Preflight(ctx context.Context, env *Env) error
}

// Container marks kinds whose step contains the incident: it revokes the leaked credential.
// Nothing a later step needs may hold containment back, so the engine lets preflight failures of
// steps after the first Container warn and skip those steps instead of stopping the run; the
// report's time to revoke is measured to it.
type Container interface {
	Contains()
}

// Intent is a side effect a step announced before making it (see Env.Intent).
type Intent struct {
	Name string         `json:"name"`
	Data map[string]any `json:"data,omitempty"`
}

// Reconciler is implemented by mutating steps that can tell, after a crash between an intent and
// its result, what really happened. done=true means the step's work is complete with the given
// outputs; done=false means Run should run again (it must then be safe to do so).
type Reconciler interface {
	Reconcile(ctx context.Context, env *Env, intents []Intent) (out Outputs, done bool, err error)
}

// Validator is implemented by steps whose parameters have rules beyond their types. It runs at
// load time on the parameters that hold no template, and again at run time on all of them.
type Validator interface {
	Validate() error
}

// Env is what a step may use from the run. Steps never print: they log through Env, and every
// string they hand over is redacted before it reaches a sink.
type Env struct {
	RunID   string
	StepID  string
	Attempt int
	// DryRun is set while a read-only step runs inside a dry run; mutating steps never see it
	// (they are planned instead).
	DryRun bool

	// Getenv reads configuration and credentials (the process environment, with the rehearsal's
	// overrides on top).
	Getenv func(string) string
	// Now is the run's clock.
	Now func() time.Time
	// WorkDir is a directory private to this run (commit maps, downloaded logs).
	WorkDir string

	// Secret registers values that must never be shown, the moment the step sees them.
	Secret func(values ...string)
	// Secrets is the run's redaction set. A step that cuts text short (an output cap, the tail of
	// a program's stderr) masks it with this first: a cut can leave a piece of a secret that the
	// run-wide masking no longer recognises. Nil masks known key shapes only.
	Secrets *redact.Set
	// Log reports progress; structured data is optional.
	Log func(msg string, data map[string]any)
	// Intent durably records a side effect about to be made. It returns only after the journal
	// line is on disk; a step must not make the call if it returns an error.
	Intent func(name string, data map[string]any) error
	// Shared returns a run-wide value built once (clients reused across steps).
	Shared func(key string, build func() (any, error)) (any, error)
}

// Logf is Log with formatting and no data.
func (e *Env) Logf(format string, args ...any) {
	if e.Log != nil {
		e.Log(fmt.Sprintf(format, args...), nil)
	}
}

// ErrCredentials marks a missing or insufficient credential (exit code 4).
var ErrCredentials = errors.New("credentials missing or insufficient")

// CredentialError says which credential is missing and how to provide it.
func CredentialError(what, how string) error {
	return fmt.Errorf("%w: %s (%s)", ErrCredentials, what, how)
}

// ErrBeforeContainment marks a preflight failure that must stop the run before anything changes
// even though its step comes after containment: revoking the key while, say, the replacement
// cannot be delivered would take the service down for nothing. Wrap with BeforeContainment.
var ErrBeforeContainment = errors.New("must be fixed before the revocation")

// BeforeContainment marks a Preflight error as one that holds back containment (see
// ErrBeforeContainment); other preflight failures of later steps only warn.
func BeforeContainment(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (%w)", err, ErrBeforeContainment)
}

// Transient wraps err so the engine's retry policy may retry it.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transient{err}
}

type transient struct{ error }

func (t *transient) Unwrap() error   { return t.error }
func (t *transient) Transient() bool { return true }

// IsTransient reports whether any error in err's chain says it is transient.
func IsTransient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

// RetryAfter returns the wait a server asked for, if any error in the chain carries one.
func RetryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

// Skip is returned by Run when the step decided there is nothing to do; the engine records the
// step as skipped with the reason.
type Skip struct{ Reason string }

func (s *Skip) Error() string { return "skipped: " + s.Reason }

// IsSkip reports whether err is a Skip.
func IsSkip(err error) (*Skip, bool) {
	var s *Skip
	ok := errors.As(err, &s)
	return s, ok
}

// Rollbacker is implemented by steps whose changes can be undone from what they recorded:
// `respond rollback RUN --step ID` calls it with the step's journaled outputs.
type Rollbacker interface {
	Rollback(ctx context.Context, env *Env, recorded Outputs) error
}

// Defaulter is implemented by kinds whose parameters have defaults. The engine calls Default
// after binding a step's parameters and before Validate; it fills every parameter left empty with
// the value the step will really use and returns those it filled, by their `with:` name, so that
// `respond plan` shows them and the journal records them.
type Defaulter interface {
	Default() map[string]any
}

// ReadOnlyEnv is an Env for commands that only read through the steps' client constructors
// (`respond doctor`, `respond audit`): the given variables, clock and redaction, one client per
// service, and no intent can be recorded, because nothing may change. name says which command
// refused an intent.
func ReadOnlyEnv(name string, getenv func(string) string, now func() time.Time, secret func(...string)) *Env {
	var mu sync.Mutex
	shared := map[string]any{}
	return &Env{
		RunID: name, StepID: name, Attempt: 1, Getenv: getenv, Now: now, Secret: secret,
		Log:    func(string, map[string]any) {},
		Intent: func(string, map[string]any) error { return fmt.Errorf("%s: changes nothing", name) },
		Shared: func(key string, build func() (any, error)) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			if v, ok := shared[key]; ok {
				return v, nil
			}
			v, err := build()
			if err != nil {
				return nil, err
			}
			shared[key] = v
			return v, nil
		},
	}
}
