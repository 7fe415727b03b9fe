package slackserver

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/secretref"
)

// command answers a slash command with the ephemeral text to show at once, starting whatever
// work it asks for in the background. The answer never repeats what the user typed: a command
// may hold a secret, and only names checked against the config (playbooks, input names) are
// shown back.
func (s *Server) command(cmd slackgo.SlashCommand) string {
	fields := strings.Fields(cmd.Text)
	for _, f := range fields {
		if s.looksSecret(f) {
			s.logf("refused a command from %s in %s: it holds a secret-shaped value", cmd.UserID, cmd.ChannelID)
			return ":no_entry: Nothing was started: your command contains what looks like a secret (an API key or " +
				"token). Slack keeps the text of every command, so treat that secret as exposed in Slack too. " +
				"Name a leaked key by its ID (`key=key_…`) instead, or start the run from a terminal with `--input key=@FILE`."
		}
	}
	if len(fields) == 0 {
		return s.help(cmd)
	}
	sub, args := strings.ToLower(fields[0]), fields[1:]
	switch sub {
	case "help":
		return s.help(cmd)
	case "run":
		return s.run(cmd, args, false)
	case "plan":
		return s.run(cmd, args, true)
	case "status":
		return s.status(cmd, args)
	case "list":
		return s.list(cmd)
	}
	return "Unknown subcommand. " + s.usage()
}

func (s *Server) looksSecret(tok string) bool {
	if redact.New().String(tok) != tok {
		return true
	}
	return s.o.Secrets.Contains([]byte(tok))
}

func (s *Server) usage() string {
	c := s.o.Command
	return fmt.Sprintf("Usage:\n`%[1]s run PLAYBOOK name=value … [dry-run]` start a run\n"+
		"`%[1]s plan PLAYBOOK name=value …` show what a run would do, changing nothing\n"+
		"`%[1]s status RUN` where a run stands\n`%[1]s list` recent runs\n`%[1]s help` this text", c)
}

func (s *Server) help(cmd slackgo.SlashCommand) string {
	text := s.usage()
	if mine := s.available(cmd); len(mine) > 0 {
		text += "\nYou can start here: " + codeList(mine)
	} else {
		text += "\nYou cannot start any playbook in this channel."
	}
	return text + "\nSecret inputs cannot be typed into Slack: name the GitHub alert that found the key " +
		"(`key=github-alert:OWNER/REPO#N` or the alert's URL) and the server fetches it, or name the key by its ID (`key=key_…`)."
}

// available lists the playbooks cmd's user may start in cmd's channel.
func (s *Server) available(cmd slackgo.SlashCommand) []string {
	var out []string
	for name, acl := range s.o.Config.Playbooks {
		if acl.Allows(cmd.UserID, cmd.ChannelID) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func codeList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "`" + esc(n) + "`"
	}
	return strings.Join(quoted, ", ")
}

func esc(s string) string { return slackutilsx.EscapeMessage(s) }

func (s *Server) run(cmd slackgo.SlashCommand, args []string, plan bool) string {
	if len(args) == 0 {
		return "Name a playbook. " + s.usage()
	}
	name := args[0]
	acl, ok := s.o.Config.Playbooks[name]
	if !ok {
		msg := "That playbook cannot be started from Slack."
		if mine := s.available(cmd); len(mine) > 0 {
			msg += " You can start here: " + codeList(mine)
		}
		return msg
	}
	if !acl.Allows(cmd.UserID, cmd.ChannelID) {
		s.logf("refused %s: %s may not start it in %s", name, cmd.UserID, cmd.ChannelID)
		return fmt.Sprintf(":no_entry: You are not allowed to start `%s` in this channel. Nothing was started.", esc(name))
	}
	specs, err := s.o.Runner.Inputs(name)
	if err != nil {
		s.logf("playbook %s: %v", name, err)
		return fmt.Sprintf(":x: Playbook `%s` cannot be loaded on the server; its operator has the details.", esc(name))
	}
	inputs, dry, missing, problem := parseInputs(name, args[1:], specs)
	if problem != "" {
		return problem + " Nothing was started."
	}
	dry = dry || plan
	req := RunRequest{Playbook: name, Inputs: inputs, DryRun: dry, User: cmd.UserID, UserName: cmd.UserName, Channel: cmd.ChannelID}
	if len(missing) > 0 {
		return s.offerForm(req, missing, cmd.ResponseURL)
	}
	s.startRun(req, cmd.ResponseURL)
	mode := ""
	if dry {
		mode = " as a dry run (nothing will be changed)"
	}
	return fmt.Sprintf(":rocket: Starting `%s`%s. Its progress message will appear in this channel.", esc(name), mode)
}

// withSlackApprovers makes the playbook's Slack approvers decide req's approval-gated steps, in
// the run's thread; a playbook without approvers (or a server without Slack) keeps the default.
func (s *Server) withSlackApprovers(req *RunRequest) {
	if a := s.SlackApprover(req.Playbook, req.User); a != nil {
		req.Approver = a
	}
}

// SlackApprover is the Slack approver of a run of playbook that requester started, asking in the
// thread it is given; nil when the playbook has no Slack approvers (or the server no Slack). A
// runner that outlives the server's runs (Temporal) asks it again for runs started before a
// restart.
func (s *Server) SlackApprover(playbook, requester string) func(Threader) engine.Approver {
	acl := s.o.Config.Playbooks[playbook]
	if len(acl.Approvers) == 0 || s.o.Slack == nil {
		return nil
	}
	cfg := ApproverConfig{Playbook: playbook, Approvers: acl.Approvers, TwoPerson: acl.TwoPerson, Requester: requester}
	return func(th Threader) engine.Approver {
		c := cfg
		c.Thread = th
		return s.approvals.Approver(c)
	}
}

