// Package slacksim is an in-memory Slack workspace that speaks the Web API's wire format for the
// methods respond uses (chat.postMessage, chat.update, chat.postEphemeral, users.info, auth.test,
// conversations.info/list/join) and serves response_url webhooks. Like Slack it enforces the bot
// token's scopes (missing_scope, with X-OAuth-Scopes on every answer) and channel membership
// (not_in_channel, channel_not_found for a private channel the bot is not in). It records what a person in the workspace would see, with
// threads and edit history, so tests and `respond rehearse` can assert on it and print it, and it
// injects the faults Slack produces in practice (429 with Retry-After, 5xx, latency, dropped
// connections).
//
// Wire format, as slack-go sends it: Web API calls are POSTs with an
// application/x-www-form-urlencoded body carrying the token (a Bearer header is accepted too) and
// blocks as a JSON string in the field "blocks"; answers are JSON with "ok". response_url posts are
// JSON bodies without a token. JSON-bodied Web API calls are not supported (slack-go does not send
// them for these methods).
//
// Where Slack's behaviour is not documented the sim makes a choice and says so: a reply to an
// unknown thread_ts is posted un-threaded; a response_url is refused with HTTP 404 after five
// uses (Slack documents five uses in 30 minutes, not the refusal's form).
package slacksim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	pathpkg "path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for Config fields left empty.
const (
	DefaultBotUserID = "U0BOT0001"
	DefaultBotID     = "B0BOT0001"
	DefaultBotName   = "respond"
	DefaultTeamID    = "T0SIM0001"
	DefaultTeam      = "respond-sim"
)

// DefaultScopes are the bot scopes respond's Slack app manifest asks for.
var DefaultScopes = []string{"chat:write", "channels:read", "groups:read", "channels:join", "users:read", "commands"}

// defaultStart is the clock's start: message ts values begin at 1700000000.000100.
var defaultStart = time.Unix(1_700_000_000, 0)

// Config seeds the workspace. The yaml tags let a rehearsal world file describe it.
type Config struct {
	// Token is the bot token every Web API call must carry. Empty accepts any non-empty token.
	Token     string    `yaml:"token"`
	BotUserID string    `yaml:"bot_user_id"`
	BotID     string    `yaml:"bot_id"`
	BotName   string    `yaml:"bot_name"`
	TeamID    string    `yaml:"team_id"`
	Team      string    `yaml:"team"`
	Channels  []Channel `yaml:"channels"`
	Users     []User    `yaml:"users"`
	// Scopes are the bot token's OAuth scopes, sent in X-OAuth-Scopes and enforced per method
	// (missing_scope). Nil means DefaultScopes.
	Scopes []string `yaml:"scopes"`
	// Seed makes FailRate's choices repeatable.
	Seed uint64 `yaml:"seed"`
	// Start is the time of the first ts (default 2023-11-14T22:13:20Z, ts 1700000000.000100).
	Start time.Time `yaml:"start"`
}

// Channel is a conversation messages can be posted to. A leading "#" on Name is dropped.
//
// The bot is a member of every channel unless WithoutBot is set. As on Slack, a bot that is not a
// member gets not_in_channel when it posts to a public channel (unless it has chat:write.public)
// and channel_not_found for a private one, which it cannot see at all; conversations.join lets it
// into a public channel only.
type Channel struct {
	ID         string `json:"id" yaml:"id"`
	Name       string `json:"name" yaml:"name"`
	Private    bool   `json:"private,omitempty" yaml:"private"`
	WithoutBot bool   `json:"without_bot,omitempty" yaml:"without_bot"`
}

// User is a member of the workspace, for users.info, ephemerals and mentions.
type User struct {
	ID          string `json:"id" yaml:"id"`
	Name        string `json:"name" yaml:"name"`
	RealName    string `json:"real_name,omitempty" yaml:"real_name"`
	DisplayName string `json:"display_name,omitempty" yaml:"display_name"`
}

