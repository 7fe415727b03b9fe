package slackserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config says who may do what from Slack, per playbook. A playbook that is not listed cannot be
// started from Slack at all.
//
//	playbooks:
//	  openai-key-leak:
//	    users: [U012ABCDEF]        # who may start it (Slack user IDs)
//	    channels: [C012ABCDEF]     # where (channel IDs: Slack sends IDs, not names)
//	    approvers: [U034GHIJKL]    # who may press Approve/Deny on its approval requests
//	    two_person: true           # the person who started a run cannot approve it
//
// An optional github_alerts section starts runs from GitHub secret-scanning alerts (POST
// /github/webhook):
//
//	github_alerts:
//	  playbook: openai-key-leak       # listed under playbooks: its approvers decide its approvals
//	  channel: C012ABCDEF             # where the run's progress and approval requests go
//	  secret_types: [openai_api_key]  # alerts of other types are acknowledged and ignored
//	  input: key                      # the secret input that receives the alert (default key)
//	  inputs: {github_org: acme}      # other inputs of the run (not secret ones)
type Config struct {
	Playbooks    map[string]PlaybookACL
	GitHubAlerts *GitHubAlerts
}

// GitHubAlerts says which playbook a secret-scanning alert starts, for which secret types, and
// where its progress goes.
type GitHubAlerts struct {
	Playbook    string
	Channel     string
	SecretTypes []string
	Input       string
	// Inputs are the run's other inputs, as a slash command would give them.
	Inputs map[string]string

	node *yaml.Node // for errors found after decoding
}

// PlaybookACL is one playbook's allow-lists.
type PlaybookACL struct {
	Users     []string
	Channels  []string
	Approvers []string
	TwoPerson bool
}

// Allows reports whether user may start the playbook in channel.
func (a PlaybookACL) Allows(user, channel string) bool {
	return slices.Contains(a.Users, user) && slices.Contains(a.Channels, channel)
}

// CanApprove reports whether user may decide the playbook's approvals.
func (a PlaybookACL) CanApprove(user string) bool { return slices.Contains(a.Approvers, user) }

var (
	userIDRe    = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	channelIDRe = regexp.MustCompile(`^[CGD][A-Z0-9]{2,20}$`)
	nameRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
)

// LoadConfig reads and checks the allow-list file at path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read slack config: %w", err)
	}
	return ParseConfig(path, b)
}

// ConfigError lists every problem of a config file, each as file:line:col: message.
type ConfigError struct {
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("slack config %s is invalid:\n  %s", e.File, strings.Join(e.Problems, "\n  "))
}

// ParseConfig decodes a config strictly: unknown keys, wrong types, names where IDs belong and
// empty allow-lists are errors, all reported at once with their position.
func ParseConfig(file string, src []byte) (*Config, error) {
	p := &configParser{file: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, &ConfigError{File: file, Problems: []string{file + ":1:1: empty file: expected a mapping with playbooks:"}}
	} else if err != nil {
		return nil, &ConfigError{File: file, Problems: []string{fmt.Sprintf("%s: invalid YAML: %v", file, err)}}
	}
	cfg := &Config{Playbooks: map[string]PlaybookACL{}}
	if len(doc.Content) == 0 {
		p.fail(&doc, "empty file: expected a mapping with playbooks:")
		return nil, p.err()
	}
	root := doc.Content[0]
	p.mapping(root, "the file", map[string]func(k, v *yaml.Node){
		"playbooks": func(k, v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				p.fail(v, "playbooks: expected a mapping of playbook names to allow-lists, got %s", kind(v))
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				name, body := v.Content[i], v.Content[i+1]
				if !nameRe.MatchString(name.Value) {
					p.fail(name, "playbooks: %q is not a playbook name", name.Value)
					continue
				}
				if _, dup := cfg.Playbooks[name.Value]; dup {
					p.fail(name, "playbooks: %s is listed twice", name.Value)
					continue
				}
				cfg.Playbooks[name.Value] = p.acl(name.Value, body)
			}
		},
		"github_alerts": func(k, v *yaml.Node) { cfg.GitHubAlerts = p.githubAlerts(v) },
	}, []string{"playbooks"})
	if err := p.err(); err != nil {
		return nil, err
	}
	if len(cfg.Playbooks) == 0 {
		p.fail(root, "playbooks: empty: no playbook could be started from Slack")
		return nil, p.err()
	}
	if ga := cfg.GitHubAlerts; ga != nil && ga.Playbook != "" {
		if _, ok := cfg.Playbooks[ga.Playbook]; !ok {
			p.fail(ga.node, "github_alerts.playbook: %s is not listed under playbooks: (its approvers decide the run's approvals)", ga.Playbook)
			return nil, p.err()
		}
	}
	return cfg, nil
}

