package slacksim

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
)

// The conversations.* methods respond uses to check and fix the bot's membership of its channel
// (api.slack.com/methods/conversations.info, .list, .join). All three take channel IDs only.

// conversationScope is the read scope a channel needs: groups:read for private channels.
func conversationScope(ch *Channel) string {
	if ch.Private {
		return "groups:read"
	}
	return "channels:read"
}

func (s *Sim) conversationsInfo(form url.Values) answer {
	ch, ok := s.chByID[form.Get("channel")]
	if !ok || s.visibleChannel(ch.ID) == nil {
		return slackErr("channel_not_found")
	}
	if sc := conversationScope(ch); !s.hasScope(sc) {
		return s.missingScope(sc)
	}
	return okAnswer(map[string]any{"channel": s.channelJSON(ch)})
}

// listCursor encodes the offset of the next page; Slack's cursors are opaque base64 too.
func listCursor(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func (s *Sim) conversationsList(form url.Values) answer {
	types := map[string]bool{}
	for _, t := range strings.Split(form.Get("types"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			types[t] = true
		}
	}
	if len(types) == 0 {
		types["public_channel"] = true
	}
	for t := range types {
		switch t {
		case "public_channel":
			if !s.hasScope("channels:read") {
				return s.missingScope("channels:read")
			}
		case "private_channel":
			if !s.hasScope("groups:read") {
				return s.missingScope("groups:read")
			}
		case "mpim", "im":
			// The sim has no DMs: nothing to list, nothing to refuse.
		default:
			return slackErr("invalid_types")
		}
	}
	limit := 100
	if v := form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return slackErr("invalid_limit")
		}
		limit = min(n, 1000)
	}
	offset := 0
	if c := form.Get("cursor"); c != "" {
		raw, err := base64.StdEncoding.DecodeString(c)
		n, convErr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || convErr != nil || n < 0 {
			return slackErr("invalid_cursor")
		}
		offset = n
	}
	var visible []*Channel
	for _, ch := range s.channels {
		if s.visibleChannel(ch.ID) == nil {
			continue
		}
		if (ch.Private && types["private_channel"]) || (!ch.Private && types["public_channel"]) {
			visible = append(visible, ch)
		}
	}
	page := []map[string]any{}
	end := min(offset+limit, len(visible))
	for _, ch := range visible[min(offset, len(visible)):end] {
		page = append(page, s.channelJSON(ch))
	}
	next := ""
	if end < len(visible) {
		next = listCursor(end)
	}
	return okAnswer(map[string]any{"channels": page, "response_metadata": map[string]any{"next_cursor": next}})
}

func (s *Sim) conversationsJoin(form url.Values) answer {
	ch, ok := s.chByID[form.Get("channel")]
	if !ok || s.visibleChannel(ch.ID) == nil {
		return slackErr("channel_not_found")
	}
	if ch.Private {
		// Documented error for a private channel: only an invitation lets a bot in.
		return slackErr("method_not_supported_for_channel_type")
	}
	fields := map[string]any{}
	if !ch.WithoutBot {
		fields["warning"] = "already_in_channel"
		fields["response_metadata"] = map[string]any{"warnings": []string{"already_in_channel"}}
	}
	ch.WithoutBot = false
	fields["channel"] = s.channelJSON(ch)
	return okAnswer(fields)
}

// channelJSON is a channel object as conversations.info returns it (the example on its docs
// page, with the fields a simulated workspace has values for).
func (s *Sim) channelJSON(ch *Channel) map[string]any {
	created := s.cfg.Start.Unix()
	return map[string]any{
		"id":                    ch.ID,
		"name":                  ch.Name,
		"name_normalized":       ch.Name,
		"is_channel":            true,
		"is_group":              false,
		"is_im":                 false,
		"is_mpim":               false,
		"is_private":            ch.Private,
		"is_archived":           false,
		"is_general":            false,
		"is_shared":             false,
		"is_org_shared":         false,
		"is_ext_shared":         false,
		"is_pending_ext_shared": false,
		"pending_shared":        []string{},
		"shared_team_ids":       []string{s.cfg.TeamID},
		"context_team_id":       s.cfg.TeamID,
		"unlinked":              0,
		"created":               created,
		"updated":               created * 1000,
		"creator":               "U0CREATOR",
		"parent_conversation":   nil,
		"is_member":             !ch.WithoutBot,
		"topic":                 map[string]any{"value": "", "creator": "", "last_set": 0},
		"purpose":               map[string]any{"value": "", "creator": "", "last_set": 0},
		"previous_names":        []string{},
	}
}