// Message is a channel message in its current state. Blocks are the JSON Slack received.
type Message struct {
	Channel   string          `json:"channel"`
	TS        string          `json:"ts"`
	ThreadTS  string          `json:"thread_ts,omitempty"`
	User      string          `json:"user"`
	Text      string          `json:"text"`
	Blocks    json.RawMessage `json:"blocks,omitempty"`
	Broadcast bool            `json:"reply_broadcast,omitempty"`
	Deleted   bool            `json:"deleted,omitempty"`
	// Via is how it was posted: "chat.postMessage" or "response_url".
	Via string `json:"via"`
	// History holds the earlier versions, oldest first: one per edit.
	History []Revision `json:"history,omitempty"`
}

// Revision is an earlier version of an edited message.
type Revision struct {
	Text   string          `json:"text"`
	Blocks json.RawMessage `json:"blocks,omitempty"`
	// By is what replaced it: "chat.update" or "response_url".
	By string `json:"by"`
}

// Ephemeral is a message only User sees.
type Ephemeral struct {
	Channel  string          `json:"channel"`
	User     string          `json:"user"`
	TS       string          `json:"ts"`
	ThreadTS string          `json:"thread_ts,omitempty"`
	Text     string          `json:"text"`
	Blocks   json.RawMessage `json:"blocks,omitempty"`
	Deleted  bool            `json:"deleted,omitempty"`
	Via      string          `json:"via"`
	History  []Revision      `json:"history,omitempty"`
}

// Response is one post to a response_url, as received.
type Response struct {
	// ID is the URL's last path segment; Channel, User and MessageTS are what it was issued for.
	ID              string          `json:"id"`
	Channel         string          `json:"channel"`
	User            string          `json:"user"`
	MessageTS       string          `json:"message_ts,omitempty"`
	ResponseType    string          `json:"response_type,omitempty"`
	ReplaceOriginal bool            `json:"replace_original,omitempty"`
	DeleteOriginal  bool            `json:"delete_original,omitempty"`
	ThreadTS        string          `json:"thread_ts,omitempty"`
	Text            string          `json:"text,omitempty"`
	Blocks          json.RawMessage `json:"blocks,omitempty"`
}

// Call is one request the sim answered.
type Call struct {
	Method string `json:"method"`
	// Status is the HTTP status sent (0 for a dropped connection).
	Status int `json:"status"`
	// Error is Slack's error code for an ok:false answer, or "".
	Error string `json:"error,omitempty"`
	// Fault says the answer was an injected fault.
	Fault bool `json:"fault,omitempty"`
	// Auth is where the token was: "form" (as slack-go sends it), "query", "bearer", or "" (none,
	// as for response_url).
	Auth string `json:"auth,omitempty"`
}

// Sim is the simulated workspace; it is an http.Handler and safe for concurrent use.
type Sim struct {
	mu       sync.Mutex
	cfg      Config
	base     string
	clock    int64 // microseconds of the last ts handed out
	chByID   map[string]*Channel
	chByName map[string]*Channel
	channels []*Channel
	users    map[string]User
	msgs     []*Message // every channel message, in ts order
	byKey    map[string]*Message
	eph      []*Ephemeral
	resps    []Response
	targets  map[string]*target
	calls    []Call
	faults   *faults
}

// target is what a response_url was issued for and what it last posted.
type target struct {
	channel, user, messageTS string
	uses                     int
	lastMsg                  *Message
	lastEph                  *Ephemeral
}

