package slack

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	slackgo "github.com/slack-go/slack"

	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/strictjson"
)

// The contract: every answer slacksim sends decodes strictly (no unknown field) into the
// slack-go v0.35 types the client decodes it into (the exported equivalents of slack-go's private
// response structs), and carries the fields the method's page on api.slack.com shows. Fields
// Slack really sends that slack-go lacks are allowed by name, each with its source.

// chatResponse mirrors slack-go's chatResponseFull (chat.go), which is not exported.
type chatResponse struct {
	Channel            string          `json:"channel"`
	Timestamp          string          `json:"ts"`
	MessageTimeStamp   string          `json:"message_ts"`
	ScheduledMessageID string          `json:"scheduled_message_id,omitempty"`
	Text               string          `json:"text"`
	Message            slackgo.Message `json:"message"`
	slackgo.SlackResponse
}

type slackContract struct {
	decode   func() any
	allow    []string
	required []string
}

// channelAllow: the documented conversation object carries "updated" and "parent_conversation"
// (docs.slack.dev/reference/objects/conversation-object, conversations.info example); slack-go's
// Channel lacks them.
func channelAllow(p string) []string { return []string{p + "updated", p + "parent_conversation"} }

var slackContracts = map[string]slackContract{
	slacksim.MethodAuthTest: {decode: func() any {
		return new(struct {
			slackgo.SlackResponse
			slackgo.AuthTestResponse
		})
	}, required: []string{"ok", "url", "team", "user", "team_id", "user_id", "bot_id"}},
	slacksim.MethodPostMessage: {decode: func() any { return new(chatResponse) },
		required: []string{"ok", "channel", "ts", "message.ts", "message.text", "message.type"}},
	slacksim.MethodUpdate: {decode: func() any { return new(chatResponse) },
		required: []string{"ok", "channel", "ts", "text", "message.text"}},
	slacksim.MethodPostEphemeral: {decode: func() any { return new(chatResponse) }, required: []string{"ok", "message_ts"}},
	slacksim.MethodUsersInfo: {decode: func() any {
		return new(struct {
			User slackgo.User `json:"user"`
			slackgo.SlackResponse
		})
	}, required: []string{"ok", "user.id", "user.name", "user.profile"}},
	slacksim.MethodConvInfo: {decode: func() any {
		return new(struct {
			Channel slackgo.Channel `json:"channel"`
			slackgo.SlackResponse
		})
	}, required: []string{"ok", "channel.id", "channel.name", "channel.is_private", "channel.is_member"}, allow: channelAllow("channel.")},
	slacksim.MethodConvJoin: {decode: func() any {
		return new(struct {
			Channel slackgo.Channel `json:"channel"`
			slackgo.SlackResponse
		})
	}, required: []string{"ok", "channel.id", "channel.is_member"}, allow: channelAllow("channel.")},
	slacksim.MethodConvList: {decode: func() any {
		return new(struct {
			Channels []slackgo.Channel `json:"channels"`
			slackgo.SlackResponse
		})
	}, required: []string{"ok", "channels", "response_metadata.next_cursor"}, allow: channelAllow("channels[].")},
	slacksim.MethodResponseURL: {decode: func() any { return new(slackgo.SlackResponse) }, required: []string{"ok"}},
}

// errorContract is every ok:false answer.
var slackErrorContract = slackContract{decode: func() any { return new(slackgo.SlackResponse) }, required: []string{"ok", "error"}}

type slackExchange struct {
	method string
	status int
	ctype  string
	body   []byte
}

type slackRecorder struct {
	next http.Handler
	mu   sync.Mutex
	got  []slackExchange
}

