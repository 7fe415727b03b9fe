package slacksim_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
)

func TestConversations(t *testing.T) {
	t.Parallel()
	tok := fakekey.Random().SlackBotToken()
	var chans []slacksim.Channel
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		chans = append(chans, slacksim.Channel{ID: "C0" + n + "AAAAAA", Name: n, WithoutBot: n == "b"})
	}
	chans = append(chans,
		slacksim.Channel{ID: "G0PRIVATE", Name: "p-in", Private: true},
		slacksim.Channel{ID: "G0HIDDEN", Name: "p-out", Private: true, WithoutBot: true})
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok, Channels: chans})
	t.Cleanup(srv.Close)
	api := slack.New(tok, slack.OptionAPIURL(sim.APIURL()))
	ctx := t.Context()

	// conversations.list pages with a cursor and never shows a private channel the bot is not in.
	var names []string
	params := &slack.GetConversationsParameters{Types: []string{"public_channel", "private_channel"}, Limit: 2}
	for pages := 0; ; pages++ {
		cs, next, err := api.GetConversationsContext(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			names = append(names, c.Name)
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("conversations.list never ends")
		}
		params.Cursor = next
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d", "e", "p-in"}, names); diff != "" {
		t.Errorf("listed (-want +got):\n%s", diff)
	}

	// conversations.info reports membership; the hidden private channel does not exist for the bot.
	info, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C0bAAAAAA"})
	if err != nil || info.IsMember || info.IsPrivate || info.Name != "b" {
		t.Errorf("info of b: %+v, %v; want a public channel the bot is not in", info, err)
	}
	if _, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "G0HIDDEN"}); slackCode(err) != "channel_not_found" {
		t.Errorf("info of a hidden private channel: %v, want channel_not_found", err)
	}

	// conversations.join: public joins (then posting works), already-in warns, private refuses.
	if _, _, err := api.PostMessageContext(ctx, "C0bAAAAAA", slack.MsgOptionText("x", false)); slackCode(err) != "not_in_channel" {
		t.Errorf("post before joining: %v, want not_in_channel", err)
	}
	if ch, warning, _, err := api.JoinConversationContext(ctx, "C0bAAAAAA"); err != nil || !ch.IsMember || warning != "" {
		t.Errorf("join b: %+v %q %v", ch, warning, err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0bAAAAAA", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("post after joining: %v", err)
	}
	if _, warning, _, err := api.JoinConversationContext(ctx, "C0aAAAAAA"); err != nil || warning != "already_in_channel" {
		t.Errorf("join a (already in): %q %v", warning, err)
	}
	if _, _, _, err := api.JoinConversationContext(ctx, "G0PRIVATE"); slackCode(err) != "method_not_supported_for_channel_type" {
		t.Errorf("join a private channel: %v", err)
	}
}

func TestScopesAreEnforced(t *testing.T) {
	t.Parallel()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok, Scopes: []string{"channels:read"},
		Channels: []slacksim.Channel{{ID: "C0PUBLIC", Name: "sec", WithoutBot: true}}})
	t.Cleanup(srv.Close)
	api := slack.New(tok, slack.OptionAPIURL(sim.APIURL()))
	_, _, err := api.PostMessageContext(t.Context(), "C0PUBLIC", slack.MsgOptionText("x", false))
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "missing_scope" || se.Needed != "chat:write" || se.Provided != "channels:read" {
		t.Errorf("post without chat:write: %#v, want missing_scope needing chat:write", err)
	}
	if _, _, _, err := api.JoinConversationContext(t.Context(), "C0PUBLIC"); slackCode(err) != "missing_scope" {
		t.Errorf("join without channels:join: %v, want missing_scope", err)
	}
	r, err := api.AuthTestContext(t.Context())
	if err != nil || r.Header.Get("X-OAuth-Scopes") != "channels:read" {
		t.Errorf("auth.test: X-OAuth-Scopes %q, %v", r.Header.Get("X-OAuth-Scopes"), err)
	}
}

func TestChatWritePublicPostsWithoutJoining(t *testing.T) {
	t.Parallel()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok, Scopes: []string{"chat:write", "chat:write.public"},
		Channels: []slacksim.Channel{{ID: "C0PUBLIC", Name: "sec", WithoutBot: true},
			{ID: "G0PRIV", Name: "priv", Private: true, WithoutBot: true}}})
	t.Cleanup(srv.Close)
	api := slack.New(tok, slack.OptionAPIURL(sim.APIURL()))
	if _, _, err := api.PostMessageContext(t.Context(), "#sec", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("post to a public channel with chat:write.public: %v", err)
	}
	if _, _, err := api.PostMessageContext(t.Context(), "#priv", slack.MsgOptionText("x", false)); slackCode(err) != "channel_not_found" {
		t.Errorf("post to a private channel with chat:write.public: %v, want channel_not_found", err)
	}
}

func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}
