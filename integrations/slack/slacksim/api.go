package slacksim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

const maxBody = 1 << 20

// answer is a computed reply, written after the state lock is released.
type answer struct {
	status int
	body   map[string]any
}

func okAnswer(fields map[string]any) answer {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ok"] = true
	return answer{status: http.StatusOK, body: fields}
}

// slackErr is an ok:false answer: Slack reports API errors with HTTP 200.
func slackErr(code string) answer {
	return answer{status: http.StatusOK, body: map[string]any{"ok": false, "error": code}}
}

func (a answer) code() string {
	if ok, _ := a.body["ok"].(bool); ok {
		return ""
	}
	c, _ := a.body["error"].(string)
	return c
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request, method string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var a answer
	auth := ""
	if err := r.ParseForm(); err != nil {
		a = slackErr("invalid_form_data")
	} else {
		var tok string
		auth, tok = token(r)
		a = s.handle(method, tok, r.Form)
	}
	s.record(Call{Method: method, Status: a.status, Error: a.code(), Auth: auth})
	if auth != "" && a.code() != "invalid_auth" && a.code() != "not_authed" {
		// Slack tells every authenticated caller what its token may do.
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.cfg.Scopes, ","))
		if need := methodScopes[method]; len(need) > 0 {
			w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(need, ","))
		}
	}
	writeJSON(w, a.status, a.body)
}

