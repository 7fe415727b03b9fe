// Package slack owns respond's side of the Slack Web API: a small client over
// github.com/slack-go/slack (post, update in place, ephemeral, response_url, users.info,
// auth.test) with errors the engine can classify, and the Block Kit messages respond posts: the
// run's parent message, approval requests and decisions, and the final summary.
//
// Rate limits: the client never sleeps and never retries. A 429 comes back at once as an *Error
// with Transient() true and RetryAfter() set from the Retry-After header. The Slack progress sink
// coalesces updates, so after the wait it sends the newest state rather than replaying a stale one,
// and the engine's retry policy (attempts, backoff with jitter, the run's context) stays the one
// place that decides how long to keep trying.
package slack

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"
)

// Block is a Block Kit block; the alias spares callers an import of slack-go.
type Block = slackgo.Block

// DefaultTimeout bounds one HTTP exchange when Config.HTTPClient is nil: a hung connection must
// not stall a run's progress reporting forever.
const DefaultTimeout = 30 * time.Second

// Config says how to reach Slack.
type Config struct {
	// Token is the bot token (xoxb-…). The CLI reads it from SLACK_BOT_TOKEN.
	Token string
	// APIURL overrides https://slack.com/api/ (simulators, tests). A trailing "/" is added.
	APIURL string
	// HTTPClient is used for the Web API and for response_url posts. Nil means a client with
	// DefaultTimeout.
	HTTPClient *http.Client
}

// Message is what respond posts. Text is the notification and accessibility fallback when
// Blocks are set, and the whole message otherwise; it is sent as mrkdwn without escaping.
type Message struct {
	Text   string
	Blocks []Block
	// ThreadTS makes the message a reply in the thread of that parent message.
	ThreadTS string
	// ClearBlocks makes Update remove the message's blocks. Update leaves blocks unchanged when
	// Blocks is empty, because slack-go's MsgOptionBlocks() with no blocks sends "blocks=[]",
	// which wipes the message: clearing has to be asked for by name.
	ClearBlocks bool
}

// Posted identifies a message Slack accepted.
type Posted struct {
	// Channel is the channel ID Slack answered with, even when a name was given.
	Channel string
	TS      string
}

// Client talks to one Slack workspace with one bot token. It is safe for concurrent use.
type Client struct {
	api     *slackgo.Client
	http    *http.Client
	apiHost string // host of the API URL: a response_url there is trusted (simulators)

	mu sync.Mutex
	// channelIDs remembers the ID Slack answered for a channel given by name, because
	// chat.update only accepts IDs while playbooks name channels ("#security-incidents").
	channelIDs map[string]string
}

// New returns a Client. It makes no request; call AuthTest to check the token.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, ErrNoCredentials
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	opts := []slackgo.Option{slackgo.OptionHTTPClient(hc)}
	c := &Client{http: hc, channelIDs: map[string]string{}}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" {
			return nil, fmt.Errorf("slack: API URL %q is not an absolute URL", cfg.APIURL)
		}
		c.apiHost = parsed.Host
		opts = append(opts, slackgo.OptionAPIURL(u))
	}
	c.api = slackgo.New(cfg.Token, opts...)
	return c, nil
}

// AuthTest checks the token with auth.test (read-only): the preflight before any mutating call.
// A rejected token matches errors.Is(err, ErrUnauthorized).
func (c *Client) AuthTest(ctx context.Context) error {
	if _, err := c.api.AuthTestContext(ctx); err != nil {
		return fmt.Errorf("check slack token: %w", classify(ctx, "auth.test", err))
	}
	return nil
}

// Post posts m to channel (an ID, or a name such as "#security-incidents") and returns the new
// message's ts. With m.ThreadTS set it is a thread reply.
func (c *Client) Post(ctx context.Context, channel string, m Message) (string, error) {
	p, err := c.PostMessage(ctx, channel, m)
	return p.TS, err
}

// PostMessage is Post that also returns the channel ID Slack resolved the channel to.
func (c *Client) PostMessage(ctx context.Context, channel string, m Message) (Posted, error) {
	opts := c.contentOptions(m, false)
	if m.ThreadTS != "" {
		opts = append(opts, slackgo.MsgOptionTS(m.ThreadTS))
	}
	ch, ts, err := c.api.PostMessageContext(ctx, c.channelID(channel), opts...)
	if err != nil {
		return Posted{}, fmt.Errorf("post message to %s: %w", channel, classify(ctx, "chat.postMessage", err))
	}
	c.remember(channel, ch)
	return Posted{Channel: ch, TS: ts}, nil
}

