package github_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// capture is a webhook receiver that keeps every delivery.
type capture struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs, c.body = append(c.reqs, r), append(c.body, b)
}

func TestSimulatorWebhookVerifiesAndParses(t *testing.T) {
	t.Parallel()
	keys := fakekey.Random()
	secret, leaked := keys.Hex(32), keys.OpenAIProjectKey()
	rcv := &capture{}
	hooks := httptest.NewServer(rcv)
	t.Cleanup(hooks.Close)
	sim := githubsim.New(githubsim.Options{Token: keys.GitHubToken()})
	if _, err := sim.AddRepo(githubsim.Repo{Name: "acme/storefront", Private: true}); err != nil {
		t.Fatal(err)
	}
	sim.SetWebhook(&githubsim.Webhook{URL: hooks.URL, Secret: secret, APIURL: "https://api.github.com"})
	if _, err := sim.AddAlert("acme/storefront", githubsim.Alert{SecretType: "openai_api_key", Secret: leaked}); err != nil {
		t.Fatal(err)
	}
	ds := sim.Deliveries()
	if len(ds) != 1 || ds[0].Status != http.StatusOK {
		t.Fatalf("deliveries %+v", ds)
	}
	r, body := rcv.reqs[0], rcv.body[0]
	if strings.Contains(string(body), leaked) {
		t.Fatal("the webhook payload carries the secret; GitHub's does not")
	}
	tests := []struct {
		name    string
		header  func(h http.Header)
		secret  string
		wantErr bool
	}{
		{name: "signed", secret: secret},
		{name: "wrong secret", secret: keys.Hex(32), wantErr: true},
		{name: "unsigned", secret: secret, header: func(h http.Header) { h.Del(github.HeaderSignature); h.Del("X-Hub-Signature") }, wantErr: true},
		{name: "SHA-1 only", secret: secret, header: func(h http.Header) { h.Del(github.HeaderSignature) }, wantErr: true},
		{name: "upper-case hex", secret: secret, header: func(h http.Header) {
			h.Set(github.HeaderSignature, "sha256="+strings.ToUpper(strings.TrimPrefix(h.Get(github.HeaderSignature), "sha256=")))
		}},
		{name: "no secret configured", secret: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := r.Header.Clone()
			if tt.header != nil {
				tt.header(h)
			}
			payload, err := github.VerifyWebhook(h, body, []byte(tt.secret))
			if tt.wantErr {
				if !errors.Is(err, github.ErrBadSignature) {
					t.Fatalf("VerifyWebhook = %v, want ErrBadSignature", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ev, err := github.ParseAlertEvent(payload)
			if err != nil {
				t.Fatal(err)
			}
			want := github.AlertEvent{Action: "created", Repo: "acme/storefront", Org: "acme", Number: 1, SecretType: "openai_api_key",
				HTMLURL: ev.HTMLURL}
			if ev != want || r.Header.Get(github.HeaderEvent) != github.EventSecretScanningAlert || r.Header.Get(github.HeaderDelivery) == "" {
				t.Errorf("event %+v, headers %v", ev, r.Header)
			}
		})
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw["repository"] == nil || raw["alert"] == nil {
		t.Errorf("payload lacks the required action/alert/repository: %v", err)
	}
}
