package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
)

// calls records what the test steps did, per test.
type calls struct {
	mu   sync.Mutex
	log  []string
	seen map[string]int
}

func (c *calls) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, s)
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[s]++
}

func (c *calls) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[s]
}

var registry sync.Map // test name -> *calls

func callsFor(t *testing.T) *calls {
	c := &calls{}
	registry.Store(t.Name(), c)
	t.Cleanup(func() { registry.Delete(t.Name()) })
	return c
}

func lookupCalls(test string) *calls {
	v, ok := registry.Load(test)
	if !ok {
		panic("no calls registered for " + test)
	}
	return v.(*calls)
}

// reader is a read-only step: it runs even in a dry run.
type reader struct {
	Test         string `yaml:"test"`
	Value        string `yaml:"value"`
	PreflightErr string `yaml:"preflight_error"`
	Flaky        bool   `yaml:"flaky_preflight"`
	// Undeclared names an output the kind does not declare, as a buggy kind would return.
	Undeclared string `yaml:"undeclared_output"`
}

func (r *reader) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	lookupCalls(r.Test).add("run:" + env.StepID)
	if r.Undeclared != "" {
		return steps.Outputs{"value": r.Value, r.Undeclared: 1}, nil
	}
	return steps.Outputs{"value": r.Value}, nil
}

func (r *reader) Preflight(ctx context.Context, env *steps.Env) error {
	lookupCalls(r.Test).add("preflight:" + env.StepID)
	if r.PreflightErr == "credentials" {
		return steps.CredentialError("TEST_TOKEN is not set", "export TEST_TOKEN")
	}
	if r.PreflightErr == "destination" {
		return steps.BeforeContainment(errors.New("/srv/app/key exists"))
	}
	if r.Flaky {
		return steps.Transient(errors.New("503 from the API"))
	}
	return nil
}

// writer is a mutating step with scriptable failures.
type writer struct {
	Test      string `yaml:"test"`
	Value     string `yaml:"value"`
	Transient int    `yaml:"transient_failures"`
	Fatal     bool   `yaml:"fatal"`
	Block     bool   `yaml:"block"`
	Skip      bool   `yaml:"skip"`
}

func (w *writer) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	lookupCalls(w.Test).add("plan:" + env.StepID)
	return &steps.Plan{Summary: "write " + w.Value, Actions: []steps.Action{{Method: "PUT", Target: "/things/" + w.Value}},
		Outputs: steps.Outputs{"value": "<planned " + w.Value + ">"}}, nil
}

func (w *writer) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	c := lookupCalls(w.Test)
	c.add("run:" + env.StepID)
	switch {
	case w.Block:
		<-ctx.Done()
		return nil, ctx.Err()
	case w.Fatal:
		return nil, errors.New("permission denied")
	case w.Skip:
		return nil, &steps.Skip{Reason: "nothing to write"}
	case c.count("run:"+env.StepID) <= w.Transient:
		return nil, steps.Transient(errors.New("503 service unavailable"))
	}
	return steps.Outputs{"value": w.Value}, nil
}

// container is a writer that contains the incident (a revocation).
type container struct {
	W writer `yaml:",inline"`
}

func (c *container) Contains() {}

func (c *container) Plan(ctx context.Context, env *steps.Env) (*steps.Plan, error) {
	return c.W.Plan(ctx, env)
}

func (c *container) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	return c.W.Run(ctx, env)
}

// valueOutputs declares the test kinds' one output.
type valueOutputs struct {
	Value any `json:"value"`
}

func lookup(uses string) (steps.Kind, bool) {
	switch uses {
	case "test.read":
		return steps.Kind{Name: uses, New: func() steps.Step { return &reader{} }, Outputs: valueOutputs{}}, true
	case "test.write":
		return steps.Kind{Name: uses, New: func() steps.Step { return &writer{} }, Outputs: valueOutputs{}}, true
	case "test.contain":
		return steps.Kind{Name: uses, New: func() steps.Step { return &container{} }, Outputs: valueOutputs{}}, true
	}
	return steps.Kind{}, false
}

type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Emit(e event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) kinds(step string) []string {
	var out []string
	for _, e := range r.events {
		if step == "" || e.Step == step {
			out = append(out, string(e.Kind))
		}
	}
	return out
}

type denyAll struct{}

func (denyAll) Approve(context.Context, engine.ApprovalRequest) (engine.Decision, error) {
	return engine.Decision{Approved: false, By: "alice", Via: "test", Reason: "not now"}, nil
}

