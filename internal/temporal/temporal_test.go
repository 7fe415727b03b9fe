package temporal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.temporal.io/sdk/client"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/internal/temporal"
)

// server is the Temporal frontend the tests use (.ci/run starts a dev server and sets it).
func server(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("RESPOND_TEST_TEMPORAL")
	if addr == "" {
		t.Skip("RESPOND_TEST_TEMPORAL is not set: start `temporal server start-dev --headless` and set it to HOST:PORT (.ci/run does)")
	}
	return addr
}

func newKey(t *testing.T) *temporal.Key {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	k, err := temporal.ParseKey(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is a test's Temporal connection, and a worker in this process on its own task queue.
type env struct {
	client client.Client
	key    *temporal.Key
	queue  string
}

func startWorker(t *testing.T, getenv func(string) string) *env {
	t.Helper()
	addr := server(t)
	key := newKey(t)
	c, err := temporal.Dial(t.Context(), temporal.Conn{Address: addr, Namespace: "default", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	queue := "test-" + runner.NewRunID(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	acts := &temporal.Activities{Client: c, Key: key, Dir: t.TempDir(), Getenv: getenv, Now: time.Now, Warnings: os.Stderr}
	go func() {
		done <- temporal.RunWorker(ctx, c, acts, temporal.WorkerOptions{TaskQueue: queue, StopTimeout: time.Second})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &env{client: c, key: key, queue: queue}
}

// run submits a run and follows it to its end.
func (e *env) run(t *testing.T, in temporal.RunInput, ask engine.Approver) (temporal.PhaseResult, []event.Event) {
	t.Helper()
	if in.RunID == "" {
		in.RunID = runner.NewRunID(time.Now())
	}
	if in.Mode == "" {
		in.Mode = engine.ModeReal
	}
	in.HeartbeatTimeout = 5 * time.Second
	if err := temporal.Submit(t.Context(), e.client, e.queue, in); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	f := &temporal.Follower{Client: e.client, WorkflowID: temporal.WorkflowID(in.RunID), Ask: ask, Every: 100 * time.Millisecond}
	res, evs, err := f.Follow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res, evs
}

const ledgerPlaybook = `name: ledger
inputs:
  ledger: {required: true}
steps:
  - id: first
    uses: exec
    with:
      argv: [sh, -c, 'echo first >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
  - id: gated
    uses: exec
    approval: {required: true, message: "append?"}
    with:
      argv: [sh, -c, 'echo gated >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
  - id: last
    uses: exec
    with:
      argv: [sh, -c, 'echo last >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
`

type answer struct {
	yes bool
}

func (a answer) Approve(context.Context, engine.ApprovalRequest) (engine.Decision, error) {
	return engine.Decision{Approved: a.yes, By: "tester", Via: "terminal"}, nil
}

// A run on Temporal runs every step once, asks its approval through the workflow, and records the
// same story a local run's journal tells.
func TestRunsAndApprovalsGoThroughTheWorkflow(t *testing.T) {
	e := startWorker(t, func(string) string { return "" })
	tests := []struct {
		name    string
		approve string
		ask     engine.Approver
		outcome string
		ledger  string
	}{
		{"approved on the terminal", temporal.ApproveAsk, answer{yes: true}, engine.OutcomeSucceeded, "first gated last"},
		{"denied on the terminal", temporal.ApproveAsk, answer{yes: false}, engine.OutcomeDenied, "first last"},
		{"--yes", temporal.ApproveAuto, nil, engine.OutcomeSucceeded, "first gated last"},
		{"nobody to ask", temporal.ApproveNobody, nil, engine.OutcomeDenied, "first last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ledger := filepath.Join(t.TempDir(), "ledger")
			res, evs := e.run(t, temporal.RunInput{PlaybookFile: "ledger.yaml", PlaybookSource: ledgerPlaybook,
				Inputs: map[string]any{"ledger": ledger}, StartedBy: "tester", Approve: tt.approve}, tt.ask)
			if res.Outcome != tt.outcome {
				t.Fatalf("outcome %q (%s), want %q", res.Outcome, res.Error, tt.outcome)
			}
			b, _ := os.ReadFile(ledger)
			if got := strings.Join(strings.Fields(string(b)), " "); got != tt.ledger {
				t.Errorf("ledger %q, want %q", got, tt.ledger)
			}
			st := engine.Fold(evs)
			if st.Outcome != tt.outcome || st.Err != nil {
				t.Errorf("the events say %q (%v), the workflow %q", st.Outcome, st.Err, tt.outcome)
			}
			for i, ev := range evs {
				if ev.Seq != i+1 {
					t.Fatalf("event %d has seq %d", i, ev.Seq)
				}
			}
		})
	}
}

// No secret reaches the server in clear: not in the raw history (payloads are sealed), and not in
// the events either once decrypted (they are redacted before they are appended).
func TestHistoryHoldsNoSecret(t *testing.T) {
	key := fakekey.Random().OpenAIProjectKey()
	e := startWorker(t, func(k string) string {
		if k == "RESPOND_INPUT_FROMENV" {
			return key
		}
		return ""
	})
	const pb = `name: echo-secret
inputs:
  key: {secret: true, required: true}
  fromenv: {secret: true, required: true}
steps:
  - id: show
    uses: exec
    with:
      argv: [sh, -c, 'echo "$K $E"; echo "$K" >&2; exit 3']
      env: {K: "{{ .inputs.key }}", E: "{{ .inputs.fromenv }}"}
`
	runID := runner.NewRunID(time.Now())
	res, evs := e.run(t, temporal.RunInput{RunID: runID, PlaybookFile: "echo.yaml", PlaybookSource: pb,
		Secrets: map[string]string{"key": e.key.Seal(runID, "key", key), "fromenv": temporal.SourceEnv}}, nil)
	if res.Outcome != engine.OutcomeFailed {
		t.Fatalf("outcome %q (%s): the step should have seen the key and failed", res.Outcome, res.Error)
	}
	decoded, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(decoded, []byte(redact.Mask(key))) {
		t.Fatalf("the step's output never mentions a key: the test proves nothing\n%s", decoded)
	}
	it := e.client.GetWorkflowHistory(t.Context(), temporal.WorkflowID(runID), "", false, 0)
	var raw bytes.Buffer
	n := 0
	for it.HasNext() {
		h, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := h.Marshal()
		raw.Write(b)
		n++
	}
	for _, where := range []struct {
		name string
		text []byte
	}{{"raw history", raw.Bytes()}, {"decrypted events", decoded}} {
		if bytes.Contains(where.text, []byte(key)) || bytes.Contains(where.text, []byte(key[len(key)-16:])) {
			t.Errorf("%s holds the key", where.name)
		}
	}
	if n < 10 {
		t.Errorf("history has %d events", n)
	}
}

// A run that ended failed on Temporal is continued by Resume as a local resume continues it: the
// step that failed runs again once the workers are fixed, the steps that succeeded do not.
func TestResumeContinuesAFailedRun(t *testing.T) {
	e := startWorker(t, func(string) string { return "" })
	dir := t.TempDir()
	ledger, fixed := filepath.Join(dir, "ledger"), filepath.Join(dir, "fixed")
	const pb = `name: fixable
inputs:
  ledger: {required: true}
  fixed: {required: true}
steps:
  - id: first
    uses: exec
    with:
      argv: [sh, -c, 'echo first >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
  - id: needy
    uses: exec
    with:
      argv: [sh, -c, 'test -f "$F" && echo needy >> "$L"']
      env: {L: "{{ .inputs.ledger }}", F: "{{ .inputs.fixed }}"}
  - id: last
    uses: exec
    with:
      argv: [sh, -c, 'echo last >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
`
	runID := runner.NewRunID(time.Now())
	res, _ := e.run(t, temporal.RunInput{RunID: runID, PlaybookFile: "fixable.yaml", PlaybookSource: pb,
		Inputs: map[string]any{"ledger": ledger, "fixed": fixed}, StartedBy: "tester"}, nil)
	if res.Outcome != engine.OutcomeFailed {
		t.Fatalf("outcome %q (%s), want failed before the fix", res.Outcome, res.Error)
	}
	if err := os.WriteFile(fixed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := temporal.Resume(t.Context(), e.client, e.key, e.queue, runID, "")
	if err != nil || in == nil {
		t.Fatalf("resume: %v, %v", in, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, evs, err := (&temporal.Follower{Client: e.client, WorkflowID: temporal.WorkflowID(runID), Every: 100 * time.Millisecond}).Follow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != engine.OutcomeSucceeded {
		t.Fatalf("resumed run: outcome %q (%s)", res.Outcome, res.Error)
	}
	b, _ := os.ReadFile(ledger)
	if got := strings.Join(strings.Fields(string(b)), " "); got != "first needy last" {
		t.Errorf("ledger %q, want each step's line once", got)
	}
	started := map[string]int{}
	resumed := 0
	for i, ev := range evs {
		if ev.Seq != i+1 {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if ev.Kind == event.StepStarted {
			started[ev.Step]++
		}
		if ev.Kind == event.RunResumed {
			resumed++
		}
	}
	if diff := cmp.Diff(map[string]int{"first": 1, "needy": 2, "last": 1}, started); diff != "" || resumed != 1 {
		t.Errorf("step.started per step (-want +got):\n%s\nrun.resumed %d times, want 1", diff, resumed)
	}
	if st := engine.Fold(evs); st.Outcome != engine.OutcomeSucceeded || st.Err != nil {
		t.Errorf("the events say %q (%v)", st.Outcome, st.Err)
	}
	if _, err := temporal.Resume(t.Context(), e.client, e.key, e.queue, runID, ""); !errors.Is(err, temporal.ErrSucceeded) {
		t.Errorf("resuming the succeeded run: %v, want ErrSucceeded", err)
	}
}