// New returns a workspace seeded from cfg.
func New(cfg Config) *Sim {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.BotUserID, DefaultBotUserID)
	def(&cfg.BotID, DefaultBotID)
	def(&cfg.BotName, DefaultBotName)
	def(&cfg.TeamID, DefaultTeamID)
	def(&cfg.Team, DefaultTeam)
	if cfg.Start.IsZero() {
		cfg.Start = defaultStart
	}
	if cfg.Scopes == nil {
		cfg.Scopes = DefaultScopes
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	s := &Sim{
		cfg:      cfg,
		clock:    cfg.Start.UnixMicro(),
		chByID:   map[string]*Channel{},
		chByName: map[string]*Channel{},
		users:    map[string]User{},
		byKey:    map[string]*Message{},
		targets:  map[string]*target{},
		faults:   newFaults(cfg.Seed),
	}
	for _, c := range cfg.Channels {
		c.Name = strings.TrimPrefix(c.Name, "#")
		s.channels = append(s.channels, &c)
		s.chByID[c.ID] = &c
		s.chByName[c.Name] = &c
	}
	for _, u := range cfg.Users {
		s.users[u.ID] = u
	}
	s.users[cfg.BotUserID] = User{ID: cfg.BotUserID, Name: cfg.BotName, RealName: cfg.BotName}
	return s
}

// NewServer starts the sim on a 127.0.0.1 httptest server and tells it its own URL (needed for
// response URLs). The caller closes the server.
func NewServer(cfg Config) (*Sim, *httptest.Server) {
	s := New(cfg)
	srv := httptest.NewServer(s)
	s.SetBaseURL(srv.URL)
	return s, srv
}

// SetBaseURL tells the sim the URL it is served at, for the response URLs it hands out.
func (s *Sim) SetBaseURL(u string) {
	s.mu.Lock()
	s.base = strings.TrimSuffix(u, "/")
	s.mu.Unlock()
}

// APIURL is the Web API base to give a client (slack.OptionAPIURL): the base URL + "/api/".
func (s *Sim) APIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base + "/api/"
}

// NewResponseURL issues a response_url as Slack puts in a slash command (messageTS "") or a
// button press (messageTS of the message carrying the button) by user in channel (ID or name).
func (s *Sim) NewResponseURL(channel, user, messageTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("R%04d", len(s.targets)+1)
	ch := channel
	if c := s.lookupChannel(channel); c != nil {
		ch = c.ID
	}
	s.targets[id] = &target{channel: ch, user: user, messageTS: messageTS}
	return s.base + "/response/" + id
}

// ServeHTTP answers /api/<method>, /<method> and /response/<id>.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(pathpkg.Clean("/"+r.URL.Path), "/")
	var method, respID string
	switch {
	case strings.HasPrefix(path, "response/"):
		method, respID = MethodResponseURL, strings.TrimPrefix(path, "response/")
	default:
		method = strings.TrimPrefix(path, "api/")
	}

	f := s.faults.pick(method)
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f.Drop {
		s.record(Call{Method: method, Fault: true})
		// net/http closes the connection without an answer on this panic, and does not log it.
		panic(http.ErrAbortHandler)
	}
	if f.Status != 0 {
		s.record(Call{Method: method, Status: f.Status, Fault: true, Error: faultCode(f.Status)})
		writeFault(w, f)
		return
	}

	if method == MethodResponseURL {
		s.serveResponseURL(w, r, respID)
		return
	}
	s.serveAPI(w, r, method)
}