func run(t *testing.T, yaml string, mod func(*engine.Options)) (*engine.Result, *recorder, error) {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "TEST", t.Name())
	pb, err := playbook.Load("test.yaml", []byte(yaml), lookup)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	rec := &recorder{}
	secrets := redact.New()
	bus := event.NewBus("run1", secrets, 0, nil)
	bus.Require(rec)
	o := engine.Options{Playbook: pb, Inputs: map[string]any{}, RunID: "run1", Events: bus, Secrets: secrets,
		Sleep: func(context.Context, time.Duration) error { return nil }}
	if mod != nil {
		mod(&o)
	}
	res, err := engine.Run(t.Context(), o)
	return res, rec, err
}

func statuses(r *engine.Result) map[string]event.Status {
	out := map[string]event.Status{}
	for _, s := range r.Steps {
		out[s.ID] = s.Status
	}
	return out
}

func TestStepsRunInOrderAndSeeEarlierOutputs(t *testing.T) {
	c := callsFor(t)
	res, _, err := run(t, `
name: t
steps:
  - {id: a, uses: test.read, with: {test: TEST, value: one}}
  - {id: b, uses: test.write, with: {test: TEST, value: "{{ .steps.a.outputs.value }}-two"}}
  - {id: c, uses: test.read, with: {test: TEST, value: "{{ .steps.b.outputs.value }}"}}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Preflights run concurrently, so in any order, but all before the first Run.
	got := append([]string{}, c.log...)
	slices.Sort(got[:2])
	if diff := cmp.Diff([]string{"preflight:a", "preflight:c", "run:a", "run:b", "run:c"}, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if got := res.Steps[2].Outputs["value"]; got != "one-two" {
		t.Errorf("c saw %v, want one-two", got)
	}
	if res.Outcome != "succeeded" {
		t.Errorf("outcome %s", res.Outcome)
	}
}

// A kind that returns an output it does not declare is a bug of respond's: the run goes on (the
// step did its work) and the log names the output nobody can reference.
func TestUndeclaredOutputsAreReported(t *testing.T) {
	callsFor(t)
	res, rec, err := run(t, `
name: t
steps:
  - {id: a, uses: test.read, with: {test: TEST, value: one, undeclared_output: extra}}
  - {id: b, uses: test.read, with: {test: TEST, value: "{{ .steps.a.outputs.value }}"}}
`, nil)
	if err != nil || res.Outcome != engine.OutcomeSucceeded {
		t.Fatalf("run: %v, outcome %s", err, res.Outcome)
	}
	var logs []string
	for _, e := range rec.events {
		if e.Kind == event.StepLog {
			logs = append(logs, e.Step+": "+e.Message)
		}
	}
	want := []string{"a: respond bug (please report): kind test.read returned undeclared output(s) extra; it declares [value]"}
	if diff := cmp.Diff(want, logs); diff != "" {
		t.Errorf("step logs (-want +got):\n%s", diff)
	}
}

func TestIfFalseSkipsTheStep(t *testing.T) {
	c := callsFor(t)
	res, rec, err := run(t, `
name: t
inputs: {go: {type: bool, default: false}}
steps:
  - {id: a, uses: test.write, if: "{{ .inputs.go }}", with: {test: TEST}}
  - {id: b, uses: test.read, if: '{{ eq .steps.a.status "skipped" }}', with: {test: TEST}}
`, func(o *engine.Options) { o.Inputs = map[string]any{"go": false} })
	if err != nil {
		t.Fatal(err)
	}
	if c.count("run:a") != 0 || c.count("run:b") != 1 {
		t.Errorf("calls %v", c.log)
	}
	if diff := cmp.Diff(map[string]event.Status{"a": event.Skipped, "b": event.Succeeded}, statuses(res)); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"step.started", "step.skipped"}, rec.kinds("a")); diff != "" {
		t.Error(diff)
	}
}

// The loader refuses an if that can never be a boolean; one that renders something else at run
// time (here the run ID) fails the step.
func TestIfMustRenderABoolean(t *testing.T) {
	callsFor(t)
	_, _, err := run(t, `
name: t
steps:
  - {id: a, uses: test.read, if: "{{ .run.id }}", with: {test: TEST}}
`, nil)
	if !errors.Is(err, engine.ErrStepFailed) || !strings.Contains(err.Error(), `if must render true or false, got "run1"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRetriesOnlyTransientErrors(t *testing.T) {
	tests := []struct {
		name      string
		with      string
		wantRuns  int
		wantErr   bool
		wantRetry int
	}{
		{"transient then ok", "transient_failures: 2", 3, false, 2},
		{"transient beyond attempts", "transient_failures: 9", 4, true, 3},
		{"permanent is not retried", "fatal: true", 1, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := callsFor(t)
			res, rec, err := run(t, `
name: t
steps:
  - id: a
    uses: test.write
    retry: {attempts: 4, backoff: exponential, delay: 10ms, max_delay: 40ms}
    with: {test: TEST, `+tt.with+`}
`, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got := c.count("run:a"); got != tt.wantRuns {
				t.Errorf("ran %d times, want %d", got, tt.wantRuns)
			}
			retries := 0
			for _, k := range rec.kinds("a") {
				if k == string(event.StepRetried) {
					retries++
				}
			}
			if retries != tt.wantRetry {
				t.Errorf("%d retry events, want %d", retries, tt.wantRetry)
			}
			if res.Steps[0].Attempts != tt.wantRuns {
				t.Errorf("attempts %d", res.Steps[0].Attempts)
			}
		})
	}
}

func TestBackoffIsBoundedFullJitter(t *testing.T) {
	callsFor(t)
	var waits []time.Duration
	_, _, err := run(t, `
name: t
steps:
  - id: a
    uses: test.write
    retry: {attempts: 6, backoff: exponential, delay: 100ms, max_delay: 300ms}
    with: {test: TEST, transient_failures: 5}
`, func(o *engine.Options) {
		o.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	})
	if err != nil {
		t.Fatal(err)
	}
	ceilings := []time.Duration{100, 200, 300, 300, 300}
	if len(waits) != len(ceilings) {
		t.Fatalf("waits %v", waits)
	}
	for i, w := range waits {
		if w < 0 || w > ceilings[i]*time.Millisecond {
			t.Errorf("wait %d = %s, want within [0, %dms]", i, w, ceilings[i])
		}
	}
}

func TestTimeoutEndsAnAttempt(t *testing.T) {
	callsFor(t)
	res, _, err := run(t, `
name: t
steps:
  - {id: a, uses: test.write, timeout: 20ms, with: {test: TEST, block: true}}
`, nil)
	if !errors.Is(err, engine.ErrStepFailed) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(res.Steps[0].Error, "timed out after 20ms") {
		t.Errorf("error %q", res.Steps[0].Error)
	}
}

func TestOnFailure(t *testing.T) {
	for _, mode := range []string{"abort", "continue"} {
		t.Run(mode, func(t *testing.T) {
			c := callsFor(t)
			res, _, err := run(t, `
name: t
steps:
  - {id: a, uses: test.write, on_failure: `+mode+`, with: {test: TEST, fatal: true}}
  - {id: b, uses: test.read, with: {test: TEST}}
`, nil)
			if !errors.Is(err, engine.ErrStepFailed) {
				t.Fatalf("err = %v", err)
			}
			wantB := map[string]int{"abort": 0, "continue": 1}[mode]
			if c.count("run:b") != wantB {
				t.Errorf("b ran %d times, want %d", c.count("run:b"), wantB)
			}
			if res.Outcome != "failed" {
				t.Errorf("outcome %s", res.Outcome)
			}
		})
	}
}

func TestSkipErrorRecordsReason(t *testing.T) {
	callsFor(t)
	res, _, err := run(t, `
name: t
steps:
  - {id: a, uses: test.write, with: {test: TEST, skip: true}}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps[0].Status != event.Skipped || res.Steps[0].Reason != "nothing to write" {
		t.Errorf("%+v", res.Steps[0])
	}
}

func TestApprovalDeniedSkipsStepAndRunGoesOn(t *testing.T) {
	c := callsFor(t)
	res, rec, err := run(t, `
name: t
steps:
  - {id: a, uses: test.write, approval: {required: true, approvers: [alice]}, with: {test: TEST, value: x}}
  - {id: b, uses: test.read, with: {test: TEST}}
`, func(o *engine.Options) { o.Approver = denyAll{} })
	if !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("err = %v", err)
	}
	if c.count("run:a") != 0 || c.count("plan:a") != 1 || c.count("run:b") != 1 {
		t.Errorf("calls %v", c.log)
	}
	if diff := cmp.Diff([]string{"step.started", "step.planned", "step.waiting_approval", "step.denied", "step.skipped"}, rec.kinds("a")); diff != "" {
		t.Error(diff)
	}
	if !strings.Contains(res.Steps[0].Reason, "approval denied by alice") {
		t.Errorf("reason %q", res.Steps[0].Reason)
	}
}

func TestApprovalWithoutApproverIsRefusedWhenReached(t *testing.T) {
	c := callsFor(t)
	res, rec, err := run(t, `
name: t
steps:
  - {id: a, uses: test.read, with: {test: TEST}}
  - {id: b, uses: test.write, approval: true, with: {test: TEST}}
  - {id: c, uses: test.read, with: {test: TEST}}
`, nil)
	if !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("err = %v", err)
	}
	// Revocation-like steps before and after still run; the gated one does not.
	if c.count("run:a") != 1 || c.count("run:b") != 0 || c.count("run:c") != 1 {
		t.Errorf("calls %v", c.log)
	}
	if !strings.Contains(res.Steps[1].Reason, "nobody") {
		t.Errorf("reason %q", res.Steps[1].Reason)
	}
	// The refusal was announced before the first step started.
	if rec.events[1].Kind != event.StepLog || rec.events[1].Step != "b" || !strings.Contains(rec.events[1].Message, "will be skipped") {
		t.Errorf("second event %+v, want the early warning about b", rec.events[1])
	}
}

func TestPreflightFailureRunsNothing(t *testing.T) {
	c := callsFor(t)
	_, _, err := run(t, `
name: t
steps:
  - {id: a, uses: test.write, with: {test: TEST}}
  - {id: b, uses: test.read, with: {test: TEST, preflight_error: credentials}}
`, nil)
	if !errors.Is(err, engine.ErrPreflight) || !errors.Is(err, steps.ErrCredentials) {
		t.Fatalf("err = %v", err)
	}
	if c.count("run:a") != 0 {
		t.Errorf("a mutating step ran before preflight finished: %v", c.log)
	}
}

// Nothing but containment's own needs holds back containment: a later step's missing credential
// warns, the containing step runs, the later step is skipped with the reason and the run fails;
// a resume runs it once the credential is there.
func TestPreflightAfterContainmentDoesNotHoldItBack(t *testing.T) {
	c := callsFor(t)
	res, rec, err := run(t, `
name: t
steps:
  - {id: before, uses: test.read, with: {test: TEST}}
  - {id: revoke, uses: test.contain, with: {test: TEST}}
  - {id: search, uses: test.read, with: {test: TEST, preflight_error: credentials}}
  - {id: after, uses: test.write, with: {test: TEST}}
`, nil)
	if !errors.Is(err, engine.ErrStepFailed) || !strings.Contains(err.Error(), "search") {
		t.Fatalf("err = %v, want a failed run naming search", err)
	}
	if c.count("run:revoke") != 1 || c.count("run:after") != 1 || c.count("run:search") != 0 {
		t.Errorf("calls: %v", c.log)
	}
	if res.Outcome != engine.OutcomeFailed || !engine.SkippedForPreflight(res.Steps[2]) {
		t.Errorf("outcome %s, search %+v", res.Outcome, res.Steps[2])
	}
	warned := false
	for _, e := range rec.events {
		warned = warned || (e.Step == "search" && e.Kind == event.StepLog && strings.Contains(e.Message, "containment goes ahead"))
	}
	if !warned {
		t.Error("no warning before the run that search will be skipped")
	}
	// The same failure before containment still stops everything.
	c2 := callsFor(t)
	_, _, err = run(t, `
name: t
steps:
  - {id: search, uses: test.read, with: {test: TEST, preflight_error: credentials}}
  - {id: revoke, uses: test.contain, with: {test: TEST}}
`, nil)
	if !errors.Is(err, engine.ErrPreflight) || c2.count("run:revoke") != 0 {
		t.Errorf("a failure before containment: err %v, calls %v", err, c2.log)
	}
	// A later step whose precondition must hold before the revocation still stops everything.
	c4 := callsFor(t)
	_, _, err = run(t, `
name: t
steps:
  - {id: revoke, uses: test.contain, with: {test: TEST}}
  - {id: deliver, uses: test.read, with: {test: TEST, preflight_error: destination}}
`, nil)
	if !errors.Is(err, engine.ErrPreflight) || !strings.Contains(err.Error(), "/srv/app/key exists") || c4.count("run:revoke") != 0 {
		t.Errorf("a before-containment failure: err %v, calls %v", err, c4.log)
	}
	// Resumed after the fix, the skipped step runs and nothing else runs twice.
	prior := append([]event.Event{}, rec.events...)
	c3 := callsFor(t)
	_, _, err = run(t, `
name: t
steps:
  - {id: before, uses: test.read, with: {test: TEST}}
  - {id: revoke, uses: test.contain, with: {test: TEST}}
  - {id: search, uses: test.read, with: {test: TEST}}
  - {id: after, uses: test.write, with: {test: TEST}}
`, func(o *engine.Options) { o.Prior = prior })
	if err != nil || c3.count("run:search") != 1 || c3.count("run:revoke") != 0 || c3.count("run:after") != 0 {
		t.Errorf("resume: err %v, calls %v", err, c3.log)
	}
}

func TestAFlakyPreflightDoesNotStopTheRun(t *testing.T) {
	c := callsFor(t)
	_, rec, err := run(t, `
name: t
steps:
  - {id: a, uses: test.write, with: {test: TEST}}
  - {id: b, uses: test.read, with: {test: TEST, flaky_preflight: true}}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.count("preflight:b") != 3 || c.count("run:a") != 1 {
		t.Errorf("calls %v: want 3 preflight tries of b and the run going on", c.log)
	}
	warned := false
	for _, e := range rec.events {
		warned = warned || (e.Kind == event.StepLog && e.Step == "b" && strings.Contains(e.Message, "preflight could not finish"))
	}
	if !warned {
		t.Error("no warning about the unfinished preflight")
	}
}

func TestDryRunPlansMutatingStepsAndNeverRunsThem(t *testing.T) {
	c := callsFor(t)
	res, rec, err := run(t, `
name: t
steps:
  - {id: a, uses: test.read, with: {test: TEST, value: real}}
  - {id: b, uses: test.write, approval: true, with: {test: TEST, value: "{{ .steps.a.outputs.value }}"}}
  - {id: c, uses: test.write, with: {test: TEST, value: "{{ .steps.b.outputs.value }}"}}
`, func(o *engine.Options) { o.DryRun = true })
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b", "c"} {
		if n := c.count("run:" + id); n != 0 {
			t.Errorf("dry run called Run on mutating step %s %d times", id, n)
		}
		if n := c.count("plan:" + id); n != 1 {
			t.Errorf("dry run planned %s %d times", id, n)
		}
	}
	if c.count("run:a") != 1 {
		t.Errorf("read-only step did not run in the dry run: %v", c.log)
	}
	if got := res.Steps[2].Plan.Summary; got != "write <planned real>" {
		t.Errorf("c's plan %q: later steps should see the planned outputs", got)
	}
	for _, e := range rec.events {
		if e.Kind == event.StepIntent || e.Kind == event.ApprovalWaiting {
			t.Errorf("dry run recorded %s for %s", e.Kind, e.Step)
		}
	}
}

func TestSecretsInOutputsAndErrorsAreRedacted(t *testing.T) {
	callsFor(t)
	secret := "sek-" + strings.Repeat("q7", 12)
	_, rec, _ := run(t, fmt.Sprintf(`
name: t
steps:
  - {id: a, uses: test.read, with: {test: TEST, value: "the key is %s"}}
`, secret), func(o *engine.Options) { o.Secrets.Add(secret) })
	for _, e := range rec.events {
		if strings.Contains(fmt.Sprint(e), secret) {
			t.Fatalf("event leaks the secret: %+v", e)
		}
	}
}

func TestResumeKeepsAFailureFromBeforeTheCrash(t *testing.T) {
	c := callsFor(t)
	yaml := `
name: t
steps:
  - {id: a, uses: test.write, on_failure: continue, with: {test: TEST, fatal: true}}
  - {id: b, uses: test.read, with: {test: TEST}}
`
	_, rec, _ := run(t, yaml, nil)
	// The first process died right after a failed: keep its events up to there.
	var prior []event.Event
	for _, e := range rec.events {
		prior = append(prior, e)
		if e.Kind == event.StepFailed {
			break
		}
	}
	res, _, err := run(t, yaml, func(o *engine.Options) { o.Prior = prior })
	if !errors.Is(err, engine.ErrStepFailed) || res.Outcome != "failed" {
		t.Fatalf("outcome %s, err %v: the failure before the crash was forgotten", res.Outcome, err)
	}
	if c.count("run:a") != 1 || c.count("run:b") != 2 {
		t.Errorf("calls %v: a must not run again after it failed under on_failure: continue", c.log)
	}
}
