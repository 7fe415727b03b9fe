package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps/slack/slackkit"
)

const fixSlackToken = "install the respond Slack app (README: Slack app manifest) and export its bot token (xoxb-…) as " + slackkit.EnvToken

func checkSlack(ctx context.Context, o Options, by map[need][]string) []Check {
	const svc = "Slack"
	all := inOrder(o.Playbook, union(by, slackPost, slackCommands))
	tok := o.Getenv(slackkit.EnvToken)
	if tok == "" {
		return []Check{row(svc, "bot token ("+slackkit.EnvToken+")", all, Fail, "not set", fixSlackToken)}
	}
	o.Secret(tok)
	c, err := slack.New(slack.Config{Token: tok, APIURL: o.Getenv(slackkit.EnvAPIURL)})
	if err != nil {
		return []Check{row(svc, "bot token ("+slackkit.EnvToken+")", all, Fail, oneLine(err), fixSlackToken)}
	}
	id, err := c.Identify(ctx)
	if err != nil {
		fix := fixSlackToken
		if !errors.Is(err, slack.ErrUnauthorized) {
			fix = "check network access to slack.com (or " + slackkit.EnvAPIURL + "), then run respond doctor again"
		}
		return []Check{
			row(svc, "bot token ("+slackkit.EnvToken+")", all, Fail, oneLine(err), fix),
			row(svc, "everything else respond does in Slack", all, Unknown, "not checked: the token was not accepted", "fix the token first"),
		}
	}
	rows := []Check{row(svc, "bot token ("+slackkit.EnvToken+") valid", all, OK,
		fmt.Sprintf("bot @%s in workspace %s", id.User, id.Team), "")}
	scope := func(n need, name, sc, why string, missing Status) {
		if len(by[n]) == 0 {
			return
		}
		r := row(svc, name, by[n], OK, "", "")
		switch {
		case id.Scopes == nil:
			r.Status, r.Detail = Unknown, "Slack sent no X-OAuth-Scopes header"
			r.Fix = "make sure the app has the " + sc + " scope"
		case !id.HasScope(sc):
			r.Status, r.Detail = missing, "the token lacks the "+sc+" scope"+why
			r.Fix = "add the " + sc + " bot scope to the Slack app (README: manifest) and reinstall it"
		}
		rows = append(rows, r)
	}
	scope(slackPost, "chat:write scope", "chat:write", "", Fail)
	for _, cs := range postChannels(o.Playbook) {
		rows = append(rows, channelCheck(ctx, c, id, cs.channel, cs.steps))
	}
	scope(slackCommands, "commands scope (respond serve)", "commands",
		": the /respond slash command of respond serve will not work; runs from the command line are unaffected", Warn)
	return rows
}

// channelCheck says whether the bot can post to the run's channel, without joining it.
func channelCheck(ctx context.Context, c *slack.Client, id slack.Identity, channel string, steps []string) Check {
	r := row("Slack", "bot can post in "+channel, steps, OK, "", "")
	m, err := c.CheckMembership(ctx, channel, false)
	switch {
	case err == nil:
		r.Detail = "the bot is a member"
	case errors.Is(err, slack.ErrNotInChannel) && m.ID != "" && !m.Private && id.HasScope("channels:join"):
		r.Detail = "not a member yet; respond joins this public channel when a run starts (channels:join)"
	case errors.Is(err, slack.ErrNotInChannel):
		r.Status, r.Detail, r.Fix = Fail, "the bot is not in the channel", m.Fix()
	case errors.Is(err, slack.ErrUnauthorized):
		r.Status, r.Detail = Fail, oneLine(err)
		r.Fix = "add the channels:read and groups:read bot scopes (respond looks the channel up to check membership) and reinstall the app"
	default:
		r.Status, r.Detail, r.Fix = Fail, oneLine(err), "see the error; run respond doctor again once it is fixed"
	}
	return r
}

// channelSteps is a channel respond posts to and the steps that post there.
type channelSteps struct {
	channel string
	steps   []string
}

// postChannels lists the channels the playbook posts to: the run's channel (its progress and
// every step that posts without a channel of its own) and each literal channel of a step that
// posts. A templated channel is only known during a run.
func postChannels(pb *playbook.Playbook) []channelSteps {
	var out []channelSteps
	add := func(ch, step string) {
		for i := range out {
			if out[i].channel == ch {
				out[i].steps = append(out[i].steps, step)
				return
			}
		}
		out = append(out, channelSteps{channel: ch, steps: []string{step}})
	}
	run := pb.Notify.SlackChannel
	if run != "" {
		add(run, RunSlackStep)
	}
	for _, st := range pb.Steps {
		param := st.Kind.Traits.SlackChannelParam
		if param == "" {
			continue
		}
		ch := withScalar(st.With, param)
		switch {
		case ch == "" && run != "":
			add(run, st.ID)
		case ch != "" && !strings.Contains(ch, "{{"):
			add(ch, st.ID)
		}
	}
	return out
}

// withScalar is the value of a top-level scalar parameter of a step's with:, or "".
func withScalar(n *yaml.Node, key string) string {
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}
