package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/rehearsal"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/internal/temporal"
	"github.com/respond-sec/respond/playbooks"
	"github.com/respond-sec/respond/steps/catalog"
)

// temporalServer is the Temporal dev server .ci/run starts for these tests.
func temporalServer(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("RESPOND_TEST_TEMPORAL")
	if addr == "" {
		t.Skip("RESPOND_TEST_TEMPORAL is not set: start `temporal server start-dev --headless` and set it to HOST:PORT (.ci/run does)")
	}
	return addr
}

func temporalKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// worker is a `respond worker` process.
type worker struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func startWorker(t *testing.T, env []string, args ...string) *worker {
	t.Helper()
	w := &worker{cmd: exec.Command(binary, append([]string{"worker"}, args...)...), done: make(chan error, 1)}
	w.cmd.Env = append(os.Environ(), env...)
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// killed waits for the worker to be killed by SIGKILL (its crash hook); false when it never was.
func (w *worker) killed(t *testing.T, within time.Duration) bool {
	t.Helper()
	select {
	case err := <-w.done:
		w.done <- err
		if ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the worker was not killed (%v):\n%s", err, w.out.String())
		}
		return true
	case <-time.After(within):
		return false
	}
}

// TestTemporalWorkerKilledMidStep kills a worker with SIGKILL inside the built-in playbook's
// steps that change something — the revocation, and inside openai.create-replacement before and
// after the new key exists — while a rehearsal world plays the real APIs in this process. A second
// worker finishes the run from the workflow's history, and the world ends as an uninterrupted run
// leaves it: the key revoked once, exactly one replacement key, delivered, every other check.
func TestTemporalWorkerKilledMidStep(t *testing.T) {
	if testing.Short() {
		t.Skip("worker crash matrix: skipped with -short")
	}
	addr := temporalServer(t)
	src, _ := playbooks.Source("openai-key-leak")
	pb, err := playbook.Load("openai-key-leak.yaml", src, catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	points := []string{
		"step.succeeded:identify", // a step boundary
		"step.log:revoke:1",       // the key is deleted, the result not recorded
		"step.intent:replace:3",   // "create key" recorded, the key not created
		"step.intent:replace:4",   // the key exists, not delivered
		"step.log:replace:5",      // the key is in the file, not in the Actions secret
	}
	for i, point := range points {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			w, err := rehearsal.Start(t.Context(), rehearsal.Options{Seed: uint64(300 + i), Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			h := w.Handle()
			env := []string{"RESPOND_STATE_DIR=" + t.TempDir(), "RESPOND_TEMPORAL_KEY=" + temporalKey(t),
				"RESPOND_INPUT_KEY=" + w.LeakedKey()}
			for k, v := range h.Env {
				env = append(env, k+"="+v)
			}
			queue := "crash-" + runner.NewRunID(time.Now())
			args := []string{"--temporal", addr, "--task-queue", queue, "--stop-timeout", "2s"}
			first := startWorker(t, append(env, "RESPOND_TEST_CRASH_AFTER="+point), args...)

			in := temporal.RunInput{RunID: runner.NewRunID(time.Now()), PlaybookFile: pb.File, PlaybookSource: string(pb.Source),
				Inputs: map[string]any{}, Secrets: map[string]string{}, Mode: engine.ModeRehearsal, StartedBy: "rehearsal",
				Approve: temporal.ApproveAuto, HeartbeatTimeout: 3 * time.Second}
			for _, input := range pb.Inputs {
				if v, ok := h.Input(input.Name); ok && !input.Secret {
					in.Inputs[input.Name] = v
				} else if ok {
					in.Secrets[input.Name] = temporal.SourceEnv
				}
			}
			key, err := temporal.ParseKey(strings.TrimPrefix(env[1], "RESPOND_TEMPORAL_KEY="))
			if err != nil {
				t.Fatal(err)
			}
			c, err := temporal.Dial(t.Context(), temporal.Conn{Address: addr, Namespace: "default", Key: key})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			before := w.OpenAIState()
			if err := temporal.Submit(t.Context(), c, queue, in); err != nil {
				t.Fatal(err)
			}
			if !first.killed(t, time.Minute) {
				res, evs, err := (&temporal.Follower{Client: c, WorkflowID: temporal.WorkflowID(in.RunID)}).Follow(t.Context())
				t.Fatalf("the worker never reached its crash point; the run ended %s (%s), %v after %d events:\n%s",
					res.Outcome, res.Error, err, len(evs), first.out.String())
			}
			second := startWorker(t, env, args...)

			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			res, evs, err := (&temporal.Follower{Client: c, WorkflowID: temporal.WorkflowID(in.RunID)}).Follow(ctx)
			if err != nil {
				t.Fatalf("%v\nsecond worker:\n%s", err, second.out.String())
			}
			if res.Outcome != engine.OutcomeSucceeded {
				t.Errorf("outcome %s: %s", res.Outcome, res.Error)
			}
			var failed []string
			for _, v := range w.VerifyFor(t.Context(), before, rehearsal.ScopeOf(pb)) {
				if !v.OK {
					failed = append(failed, fmt.Sprintf("%s (%s)", v.Name, v.Detail))
				}
			}
			if len(failed) > 0 {
				t.Errorf("after a crash at %s:\n  %s\nsecond worker:\n%s", point, strings.Join(failed, "\n  "), second.out.String())
			}
			if st := engine.Fold(evs); st.Err != nil || st.Outcome != engine.OutcomeSucceeded {
				t.Errorf("the history's events say %q (%v)", st.Outcome, st.Err)
			}
			// SIGTERM stops the worker gracefully.
			_ = second.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-second.done:
				second.done <- err
				if err != nil || !strings.Contains(second.out.String(), "worker: stopped") {
					t.Errorf("SIGTERM: %v\n%s", err, second.out.String())
				}
			case <-time.After(30 * time.Second):
				t.Error("the worker did not stop on SIGTERM")
			}
		})
	}
}

