package slackserver_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/slackserver"
)

// acks records Socket Mode acknowledgements.
type acks struct {
	mu   sync.Mutex
	list []ack
}

type ack struct {
	envelope string
	payload  []any
}

func (a *acks) Ack(req socketmode.Request, payload ...any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, ack{req.EnvelopeID, payload})
	return nil
}

func (a *acks) all() []ack {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ack(nil), a.list...)
}

func slashEvent(e *env, envelope, user, text string) socketmode.Event {
	return socketmode.Event{Type: socketmode.EventTypeSlashCommand,
		Data: slackgo.SlashCommand{Command: "/respond", Text: text, UserID: user, ChannelID: incidents,
			ResponseURL: e.sim.NewResponseURL(incidents, user, "")},
		Request: &socketmode.Request{Type: socketmode.RequestTypeSlashCommands, EnvelopeID: envelope}}
}

func ackText(t *testing.T, a ack) string {
	t.Helper()
	if len(a.payload) != 1 {
		t.Fatalf("ack %s has no answer", a.envelope)
	}
	b, err := json.Marshal(a.payload[0])
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	if err := json.Unmarshal(b, &r); err != nil || r.ResponseType != "ephemeral" {
		t.Fatalf("ack payload %s", b)
	}
	return r.Text
}

func TestSocketModeCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var got acks
	leaked := fakekey.Random().OpenAIProjectKey()
	for _, evt := range []socketmode.Event{
		{Type: socketmode.EventTypeConnecting},
		{Type: socketmode.EventTypeConnected},
		slashEvent(e, "env-1", alice, "run exec-example ticket=INC-1"),
		slashEvent(e, "env-1", alice, "run exec-example ticket=INC-1"), // redelivered
		slashEvent(e, "env-2", mallory, "run openai-key-leak key=key_abc"),
		slashEvent(e, "env-3", alice, "run openai-key-leak key="+leaked),
		{Type: socketmode.EventTypeSlashCommand, Data: "not a command", Request: &socketmode.Request{EnvelopeID: "env-4"}},
	} {
		e.server.DispatchSocket(evt, &got)
	}
	e.server.WaitBackground()
	list := got.all()
	if len(list) != 5 {
		t.Fatalf("acks %+v, want 5 (connection events are not acknowledged)", list)
	}
	if txt := ackText(t, list[0]); !strings.Contains(txt, "Starting `exec-example`") {
		t.Errorf("env-1 answered %q", txt)
	}
	if list[1].envelope != "env-1" || len(list[1].payload) != 0 {
		t.Errorf("redelivery acked with %+v, want a bare ack", list[1])
	}
	if txt := ackText(t, list[2]); !strings.Contains(txt, "not allowed") {
		t.Errorf("env-2 answered %q", txt)
	}
	if txt := ackText(t, list[3]); !strings.Contains(txt, "looks like a secret") || strings.Contains(txt, leaked) {
		t.Errorf("env-3 answered %q", txt)
	}
	if list[4].envelope != "env-4" {
		t.Errorf("malformed event not acknowledged: %+v", list[4])
	}
	if reqs := e.runner.started(); len(reqs) != 1 || reqs[0].Inputs["ticket"] != "INC-1" {
		t.Errorf("started %+v, want the one allowed run", reqs)
	}
}

func TestSocketModeApproval(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := ask(t, e, t.Context(), nil)
	var cb slackgo.InteractionCallback
	form := pressForm(e, bob, true, "run-1", "purge", a.msgTS, e.sim.NewResponseURL(incidents, bob, a.msgTS))
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		t.Fatal(err)
	}
	var got acks
	e.server.DispatchSocket(socketmode.Event{Type: socketmode.EventTypeInteractive, Data: cb,
		Request: &socketmode.Request{Type: socketmode.RequestTypeInteractive, EnvelopeID: "env-9"}}, &got)
	if r := <-a.result; r.err != nil || !r.d.Approved || r.d.By != bob {
		t.Fatalf("decision %+v, %v", r.d, r.err)
	}
	if list := got.all(); len(list) != 1 || len(list[0].payload) != 0 {
		t.Errorf("acks %+v, want one bare ack", list)
	}
}

func TestNewSocketModeClient(t *testing.T) {
	t.Parallel()
	if _, err := slackserver.NewSocketModeClient(fakekey.Random().SlackBotToken(), "not-an-app-token", ""); err == nil {
		t.Error("accepted a non-xapp token")
	}
	if _, err := slackserver.NewSocketModeClient(fakekey.Random().SlackBotToken(), "xapp-1-A0-1-"+fakekey.Random().Hex(16), "http://127.0.0.1:1/api"); err != nil {
		t.Error(err)
	}
}
