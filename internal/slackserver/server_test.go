package slackserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/slackserver"
)

type reply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func decode(t *testing.T, body string) reply {
	t.Helper()
	var r reply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, body)
	}
	if r.ResponseType != "ephemeral" {
		t.Errorf("answer is %q, want ephemeral", r.ResponseType)
	}
	return r
}

func TestSignatureChecks(t *testing.T) {
	t.Parallel()
	text := "run openai-key-leak key=key_abc123 project=proj_9 dry-run"
	tests := []struct {
		name string
		s    signing
		want int
	}{
		{"valid", signing{}, http.StatusOK},
		{"missing", signing{none: true}, http.StatusUnauthorized},
		{"forged", signing{secret: fakekey.Random().Hex(32)}, http.StatusUnauthorized},
		{"body tampered", signing{tamper: true}, http.StatusUnauthorized},
		{"expired", signing{age: 6 * time.Minute}, http.StatusUnauthorized},
		{"from the future", signing{age: -6 * time.Minute}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			status, body, _ := e.post("/slack/commands", e.commandForm(alice, incidents, text), tc.s)
			e.server.WaitBackground()
			if status != tc.want {
				t.Fatalf("status %d, want %d (%s)", status, tc.want, body)
			}
			if strings.Contains(body, "key_abc123") || strings.Contains(body, "proj_9") {
				t.Errorf("answer echoes the command: %s", body)
			}
			started := len(e.runner.started())
			if tc.want != http.StatusOK {
				if started != 0 {
					t.Errorf("%d runs started by a refused request", started)
				}
				return
			}
			decode(t, body)
			if started != 1 {
				t.Errorf("%d runs started, want 1", started)
			}
		})
	}
}

// A replay is refused whatever spelling of the same signature it carries: the hex of Slack's
// signature decodes the same in upper or mixed case, so each spelling verifies.
func TestReplayIsRefused(t *testing.T) {
	t.Parallel()
	respell := map[string]func(hexSig string) string{
		"same":       func(h string) string { return h },
		"upper case": strings.ToUpper,
		"mixed case": func(h string) string { return strings.ToUpper(h[:len(h)/2]) + h[len(h)/2:] },
	}
	for name, spell := range respell {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			body := e.commandForm(alice, incidents, "run exec-example").Encode()
			now := time.Now().Unix()
			ts := strconv.FormatInt(now, 10)
			sig := strings.TrimPrefix(sign(e.secret, now, body), "v0=")
			send := func(hexSig string) int {
				req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/slack/commands", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Slack-Request-Timestamp", ts)
				req.Header.Set("X-Slack-Signature", "v0="+hexSig)
				status, _, _ := e.do(req)
				return status
			}
			if got := send(sig); got != http.StatusOK {
				t.Fatalf("first delivery: %d", got)
			}
			if got := send(spell(sig)); got != http.StatusUnauthorized {
				t.Fatalf("replay: %d, want 401", got)
			}
			e.server.WaitBackground()
			if n := len(e.runner.started()); n != 1 {
				t.Errorf("%d runs started, want 1", n)
			}
		})
	}
}

func TestInteractionsAreVerifiedToo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	form := pressForm(e, bob, true, "run-1", "purge", "1.2", "")
	if status, _, _ := e.post("/slack/interactions", form, signing{secret: fakekey.Random().Hex(32)}); status != http.StatusUnauthorized {
		t.Errorf("forged press: %d, want 401", status)
	}
	if status, _, _ := e.post("/slack/interactions", form, signing{none: true}); status != http.StatusUnauthorized {
		t.Errorf("unsigned press: %d, want 401", status)
	}
	e.server.WaitBackground()
	if n := len(e.sim.Responses()); n != 0 {
		t.Errorf("a refused press caused %d responses", n)
	}
}