func faultCode(status int) string {
	if status == http.StatusTooManyRequests {
		return "ratelimited"
	}
	return ""
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.Status == http.StatusTooManyRequests {
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(f.RetryAfter.Seconds())), 10))
		}
		writeJSON(w, f.Status, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	// Slack's 5xx bodies are HTML, which clients must not try to parse as JSON.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(f.Status)
	fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", f.Status, http.StatusText(f.Status))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Sim) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// nextTS hands out the next message timestamp: unique and increasing, 100µs apart.
func (s *Sim) nextTS() string {
	s.clock += 100
	return fmt.Sprintf("%d.%06d", s.clock/1_000_000, s.clock%1_000_000)
}

func (s *Sim) lookupChannel(nameOrID string) *Channel {
	if c, ok := s.chByID[nameOrID]; ok {
		return c
	}
	return s.chByName[strings.TrimPrefix(nameOrID, "#")]
}

func key(channel, ts string) string { return channel + "/" + ts }

func (s *Sim) addMessage(m *Message) {
	s.msgs = append(s.msgs, m)
	s.byKey[key(m.Channel, m.TS)] = m
}

// Channel returns the messages a person sees in the channel (ID or name): top-level messages and
// replies also sent to the channel, in their current state, oldest first.
func (s *Sim) Channel(nameOrID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupChannel(nameOrID)
	if c == nil {
		return nil
	}
	var out []Message
	for _, m := range s.msgs {
		if m.Channel == c.ID && !m.Deleted && (m.ThreadTS == "" || m.Broadcast) {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Thread returns the replies to the message ts in channel (ID or name), oldest first, without
// the parent.
func (s *Sim) Thread(nameOrID, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupChannel(nameOrID)
	if c == nil {
		return nil
	}
	var out []Message
	for _, m := range s.msgs {
		if m.Channel == c.ID && m.ThreadTS == ts && !m.Deleted {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Lookup returns the message ts in channel (ID or name), deleted or not.
func (s *Sim) Lookup(nameOrID, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupChannel(nameOrID)
	if c == nil {
		return Message{}, false
	}
	m, ok := s.byKey[key(c.ID, ts)]
	if !ok {
		return Message{}, false
	}
	return copyMessage(m), true
}

// Ephemerals returns every ephemeral message in the order posted, in its current state.
func (s *Sim) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ephemeral, 0, len(s.eph))
	for _, e := range s.eph {
		c := *e
		c.History = append([]Revision(nil), e.History...)
		out = append(out, c)
	}
	return out
}

// Responses returns every post to a response_url, in order.
func (s *Sim) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.resps...)
}

// Calls returns every request answered, in order, faults included.
func (s *Sim) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func copyMessage(m *Message) Message {
	c := *m
	c.History = append([]Revision(nil), m.History...)
	return c
}

// Snapshot is the workspace's state as indented JSON: channels (sorted by ID) with every message
// including replies, deleted ones and edit history; ephemerals; response_url posts. The same
// sequence of requests always gives the same bytes.
func (s *Sim) Snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	type chanState struct {
		Channel
		Messages []Message `json:"messages"`
	}
	state := struct {
		Channels   []chanState `json:"channels"`
		Ephemerals []Ephemeral `json:"ephemerals"`
		Responses  []Response  `json:"responses"`
	}{Ephemerals: []Ephemeral{}, Responses: []Response{}}
	chans := append([]*Channel(nil), s.channels...)
	sort.Slice(chans, func(i, j int) bool { return chans[i].ID < chans[j].ID })
	for _, c := range chans {
		cs := chanState{Channel: *c, Messages: []Message{}}
		for _, m := range s.msgs {
			if m.Channel == c.ID {
				cs.Messages = append(cs.Messages, copyMessage(m))
			}
		}
		state.Channels = append(state.Channels, cs)
	}
	for _, e := range s.eph {
		state.Ephemerals = append(state.Ephemerals, *e)
	}
	state.Responses = append(state.Responses, s.resps...)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // snapshots are read by people: keep < > & in text as they are
	enc.SetIndent("", "  ")
	if err := enc.Encode(state); err != nil {
		// Every field is a plain value or JSON that was already validated on the way in.
		panic(fmt.Sprintf("slacksim: snapshot: %v", err))
	}
	return b.Bytes()
}

// Method names the sim answers (and faults can target).
const (
	MethodPostMessage   = "chat.postMessage"
	MethodUpdate        = "chat.update"
	MethodPostEphemeral = "chat.postEphemeral"
	MethodUsersInfo     = "users.info"
	MethodAuthTest      = "auth.test"
	MethodConvInfo      = "conversations.info"
	MethodConvList      = "conversations.list"
	MethodConvJoin      = "conversations.join"
	MethodResponseURL   = "response_url"
	// AnyMethod makes a fault or latency apply to every method.
	AnyMethod = "*"
)
