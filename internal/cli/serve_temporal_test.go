package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/internal/temporal"
)

// serve --temporal submits a Slack-requested run to the workers, which post its progress in the
// channel; the approval buttons go through serve to the workflow, and the run's record is the
// workflow's history, not a journal of the server's. A bot redeployed while the run waits for
// its approval asks again, and the run finishes.
func TestServeOnTemporalRunsASlashCommandThroughASlackApproval(t *testing.T) {
	for _, redeploy := range []bool{false, true} {
		t.Run(map[bool]string{false: "one server", true: "the bot is redeployed during the approval"}[redeploy], func(t *testing.T) {
			serveOnTemporal(t, redeploy)
		})
	}
}

func serveOnTemporal(t *testing.T, redeploy bool) {
	addr := os.Getenv("RESPOND_TEST_TEMPORAL")
	if addr == "" {
		t.Skip("RESPOND_TEST_TEMPORAL is not set: start `temporal server start-dev --headless` and set it to HOST:PORT (.ci/run does)")
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	keyText := base64.StdEncoding.EncodeToString(b)
	queue := "serve-" + runner.NewRunID(time.Now())
	h := startServeWith(t, "playbooks:\n  exec-example:\n    users: [U0ALICE]\n    channels: [C0INCIDENT]\n    approvers: [U0BOB]\n",
		map[string]string{"RESPOND_TEMPORAL_ADDRESS": addr, "RESPOND_TEMPORAL_KEY": keyText, "RESPOND_TEMPORAL_TASK_QUEUE": queue}, "")

	// A worker with the bot's token: it posts the run's progress.
	key, _ := temporal.ParseKey(keyText)
	c, err := temporal.Dial(t.Context(), temporal.Conn{Address: addr, Namespace: "default", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	workerEnv := map[string]string{"SLACK_BOT_TOKEN": h.token, "RESPOND_SLACK_API_URL": h.sim.APIURL()}
	wctx, stopWorker := context.WithCancel(context.Background())
	done := make(chan error, 1)
	acts := &temporal.Activities{Client: c, Key: key, Dir: t.TempDir(), Getenv: func(k string) string { return workerEnv[k] },
		Now: time.Now, Resolve: resolveSecretRefs, Warnings: os.Stderr}
	go func() {
		done <- temporal.RunWorker(wctx, c, acts, temporal.WorkerOptions{TaskQueue: queue, StopTimeout: time.Second})
	}()
	defer func() { stopWorker(); <-done }()

	parentTS, approval := h.startRun()
	if redeploy {
		if err := h.stop(); err != nil {
			t.Fatalf("serve: %v", err)
		}
		h.serve(h.cfg, h.env, h.publicURL)
		first := approval.TS
		h.waitFor("the approval asked again by the new server", func() bool {
			for _, m := range h.sim.Thread(channelID, parentTS) {
				if m.TS != first && strings.Contains(string(m.Blocks), slack.ActionApprove) {
					approval = m
					return true
				}
			}
			return false
		})
	}
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": "U0BOB"},
		"channel": map[string]any{"id": channelID}, "container": map[string]any{"message_ts": approval.TS},
		"response_url": h.sim.NewResponseURL(channelID, "U0BOB", approval.TS),
		"actions":      []any{map[string]any{"action_id": slack.ActionApprove, "block_id": slack.ApprovalBlockID, "value": approveValue(t, approval)}}})
	if st := h.post("/slack/interactions", url.Values{"payload": {string(payload)}}); st != http.StatusOK {
		t.Fatalf("press answered %d", st)
	}
	h.waitFor("the run to finish", func() bool {
		m, _ := h.sim.Lookup(channelID, parentTS)
		return strings.Contains(h.sim.Render(m.Text, m.Blocks), "Run succeeded")
	})
	runs, err := temporal.List(t.Context(), c, key, 10)
	if err != nil || len(runs) == 0 {
		t.Fatalf("runs on Temporal: %v %v", runs, err)
	}
	var run journal.Summary
	for _, r := range runs {
		if r.Playbook == "exec-example" {
			run = r
		}
	}
	evs, err := temporal.Events(t.Context(), c, temporal.WorkflowID(run.RunID))
	if err != nil {
		t.Fatal(err)
	}
	st := engine.Fold(evs)
	var approvedBy []string
	for _, e := range evs {
		if e.Kind == event.StepApproved {
			d, _ := event.Decode[event.StepApprovedData](e)
			approvedBy = append(approvedBy, d.By+" via "+d.Via)
		}
	}
	if st.Outcome != engine.OutcomeSucceeded || len(approvedBy) != 1 || !strings.Contains(approvedBy[0], "U0BOB via slack") {
		t.Errorf("run %s: %s, approvals %v", run.RunID, st.Outcome, approvedBy)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if local, _ := journal.List(h.state); len(local) != 1 { // the old run the harness planted
		t.Errorf("serve journaled runs itself: %+v", local)
	}
}