type slackCapture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *slackCapture) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }
func (c *slackCapture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

func (r *slackRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	cw := &slackCapture{ResponseWriter: w}
	r.next.ServeHTTP(cw, req)
	method := strings.TrimPrefix(strings.TrimPrefix(req.URL.Path, "/"), "api/")
	if strings.HasPrefix(method, "response/") {
		method = slacksim.MethodResponseURL
	}
	r.mu.Lock()
	r.got = append(r.got, slackExchange{method: method, status: cw.status, ctype: cw.Header().Get("Content-Type"), body: cw.body.Bytes()})
	r.mu.Unlock()
}

func TestSimulatorAnswersDecodeStrictlyIntoSlackGoTypes(t *testing.T) {
	t.Parallel()
	tok := fakekey.New(41).SlackBotToken()
	sim := slacksim.New(slacksim.Config{Token: tok,
		Channels: []slacksim.Channel{{ID: "C0INCIDENT", Name: "security-incidents"}, {ID: "C0OUTSIDE", Name: "sec", WithoutBot: true},
			{ID: "G0HIDDEN", Name: "hidden", Private: true, WithoutBot: true}},
		Users: []slacksim.User{{ID: "U0ALICE", Name: "alice", RealName: "Alice", DisplayName: "ali"}}})
	rec := &slackRecorder{next: sim}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	sim.SetBaseURL(srv.URL)
	c, err := New(Config{Token: tok, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err = c.Identify(ctx)
	must("auth.test", err)
	p, err := c.PostMessage(ctx, "#security-incidents", Message{Text: "run started", Blocks: []Block{
		slackgo.NewSectionBlock(slackgo.NewTextBlockObject(slackgo.MarkdownType, "*run*", false, false), nil, nil)}})
	must("post", err)
	_, err = c.Post(ctx, p.Channel, Message{Text: "a reply", ThreadTS: p.TS})
	must("reply", err)
	must("update", c.Update(ctx, p.Channel, p.TS, Message{Text: "run finished"}))
	must("ephemeral", c.PostEphemeral(ctx, p.Channel, "U0ALICE", Message{Text: "only you"}))
	_, err = c.UserName(ctx, "U0ALICE")
	must("users.info", err)
	_, err = c.CheckMembership(ctx, "C0INCIDENT", false)
	must("conversations.info", err)
	_, err = c.CheckMembership(ctx, "#sec", true)
	must("conversations.list + join", err)
	must("response_url", c.Respond(ctx, sim.NewResponseURL("C0INCIDENT", "U0ALICE", ""), Message{Text: "ok"}, true, false))
	// Refusals.
	_, _ = c.PostMessage(ctx, "#hidden", Message{Text: "x"})      // channel_not_found
	_, _, _, _ = c.api.JoinConversationContext(ctx, "C0INCIDENT") // already_in_channel warning
	_, _ = c.UserName(ctx, "U0NOBODY")                            // user_not_found
	wrong, _ := New(Config{Token: "xoxb-wrong", APIURL: sim.APIURL()})
	_ = wrong.AuthTest(ctx) // invalid_auth

	seen := map[string]bool{}
	errs := map[string]bool{}
	for _, x := range rec.got {
		if !strings.HasPrefix(x.ctype, "application/json") {
			t.Errorf("%s answered %s, not JSON", x.method, x.ctype)
			continue
		}
		var head struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		_ = json.Unmarshal(x.body, &head)
		k, ok := slackContracts[x.method]
		switch {
		case !head.OK:
			k = slackErrorContract
			errs[head.Error] = true
		case !ok:
			t.Errorf("%s: an answer with no contract", x.method)
			continue
		default:
			seen[x.method] = true
		}
		if err := strictjson.Check(x.body, k.decode(), k.required, k.allow); err != nil {
			t.Errorf("%s → %d: %v\n%s", x.method, x.status, err, x.body)
		}
	}
	var missing []string
	for m := range slackContracts {
		if !seen[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("methods never exercised: %v", missing)
	}
	for _, code := range []string{"channel_not_found", "user_not_found", "invalid_auth"} {
		if !errs[code] {
			t.Errorf("no %s answer was checked", code)
		}
	}
}

func TestMissingScopeAnswerDecodesStrictly(t *testing.T) {
	t.Parallel()
	tok := fakekey.New(42).SlackBotToken()
	sim := slacksim.New(slacksim.Config{Token: tok, Scopes: []string{"channels:read"},
		Channels: []slacksim.Channel{{ID: "C0INCIDENT", Name: "security-incidents"}}})
	rec := &slackRecorder{next: sim}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	sim.SetBaseURL(srv.URL)
	c, _ := New(Config{Token: tok, APIURL: sim.APIURL()})
	_, _ = c.PostMessage(t.Context(), "C0INCIDENT", Message{Text: "x"})
	if len(rec.got) != 1 {
		t.Fatalf("%d answers", len(rec.got))
	}
	k := slackErrorContract
	k.required = append(k.required, "needed", "provided")
	if err := strictjson.Check(rec.got[0].body, k.decode(), k.required, k.allow); err != nil {
		t.Errorf("missing_scope: %v\n%s", err, rec.got[0].body)
	}
}
