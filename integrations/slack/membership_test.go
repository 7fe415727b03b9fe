package slack_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
)

func membershipSim(t *testing.T, scopes []string) (*slack.Client, *slacksim.Sim) {
	t.Helper()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok, Scopes: scopes, Channels: []slacksim.Channel{
		{ID: "C0MEMBER", Name: "security-incidents"},
		{ID: "C0OUTSIDE", Name: "sec-public", WithoutBot: true},
		{ID: "G0HIDDEN", Name: "sec-private", Private: true, WithoutBot: true},
		{ID: "G0INSIDE", Name: "sec-private-in", Private: true},
	}})
	t.Cleanup(srv.Close)
	c, err := slack.New(slack.Config{Token: tok, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return c, sim
}

func TestPostingOutsideTheChannelIsRefusedAsSlackDoes(t *testing.T) {
	t.Parallel()
	c, _ := membershipSim(t, nil)
	for _, tc := range []struct{ channel, code string }{
		{"#sec-public", "not_in_channel"},
		{"C0OUTSIDE", "not_in_channel"},
		{"#sec-private", "channel_not_found"},
		{"G0HIDDEN", "channel_not_found"},
		{"#no-such-channel", "channel_not_found"},
	} {
		_, err := c.PostMessage(t.Context(), tc.channel, slack.Message{Text: "hello"})
		var se *slack.Error
		if !errors.As(err, &se) || se.Code != tc.code || !errors.Is(err, slack.ErrNotInChannel) || se.Transient() {
			t.Errorf("post to %s: got %v, want a permanent %s matching ErrNotInChannel", tc.channel, err, tc.code)
		}
	}
	for _, ch := range []string{"#security-incidents", "G0INSIDE"} {
		if _, err := c.PostMessage(t.Context(), ch, slack.Message{Text: "hello"}); err != nil {
			t.Errorf("post to %s (the bot is a member): %v", ch, err)
		}
	}
}

func TestCheckMembership(t *testing.T) {
	t.Parallel()
	noJoin := []string{"chat:write", "channels:read", "groups:read"}
	for _, tc := range []struct {
		name    string
		scopes  []string
		channel string
		join    bool
		want    slack.Membership
		wantErr error    // nil: no error
		fix     []string // what the error must say
	}{
		{name: "member by name", channel: "#security-incidents",
			want: slack.Membership{Channel: "#security-incidents", ID: "C0MEMBER", Name: "security-incidents", Member: true, Bot: "respond"}},
		{name: "member of a private channel by ID", channel: "G0INSIDE",
			want: slack.Membership{Channel: "G0INSIDE", ID: "G0INSIDE", Name: "sec-private-in", Private: true, Member: true, Bot: "respond"}},
		{name: "public, joins", channel: "#sec-public", join: true,
			want: slack.Membership{Channel: "#sec-public", ID: "C0OUTSIDE", Name: "sec-public", Member: true, Joined: true, Bot: "respond"}},
		{name: "public, read-only check", channel: "C0OUTSIDE",
			want:    slack.Membership{Channel: "C0OUTSIDE", ID: "C0OUTSIDE", Name: "sec-public", Bot: "respond"},
			wantErr: slack.ErrNotInChannel, fix: []string{"/invite @respond` in #sec-public", "channels:join"}},
		{name: "public, no channels:join scope", scopes: noJoin, channel: "#sec-public", join: true,
			want:    slack.Membership{Channel: "#sec-public", ID: "C0OUTSIDE", Name: "sec-public", Bot: "respond"},
			wantErr: slack.ErrNotInChannel, fix: []string{"/invite @respond` in #sec-public", "missing_scope"}},
		{name: "private, not invited", channel: "#sec-private", join: true,
			want:    slack.Membership{Channel: "#sec-private", Bot: "respond"},
			wantErr: slack.ErrNotInChannel, fix: []string{"/invite @respond` in #sec-private", "private"}},
		{name: "private by ID, not invited", channel: "G0HIDDEN", join: true,
			want:    slack.Membership{Channel: "G0HIDDEN", Bot: "respond"},
			wantErr: slack.ErrNotInChannel, fix: []string{"/invite @respond` in #G0HIDDEN"}},
		{name: "no channels:read", scopes: []string{"chat:write"}, channel: "#security-incidents",
			want: slack.Membership{Channel: "#security-incidents", Bot: "respond"}, wantErr: slack.ErrUnauthorized,
			fix: []string{"missing_scope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := membershipSim(t, tc.scopes)
			got, err := c.CheckMembership(t.Context(), tc.channel, tc.join)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("membership (-want +got):\n%s", diff)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckMembership: %v", err)
				}
				if _, err := c.PostMessage(t.Context(), tc.channel, slack.Message{Text: "now it can post"}); err != nil {
					t.Errorf("post after the check: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckMembership: got %v, want %v", err, tc.wantErr)
			}
			for _, f := range tc.fix {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not say %q", err, f)
				}
			}
		})
	}
}

func TestIdentifyReadsScopes(t *testing.T) {
	t.Parallel()
	c, _ := membershipSim(t, []string{"chat:write", "commands"})
	id, err := c.Identify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := slack.Identity{User: "respond", UserID: slacksim.DefaultBotUserID, Team: slacksim.DefaultTeam,
		TeamID: slacksim.DefaultTeamID, BotID: slacksim.DefaultBotID, Scopes: []string{"chat:write", "commands"}}
	if diff := cmp.Diff(want, id); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	if !id.HasScope("commands") || id.HasScope("channels:join") {
		t.Errorf("HasScope disagrees with Scopes %v", id.Scopes)
	}
}
