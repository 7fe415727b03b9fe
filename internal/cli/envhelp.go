package cli

import (
	"fmt"
	"strings"
)

// envDoc describes the environment variables respond reads. None of them is a flag (a flag's
// EnvVars would be read from the process behind the Factory's Getenv, which tests and
// rehearsals replace), so each command's help lists the ones it uses.
var envDoc = []struct{ name, doc string }{
	{"RESPOND_STATE_DIR", "where runs are journaled (default $XDG_STATE_HOME/respond, else ~/.local/state/respond)"},
	{"RESPOND_INPUT_<NAME>", "the value of input NAME (upper case), e.g. RESPOND_INPUT_KEY for a secret input"},
	{"RESPOND_USER", "who is running respond, as journaled (default $USER)"},
	{"OPENAI_ADMIN_KEY", "OpenAI admin API key: finds and revokes the key, mints the replacement, reviews usage"},
	{"GITHUB_TOKEN", "GitHub token: searches alerts, code and Actions logs, delivers secrets, pushes purged history"},
	{"SLACK_BOT_TOKEN", "Slack bot token: posts progress and approvals in the playbook's channel"},
	{"SLACK_SIGNING_SECRET", "verifies Slack's HTTP requests (serve)"},
	{"SLACK_APP_TOKEN", "Socket Mode connection (serve --socket-mode)"},
	{"GITHUB_WEBHOOK_SECRET", "verifies GitHub's webhook deliveries (serve with github_alerts)"},
	{"RESPOND_TEMPORAL_ADDRESS", "Temporal frontend HOST:PORT, in place of --temporal"},
	{"RESPOND_TEMPORAL_NAMESPACE", "Temporal namespace, in place of --namespace (default: default)"},
	{"RESPOND_TEMPORAL_KEY", "32 random bytes (base64 or hex) that encrypt every Temporal payload; the same on workers and clients"},
	{"RESPOND_GIT_CACHE", "default of --git-cache, also for playbook steps (git.scan-history, git.purge-history)"},
}

// envHelp is the "Environment:" paragraph of a command's description for the named variables.
func envHelp(names ...string) string {
	var b strings.Builder
	b.WriteString("\n\nEnvironment:")
	for _, n := range names {
		for _, e := range envDoc {
			if e.name == n {
				fmt.Fprintf(&b, "\n  %-22s %s", e.name, e.doc)
			}
		}
	}
	return b.String()
}

// runEnv is what a command that runs a playbook reads.
var runEnv = []string{"RESPOND_STATE_DIR", "RESPOND_INPUT_<NAME>", "RESPOND_USER", "OPENAI_ADMIN_KEY", "GITHUB_TOKEN", "SLACK_BOT_TOKEN"}