// Update edits the message ts in channel in place. Only what m sets changes: empty Text keeps the
// text, empty Blocks keeps the blocks (set ClearBlocks to remove them). m.ThreadTS is ignored.
// chat.update takes channel IDs only, so a channel name works only after this Client posted to it.
func (c *Client) Update(ctx context.Context, channel, ts string, m Message) error {
	if m.Text == "" && len(m.Blocks) == 0 && !m.ClearBlocks {
		return fmt.Errorf("update message %s in %s: nothing to change", ts, channel)
	}
	_, _, _, err := c.api.UpdateMessageContext(ctx, c.channelID(channel), ts, c.contentOptions(m, true)...)
	if err != nil {
		return fmt.Errorf("update message %s in %s: %w", ts, channel, classify(ctx, "chat.update", err))
	}
	return nil
}

// PostEphemeral shows m to user only, in channel (in a thread when m.ThreadTS is set).
func (c *Client) PostEphemeral(ctx context.Context, channel, user string, m Message) error {
	opts := c.contentOptions(m, false)
	if m.ThreadTS != "" {
		opts = append(opts, slackgo.MsgOptionTS(m.ThreadTS))
	}
	if _, err := c.api.PostEphemeralContext(ctx, c.channelID(channel), user, opts...); err != nil {
		return fmt.Errorf("post ephemeral message to %s in %s: %w", user, channel, classify(ctx, "chat.postEphemeral", err))
	}
	return nil
}

// Respond answers a slash command or a button press through its response_url (no token needed;
// the URL is the credential and never appears in an error). ephemeral shows the answer to the
// person who acted only; replaceOriginal replaces the message that carried the button.
//
// The URL must be https, or on the host of Config.APIURL (simulators): a response_url comes out
// of a request payload, and the bot must not be made to post to an arbitrary plain-HTTP address.
func (c *Client) Respond(ctx context.Context, responseURL string, m Message, ephemeral, replaceOriginal bool) error {
	u, err := url.Parse(responseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Host != c.apiHost) {
		return fmt.Errorf("respond via response_url %s: %w", redactURL(responseURL),
			&Error{Method: "response_url", Err: fmt.Errorf("not an https URL")})
	}
	msg := &slackgo.WebhookMessage{
		Text:            m.Text,
		ThreadTimestamp: m.ThreadTS,
		ResponseType:    slackgo.ResponseTypeInChannel,
		ReplaceOriginal: replaceOriginal,
	}
	if ephemeral {
		msg.ResponseType = slackgo.ResponseTypeEphemeral
	}
	if len(m.Blocks) > 0 {
		msg.Blocks = &slackgo.Blocks{BlockSet: m.Blocks}
	}
	if err := slackgo.PostWebhookCustomHTTPContext(ctx, responseURL, c.http, msg); err != nil {
		return fmt.Errorf("respond via response_url %s: %w", redactURL(responseURL),
			classify(ctx, "response_url", hideURL(err, responseURL)))
	}
	return nil
}

// UserName returns the name people know userID by: the display name, else the real name, else
// the account name (users.info).
func (c *Client) UserName(ctx context.Context, userID string) (string, error) {
	u, err := c.api.GetUserInfoContext(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("look up slack user %s: %w", userID, classify(ctx, "users.info", err))
	}
	for _, name := range []string{u.Profile.DisplayName, u.Profile.RealName, u.RealName, u.Name} {
		if name != "" {
			return name, nil
		}
	}
	return userID, nil
}

// contentOptions turns m into slack-go options. For an update, absent content is left out so the
// message keeps it; a post always sends what it has.
func (c *Client) contentOptions(m Message, update bool) []slackgo.MsgOption {
	var opts []slackgo.MsgOption
	if m.Text != "" || !update {
		opts = append(opts, slackgo.MsgOptionText(m.Text, false))
	}
	switch {
	case len(m.Blocks) > 0:
		opts = append(opts, slackgo.MsgOptionBlocks(m.Blocks...))
	case update && m.ClearBlocks:
		opts = append(opts, slackgo.MsgOptionBlocks())
	}
	return opts
}

func (c *Client) channelID(channel string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.channelIDs[channel]; ok {
		return id
	}
	return channel
}

func (c *Client) remember(name, id string) {
	if id == "" || id == name {
		return
	}
	c.mu.Lock()
	c.channelIDs[name] = id
	c.mu.Unlock()
}
