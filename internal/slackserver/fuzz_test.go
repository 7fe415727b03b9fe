package slackserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/slackserver"
)

// quietRunner starts nothing and remembers nothing: fuzzing sends millions of requests.
type quietRunner struct{}

func (quietRunner) Inputs(pb string) ([]slackserver.InputSpec, error) {
	return (&fakeRunner{}).Inputs(pb)
}
func (quietRunner) Start(context.Context, slackserver.RunRequest) (string, error) {
	return "run-1", nil
}
func (quietRunner) Status(string) (string, error)                               { return "running", nil }
func (quietRunner) List() ([]string, error)                                     { return []string{"run-1 running"}, nil }
func (quietRunner) Shutdown(context.Context) ([]slackserver.Interrupted, error) { return nil, nil }

// fuzzServer is a server with no Slack client (no follow-up ever leaves the process), a
// registered secret, and a helper that signs and delivers one body.
func fuzzServer(f *testing.F) (func(path, body string) (int, string), *redact.Set, string) {
	cfg, err := slackserver.ParseConfig("slack.yaml", []byte(configYAML))
	if err != nil {
		f.Fatal(err)
	}
	src := fakekey.Random()
	secrets := redact.New()
	leaked := src.OpenAIProjectKey()
	secrets.Add(leaked)
	signingSecret := src.Hex(32)
	srv, err := slackserver.New(slackserver.Options{SigningSecret: signingSecret, Config: cfg, Runner: quietRunner{}, Secrets: secrets})
	if err != nil {
		f.Fatal(err)
	}
	deliver := func(path, body string) (int, string) {
		srv.ForgetReplays()
		now := time.Now().Unix()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now, 10))
		req.Header.Set("X-Slack-Signature", sign(signingSecret, now, body))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		srv.WaitBackground()
		return w.Code, w.Body.String()
	}
	return deliver, secrets, leaked
}

// FuzzSlashCommand: any signed body, parsed as Slack's slash command form, is answered with 200
// (or 400 when it is no form) and never a 5xx or a panic; the answer never holds a secret, even
// one typed into the command.
func FuzzSlashCommand(f *testing.F) {
	deliver, secrets, leaked := fuzzServer(f)
	for _, text := range []string{"", "help", "run openai-key-leak key=key_abc project=proj_1 dry-run",
		"run openai-key-leak key=" + leaked, "status run-1", "list", "plan exec-example ticket=T-1", "run exec-example =x"} {
		for _, user := range []string{alice, mallory} {
			f.Add(url.Values{"command": {"/respond"}, "text": {text}, "user_id": {user}, "channel_id": {incidents},
				"response_url": {"https://hooks.slack.com/commands/T/1/x"}}.Encode())
		}
	}
	f.Add("text=%zz&user_id=")
	f.Fuzz(func(t *testing.T, body string) {
		status, answer := deliver("/slack/commands", body)
		if status != http.StatusOK && status != http.StatusBadRequest {
			t.Fatalf("status %d for %q: %s", status, body, answer)
		}
		if secrets.Contains([]byte(answer)) {
			t.Fatalf("the answer holds a secret: %s", answer)
		}
		if status == http.StatusOK {
			var e struct{ Text string }
			if err := json.Unmarshal([]byte(answer), &e); err != nil || e.Text == "" {
				t.Fatalf("answer %q: %v", answer, err)
			}
		}
	})
}

// FuzzInteraction: any signed interaction payload is answered 200 or 400, never a panic, and
// a button press from anyone changes nothing that is not pending.
func FuzzInteraction(f *testing.F) {
	deliver, _, _ := fuzzServer(f)
	for _, payload := range []string{
		`{"type":"block_actions","user":{"id":"U0ALICE"},"channel":{"id":"C0INCIDENT"},"container":{"message_ts":"1.2"},` +
			`"actions":[{"action_id":"respond_approve","value":"run-1/step"}]}`,
		`{"type":"block_actions","actions":[{"action_id":"respond_deny","value":"not a value"}]}`,
		`{"type":"block_actions","actions":[null]}`,
		`{"type":"view_submission"}`,
		`not json`,
	} {
		f.Add(url.Values{"payload": {payload}}.Encode())
	}
	f.Fuzz(func(t *testing.T, body string) {
		status, answer := deliver("/slack/interactions", body)
		if status != http.StatusOK && status != http.StatusBadRequest {
			t.Fatalf("status %d for %q: %s", status, body, answer)
		}
	})
}
