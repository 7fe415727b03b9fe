package slack

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	slackgo "github.com/slack-go/slack"
)

// Identity is who the bot token belongs to and what it may do (auth.test).
type Identity struct {
	User, UserID, Team, TeamID, BotID string
	// Scopes are the token's OAuth scopes from the X-OAuth-Scopes header Slack sends with every
	// Web API answer; nil when the header is absent (then nothing can be said about scopes).
	Scopes []string
}

// HasScope reports whether the token has scope; false when Scopes is unknown.
func (id Identity) HasScope(scope string) bool { return slices.Contains(id.Scopes, scope) }

// Identify is AuthTest that also returns the bot's identity and scopes.
func (c *Client) Identify(ctx context.Context) (Identity, error) {
	r, err := c.api.AuthTestContext(ctx)
	if err != nil {
		return Identity{}, fmt.Errorf("check slack token: %w", classify(ctx, "auth.test", err))
	}
	id := Identity{User: r.User, UserID: r.UserID, Team: r.Team, TeamID: r.TeamID, BotID: r.BotID}
	if r.Header != nil {
		if h, ok := r.Header["X-Oauth-Scopes"]; ok {
			id.Scopes = []string{}
			for _, part := range h {
				for _, sc := range strings.Split(part, ",") {
					if sc = strings.TrimSpace(sc); sc != "" {
						id.Scopes = append(id.Scopes, sc)
					}
				}
			}
		}
	}
	return id, nil
}

// Membership is the bot's standing in one channel.
type Membership struct {
	// Channel is the channel as given (an ID or "#name").
	Channel string
	// ID is the channel's ID, or "" when the bot cannot see it: it does not exist, or it is a
	// private channel the bot is not in (Slack does not say which).
	ID      string
	Name    string
	Private bool
	// Member is true when the bot is in the channel (after Joined, too).
	Member bool
	// Joined is true when this check joined the public channel (conversations.join).
	Joined bool
	// Bot is the bot's user name, for the /invite command a person types.
	Bot string
}

// Fix says, in words a person can act on, how to let the bot post; "" when it can.
func (m Membership) Fix() string {
	if m.Member {
		return ""
	}
	name := m.Name
	if name == "" {
		name = strings.TrimPrefix(m.Channel, "#")
	}
	invite := fmt.Sprintf("type `/invite @%s` in #%s", m.Bot, name)
	switch {
	case m.ID == "":
		return invite + " (the channel does not exist, or it is private and the bot is not in it; " +
			"create it first if it does not exist)"
	case m.Private:
		return invite + " (a private channel: only an invitation lets the bot in)"
	}
	return invite + ", or add the channels:join scope to the Slack app so respond joins it itself"
}

// channelID matches Slack conversation IDs (public C…, private G… or C…, DMs D…).
var channelID = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

// CheckMembership finds out whether the bot may post to channel (an ID or "#name") and, when
// join is set and the channel is public, joins it (conversations.join, scope channels:join). It
// only reads otherwise: auth.test, then conversations.info for an ID or conversations.list
// (channels:read, groups:read) for a name. The error matches ErrNotInChannel, and says how to
// invite the bot, when the bot is not (or cannot be made) a member; other errors are the calls'
// own (a missing read scope matches ErrUnauthorized).
func (c *Client) CheckMembership(ctx context.Context, channel string, join bool) (Membership, error) {
	m := Membership{Channel: channel}
	id, err := c.Identify(ctx)
	if err != nil {
		return m, err
	}
	m.Bot = id.User
	ch, err := c.findChannel(ctx, channel)
	if err != nil {
		return m, err
	}
	if ch != nil {
		m.ID, m.Name, m.Private, m.Member = ch.ID, ch.Name, ch.IsPrivate, ch.IsMember
		c.remember(channel, ch.ID)
	}
	if m.Member {
		return m, nil
	}
	if join && m.ID != "" && !m.Private {
		_, _, _, err := c.api.JoinConversationContext(ctx, m.ID)
		if err == nil {
			m.Member, m.Joined = true, true
			return m, nil
		}
		e := classify(ctx, "conversations.join", err)
		if e.Code != "missing_scope" {
			return m, fmt.Errorf("join slack channel %s: %w", channel, e)
		}
		return m, fmt.Errorf("%w: %s (joining needs the channels:join scope: %w)", ErrNotInChannel, m.Fix(), e)
	}
	return m, fmt.Errorf("%w: %s", ErrNotInChannel, m.Fix())
}

// findChannel returns the channel the bot sees under channel, or nil when it sees none.
func (c *Client) findChannel(ctx context.Context, channel string) (*slackgo.Channel, error) {
	if channelID.MatchString(channel) {
		ch, err := c.api.GetConversationInfoContext(ctx, &slackgo.GetConversationInfoInput{ChannelID: channel})
		if err == nil {
			return ch, nil
		}
		e := classify(ctx, "conversations.info", err)
		if e.Code == "channel_not_found" {
			return nil, nil
		}
		return nil, fmt.Errorf("look up slack channel %s: %w", channel, e)
	}
	name := strings.ToLower(strings.TrimPrefix(channel, "#"))
	params := &slackgo.GetConversationsParameters{
		Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: 1000,
	}
	for {
		chans, next, err := c.api.GetConversationsContext(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("look up slack channel %s: %w", channel, classify(ctx, "conversations.list", err))
		}
		for i := range chans {
			if strings.ToLower(chans[i].Name) == name {
				return &chans[i], nil
			}
		}
		if next == "" {
			return nil, nil
		}
		if next == params.Cursor {
			return nil, errors.New("look up slack channel " + channel + ": conversations.list repeated its cursor")
		}
		params.Cursor = next
	}
}