// SIGTERM stops a worker gracefully inside a step: the step is cancelled after --stop-timeout,
// nothing records the run as over, and another worker runs the step again to the end.
func TestTemporalWorkerStoppedMidStepHandsTheStepOver(t *testing.T) {
	if testing.Short() {
		t.Skip("worker handover: skipped with -short")
	}
	addr := temporalServer(t)
	ledger := t.TempDir() + "/ledger"
	const slow = `name: slow
inputs:
  ledger: {required: true}
steps:
  - id: slow
    uses: exec
    with:
      argv: [sh, -c, 'echo start >> "$L"; sleep 4; echo end >> "$L"']
      env: {L: "{{ .inputs.ledger }}"}
`
	key := temporalKey(t)
	env := []string{"RESPOND_STATE_DIR=" + t.TempDir(), "RESPOND_TEMPORAL_KEY=" + key}
	queue := "stop-" + runner.NewRunID(time.Now())
	args := []string{"--temporal", addr, "--task-queue", queue, "--stop-timeout", "500ms"}
	first := startWorker(t, env, args...)
	k, _ := temporal.ParseKey(key)
	c, err := temporal.Dial(t.Context(), temporal.Conn{Address: addr, Namespace: "default", Key: k})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := temporal.RunInput{RunID: runner.NewRunID(time.Now()), PlaybookFile: "slow.yaml", PlaybookSource: slow,
		Inputs: map[string]any{"ledger": ledger}, Mode: engine.ModeReal, HeartbeatTimeout: 3 * time.Second}
	if err := temporal.Submit(t.Context(), c, queue, in); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(strings.Join(readLines(t, ledger), " "), "start") {
		if time.Now().After(deadline) {
			t.Fatalf("the step never started:\n%s", first.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = first.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-first.done:
		first.done <- err
		if err != nil || !strings.Contains(first.out.String(), "worker: stopped") {
			t.Fatalf("SIGTERM: %v\n%s", err, first.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop on SIGTERM")
	}
	startWorker(t, env, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, evs, err := (&temporal.Follower{Client: c, WorkflowID: temporal.WorkflowID(in.RunID)}).Follow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finished := 0
	for _, e := range evs {
		if e.Kind == event.RunFinished {
			finished++
		}
	}
	if res.Outcome != engine.OutcomeSucceeded || finished != 1 {
		t.Errorf("outcome %s (%s), %d run.finished events", res.Outcome, res.Error, finished)
	}
	if got := strings.Join(readLines(t, ledger), " "); got != "start start end" {
		t.Errorf("ledger %q: the stopped attempt should not have finished, the second should have", got)
	}
}
