package githubsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Webhook makes the simulator deliver secret_scanning_alert events the way a repository or
// organization webhook does (docs.github.com, "Webhook events and payloads" and "Validating
// webhook deliveries"): a JSON POST with X-GitHub-Event, X-GitHub-Delivery (a GUID per
// delivery; a redelivery keeps it), X-GitHub-Hook-ID, X-Hub-Signature-256 (HMAC-SHA256 of the
// body with the secret, hex, "sha256=" prefix) and the legacy X-Hub-Signature (SHA-1). The
// alert in the payload has no secret field: receivers fetch the value with the REST API.
type Webhook struct {
	URL    string // where deliveries go
	Secret string // the webhook's secret; empty sends no signature headers
	// APIURL is the simulator's own REST root, for the url fields of the payload.
	APIURL string
	// Client sends deliveries (http.DefaultClient when nil).
	Client *http.Client
}

// Delivery is one webhook delivery the simulator made.
type Delivery struct {
	ID     string
	Event  string
	Action string
	Alert  string // owner/repo#N
	Sent   time.Time
	Status int // the receiver's answer; 0 when it could not be reached
	Err    string
	body   []byte
}

// webhooks is the simulator's webhook state.
type webhooks struct {
	mu         sync.Mutex
	hook       *Webhook
	deliveries []Delivery
	wg         sync.WaitGroup
}

// SetWebhook starts (or, with nil, stops) webhook deliveries for alerts created from now on.
func (s *Server) SetWebhook(w *Webhook) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.hook = w
}

// Deliveries waits for deliveries under way and returns every delivery made so far.
func (s *Server) Deliveries() []Delivery {
	s.hooks.wg.Wait()
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]Delivery(nil), s.hooks.deliveries...)
}

// Redeliver sends delivery id again, with the same ID and body, as GitHub's "Redeliver" does.
func (s *Server) Redeliver(id string) error {
	s.hooks.mu.Lock()
	var d Delivery
	for _, old := range s.hooks.deliveries {
		if old.ID == id {
			d = old
		}
	}
	hook := s.hooks.hook
	s.hooks.mu.Unlock()
	if d.ID == "" || hook == nil {
		return fmt.Errorf("redeliver %s: no such delivery or no webhook", id)
	}
	s.deliver(hook, d)
	return nil
}

// alertCreatedLocked queues the created event of a new alert when a webhook is set.
func (s *Server) alertCreatedLocked(rp *repo, a *alert) {
	s.hooks.mu.Lock()
	hook := s.hooks.hook
	s.hooks.mu.Unlock()
	if hook == nil {
		return
	}
	r := &http.Request{Host: "api.github.com", URL: &url.URL{}}
	if u, err := url.Parse(hook.APIURL); err == nil && u.Host != "" {
		r.Host = u.Host
		if u.Scheme == "https" {
			r.TLS = &tls.ConnectionState{} // apiBase reads the scheme from the request's TLS state
		}
	}
	payload := map[string]any{
		"action":     "created",
		"alert":      webhookAlert(s.alertJSON(r, rp, a, false)),
		"repository": s.repoJSON(r, rp),
		"organization": map[string]any{"login": rp.owner, "id": s.orgLocked(rp.owner).id,
			"url": apiBase(r) + "/orgs/" + rp.owner},
		"sender": map[string]any{"login": "github", "id": 9919, "type": "Organization"},
	}
	body, _ := json.Marshal(payload)
	d := Delivery{ID: s.guidLocked(), Event: "secret_scanning_alert", Action: "created",
		Alert: fmt.Sprintf("%s/%s#%d", rp.owner, rp.name, a.Number), body: body}
	s.deliver(hook, d)
}

// webhookAlert is the REST alert without what the webhook's secret-scanning-alert-webhook schema
// leaves out: the secret and the state.
func webhookAlert(m map[string]any) map[string]any {
	delete(m, "secret")
	delete(m, "state")
	return m
}

// guidLocked is a delivery GUID, reproducible from the simulator's seed.
func (s *Server) guidLocked() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// deliver posts d in the background, as GitHub does, and records the answer.
func (s *Server) deliver(hook *Webhook, d Delivery) {
	s.hooks.wg.Add(1)
	go func() {
		defer s.hooks.wg.Done()
		d.Sent = s.now()
		d.Status, d.Err = post(hook, d)
		s.hooks.mu.Lock()
		s.hooks.deliveries = append(s.hooks.deliveries, d)
		s.hooks.mu.Unlock()
	}()
}

func post(hook *Webhook, d Delivery) (int, string) {
	req, err := http.NewRequest(http.MethodPost, hook.URL, bytes.NewReader(d.body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/sim")
	req.Header.Set("X-GitHub-Event", d.Event)
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	if hook.Secret != "" {
		req.Header.Set("X-Hub-Signature-256", "sha256="+mac(sha256.New, d.body, hook.Secret))
		req.Header.Set("X-Hub-Signature", "sha1="+mac(sha1.New, d.body, hook.Secret))
	}
	c := hook.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode, ""
}

// Sign is the X-Hub-Signature-256 value GitHub sends with body: tests forge or sign their own
// deliveries with it.
func Sign(body []byte, secret string) string { return "sha256=" + mac(sha256.New, body, secret) }

func mac(h func() hash.Hash, body []byte, secret string) string {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