// token finds the token where slack-go puts it: the form body, else a Bearer header.
func token(r *http.Request) (where, tok string) {
	if t := r.PostForm.Get("token"); t != "" {
		return "form", t
	}
	if t := r.Form.Get("token"); t != "" {
		return "query", t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && t != "" {
		return "bearer", t
	}
	return "", ""
}

var knownMethods = map[string]bool{
	MethodPostMessage: true, MethodUpdate: true, MethodPostEphemeral: true, MethodUsersInfo: true, MethodAuthTest: true,
	MethodConvInfo: true, MethodConvList: true, MethodConvJoin: true,
}

// methodScopes are the bot scopes each method needs (any one of them), from the "Required scopes"
// of its page on api.slack.com/methods. conversations.info and .list need channels:read for public
// channels and groups:read for private ones; that split is checked per channel.
var methodScopes = map[string][]string{
	MethodPostMessage:   {"chat:write"},
	MethodUpdate:        {"chat:write"},
	MethodPostEphemeral: {"chat:write"},
	MethodUsersInfo:     {"users:read"},
	MethodConvInfo:      {"channels:read", "groups:read"},
	MethodConvList:      {"channels:read", "groups:read"},
	MethodConvJoin:      {"channels:join"},
}

func (s *Sim) hasScope(scope string) bool {
	for _, have := range s.cfg.Scopes {
		if have == scope {
			return true
		}
	}
	return false
}

// missingScope is Slack's answer to a token without the scope a method needs.
func (s *Sim) missingScope(needed string) answer {
	a := slackErr("missing_scope")
	a.body["needed"] = needed
	a.body["provided"] = strings.Join(s.cfg.Scopes, ",")
	return a
}

// postable is the error a bot gets posting to ch, or "".
func (s *Sim) postable(ch *Channel) string {
	switch {
	case !ch.WithoutBot:
		return ""
	case ch.Private:
		return "channel_not_found" // a private channel does not exist for a bot outside it
	case s.hasScope("chat:write.public"):
		return ""
	}
	return "not_in_channel"
}

// visibleChannel is the channel nameOrID names as the bot sees it: nil for an unknown channel and
// for a private one the bot is not in.
func (s *Sim) visibleChannel(nameOrID string) *Channel {
	ch := s.lookupChannel(nameOrID)
	if ch == nil || (ch.Private && ch.WithoutBot) {
		return nil
	}
	return ch
}

func (s *Sim) handle(method, tok string, form url.Values) answer {
	if !knownMethods[method] {
		return slackErr("unknown_method")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case tok == "":
		return slackErr("not_authed")
	case s.cfg.Token != "" && tok != s.cfg.Token:
		return slackErr("invalid_auth")
	}
	if need := methodScopes[method]; len(need) > 0 {
		ok := false
		for _, sc := range need {
			ok = ok || s.hasScope(sc)
		}
		if !ok {
			return s.missingScope(strings.Join(need, ","))
		}
	}
	switch method {
	case MethodConvInfo:
		return s.conversationsInfo(form)
	case MethodConvList:
		return s.conversationsList(form)
	case MethodConvJoin:
		return s.conversationsJoin(form)
	case MethodPostMessage:
		return s.postMessage(form)
	case MethodUpdate:
		return s.update(form)
	case MethodPostEphemeral:
		return s.postEphemeral(form)
	case MethodUsersInfo:
		return s.usersInfo(form)
	case MethodAuthTest:
		return okAnswer(map[string]any{
			"url":     "https://" + s.cfg.Team + ".slack.com/",
			"team":    s.cfg.Team,
			"user":    s.cfg.BotName,
			"team_id": s.cfg.TeamID,
			"user_id": s.cfg.BotUserID,
			"bot_id":  s.cfg.BotID,
		})
	}
	panic("slacksim: method " + method + " is in knownMethods but not handled")
}

func (s *Sim) postMessage(form url.Values) answer {
	ch := s.visibleChannel(form.Get("channel"))
	if ch == nil {
		return slackErr("channel_not_found")
	}
	if code := s.postable(ch); code != "" {
		return slackErr(code)
	}
	blocks, _, code := parseFormBlocks(form)
	if code != "" {
		return slackErr(code)
	}
	text := form.Get("text")
	if text == "" && blocks == nil && form.Get("attachments") == "" {
		return slackErr("no_text")
	}
	m := &Message{
		Channel: ch.ID, TS: s.nextTS(), User: s.cfg.BotUserID,
		Text: text, Blocks: blocks, Via: MethodPostMessage,
	}
	if root := s.threadRoot(ch.ID, form.Get("thread_ts")); root != "" {
		m.ThreadTS = root
		m.Broadcast = form.Get("reply_broadcast") == "true"
	}
	s.addMessage(m)
	return okAnswer(map[string]any{"channel": ch.ID, "ts": m.TS, "message": s.wire(m)})
}

// threadRoot returns the ts of the thread a reply to ts belongs to, or "" when there is no such
// message (the reply is then posted un-threaded). A reply to a reply joins the parent's thread.
func (s *Sim) threadRoot(channel, ts string) string {
	if ts == "" {
		return ""
	}
	m, ok := s.byKey[key(channel, ts)]
	if !ok || m.Deleted {
		return ""
	}
	if m.ThreadTS != "" {
		return m.ThreadTS
	}
	return m.TS
}

func (s *Sim) update(form url.Values) answer {
	// chat.update takes a channel ID only, not a name.
	ch, ok := s.chByID[form.Get("channel")]
	if !ok || s.visibleChannel(ch.ID) == nil {
		return slackErr("channel_not_found")
	}
	if code := s.postable(ch); code != "" {
		return slackErr(code)
	}
	m, ok := s.byKey[key(ch.ID, form.Get("ts"))]
	if !ok || m.Deleted {
		return slackErr("message_not_found")
	}
	blocks, hasBlocks, code := parseFormBlocks(form)
	if code != "" {
		return slackErr(code)
	}
	hasText := form.Has("text")
	text, newBlocks := m.Text, m.Blocks
	if hasText {
		text = form.Get("text")
	}
	if hasBlocks {
		newBlocks = blocks
	}
	if (!hasText && !hasBlocks) || (text == "" && newBlocks == nil) {
		return slackErr("no_text")
	}
	m.History = append(m.History, Revision{Text: m.Text, Blocks: m.Blocks, By: MethodUpdate})
	m.Text, m.Blocks = text, newBlocks
	return okAnswer(map[string]any{"channel": ch.ID, "ts": m.TS, "text": m.Text, "message": s.wire(m)})
}

func (s *Sim) postEphemeral(form url.Values) answer {
	ch := s.visibleChannel(form.Get("channel"))
	if ch == nil {
		return slackErr("channel_not_found")
	}
	if code := s.postable(ch); code != "" {
		return slackErr(code)
	}
	user := form.Get("user")
	if _, ok := s.users[user]; !ok {
		return slackErr("user_not_found")
	}
	blocks, _, code := parseFormBlocks(form)
	if code != "" {
		return slackErr(code)
	}
	text := form.Get("text")
	if text == "" && blocks == nil && form.Get("attachments") == "" {
		return slackErr("no_text")
	}
	e := &Ephemeral{
		Channel: ch.ID, User: user, TS: s.nextTS(), ThreadTS: s.threadRoot(ch.ID, form.Get("thread_ts")),
		Text: text, Blocks: blocks, Via: MethodPostEphemeral,
	}
	s.eph = append(s.eph, e)
	return okAnswer(map[string]any{"message_ts": e.TS})
}

func (s *Sim) usersInfo(form url.Values) answer {
	u, ok := s.users[form.Get("user")]
	if !ok {
		return slackErr("user_not_found")
	}
	return okAnswer(map[string]any{"user": map[string]any{
		"id":        u.ID,
		"team_id":   s.cfg.TeamID,
		"name":      u.Name,
		"real_name": u.RealName,
		"is_bot":    u.ID == s.cfg.BotUserID,
		"profile": map[string]any{
			"real_name":    u.RealName,
			"display_name": u.DisplayName,
		},
	}})
}

// wire is a message as the Web API returns it.
func (s *Sim) wire(m *Message) map[string]any {
	out := map[string]any{
		"type": "message", "user": m.User, "bot_id": s.cfg.BotID, "text": m.Text, "ts": m.TS,
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	return out
}

// parseFormBlocks reads the "blocks" form field (a JSON string). present reports whether the
// field was sent; "[]" is present with nil blocks (it clears a message's blocks).
func parseFormBlocks(form url.Values) (blocks json.RawMessage, present bool, code string) {
	if !form.Has("blocks") {
		return nil, false, ""
	}
	blocks, code = parseBlocks([]byte(form.Get("blocks")))
	return blocks, true, code
}

// parseBlocks checks raw against the Block Kit rules respond can break and returns it compacted,
// or nil for an empty array.
func parseBlocks(raw []byte) (json.RawMessage, string) {
	var bs slack.Blocks
	if err := json.Unmarshal(raw, &bs); err != nil {
		return nil, "invalid_blocks_format"
	}
	if len(bs.BlockSet) == 0 {
		return nil, ""
	}
	if code := validateBlocks(bs.BlockSet); code != "" {
		return nil, code
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, "invalid_blocks_format"
	}
	return json.RawMessage(buf.Bytes()), ""
}

// validateBlocks enforces Slack's documented Block Kit limits, so a message Slack would refuse
// is refused here too rather than passing a rehearsal.
func validateBlocks(blocks []slack.Block) string {
	const bad = "invalid_blocks"
	if len(blocks) > 50 {
		return bad
	}
	runes := utf8.RuneCountInString
	textOK := func(t *slack.TextBlockObject, limit int) bool {
		return t != nil && t.Text != "" && runes(t.Text) <= limit &&
			(t.Type == slack.PlainTextType || t.Type == slack.MarkdownType)
	}
	blockIDs, actionIDs := map[string]bool{}, map[string]bool{}
	unique := func(seen map[string]bool, id string) bool {
		if id == "" {
			return true
		}
		if seen[id] || runes(id) > 255 {
			return false
		}
		seen[id] = true
		return true
	}
	button := func(b *slack.ButtonBlockElement) bool {
		return textOK(b.Text, 75) && b.Text.Type == slack.PlainTextType &&
			runes(b.Value) <= 2000 && unique(actionIDs, b.ActionID)
	}
	for _, b := range blocks {
		if !unique(blockIDs, b.ID()) {
			return bad
		}
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if !textOK(b.Text, 150) || b.Text.Type != slack.PlainTextType {
				return bad
			}
		case *slack.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				return bad
			}
			if b.Text != nil && !textOK(b.Text, 3000) {
				return bad
			}
			if len(b.Fields) > 10 {
				return bad
			}
			for _, f := range b.Fields {
				if !textOK(f, 2000) {
					return bad
				}
			}
			if b.Accessory != nil && b.Accessory.ButtonElement != nil && !button(b.Accessory.ButtonElement) {
				return bad
			}
		case *slack.ContextBlock:
			n := len(b.ContextElements.Elements)
			if n == 0 || n > 10 {
				return bad
			}
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok && !textOK(t, 3000) {
					return bad
				}
			}
		case *slack.ActionBlock:
			if b.Elements == nil || len(b.Elements.ElementSet) == 0 || len(b.Elements.ElementSet) > 25 {
				return bad
			}
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && !button(btn) {
					return bad
				}
			}
		}
	}
	return ""
}

