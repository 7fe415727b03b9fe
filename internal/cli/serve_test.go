package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/redact"
)

func TestServeSmoke(t *testing.T) {
	src := fakekey.Random()
	tok, secret := src.SlackBotToken(), src.Hex(32)
	sim, simSrv := slacksim.NewServer(slacksim.Config{Token: tok,
		Channels: []slacksim.Channel{{ID: "C0INCIDENT", Name: "security-incidents"}},
		Users:    []slacksim.User{{ID: "U0ALICE", Name: "alice"}, {ID: "U0BOB", Name: "bob"}}})
	defer simSrv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "slack.yaml")
	os.WriteFile(cfg, []byte("playbooks:\n  exec-example:\n    users: [U0ALICE]\n    channels: [C0INCIDENT]\n    approvers: [U0BOB]\n    two_person: true\n"), 0o600)
	// an interrupted run from before
	j, _ := journal.Create(filepath.Join(dir, "state"), "old-run")
	j.Close()
	env := map[string]string{"SLACK_BOT_TOKEN": tok, "SLACK_SIGNING_SECRET": secret, "RESPOND_SLACK_API_URL": sim.APIURL(),
		"RESPOND_STATE_DIR": filepath.Join(dir, "state")}
	var errb bytes.Buffer
	errs := &syncBuf{b: &errb}
	f := &Factory{IO: IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: errs}, Getenv: func(k string) string { return env[k] },
		Now: time.Now, Secrets: redact.New()}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, f, serveOptions{Addr: addr, Config: cfg, Grace: 5 * time.Second}) }()
	for {
		r, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			r.Body.Close()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	post := func(path string, form url.Values) int {
		body := form.Encode()
		ts := time.Now().Unix()
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "v0:%d:%s", ts, body)
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	st := post("/slack/commands", url.Values{"command": {"/respond"}, "text": {"run exec-example ticket=INC-5"}, "user_id": {"U0ALICE"},
		"channel_id": {"C0INCIDENT"}, "response_url": {sim.NewResponseURL("C0INCIDENT", "U0ALICE", "")}})
	if st != 200 {
		t.Fatal(st)
	}
	var reqTS, parentTS string
	for reqTS == "" {
		time.Sleep(10 * time.Millisecond)
		ch := sim.Channel("C0INCIDENT")
		if len(ch) == 0 {
			continue
		}
		parentTS = ch[0].TS
		for _, m := range sim.Thread("C0INCIDENT", parentTS) {
			if strings.Contains(string(m.Blocks), slack.ActionApprove) {
				reqTS = m.TS
			}
		}
	}
	runID := ""
	for _, r := range sim.Responses() {
		t.Logf("follow-up: %s", r.Text)
	}
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": "U0BOB"},
		"channel": map[string]any{"id": "C0INCIDENT"}, "container": map[string]any{"message_ts": reqTS},
		"response_url": sim.NewResponseURL("C0INCIDENT", "U0BOB", reqTS),
		"actions": []any{map[string]any{"action_id": slack.ActionApprove, "block_id": slack.ApprovalBlockID, "value": func() string {
			m, _ := sim.Lookup("C0INCIDENT", reqTS)
			i := strings.Index(string(m.Blocks), `"value":"`)
			v := string(m.Blocks)[i+9:]
			v = v[:strings.Index(v, `"`)]
			v = strings.ReplaceAll(v, `\u0026`, "&")
			return v
		}()}}})
	if st := post("/slack/interactions", url.Values{"payload": {string(payload)}}); st != 200 {
		t.Fatal(st)
	}
	for {
		time.Sleep(20 * time.Millisecond)
		m, _ := sim.Lookup("C0INCIDENT", parentTS)
		if strings.Contains(m.Text, "succeeded") || strings.Contains(m.Text, "failed") {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = runID
	t.Logf("stderr:\n%s", errs.String())
	t.Logf("transcript:\n%s", sim.Transcript("C0INCIDENT"))
	runs, _ := journal.List(filepath.Join(dir, "state"))
	for _, r := range runs {
		t.Logf("run %s %s %s", r.RunID, r.Playbook, r.Status)
	}
}

// syncBuf is a buffer the server's goroutines may write to while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
