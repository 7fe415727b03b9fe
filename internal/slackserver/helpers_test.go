package slackserver_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/slackserver"
)

const (
	incidents = "C0INCIDENT"
	random    = "C0RANDOM"
	alice     = "U0ALICE" // may start runs; an approver too
	bob       = "U0BOB"   // approver
	carol     = "U0CAROL" // approver
	mallory   = "U0MALLORY"
)

const configYAML = `
playbooks:
  openai-key-leak:
    users: [U0ALICE, U0BOB]
    channels: [C0INCIDENT]
    approvers: [U0ALICE, U0BOB, U0CAROL]
    two_person: true
  exec-example:
    users: [U0ALICE]
    channels: [C0INCIDENT, C0RANDOM]
`

// fakeRunner records what it was asked and starts nothing heavy.
type fakeRunner struct {
	mu       sync.Mutex
	requests []slackserver.RunRequest
	gate     chan struct{} // when set, Start waits for it to close
	startErr error
	shutdown []slackserver.Interrupted
	stopped  bool
}

var leakInputs = []slackserver.InputSpec{
	{Name: "key", Secret: true, Required: true},
	{Name: "project"},
	{Name: "repos", HasValue: true},
}

func (f *fakeRunner) Inputs(pb string) ([]slackserver.InputSpec, error) {
	switch pb {
	case "openai-key-leak":
		return leakInputs, nil
	case "exec-example":
		return []slackserver.InputSpec{{Name: "ticket", HasValue: true}}, nil
	}
	return nil, errors.New("no such playbook")
}

func (f *fakeRunner) Start(ctx context.Context, req slackserver.RunRequest) (string, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return "", f.startErr
	}
	f.requests = append(f.requests, req)
	return fmt.Sprintf("run-%d", len(f.requests)), nil
}

func (f *fakeRunner) Status(id string) (string, error) {
	if id == "run-1" {
		return "run-1 openai-key-leak: running step revoke", nil
	}
	return "", errors.New("no such run")
}

func (f *fakeRunner) List() ([]string, error) {
	return []string{"run-1 openai-key-leak running"}, nil
}

func (f *fakeRunner) Shutdown(context.Context) ([]slackserver.Interrupted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	return f.shutdown, nil
}

func (f *fakeRunner) started() []slackserver.RunRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackserver.RunRequest(nil), f.requests...)
}

// env is one test's Slack workspace, server and runner.
type env struct {
	t      *testing.T
	sim    *slacksim.Sim
	client *slack.Client
	secret string
	// ghSecret is the GitHub webhook's secret.
	ghSecret string
	runner   *fakeRunner
	server   *slackserver.Server
	http     *httptest.Server
	secrets  *redact.Set
	logs     *logs
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newEnv(t *testing.T, runner slackserver.Runner) *env {
	t.Helper()
	return newEnvConfig(t, runner, configYAML)
}

func newEnvConfig(t *testing.T, runner slackserver.Runner, configSrc string, opts ...func(*slackserver.Options)) *env {
	t.Helper()
	src := fakekey.Random()
	tok := src.SlackBotToken()
	sim, simSrv := slacksim.NewServer(slacksim.Config{Token: tok,
		Channels: []slacksim.Channel{{ID: incidents, Name: "security-incidents"}, {ID: random, Name: "random"}},
		Users:    []slacksim.User{{ID: alice, Name: "alice"}, {ID: bob, Name: "bob"}, {ID: carol, Name: "carol"}, {ID: mallory, Name: "mallory"}}})
	t.Cleanup(simSrv.Close)
	client, err := slack.New(slack.Config{Token: tok, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := slackserver.ParseConfig("slack.yaml", []byte(configSrc))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sim: sim, client: client, secret: src.Hex(32), ghSecret: src.Hex(32), secrets: redact.New(), logs: &logs{}}
	if runner == nil {
		e.runner = &fakeRunner{}
		runner = e.runner
	}
	o := slackserver.Options{SigningSecret: e.secret, Config: cfg, Runner: runner,
		Slack: client, Secrets: e.secrets, Logf: e.logs.logf, GitHubWebhookSecret: e.ghSecret}
	for _, opt := range opts {
		opt(&o)
	}
	e.server, err = slackserver.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.server)
	t.Cleanup(e.http.Close)
	return e
}

// sign is Slack's request signature: v0=HMAC-SHA256(secret, "v0:ts:body").
func sign(secret string, ts int64, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// command is a slash command as Slack posts it.
func (e *env) commandForm(user, channel, text string) url.Values {
	return url.Values{
		"command": {"/respond"}, "text": {text}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"channel_id": {channel}, "team_id": {"T0SIM0001"},
		"response_url": {e.sim.NewResponseURL(channel, user, "")},
		"trigger_id":   {fmt.Sprintf("trig.%d", time.Now().UnixNano())},
	}
}

type signing struct {
	secret string        // "" signs with the env's secret
	age    time.Duration // how old the timestamp is
	none   bool          // send no signature headers
	tamper bool          // change the body after signing
}

// post sends a signed form to path and returns the status and body.
func (e *env) post(path string, form url.Values, s signing) (int, string, http.Header) {
	e.t.Helper()
	body := form.Encode()
	secret := e.secret
	if s.secret != "" {
		secret = s.secret
	}
	ts := time.Now().Add(-s.age).Unix()
	sig := sign(secret, ts, body)
	if s.tamper {
		body = strings.Replace(body, "dry-run", "now", 1) + "&x=1"
	}
	req, err := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !s.none {
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", sig)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, string, http.Header) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// eventually waits until cond holds (or the test's deadline): the server works in the
// background, and tests wait for its effects rather than for a fixed time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Bounded: a condition that can no longer come true fails the test instead of hanging it
	// until the package's 10-minute timeout.
	limit := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-limit:
			t.Fatalf("gave up waiting for %s after 30s", what)
		case <-time.After(time.Millisecond):
		}
	}
}
