package slackserver_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/slackserver"
)

const publicURL = "https://respond.example.test"

var formLink = regexp.MustCompile(regexp.QuoteMeta(publicURL) + `(/form/[A-Za-z0-9_-]+)`)

// askForm sends `/respond run openai-key-leak` without its key as alice and returns the path of
// the one-time form the answer links to, and the answer.
func askForm(t *testing.T, e *env) (string, string) {
	t.Helper()
	status, body, _ := e.post("/slack/commands", e.commandForm(alice, incidents, "run openai-key-leak project=proj_9"), signing{})
	if status != http.StatusOK {
		t.Fatalf("command answered %d", status)
	}
	var r struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	m := formLink.FindStringSubmatch(r.Text)
	if m == nil || r.ResponseType != "ephemeral" {
		t.Fatalf("answer %+v: want an ephemeral link to a one-time form", r)
	}
	return m[1], r.Text
}

func (e *env) get(path string) (int, string, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+path, nil)
	return e.do(req)
}

func (e *env) submit(path string, form url.Values) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, _ := e.do(req)
	return status, body
}

func TestOneTimeFormStartsTheRunWithTheValue(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, nil, configYAML, func(o *slackserver.Options) { o.PublicURL = publicURL + "/" })
	value := fakekey.Random().OpenAIProjectKey()
	path, answer := askForm(t, e)
	if len(strings.TrimPrefix(path, "/form/")) < 43 {
		t.Errorf("token %q is shorter than 256 bits in base64", path)
	}
	status, page, h := e.get(path)
	if status != http.StatusOK || !strings.Contains(page, `type="password" id="key" name="key"`) || strings.Contains(page, "<script") {
		t.Fatalf("form page %d:\n%s", status, page)
	}
	if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("form page headers %v", h)
	}
	// Opening the page again (a link preview, a reload) does not use it up.
	if status, _, _ := e.get(path); status != http.StatusOK {
		t.Errorf("second GET answered %d", status)
	}
	status, done := e.submit(path, url.Values{"key": {value}})
	if status != http.StatusOK || !strings.Contains(done, "Received") {
		t.Fatalf("submit %d:\n%s", status, done)
	}
	e.server.WaitBackground()
	got := e.runner.started()
	if len(got) != 1 || got[0].Secrets["key"] != value || got[0].User != alice || got[0].Inputs["project"] != "proj_9" {
		t.Fatalf("started %+v", got)
	}
	// Single use: a second submission starts nothing.
	if status, again := e.submit(path, url.Values{"key": {value}}); status != http.StatusNotFound || !strings.Contains(again, "used up") {
		t.Errorf("second submit %d:\n%s", status, again)
	}
	if status, _, _ := e.get(path); status != http.StatusNotFound {
		t.Errorf("GET after use answered %d", status)
	}
	e.server.WaitBackground()
	if n := len(e.runner.started()); n != 1 {
		t.Errorf("%d runs started, want 1", n)
	}
	// The value is in no log line, page, Slack message or follow-up.
	var slackText strings.Builder
	for _, m := range e.sim.Channel(incidents) {
		slackText.WriteString(m.Text + string(m.Blocks))
	}
	for _, r := range e.sim.Responses() {
		b, _ := json.Marshal(r)
		slackText.Write(b)
	}
	for where, text := range map[string]string{"log": e.logs.all(), "answer": answer, "page": page + done, "slack": slackText.String()} {
		if strings.Contains(text, value) {
			t.Errorf("the value appears in the %s", where)
		}
	}
	if !e.secrets.Contains([]byte(value)) {
		t.Error("the value was not registered for masking")
	}
}

func TestOneTimeFormRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantIn     string
	}{
		{name: "empty value", form: url.Values{"key": {"  "}}, wantStatus: http.StatusBadRequest, wantIn: "Nothing was given for key"},
		{name: "other field only", form: url.Values{"project": {"proj_1"}}, wantStatus: http.StatusBadRequest, wantIn: "Nothing was given for key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvConfig(t, nil, configYAML, func(o *slackserver.Options) { o.PublicURL = publicURL })
			path, _ := askForm(t, e)
			if status, page := e.submit(path, tt.form); status != tt.wantStatus || !strings.Contains(page, tt.wantIn) {
				t.Errorf("submit %d, want %d with %q:\n%s", status, tt.wantStatus, tt.wantIn, page)
			}
			e.server.WaitBackground()
			if got := e.runner.started(); len(got) != 0 {
				t.Errorf("started %+v", got)
			}
		})
	}
	t.Run("expired after ten minutes", func(t *testing.T) {
		t.Parallel()
		e := newEnvConfig(t, nil, configYAML, func(o *slackserver.Options) { o.PublicURL = publicURL })
		path, _ := askForm(t, e)
		e.server.AgeForms(9*time.Minute + 59*time.Second)
		if status, _, _ := e.get(path); status != http.StatusOK {
			t.Errorf("GET at 9m59s answered %d", status)
		}
		e.server.AgeForms(time.Second)
		if status, page := e.submit(path, url.Values{"key": {"key_abc123"}}); status != http.StatusNotFound || !strings.Contains(page, "expired") {
			t.Errorf("submit at 10m answered %d:\n%s", status, page)
		}
		e.server.WaitBackground()
		if got := e.runner.started(); len(got) != 0 {
			t.Errorf("started %+v", got)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		t.Parallel()
		e := newEnvConfig(t, nil, configYAML, func(o *slackserver.Options) { o.PublicURL = publicURL })
		if status, _, _ := e.get("/form/" + strings.Repeat("A", 43)); status != http.StatusNotFound {
			t.Errorf("GET of an unknown token answered %d", status)
		}
	})
	t.Run("racing submissions start one run", func(t *testing.T) {
		t.Parallel()
		e := newEnvConfig(t, nil, configYAML, func(o *slackserver.Options) { o.PublicURL = publicURL })
		path, _ := askForm(t, e)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.submit(path, url.Values{"key": {"key_abc123"}})
			}()
		}
		wg.Wait()
		e.server.WaitBackground()
		if n := len(e.runner.started()); n != 1 {
			t.Errorf("%d runs started, want 1", n)
		}
	})
	t.Run("without a public URL", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		_, body, _ := e.post("/slack/commands", e.commandForm(alice, incidents, "run openai-key-leak"), signing{})
		if !strings.Contains(body, "Missing required secret input") || strings.Contains(body, "/form/") {
			t.Errorf("answer %s", body)
		}
	})
}

// A POST to a link nobody was given registers nothing for masking: a stranger must not be able
// to add words (say "the") to the set every output of the server is masked with.
func TestFormWithoutALiveTokenRegistersNothing(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, nil, configYAML, func(o *slackserver.Options) { o.PublicURL = publicURL })
	path, _ := askForm(t, e)
	word := fakekey.Random().ID("incident-", 12)
	if status, _ := e.submit("/form/"+strings.Repeat("A", 43), url.Values{"key": {word}}); status != http.StatusNotFound {
		t.Errorf("unknown token answered %d, want 404", status)
	}
	// A field the form did not ask for is not registered either.
	if status, _ := e.submit(path, url.Values{"key": {fakekey.Random().OpenAIProjectKey()}, "note": {word}}); status != http.StatusOK {
		t.Errorf("submit answered %d", status)
	}
	e.server.WaitBackground()
	if e.secrets.Contains([]byte(word)) {
		t.Error("a value posted without a live token, or in a field not asked for, was registered for masking")
	}
}