func TestAckDoesNotWaitForTheRun(t *testing.T) {
	t.Parallel()
	runner := &fakeRunner{gate: make(chan struct{})}
	e := newEnv(t, runner)
	status, body, _ := e.post("/slack/commands", e.commandForm(alice, incidents, "run openai-key-leak key=key_abc123"), signing{})
	// The runner is still blocked in Start: the answer did not wait for it.
	if status != http.StatusOK || len(runner.started()) != 0 {
		t.Fatalf("status %d, %d started", status, len(runner.started()))
	}
	if r := decode(t, body); !strings.Contains(r.Text, "Starting `openai-key-leak`") {
		t.Errorf("answer %q", r.Text)
	}
	close(runner.gate)
	e.server.WaitBackground()
	got := runner.started()
	want := []slackserver.RunRequest{{Playbook: "openai-key-leak", Inputs: map[string]string{"key": "key_abc123"},
		User: alice, UserName: "u0alice", Channel: incidents}}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Approver" }, cmp.Ignore())); diff != "" {
		t.Errorf("run request (-want +got):\n%s", diff)
	}
	if got[0].Approver == nil {
		t.Error("no Slack approver for a playbook with approvers")
	}
	resps := e.sim.Responses()
	if len(resps) != 1 || resps[0].ResponseType != "ephemeral" || !strings.Contains(resps[0].Text, "Run `run-1`") {
		t.Errorf("follow-up %+v", resps)
	}
}

