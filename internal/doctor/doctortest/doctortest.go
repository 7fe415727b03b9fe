// Package doctortest serves the OpenAI, GitHub and Slack simulators with the credentials and
// permissions a test chooses, and the environment that points respond at them, for the tests of
// respond doctor (the doctor package's and the CLI's). Only _test files import it.
package doctortest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// Channel is the run channel of the built-in playbook, as the Slack sim knows it.
const Channel = "security-incidents"

// Config chooses what each credential may do. The zero Config is a setup where everything is
// allowed (the GitHub token is a classic one with the repo and security_events scopes), the bot
// is in the channel and the repository acme/api (private) exists.
type Config struct {
	// GitHub configures the GitHub token (Scopes, Permissions, TokenExpires); Token is set here.
	GitHub githubsim.Options
	// SlackScopes are the bot token's scopes (nil: the sim's defaults, everything respond needs).
	SlackScopes []string
	// SlackChannel replaces the run channel's membership settings (Private, WithoutBot).
	SlackChannel slacksim.Channel
	// SlackChannels are more channels of the workspace.
	SlackChannels []slacksim.Channel
	// OpenAIRefuse are admin API path prefixes ("/v1/organization/usage/") answered as for an
	// admin key without that permission.
	OpenAIRefuse []string
}

// World is the running simulators and the environment that reaches them.
type World struct {
	Env                                map[string]string
	OpenAIKey, GitHubToken, SlackToken string
	GitHub                             *githubsim.Server
	Slack                              *slacksim.Sim
}

// Getenv reads the world's environment.
func (w *World) Getenv(k string) string { return w.Env[k] }

// Secrets are the credential values, which no output may show.
func (w *World) Secrets() []string { return []string{w.OpenAIKey, w.GitHubToken, w.SlackToken} }

// Start serves the simulators for one test.
func Start(t testing.TB, seed uint64, cfg Config) *World {
	t.Helper()
	keys := fakekey.New(seed)
	w := &World{GitHubToken: keys.GitHubToken(), SlackToken: keys.SlackBotToken()}

	oai := openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: seed})
	w.OpenAIKey = oai.AdminKey()
	oaiSrv := httptest.NewServer(refusing(oai, cfg.OpenAIRefuse))
	t.Cleanup(oaiSrv.Close)

	cfg.GitHub.Token, cfg.GitHub.Seed = w.GitHubToken, seed
	if cfg.GitHub.Scopes == nil && cfg.GitHub.Permissions == nil {
		cfg.GitHub.Scopes = []string{"repo", "security_events"}
	}
	w.GitHub = githubsim.New(cfg.GitHub)
	if err := w.GitHub.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api", Private: true}}}); err != nil {
		t.Fatal(err)
	}
	ghSrv := httptest.NewServer(w.GitHub)
	t.Cleanup(ghSrv.Close)

	ch := cfg.SlackChannel
	ch.ID, ch.Name = "C0SECURITY", Channel
	var slackSrv *httptest.Server
	w.Slack, slackSrv = slacksim.NewServer(slacksim.Config{Token: w.SlackToken, Scopes: cfg.SlackScopes,
		Channels: append([]slacksim.Channel{ch}, cfg.SlackChannels...)})
	t.Cleanup(slackSrv.Close)

	w.Env = map[string]string{
		"OPENAI_ADMIN_KEY":               w.OpenAIKey,
		"RESPOND_OPENAI_BASE_URL":        oaiSrv.URL + "/v1",
		"RESPOND_OPENAI_MAX_RETRY_DELAY": "5ms",
		"GITHUB_TOKEN":                   w.GitHubToken,
		"RESPOND_GITHUB_API_URL":         ghSrv.URL,
		"SLACK_BOT_TOKEN":                w.SlackToken,
		"RESPOND_SLACK_API_URL":          w.Slack.APIURL(),
	}
	return w
}

// refusing answers requests under the prefixes as OpenAI answers an admin key that lacks the
// permission: 401 with a message naming the missing scope, and no invalid_api_key code (that one
// means the key itself is bad). The exact text is our reading of OpenAI's answers to restricted
// keys; the doctor keys on status and code only.
func refusing(next http.Handler, prefixes []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range prefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.usage.read. Check that you have the correct role in your organization, and if you are using a restricted API key, that it has the necessary scopes.","type":"invalid_request_error","param":null,"code":null}}`))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