// responsePayload is what slack-go posts to a response_url (WebhookMessage or Msg).
type responsePayload struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// maxResponseUses is how often Slack lets a response_url be used.
const maxResponseUses = 5

func (s *Sim) serveResponseURL(w http.ResponseWriter, r *http.Request, id string) {
	status, code := s.respond(w, r, id)
	s.record(Call{Method: MethodResponseURL, Status: status, Error: code})
	if status == http.StatusOK {
		writeJSON(w, status, map[string]any{"ok": true})
		return
	}
	writeJSON(w, status, map[string]any{"ok": false, "error": code})
}

func (s *Sim) respond(w http.ResponseWriter, r *http.Request, id string) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "method_not_allowed"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return http.StatusBadRequest, "invalid_payload"
	}
	var p responsePayload
	if err := json.Unmarshal(body, &p); err != nil {
		return http.StatusBadRequest, "invalid_payload"
	}
	var blocks json.RawMessage
	if len(p.Blocks) > 0 && string(p.Blocks) != "null" {
		var code string
		if blocks, code = parseBlocks(p.Blocks); code != "" {
			return http.StatusBadRequest, code
		}
	}
	if !p.DeleteOriginal && p.Text == "" && blocks == nil {
		return http.StatusBadRequest, "no_text"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[id]
	if !ok {
		return http.StatusNotFound, "no_such_url"
	}
	if t.uses >= maxResponseUses {
		return http.StatusNotFound, "used_url"
	}
	t.uses++
	s.resps = append(s.resps, Response{
		ID: id, Channel: t.channel, User: t.user, MessageTS: t.messageTS,
		ResponseType: p.ResponseType, ReplaceOriginal: p.ReplaceOriginal, DeleteOriginal: p.DeleteOriginal,
		ThreadTS: p.ThreadTS, Text: p.Text, Blocks: blocks,
	})

	if p.DeleteOriginal || p.ReplaceOriginal {
		msg, eph := s.original(t)
		rev := Revision{By: MethodResponseURL}
		switch {
		case msg != nil && p.DeleteOriginal:
			msg.Deleted = true
			return http.StatusOK, ""
		case eph != nil && p.DeleteOriginal:
			eph.Deleted = true
			return http.StatusOK, ""
		case p.DeleteOriginal:
			return http.StatusOK, "" // nothing left to delete
		case msg != nil:
			rev.Text, rev.Blocks = msg.Text, msg.Blocks
			msg.History = append(msg.History, rev)
			msg.Text, msg.Blocks = p.Text, blocks
			return http.StatusOK, ""
		case eph != nil:
			rev.Text, rev.Blocks = eph.Text, eph.Blocks
			eph.History = append(eph.History, rev)
			eph.Text, eph.Blocks = p.Text, blocks
			return http.StatusOK, ""
		}
		// Nothing to replace: Slack posts it as a new response.
	}

	if p.ResponseType == slack.ResponseTypeInChannel {
		if _, ok := s.chByID[t.channel]; !ok {
			return http.StatusNotFound, "channel_not_found"
		}
		m := &Message{
			Channel: t.channel, TS: s.nextTS(), ThreadTS: s.threadRoot(t.channel, p.ThreadTS),
			User: s.cfg.BotUserID, Text: p.Text, Blocks: blocks, Via: MethodResponseURL,
		}
		s.addMessage(m)
		t.lastMsg, t.lastEph = m, nil
		return http.StatusOK, ""
	}
	e := &Ephemeral{
		Channel: t.channel, User: t.user, TS: s.nextTS(), ThreadTS: s.threadRoot(t.channel, p.ThreadTS),
		Text: p.Text, Blocks: blocks, Via: MethodResponseURL,
	}
	s.eph = append(s.eph, e)
	t.lastMsg, t.lastEph = nil, e
	return http.StatusOK, ""
}

// original is the message a replace_original or delete_original acts on: the one carrying the
// button for an interaction's URL, else the last one this URL posted.
func (s *Sim) original(t *target) (*Message, *Ephemeral) {
	if t.messageTS != "" {
		if m, ok := s.byKey[key(t.channel, t.messageTS)]; ok && !m.Deleted {
			return m, nil
		}
		for _, e := range s.eph {
			if e.Channel == t.channel && e.TS == t.messageTS && !e.Deleted {
				return nil, e
			}
		}
		return nil, nil
	}
	if t.lastMsg != nil && !t.lastMsg.Deleted {
		return t.lastMsg, nil
	}
	if t.lastEph != nil && !t.lastEph.Deleted {
		return nil, t.lastEph
	}
	return nil, nil
}