var (
	secretTypeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,99}$`)
	inputNameRe  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// githubAlerts decodes the github_alerts section.
func (p *configParser) githubAlerts(n *yaml.Node) *GitHubAlerts {
	ga := &GitHubAlerts{Input: "key", node: n}
	scalar := func(v *yaml.Node, field string, re *regexp.Regexp, want string) string {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || !re.MatchString(v.Value) {
			p.fail(v, "github_alerts.%s: expected %s, got %s", field, want, kind(v))
			return ""
		}
		return v.Value
	}
	p.mapping(n, "github_alerts", map[string]func(k, v *yaml.Node){
		"playbook": func(k, v *yaml.Node) { ga.Playbook = scalar(v, "playbook", nameRe, "a playbook name") },
		"channel": func(k, v *yaml.Node) {
			ga.Channel = scalar(v, "channel", channelIDRe, "a Slack channel ID (C…): Slack needs IDs, names change")
		},
		"input":  func(k, v *yaml.Node) { ga.Input = scalar(v, "input", inputNameRe, "an input name") },
		"inputs": func(k, v *yaml.Node) { ga.Inputs = p.inputValues(v) },
		"secret_types": func(k, v *yaml.Node) {
			ga.SecretTypes = p.ids(v, "github_alerts.secret_types", secretTypeRe, "a GitHub secret type (e.g. openai_api_key)", false)
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				p.fail(v, "github_alerts.secret_types: empty: no alert would start a run")
			}
		},
	}, []string{"playbook", "channel", "secret_types"})
	return ga
}

type configParser struct {
	file     string
	problems []string
}

func (p *configParser) fail(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf("%s:%d:%d: %s", p.file, n.Line, n.Column, fmt.Sprintf(format, args...)))
}

func (p *configParser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &ConfigError{File: p.file, Problems: p.problems}
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

// mapping walks a mapping node, calling known[key] for each key and reporting unknown and
// missing ones.
func (p *configParser) mapping(n *yaml.Node, what string, known map[string]func(k, v *yaml.Node), required []string) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s: expected a mapping, got %s", what, kind(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fn, ok := known[k.Value]
		if !ok {
			keys := make([]string, 0, len(known))
			for key := range known {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			p.fail(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(keys, ", "))
			continue
		}
		if seen[k.Value] {
			p.fail(k, "%s: %s is given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		fn(k, v)
	}
	for _, r := range required {
		if !seen[r] {
			p.fail(n, "%s: %s is required", what, r)
		}
	}
}

func (p *configParser) acl(name string, n *yaml.Node) PlaybookACL {
	var a PlaybookACL
	what := "playbooks." + name
	p.mapping(n, what, map[string]func(k, v *yaml.Node){
		"users": func(k, v *yaml.Node) { a.Users = p.ids(v, what+".users", userIDRe, "a Slack user ID (U…)", true) },
		"channels": func(k, v *yaml.Node) {
			a.Channels = p.ids(v, what+".channels", channelIDRe, "a Slack channel ID (C…)", true)
		},
		"approvers": func(k, v *yaml.Node) {
			a.Approvers = p.ids(v, what+".approvers", userIDRe, "a Slack user ID (U…)", false)
		},
		"two_person": func(k, v *yaml.Node) {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&a.TwoPerson) != nil {
				p.fail(v, "%s.two_person: expected true or false, got %s", what, kind(v))
			}
		},
	}, []string{"users", "channels"})
	if a.TwoPerson && len(a.Approvers) == 1 && slices.Equal(a.Approvers, a.Users) {
		p.fail(n, "%s: two_person is set but the only approver is the only user: nobody could approve", what)
	}
	return a
}

func (p *configParser) ids(n *yaml.Node, what string, re *regexp.Regexp, want string, nonEmpty bool) []string {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "%s: expected a list of IDs, got %s", what, kind(n))
		return nil
	}
	var out []string
	for _, it := range n.Content {
		if it.Kind != yaml.ScalarNode || it.Tag != "!!str" {
			p.fail(it, "%s: expected %s, got %s", what, want, kind(it))
			continue
		}
		v := it.Value
		if !re.MatchString(v) {
			hint := ""
			if strings.HasPrefix(v, "#") || strings.HasPrefix(v, "@") {
				hint = ": names change and Slack sends IDs; copy the ID from the channel's or person's details"
			}
			p.fail(it, "%s: %q is not %s%s", what, v, want, hint)
			continue
		}
		if slices.Contains(out, v) {
			p.fail(it, "%s: %s is listed twice", what, v)
			continue
		}
		out = append(out, v)
	}
	if nonEmpty && len(n.Content) == 0 {
		p.fail(n, "%s: empty: nobody could use this playbook from Slack", what)
	}
	return out
}

// inputValues decodes github_alerts.inputs: input names to scalar values (a list input takes a
// comma-separated string, as in a slash command).
func (p *configParser) inputValues(n *yaml.Node) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "github_alerts.inputs: expected a mapping of input names to values, got %s", kind(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !inputNameRe.MatchString(k.Value):
			p.fail(k, "github_alerts.inputs: %q is not an input name", k.Value)
		case v.Kind != yaml.ScalarNode:
			p.fail(v, "github_alerts.inputs.%s: expected a value (a list as a comma-separated string), got %s", k.Value, kind(v))
		default:
			out[k.Value] = v.Value
		}
	}
	return out
}
