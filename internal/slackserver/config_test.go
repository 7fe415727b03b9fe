package slackserver_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/respond-sec/respond/internal/slackserver"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cfg, err := slackserver.ParseConfig("slack.yaml", []byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := &slackserver.Config{Playbooks: map[string]slackserver.PlaybookACL{
		"openai-key-leak": {Users: []string{alice, bob}, Channels: []string{incidents},
			Approvers: []string{alice, bob, carol}, TwoPerson: true},
		"exec-example": {Users: []string{alice}, Channels: []string{incidents, random}},
	}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	acl := cfg.Playbooks["openai-key-leak"]
	if !acl.Allows(alice, incidents) || acl.Allows(alice, random) || acl.Allows(mallory, incidents) {
		t.Error("Allows is wrong")
	}
	if !acl.CanApprove(carol) || acl.CanApprove(mallory) {
		t.Error("CanApprove is wrong")
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // each a problem line, in order
	}{
		{"empty", "", []string{"f.yaml:1:1: empty file"}},
		{"not yaml", "playbooks: [", []string{"invalid YAML"}},
		{"unknown top key", "playbook: {}\n", []string{
			`f.yaml:1:1: the file: unknown key "playbook" (known: github_alerts, playbooks)`,
			"f.yaml:1:1: the file: playbooks is required"}},
		{"typo in a playbook", "playbooks:\n  p:\n    user: [U1AA]\n    channels: [C1AA]\n", []string{
			`f.yaml:3:5: playbooks.p: unknown key "user" (known: approvers, channels, two_person, users)`,
			"f.yaml:3:5: playbooks.p: users is required"}},
		{"names instead of IDs", "playbooks:\n  p:\n    users: ['@alice']\n    channels: ['#incidents']\n", []string{
			`f.yaml:3:13: playbooks.p.users: "@alice" is not a Slack user ID (U…): names change and Slack sends IDs`,
			`f.yaml:4:16: playbooks.p.channels: "#incidents" is not a Slack channel ID (C…): names change`}},
		{"empty lists", "playbooks:\n  p: {users: [], channels: []}\n", []string{
			"f.yaml:2:14: playbooks.p.users: empty: nobody could use this playbook from Slack",
			"f.yaml:2:28: playbooks.p.channels: empty"}},
		{"bad types", "playbooks:\n  p: {users: U1AA, channels: [C1AA], two_person: yes}\n", []string{
			`f.yaml:2:14: playbooks.p.users: expected a list of IDs, got "U1AA"`,
			`f.yaml:2:50: playbooks.p.two_person: expected true or false, got "yes"`}},
		{"duplicates", "playbooks:\n  p: {users: [U1AA, U1AA], channels: [C1AA]}\n", []string{
			"f.yaml:2:21: playbooks.p.users: U1AA is listed twice"}},
		{"nobody can approve", "playbooks:\n  p: {users: [U1AA], channels: [C1AA], approvers: [U1AA], two_person: true}\n", []string{
			"playbooks.p: two_person is set but the only approver is the only user"}},
		{"no playbooks", "playbooks: {}\n", []string{"playbooks: empty"}},
		{"alerts for an unlisted playbook", "playbooks:\n  p: {users: [U1AA], channels: [C1AA]}\n" +
			"github_alerts: {playbook: q, channel: C1AA, secret_types: [openai_api_key]}\n", []string{
			"f.yaml:3:16: github_alerts.playbook: q is not listed under playbooks:"}},
		{"alerts fields", "playbooks:\n  p: {users: [U1AA], channels: [C1AA]}\n" +
			"github_alerts:\n  playbook: p\n  channel: '#incidents'\n  secret_types: []\n  input: Key\n  types: x\n", []string{
			`f.yaml:5:12: github_alerts.channel: expected a Slack channel ID (C…): Slack needs IDs, names change, got "#incidents"`,
			"f.yaml:6:17: github_alerts.secret_types: empty: no alert would start a run",
			`f.yaml:7:10: github_alerts.input: expected an input name, got "Key"`,
			`f.yaml:8:3: github_alerts: unknown key "types" (known: channel, input, inputs, playbook, secret_types)`}},
		{"alerts missing fields", "playbooks:\n  p: {users: [U1AA], channels: [C1AA]}\ngithub_alerts: {playbook: p}\n", []string{
			"f.yaml:3:16: github_alerts: channel is required",
			"f.yaml:3:16: github_alerts: secret_types is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := slackserver.ParseConfig("f.yaml", []byte(tc.src))
			var ce *slackserver.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig = %v, want a ConfigError", err)
			}
			if len(ce.Problems) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant %d", strings.Join(ce.Problems, "\n"), len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(ce.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ce.Problems[i], w)
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "slack.yaml")
	if _, err := slackserver.LoadConfig(path); err == nil {
		t.Fatal("LoadConfig of a missing file succeeded")
	}
	if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := slackserver.LoadConfig(path); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigGitHubAlerts(t *testing.T) {
	t.Parallel()
	cfg, err := slackserver.ParseConfig("slack.yaml", []byte(alertsConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := &slackserver.GitHubAlerts{Playbook: "openai-key-leak", Channel: incidents, SecretTypes: []string{"openai_api_key"}, Input: "key"}
	if diff := cmp.Diff(want, cfg.GitHubAlerts, cmpopts.IgnoreUnexported(slackserver.GitHubAlerts{})); diff != "" {
		t.Errorf("github_alerts (-want +got):\n%s", diff)
	}
}
