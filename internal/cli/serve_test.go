package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/redact"
)

// serveHarness runs `respond serve` in-process against the Slack simulator, with exec-example
// allowed to alice in C0INCIDENT and approvable by bob only (two-person rule).
type serveHarness struct {
	t      *testing.T
	sim    *slacksim.Sim
	addr   string
	secret string
	token  string // the bot's
	state  string
	errs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
	// lastBody is the last answer to post.
	lastBody string
	// what serve was started with, for a restart
	cfg, publicURL string
	env            map[string]string
}

const channelID = "C0INCIDENT"

func startServe(t *testing.T) *serveHarness {
	t.Helper()
	return startServeWith(t, "playbooks:\n  exec-example:\n    users: [U0ALICE]\n    channels: [C0INCIDENT]\n    approvers: [U0BOB]\n    two_person: true\n", nil, "")
}

// startServeWith is startServe with another config, more environment and a --public-url
// ("self": the server's own address).
func startServeWith(t *testing.T, config string, extraEnv map[string]string, publicURL string) *serveHarness {
	t.Helper()
	src := fakekey.Random()
	tok := src.SlackBotToken()
	h := &serveHarness{t: t, secret: src.Hex(32), token: tok, errs: &lockedBuffer{}, done: make(chan error, 1)}
	sim, simSrv := slacksim.NewServer(slacksim.Config{Token: tok,
		Channels: []slacksim.Channel{{ID: channelID, Name: "security-incidents"}},
		Users:    []slacksim.User{{ID: "U0ALICE", Name: "alice"}, {ID: "U0BOB", Name: "bob"}}})
	h.sim = sim
	t.Cleanup(simSrv.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "slack.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	h.state = filepath.Join(dir, "state")
	// A run interrupted before the server started: it must be listed, not resumed.
	j, err := journal.Create(h.state, "old-run")
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	env := map[string]string{"SLACK_BOT_TOKEN": tok, "SLACK_SIGNING_SECRET": h.secret,
		"RESPOND_SLACK_API_URL": h.sim.APIURL(), "RESPOND_STATE_DIR": h.state}
	for k, v := range extraEnv {
		env[k] = v
	}
	h.serve(cfg, env, publicURL)
	return h
}

// serve starts `respond serve` (again, after stop: a redeployed bot) with the harness's Slack.
func (h *serveHarness) serve(cfg string, env map[string]string, publicURL string) {
	t := h.t
	h.cfg, h.env, h.publicURL = cfg, env, publicURL
	h.done = make(chan error, 1)
	f := &Factory{IO: IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: h.errs},
		Getenv: func(k string) string { return env[k] }, Now: time.Now, Secrets: redact.New()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	ln.Close()
	var ctx context.Context
	ctx, h.cancel = context.WithCancel(t.Context())
	if publicURL == "self" {
		publicURL = "http://" + h.addr
	}
	go func() {
		h.done <- runServe(ctx, f, serveOptions{Addr: h.addr, Config: cfg, Grace: 5 * time.Second, PublicURL: publicURL,
			Temporal: temporalOptions{Address: env["RESPOND_TEMPORAL_ADDRESS"], Namespace: "default", TaskQueue: env["RESPOND_TEMPORAL_TASK_QUEUE"]}})
	}()
	h.waitFor("the server to answer /healthz", func() bool {
		r, err := http.Get("http://" + h.addr + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
}

// waitFor polls cond for up to 2 minutes (a whole playbook runs in some waits, under the race
// detector on a loaded machine); it returns as soon as cond holds.
func (h *serveHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s\nstderr:\n%s\nchannel:\n%s", what, h.errs.String(), h.sim.Transcript(channelID))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// post sends a request signed as Slack signs it.
func (h *serveHarness) post(path string, form url.Values) int {
	h.t.Helper()
	body := form.Encode()
	ts := time.Now().Unix()
	mac := hmac.New(sha256.New, []byte(h.secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h.lastBody = string(b)
	return resp.StatusCode
}

// lastAnswer is what re finds in the last answer to post.
func (h *serveHarness) lastAnswer(re *regexp.Regexp) string {
	h.t.Helper()
	m := re.FindString(h.lastBody)
	if m == "" {
		h.t.Fatalf("the answer does not contain %s:\n%s", re, h.lastBody)
	}
	return m
}

// startRun sends `/respond run exec-example` as alice and waits for the approval buttons;
// it returns the parent message's ts and the approval message.
func (h *serveHarness) startRun() (parentTS string, approval slacksim.Message) {
	h.t.Helper()
	if st := h.post("/slack/commands", url.Values{"command": {"/respond"}, "text": {"run exec-example ticket=INC-5"},
		"user_id": {"U0ALICE"}, "channel_id": {channelID}, "response_url": {h.sim.NewResponseURL(channelID, "U0ALICE", "")}}); st != http.StatusOK {
		h.t.Fatalf("slash command answered %d", st)
	}
	h.waitFor("the approval buttons in the run's thread", func() bool {
		msgs := h.sim.Channel(channelID)
		if len(msgs) == 0 {
			return false
		}
		parentTS = msgs[0].TS
		for _, m := range h.sim.Thread(channelID, parentTS) {
			if strings.Contains(string(m.Blocks), slack.ActionApprove) {
				approval = m
				return true
			}
		}
		return false
	})
	return parentTS, approval
}

func (h *serveHarness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		return err
	case <-time.After(15 * time.Second):
		h.t.Fatal("serve did not stop")
		return nil
	}
}

func approveValue(t *testing.T, m slacksim.Message) string {
	t.Helper()
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.ActionID == slack.ActionApprove {
				return e.Value
			}
		}
	}
	t.Fatal("no Approve button")
	return ""
}

func TestServeRunsASlashCommandThroughASlackApproval(t *testing.T) {
	h := startServe(t)
	parentTS, approval := h.startRun()
	press := func(user string) int {
		payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user},
			"channel": map[string]any{"id": channelID}, "container": map[string]any{"message_ts": approval.TS},
			"response_url": h.sim.NewResponseURL(channelID, user, approval.TS),
			"actions":      []any{map[string]any{"action_id": slack.ActionApprove, "block_id": slack.ApprovalBlockID, "value": approveValue(t, approval)}}})
		return h.post("/slack/interactions", url.Values{"payload": {string(payload)}})
	}
	// The requester cannot approve (two-person rule); bob can.
	if st := press("U0ALICE"); st != http.StatusOK {
		t.Fatalf("press answered %d", st)
	}
	if st := press("U0BOB"); st != http.StatusOK {
		t.Fatalf("press answered %d", st)
	}
	h.waitFor("the run to finish", func() bool {
		m, _ := h.sim.Lookup(channelID, parentTS)
		return strings.Contains(h.sim.Render(m.Text, m.Blocks), "Run succeeded")
	})
	if err := h.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	runs, err := journal.List(h.state)
	if err != nil {
		t.Fatal(err)
	}
	var run journal.Summary
	for _, r := range runs {
		if r.Playbook == "exec-example" {
			run = r
		}
	}
	if run.Status != "succeeded" || run.Mode != "real" {
		t.Fatalf("run %+v", run)
	}
	recs, _ := journal.Read(h.state, run.RunID)
	var approvedBy []string
	for _, r := range recs {
		if r.Kind == event.StepApproved {
			approvedBy = append(approvedBy, fmt.Sprint(r.Data["by"], " via ", r.Data["via"]))
		}
	}
	if len(approvedBy) != 1 || !strings.Contains(approvedBy[0], "U0BOB") || !strings.Contains(approvedBy[0], "slack") {
		t.Errorf("approvals journaled: %v (want one, by U0BOB via slack)", approvedBy)
	}
	if !strings.Contains(h.errs.String(), "respond resume old-run") {
		t.Errorf("the interrupted run from before was not listed:\n%s", h.errs.String())
	}
}

func TestServeShutdownDuringAnApprovalWait(t *testing.T) {
	h := startServe(t)
	h.startRun()
	if err := h.stop(); err != nil {
		t.Logf("serve: %v", err)
	}
	runs, err := journal.List(h.state)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Playbook != "exec-example" {
			continue
		}
		if r.Status == "succeeded" {
			t.Errorf("a run stopped during its approval wait is %s", r.Status)
		}
		if !strings.Contains(h.errs.String(), "respond resume "+r.RunID) {
			t.Errorf("shutdown did not say how to resume %s:\n%s", r.RunID, h.errs.String())
		}
		if _, err := journal.Verify(h.state, r.RunID); err != nil {
			t.Errorf("journal: %v", err)
		}
		return
	}
	t.Fatal("no exec-example run was journaled")
}