// startRun starts req in the background with the playbook's Slack approvers, and tells the
// person who asked, through responseURL, whether it started.
func (s *Server) startRun(req RunRequest, responseURL string) {
	name := req.Playbook
	s.withSlackApprovers(&req)
	s.background(func(ctx context.Context) {
		sctx, cancel := context.WithTimeout(ctx, s.o.StartTimeout)
		defer cancel()
		id, err := s.o.Runner.Start(sctx, req)
		var text string
		if err != nil {
			s.logf("start %s for %s: %v", name, req.User, err)
			text = fmt.Sprintf(":x: `%s` did not start: %s", esc(name), esc(firstLine(s.o.Secrets.String(err.Error()))))
		} else {
			s.logf("started run %s of %s for %s in %s", id, name, req.User, req.Channel)
			text = fmt.Sprintf(":white_check_mark: Run `%s` of `%s` started; follow it in its message in this channel.", esc(id), esc(name))
		}
		s.followUp(ctx, responseURL, text)
	})
}

// followUp shows text to the person who typed the command, later, through its response_url.
func (s *Server) followUp(ctx context.Context, responseURL, text string) {
	if s.o.Slack == nil || responseURL == "" {
		return
	}
	if err := s.o.Slack.Respond(ctx, responseURL, slack.Message{Text: s.o.Secrets.String(text)}, true, false); err != nil {
		s.logf("follow-up to a slash command: %v", err)
	}
}

// parseInputs reads NAME=VALUE arguments against the playbook's inputs. problem, when not empty,
// is the refusal to show; it names inputs and argument positions, never a value. missing are
// the required secret inputs not given: a one-time form can ask for them.
func parseInputs(playbook string, args []string, specs []InputSpec) (inputs map[string]string, dry bool, missing []string, problem string) {
	byName := map[string]InputSpec{}
	var names []string
	for _, in := range specs {
		byName[in.Name] = in
		names = append(names, in.Name)
	}
	sort.Strings(names)
	takes := "it takes no inputs"
	if len(names) > 0 {
		takes = "it takes " + codeList(names)
	}
	inputs = map[string]string{}
	for i, a := range args {
		switch strings.ToLower(a) {
		case "dry-run", "--dry-run", "dryrun":
			dry = true
			continue
		}
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, false, nil, fmt.Sprintf("Argument %d is not `name=value` (%s).", i+3, takes)
		}
		value = unwrapLink(value)
		spec, known := byName[name]
		if !known {
			return nil, false, nil, fmt.Sprintf("Argument %d is not an input of `%s` (%s).", i+3, esc(playbook), takes)
		}
		// A secret input typed into Slack may only name the key (its ID, which is not a secret)
		// or where the value lives; anything else is refused.
		if spec.Secret && !openai.IsKeyID(value) && !secretref.IsRef(value) {
			return nil, false, nil, fmt.Sprintf(":no_entry: Input `%s` is secret and cannot be typed into Slack, which keeps "+
				"the text of every command. Name the GitHub alert that found it (`%s=github-alert:OWNER/REPO#N`), "+
				"name the key by its ID (`%s=key_…`), or leave it out to get a one-time form. If you typed a live "+
				"key, treat it as exposed in Slack as well.", esc(name), esc(name), esc(name))
		}
		inputs[name] = value
	}
	var plain []string
	for _, in := range specs {
		if _, ok := inputs[in.Name]; !ok && in.Required && !in.HasValue {
			if in.Secret {
				missing = append(missing, in.Name)
			} else {
				plain = append(plain, in.Name)
			}
		}
	}
	if len(plain) > 0 {
		all := append(plain, missing...)
		return nil, false, nil, "Missing required " + plural(len(all), "input") + ": " + codeList(all) + "."
	}
	return inputs, dry, missing, ""
}

func plural(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// member reports whether user may use the read-only subcommands: anyone allowed to start some
// playbook.
func (s *Server) member(user string) bool {
	for _, acl := range s.o.Config.Playbooks {
		if slices.Contains(acl.Users, user) {
			return true
		}
	}
	return false
}

func (s *Server) status(cmd slackgo.SlashCommand, args []string) string {
	if !s.member(cmd.UserID) {
		return ":no_entry: You are not on any playbook's allow-list."
	}
	if len(args) != 1 || !nameRe.MatchString(args[0]) {
		return "Name one run: `" + s.o.Command + " status RUN` (`" + s.o.Command + " list` shows them)."
	}
	text, err := s.o.Runner.Status(args[0])
	if err != nil {
		return "No run by that ID (`" + s.o.Command + " list` shows them)."
	}
	return "```\n" + esc(s.o.Secrets.String(text)) + "\n```"
}

func (s *Server) list(cmd slackgo.SlashCommand) string {
	if !s.member(cmd.UserID) {
		return ":no_entry: You are not on any playbook's allow-list."
	}
	lines, err := s.o.Runner.List()
	if err != nil {
		s.logf("list runs: %v", err)
		return ":x: The server cannot list its runs; its operator has the details."
	}
	if len(lines) == 0 {
		return "No runs yet."
	}
	return "```\n" + esc(s.o.Secrets.String(strings.Join(lines, "\n"))) + "\n```"
}

// unwrapLink undoes Slack's formatting of a URL in a command's text (<https://…> or
// <https://…|label>), so an alert's URL pasted into a command reads as the URL.
func unwrapLink(v string) string {
	if len(v) < 2 || v[0] != '<' || v[len(v)-1] != '>' {
		return v
	}
	v, _, _ = strings.Cut(v[1:len(v)-1], "|")
	return v
}