func TestStartFailureIsReported(t *testing.T) {
	t.Parallel()
	secret := fakekey.Random().OpenAIProjectKey()
	runner := &fakeRunner{startErr: errors.New("journal: disk full near " + secret)}
	e := newEnv(t, runner)
	status, _, _ := e.post("/slack/commands", e.commandForm(alice, incidents, "run exec-example"), signing{})
	e.server.WaitBackground()
	resps := e.sim.Responses()
	if status != http.StatusOK || len(resps) != 1 || !strings.Contains(resps[0].Text, "did not start: journal: disk full") {
		t.Fatalf("status %d, follow-ups %+v", status, resps)
	}
	if strings.Contains(resps[0].Text, secret) {
		t.Error("the follow-up shows a secret")
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	leaked := fakekey.Random().OpenAIProjectKey()
	token := fakekey.Random().GitHubToken()
	tests := []struct {
		name          string
		user, channel string
		text          string
		wantIn        string // in the answer
		start         bool
		dry           bool
		inputs        map[string]string
	}{
		{name: "allowed", user: alice, channel: incidents, text: "run openai-key-leak key=key_abc123 project=proj_9",
			wantIn: "Starting", start: true, inputs: map[string]string{"key": "key_abc123", "project": "proj_9"}},
		{name: "dry-run word", user: alice, channel: incidents, text: "run openai-key-leak key=key_abc123 dry-run",
			wantIn: "dry run", start: true, dry: true, inputs: map[string]string{"key": "key_abc123"}},
		{name: "plan", user: alice, channel: incidents, text: "plan openai-key-leak key=key_abc123",
			wantIn: "dry run", start: true, dry: true, inputs: map[string]string{"key": "key_abc123"}},
		{name: "other channel allowed for exec-example", user: alice, channel: random, text: "RUN exec-example ticket=INC-7",
			wantIn: "Starting", start: true, inputs: map[string]string{"ticket": "INC-7"}},
		{name: "user not allowed", user: mallory, channel: incidents, text: "run openai-key-leak key=key_abc123",
			wantIn: "not allowed"},
		{name: "channel not allowed", user: alice, channel: random, text: "run openai-key-leak key=key_abc123",
			wantIn: "not allowed"},
		{name: "unconfigured playbook", user: alice, channel: incidents, text: "run drop-database-quietly",
			wantIn: "cannot be started from Slack"},
		{name: "leaked key typed", user: alice, channel: incidents, text: "run openai-key-leak key=" + leaked,
			wantIn: "looks like a secret"},
		{name: "token in a plain input", user: alice, channel: incidents, text: "run openai-key-leak key=key_abc123 project=" + token,
			wantIn: "looks like a secret"},
		{name: "alert reference", user: alice, channel: incidents, text: "run openai-key-leak key=github-alert:acme/storefront#12",
			wantIn: "Starting", start: true, inputs: map[string]string{"key": "github-alert:acme/storefront#12"}},
		{name: "alert URL as Slack links it", user: alice, channel: incidents,
			text:   "run openai-key-leak key=<https://github.com/acme/storefront/security/secret-scanning/12>",
			wantIn: "Starting", start: true, inputs: map[string]string{"key": "https://github.com/acme/storefront/security/secret-scanning/12"}},
		{name: "malformed alert reference", user: alice, channel: incidents, text: "run openai-key-leak key=github-alert:acme#12",
			wantIn: "Input `key` is secret"},
		{name: "secret input that is not a key ID", user: alice, channel: incidents, text: "run openai-key-leak key=hunter2hunter2",
			wantIn: "Input `key` is secret"},
		{name: "not name=value", user: alice, channel: incidents, text: "run openai-key-leak key_abc123",
			wantIn: "Argument 3 is not `name=value`"},
		{name: "unknown input", user: alice, channel: incidents, text: "run openai-key-leak key=key_abc123 wat=proj_9",
			wantIn: "Argument 4 is not an input of `openai-key-leak`"},
		{name: "missing required", user: alice, channel: incidents, text: "run openai-key-leak project=proj_9",
			wantIn: "Missing required secret input: `key`"},
		{name: "help", user: mallory, channel: incidents, text: "help", wantIn: "You cannot start any playbook"},
		{name: "help lists mine", user: alice, channel: random, text: "", wantIn: "You can start here: `exec-example`"},
		{name: "status", user: alice, channel: incidents, text: "status run-1", wantIn: "running step revoke"},
		{name: "status unknown", user: alice, channel: incidents, text: "status run-77", wantIn: "No run by that ID"},
		{name: "status by a stranger", user: mallory, channel: incidents, text: "status run-1", wantIn: "not on any playbook's allow-list"},
		{name: "list", user: bob, channel: random, text: "list", wantIn: "run-1 openai-key-leak running"},
		{name: "unknown subcommand", user: alice, channel: incidents, text: "frobnicate proj_9", wantIn: "Unknown subcommand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			status, body, _ := e.post("/slack/commands", e.commandForm(tc.user, tc.channel, tc.text), signing{})
			e.server.WaitBackground()
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			r := decode(t, body)
			if !strings.Contains(r.Text, tc.wantIn) {
				t.Errorf("answer %q lacks %q", r.Text, tc.wantIn)
			}
			// Nothing the user typed after the subcommand and playbook comes back, except
			// names the config or playbook declare.
			for _, f := range strings.Fields(tc.text)[min(2, len(strings.Fields(tc.text))):] {
				if _, v, ok := strings.Cut(f, "="); ok && strings.Contains(body, v) {
					t.Errorf("answer echoes %q: %s", v, body)
				}
			}
			for _, s := range []string{leaked, token, "hunter2", "drop-database"} {
				if strings.Contains(body, s) {
					t.Errorf("answer echoes %q", s)
				}
			}
			got := e.runner.started()
			if !tc.start {
				if len(got) != 0 {
					t.Errorf("started %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("started %d runs, want 1", len(got))
			}
			if got[0].DryRun != tc.dry || !cmp.Equal(got[0].Inputs, tc.inputs) || got[0].User != tc.user || got[0].Channel != tc.channel {
				t.Errorf("request %+v", got[0])
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/healthz", nil)
	if status, body, _ := e.do(req); status != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz: %d %q", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, e.http.URL+"/slack/commands", nil)
	if status, _, _ := e.do(req); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /slack/commands: %d", status)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	runner := &fakeRunner{shutdown: []slackserver.Interrupted{{RunID: "run-9", Playbook: "openai-key-leak", State: "stopped"}}}
	e := newEnv(t, runner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		in  []slackserver.Interrupted
		err error
	}
	done := make(chan result, 1)
	go func() {
		in, err := e.server.Serve(ctx, ln)
		done <- result{in, err}
	}()
	eventually(t, "the server to answer", func() bool {
		resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatalf("Serve: %v", r.err)
	}
	if diff := cmp.Diff(runner.shutdown, r.in); diff != "" {
		t.Errorf("interrupted (-want +got):\n%s", diff)
	}
	if !runner.stopped {
		t.Error("the runner was not asked to shut down")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("still accepting after shutdown")
	}
	if !strings.Contains(e.logs.all(), "respond resume run-9") {
		t.Errorf("log does not say how to resume:\n%s", e.logs.all())
	}
}
