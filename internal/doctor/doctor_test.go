package doctor_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/doctor"
	"github.com/respond-sec/respond/internal/doctor/doctortest"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/playbooks"
	"github.com/respond-sec/respond/steps/catalog"
)

var now = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

func builtin(t *testing.T) *playbook.Playbook {
	t.Helper()
	src, ok := playbooks.Source("openai-key-leak")
	if !ok {
		t.Fatal("no built-in openai-key-leak")
	}
	pb, err := playbook.Load("builtin:openai-key-leak.yaml", src, catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// line is a check as the test compares it.
func line(c doctor.Check) string { return c.Status.Mark() + " " + c.Service + ": " + c.Name }

// healthy is the report of a setup where everything that can be checked read-only is allowed.
var healthy = []string{
	"✓ OpenAI: admin key (OPENAI_ADMIN_KEY) valid",
	"✓ OpenAI: list projects",
	"✓ OpenAI: list project API keys",
	"? OpenAI: delete project API keys",
	"✓ OpenAI: list service accounts",
	"? OpenAI: create service accounts and their keys",
	"✓ OpenAI: read usage",
	"✓ OpenAI: read costs",
	"✓ OpenAI: read spend limits, spend alerts and rate limits",
	"? OpenAI: write spend limits, spend alerts and rate limits",
	"✓ GitHub: token (GITHUB_TOKEN) valid",
	"✓ GitHub: read secret-scanning alerts",
	"✓ GitHub: resolve secret-scanning alerts",
	"✓ GitHub: code search",
	"✓ GitHub: read Actions runs and logs",
	"✓ GitHub: delete Actions run logs",
	"✓ GitHub: write Actions secrets",
	"✓ Slack: bot token (SLACK_BOT_TOKEN) valid",
	"✓ Slack: chat:write scope",
	"✓ Slack: bot can post in #security-incidents",
	"✓ Slack: commands scope (respond serve)",
}

// with returns healthy with the lines starting like a replacement's text after its mark
// replaced by it, and lines equal to a drop removed.
func with(repl []string, drop ...string) []string {
	var out []string
	for _, h := range healthy {
		if contains(drop, h[len("✓ "):]) || contains(drop, h[len("? "):]) {
			continue
		}
		for _, r := range repl {
			if strings.TrimLeft(r[strings.Index(r, " ")+1:], " ") == strings.TrimLeft(h[strings.Index(h, " ")+1:], " ") {
				h = r
			}
		}
		out = append(out, h)
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

var classicAll = []string{"repo", "security_events"}

func TestDoctor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   doctortest.Config
		env   map[string]string // overrides; "" unsets
		org   string
		repos []string
		want  []string
		fixes map[string]string // check name → what its fix must say
	}{
		{name: "healthy, classic token", cfg: doctortest.Config{GitHub: githubsim.Options{Scopes: classicAll}},
			org: "acme", repos: []string{"acme/api"}, want: healthy},
		{name: "healthy, fine-grained token", cfg: doctortest.Config{GitHub: githubsim.Options{Permissions: map[string]string{
			"secret_scanning_alerts": "write", "actions": "write", "secrets": "write", "metadata": "read"}}},
			org: "acme", repos: []string{"acme/api"},
			want: with([]string{"? GitHub: resolve secret-scanning alerts", "? GitHub: delete Actions run logs", "? GitHub: write Actions secrets"}),
			fixes: map[string]string{"resolve secret-scanning alerts": "Secret scanning alerts: Read and write",
				"write Actions secrets": "Secrets: Read and write"}},
		{name: "no repositories named", cfg: doctortest.Config{GitHub: githubsim.Options{Permissions: map[string]string{"metadata": "read"}}},
			want: with([]string{"? GitHub: read secret-scanning alerts", "? GitHub: resolve secret-scanning alerts",
				"? GitHub: code search", "? GitHub: read Actions runs and logs", "? GitHub: delete Actions run logs",
				"? GitHub: write Actions secrets"}),
			fixes: map[string]string{"read Actions runs and logs": "--github-repo OWNER/NAME"}},
		{name: "OpenAI admin key missing", env: map[string]string{"OPENAI_ADMIN_KEY": ""}, org: "acme", repos: []string{"acme/api"},
			want:  append([]string{"✗ OpenAI: admin key (OPENAI_ADMIN_KEY)"}, healthy[10:]...),
			fixes: map[string]string{"admin key (OPENAI_ADMIN_KEY)": "Admin keys"}},
		{name: "OpenAI admin key wrong", env: map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-not-the-right-one-at-all"},
			org: "acme", repos: []string{"acme/api"},
			want:  append([]string{"✗ OpenAI: admin key (OPENAI_ADMIN_KEY)", "? OpenAI: everything else the OpenAI steps do"}, healthy[10:]...),
			fixes: map[string]string{"admin key (OPENAI_ADMIN_KEY)": "Admin keys"}},
		{name: "OpenAI usage and costs refused", cfg: doctortest.Config{OpenAIRefuse: []string{"/v1/organization/usage/", "/v1/organization/costs"}},
			org: "acme", repos: []string{"acme/api"},
			want:  with([]string{"✗ OpenAI: read usage", "✗ OpenAI: read costs"}),
			fixes: map[string]string{"read usage": "give the admin key permission to read usage"}},
		{name: "GitHub token missing", env: map[string]string{"GITHUB_TOKEN": ""}, org: "acme", repos: []string{"acme/api"},
			want:  append(append(append([]string{}, healthy[:10]...), "✗ GitHub: token (GITHUB_TOKEN)"), healthy[17:]...),
			fixes: map[string]string{"token (GITHUB_TOKEN)": "export it as GITHUB_TOKEN"}},
		{name: "GitHub token wrong", env: map[string]string{"GITHUB_TOKEN": "ghp_notthetokenthesimulatoraccepts00"},
			org: "acme", repos: []string{"acme/api"},
			want: append(append(append([]string{}, healthy[:10]...), "✗ GitHub: token (GITHUB_TOKEN)",
				"? GitHub: everything else the GitHub steps do"), healthy[17:]...)},
		{name: "classic token without repo or security_events", cfg: doctortest.Config{GitHub: githubsim.Options{Scopes: []string{"read:org"}}},
			org: "acme", repos: []string{"acme/api"},
			want: with([]string{"✗ GitHub: read secret-scanning alerts", "✗ GitHub: resolve secret-scanning alerts",
				"✗ GitHub: code search", "✗ GitHub: read Actions runs and logs", "✗ GitHub: delete Actions run logs",
				"✗ GitHub: write Actions secrets"}),
			fixes: map[string]string{"read secret-scanning alerts": "add the repo scope", "write Actions secrets": "add the repo scope"}},
		{name: "fine-grained token without Actions or Secrets", cfg: doctortest.Config{GitHub: githubsim.Options{Permissions: map[string]string{
			"secret_scanning_alerts": "read", "metadata": "read"}}},
			org: "acme", repos: []string{"acme/api"},
			want: with([]string{"? GitHub: resolve secret-scanning alerts", "✗ GitHub: read Actions runs and logs",
				"? GitHub: delete Actions run logs", "✗ GitHub: write Actions secrets"}),
			fixes: map[string]string{"read Actions runs and logs": "GitHub wants actions=read", "write Actions secrets": "GitHub wants secrets=read"}},
		{name: "unknown repository", cfg: doctortest.Config{GitHub: githubsim.Options{Scopes: classicAll}},
			repos: []string{"acme/gone"},
			want: with([]string{"✗ GitHub: read secret-scanning alerts", "✗ GitHub: code search", "✗ GitHub: read Actions runs and logs",
				"✗ GitHub: write Actions secrets"}),
			fixes: map[string]string{"read secret-scanning alerts": "404"}},
		{name: "GitHub token expiring", cfg: doctortest.Config{GitHub: githubsim.Options{Scopes: classicAll, TokenExpires: now.Add(72 * time.Hour)}},
			org: "acme", repos: []string{"acme/api"}, want: with([]string{"! GitHub: token (GITHUB_TOKEN) valid"}),
			fixes: map[string]string{"token (GITHUB_TOKEN) valid": "renew the token"}},
		{name: "Slack token missing", env: map[string]string{"SLACK_BOT_TOKEN": ""}, org: "acme", repos: []string{"acme/api"},
			want:  append(append([]string{}, healthy[:17]...), "✗ Slack: bot token (SLACK_BOT_TOKEN)"),
			fixes: map[string]string{"bot token (SLACK_BOT_TOKEN)": "export its bot token"}},
		{name: "Slack token wrong", env: map[string]string{"SLACK_BOT_TOKEN": "xoxb-0-0-wrong"}, org: "acme", repos: []string{"acme/api"},
			want: append(append([]string{}, healthy[:17]...), "✗ Slack: bot token (SLACK_BOT_TOKEN)",
				"? Slack: everything else respond does in Slack")},
		{name: "Slack scopes missing", cfg: doctortest.Config{SlackScopes: []string{"channels:read", "groups:read"}},
			org: "acme", repos: []string{"acme/api"},
			want:  with([]string{"✗ Slack: chat:write scope", "! Slack: commands scope (respond serve)"}),
			fixes: map[string]string{"chat:write scope": "add the chat:write bot scope", "commands scope (respond serve)": "add the commands bot scope"}},
		{name: "Slack private channel without the bot", cfg: doctortest.Config{SlackChannel: slacksim.Channel{Private: true, WithoutBot: true}},
			org: "acme", repos: []string{"acme/api"}, want: with([]string{"✗ Slack: bot can post in #security-incidents"}),
			fixes: map[string]string{"bot can post in #security-incidents": "/invite @respond` in #security-incidents"}},
		{name: "Slack public channel without the bot, can join", cfg: doctortest.Config{SlackChannel: slacksim.Channel{WithoutBot: true}},
			org: "acme", repos: []string{"acme/api"}, want: healthy},
		{name: "Slack public channel without the bot, cannot join", cfg: doctortest.Config{
			SlackChannel: slacksim.Channel{WithoutBot: true}, SlackScopes: []string{"chat:write", "channels:read", "groups:read", "commands"}},
			org: "acme", repos: []string{"acme/api"}, want: with([]string{"✗ Slack: bot can post in #security-incidents"}),
			fixes: map[string]string{"bot can post in #security-incidents": "channels:join"}},
		{name: "Slack cannot look channels up", cfg: doctortest.Config{SlackScopes: []string{"chat:write", "commands"}},
			org: "acme", repos: []string{"acme/api"}, want: with([]string{"✗ Slack: bot can post in #security-incidents"}),
			fixes: map[string]string{"bot can post in #security-incidents": "channels:read and groups:read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := doctortest.Start(t, 7, tc.cfg)
			for k, v := range tc.env {
				w.Env[k] = v
			}
			rep := doctor.Run(t.Context(), doctor.Options{Playbook: builtin(t), Getenv: w.Getenv, Now: func() time.Time { return now },
				GitHubOrg: tc.org, GitHubRepos: tc.repos})
			var got []string
			failed := 0
			for _, c := range rep.Checks {
				got = append(got, line(c))
				if c.Status == doctor.Fail {
					failed++
				}
				if c.Status != doctor.OK && c.Fix == "" {
					t.Errorf("%s: no fix", line(c))
				}
				if len(c.Steps) == 0 {
					t.Errorf("%s: no step needs it", line(c))
				}
				if want, ok := tc.fixes[c.Name]; ok && !strings.Contains(c.Fix, want) {
					t.Errorf("%s: fix %q does not say %q", line(c), c.Fix, want)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			if rep.Failed != failed || rep.OK != (failed == 0) {
				t.Errorf("Failed=%d OK=%v, want %d failures", rep.Failed, rep.OK, failed)
			}
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(rep)
			for _, s := range w.Secrets() {
				if strings.Contains(text.String(), s) || strings.Contains(string(js), s) {
					t.Fatalf("the report shows a credential:\n%s", text.String())
				}
			}
		})
	}
}

func TestDoctorWhenNothingAnswers(t *testing.T) {
	t.Parallel()
	w := doctortest.Start(t, 10, doctortest.Config{})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // a port nothing listens on any more
	w.Env["RESPOND_OPENAI_BASE_URL"] = dead.URL + "/v1"
	w.Env["RESPOND_GITHUB_API_URL"] = dead.URL
	w.Env["RESPOND_SLACK_API_URL"] = dead.URL + "/api/"
	rep := doctor.Run(t.Context(), doctor.Options{Playbook: builtin(t), Getenv: w.Getenv, GitHubRepos: []string{"acme/api"}})
	var got []string
	for _, c := range rep.Checks {
		got = append(got, line(c))
		if c.Status == doctor.Fail && !strings.Contains(c.Fix, "network") {
			t.Errorf("%s: fix %q does not point at the network", line(c), c.Fix)
		}
	}
	want := []string{
		"✗ OpenAI: admin key (OPENAI_ADMIN_KEY)", "? OpenAI: everything else the OpenAI steps do",
		"✗ GitHub: token (GITHUB_TOKEN)", "? GitHub: everything else the GitHub steps do",
		"✗ Slack: bot token (SLACK_BOT_TOKEN)", "? Slack: everything else respond does in Slack",
	}
	if diff := cmp.Diff(want, got); diff != "" || rep.Failed != 3 {
		t.Errorf("checks (-want +got):\n%s (failed %d)", diff, rep.Failed)
	}
}

func TestDoctorNamesTheStepsThatNeedEachCheck(t *testing.T) {
	t.Parallel()
	w := doctortest.Start(t, 8, doctortest.Config{})
	rep := doctor.Run(t.Context(), doctor.Options{Playbook: builtin(t), Getenv: w.Getenv, GitHubOrg: "acme", GitHubRepos: []string{"acme/api"}})
	got := map[string][]string{}
	for _, c := range rep.Checks {
		got[c.Name] = c.Steps
	}
	for name, want := range map[string][]string{
		"list project API keys": {"identify", "revoke"},
		"read usage":            {"replace", "review"},
		"write spend limits, spend alerts and rate limits": {"budgets"},
		"read secret-scanning alerts":                      {"search_github", "resolve_alerts"},
		"delete Actions run logs":                          {"purge_actions_logs"},
		"write Actions secrets":                            {"replace"},
		"bot can post in #security-incidents":              {doctor.RunSlackStep, "announce"},
	} {
		if diff := cmp.Diff(want, got[name]); diff != "" {
			t.Errorf("%s: steps (-want +got):\n%s", name, diff)
		}
	}
}

func TestDoctorChecksEveryChannelAStepPostsTo(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Load("p.yaml", []byte(`name: notes
notify: {slack: {channel: "#security-incidents"}}
inputs:
  where: {description: a channel}
steps:
  - {id: thread, uses: slack.notify, with: {text: into the run's thread}}
  - {id: public, uses: slack.notify, with: {text: hi, channel: "#announce"}}
  - {id: private, uses: slack.notify, with: {text: hi, channel: "#leads"}}
  - {id: later, uses: slack.notify, with: {text: hi, channel: "{{ .inputs.where }}"}}
`), catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	w := doctortest.Start(t, 11, doctortest.Config{SlackChannels: []slacksim.Channel{
		{ID: "C0ANNOUNCE", Name: "announce", WithoutBot: true}, {ID: "G0LEADS", Name: "leads", Private: true, WithoutBot: true}}})
	rep := doctor.Run(t.Context(), doctor.Options{Playbook: pb, Getenv: w.Getenv})
	var got []string
	for _, c := range rep.Checks {
		got = append(got, line(c)+" ["+strings.Join(c.Steps, ", ")+"]")
	}
	want := []string{
		"✓ Slack: bot token (SLACK_BOT_TOKEN) valid [(slack progress), thread, public, private, later]",
		"✓ Slack: chat:write scope [(slack progress), thread, public, private, later]",
		"✓ Slack: bot can post in #security-incidents [(slack progress), thread]",
		"✓ Slack: bot can post in #announce [public]",
		"✗ Slack: bot can post in #leads [private]",
		"✓ Slack: commands scope (respond serve) [(slack progress)]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

func TestDoctorChecksOnlyWhatThePlaybookUses(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Load("p.yaml", []byte("name: local\nsteps:\n  - {id: hi, uses: exec, with: {argv: [echo, hi]}}\n"), catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	rep := doctor.Run(t.Context(), doctor.Options{Playbook: pb, Getenv: func(string) string { return "" }})
	if len(rep.Checks) != 0 || !rep.OK {
		t.Errorf("a playbook without credentials: %+v", rep)
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	if !strings.Contains(text.String(), "nothing to check") {
		t.Errorf("text: %s", text.String())
	}
}

func TestDoctorChangesNothing(t *testing.T) {
	t.Parallel()
	w := doctortest.Start(t, 9, doctortest.Config{SlackChannel: slacksim.Channel{WithoutBot: true}})
	before := w.GitHub.Snapshot()
	doctor.Run(t.Context(), doctor.Options{Playbook: builtin(t), Getenv: w.Getenv, GitHubOrg: "acme", GitHubRepos: []string{"acme/api"}})
	if !bytes.Equal(before, w.GitHub.Snapshot()) {
		t.Error("doctor changed GitHub")
	}
	for _, c := range w.Slack.Calls() {
		if c.Method == slacksim.MethodConvJoin || c.Method == slacksim.MethodPostMessage || c.Method == slacksim.MethodUpdate {
			t.Errorf("doctor called %s", c.Method)
		}
	}
}
