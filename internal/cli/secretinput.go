package cli

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"golang.org/x/term"
)

// Secret inputs are typed or pasted at 3 a.m., often straight from a .env file, a curl command or a
// log line. They are read the way ssh and sudo read a password (no echo, Enter submits) and cleaned
// of the wrapping people paste with them, saying what was removed so nothing changes silently.

// terminalSecretReader reads one line from the terminal on fd without echoing it.
func terminalSecretReader(fd int) func() (string, error) {
	return func() (string, error) {
		b, err := term.ReadPassword(fd)
		return string(b), err
	}
}

// secretReader is how this process can ask a person for a secret, or nil when stdin is not a
// terminal (then a missing secret is an error that says how to pass it).
func (f *Factory) secretReader() func() (string, error) {
	if f.ReadSecret != nil {
		return f.ReadSecret
	}
	if file, ok := f.IO.In.(*os.File); ok && f.IO.InTTY {
		return terminalSecretReader(int(file.Fd()))
	}
	return nil
}

var (
	// assignment is `NAME=value`, `export NAME="value"` or `NAME: value` as found in .env files,
	// shell history and YAML. NAME is an environment-variable-like word so that a secret that
	// merely contains '=' (base64 padding) is left alone.
	assignment = regexp.MustCompile(`^(?:export\s+)?([A-Z][A-Z0-9_]*)\s*[:=]\s*(\S.*)$`)
	bearer     = regexp.MustCompile(`(?i)^(?:authorization:\s*)?bearer\s+(\S+)$`)
)

// normalizeSecret strips what people paste around a key and says what it removed.
func normalizeSecret(v string) (string, []string) {
	var notes []string
	v = strings.TrimSpace(v)
	for range 3 { // `export OPENAI_API_KEY="Bearer sk-…"` needs several passes.
		before := v
		if m := assignment.FindStringSubmatch(v); m != nil {
			notes = append(notes, fmt.Sprintf("removed the %s= prefix", m[1]))
			v = strings.TrimSpace(m[2])
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			notes = append(notes, "removed the surrounding quotes")
			v = strings.TrimSpace(v[1 : len(v)-1])
		}
		if m := bearer.FindStringSubmatch(v); m != nil {
			notes = append(notes, `removed "Bearer "`)
			v = m[1]
		}
		if v == before {
			break
		}
	}
	return v, notes
}

// otherCredentials are prefixes of other services' credentials, which are not secret (they are
// printed in every vendor's documentation) and tell a person what they pasted by mistake.
var otherCredentials = []struct{ prefix, what string }{
	{"sk-admin-", "an OpenAI admin key (sk-admin-…): revoke it under the organization's admin keys; this playbook handles API keys"},
	{"sk-ant-", "an Anthropic API key (sk-ant-…)"},
	{"ghp_", "a GitHub personal access token (ghp_…)"},
	{"github_pat_", "a GitHub fine-grained personal access token (github_pat_…)"},
	{"gho_", "a GitHub OAuth token (gho_…)"},
	{"ghs_", "a GitHub Actions or app installation token (ghs_…)"},
	{"glpat-", "a GitLab personal access token (glpat-…)"},
	{"xoxb-", "a Slack bot token (xoxb-…)"},
	{"xoxp-", "a Slack user token (xoxp-…)"},
	{"xapp-", "a Slack app-level token (xapp-…)"},
	{"AKIA", "an AWS access key ID (AKIA…)"},
	{"AIza", "a Google API key (AIza…)"},
	{"sk_live_", "a Stripe live secret key (sk_live_…)"},
}

// describeForeign says what a value looks like when its non-secret prefix is another service's,
// or "" when nothing is known against it.
func describeForeign(v string) string {
	for _, c := range otherCredentials {
		if strings.HasPrefix(v, c.prefix) {
			return c.what
		}
	}
	return ""
}
