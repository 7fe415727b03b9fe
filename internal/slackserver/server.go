// Package slackserver owns respond's Slack front door: the `/respond` slash command and the
// approval buttons, over HTTP (POST /slack/commands, POST /slack/interactions, GET /healthz) or
// Socket Mode. Every HTTP request's signature is verified on the raw body before anything reads
// it, replays are refused, and per-playbook allow-lists decide who may start what where and who
// may approve. Answers come at once and never echo the command text (it may hold a secret); runs
// go on in the background through a Runner the CLI implements, so this package knows nothing of
// the CLI. With a github_alerts config it also answers GitHub's secret_scanning_alert webhooks
// (POST /github/webhook, verified with the webhook secret, de-duplicated by delivery and by
// alert) by starting the configured playbook with the alert as its key. It also holds the Slack approver (Approvals) and the run tracker (Runs) that lets a
// shutdown stop every run at a journaled point.
package slackserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/redact"
)

// Runner starts and reports on runs. The CLI implements it with Factory.execute.
type Runner interface {
	// Inputs describes the playbook's inputs; an error means it cannot be loaded.
	Inputs(playbook string) ([]InputSpec, error)
	// Start begins a run in the background with its own context and journal and returns its ID
	// once the run is recorded. ctx bounds the wait for the start only, not the run.
	Start(ctx context.Context, req RunRequest) (runID string, err error)
	// Status describes one run in a few lines; an error means there is no such run.
	Status(runID string) (string, error)
	// List describes recent and active runs, one line each.
	List() ([]string, error)
	// Shutdown stops the runs at a journaled point, waiting until ctx ends, and returns the runs
	// left unfinished (they can be resumed with `respond resume`).
	Shutdown(ctx context.Context) ([]Interrupted, error)
}

// InputSpec is what the server needs to know of one playbook input.
type InputSpec struct {
	Name     string
	Secret   bool
	Required bool
	HasValue bool // a default exists
}

// RunRequest is a run asked for from Slack. Inputs hold only non-secret values, key IDs and
// references to where a secret lives: the server refuses secret values typed into Slack.
type RunRequest struct {
	Playbook string
	Inputs   map[string]string
	DryRun   bool
	// User and UserName are who asked (a Slack user ID and handle); Channel is where, and where
	// the run's progress message goes.
	User, UserName, Channel string
	// Approver returns the run's Slack approver, asking in the thread of the message thread
	// locates (the run's progress sink). It is nil when nobody may approve from Slack.
	Approver func(thread Threader) engine.Approver
	// Secrets are secret inputs given on the one-time form, already registered for masking.
	Secrets map[string]string
}

// Interrupted is a run a shutdown left unfinished.
type Interrupted struct {
	RunID    string
	Playbook string
	// State says where it stopped: "cancelled at a step boundary", "still running at the deadline"…
	State string
}

// Threader locates a run's Slack thread (the progress sink's parent message).
type Threader interface {
	Thread(ctx context.Context) (channel, ts string, err error)
}

// Options configure a Server.
type Options struct {
	// SigningSecret verifies HTTP requests (SLACK_SIGNING_SECRET). Empty refuses every HTTP
	// request; Socket Mode does not need it.
	SigningSecret string
	Config        *Config
	Runner        Runner
	// Slack posts follow-ups (response_url), approval requests and refusals. Nil disables
	// follow-ups and Slack approvals.
	Slack *slack.Client
	// Secrets masks everything the server sends or logs; nil masks known key shapes only.
	Secrets *redact.Set
	// Logf reports what the server does and what fails (never a secret); nil discards.
	Logf func(format string, args ...any)
	// Command is the slash command's name for help texts (default "/respond").
	Command string
	// ShutdownGrace bounds a shutdown: in-flight requests and runs reaching a journaled point
	// (default 30s).
	ShutdownGrace time.Duration
	// StartTimeout bounds the wait for a run to be recorded (default 30s).
	StartTimeout time.Duration
	// PublicURL is where people reach this server over HTTPS (the base of the Slack endpoints,
	// e.g. https://respond.example.com). With it, a run command lacking a secret input gets a
	// one-time form at PublicURL/form/TOKEN; without it, such a command is refused.
	PublicURL string
	// GitHubWebhookSecret verifies GitHub webhook deliveries (GITHUB_WEBHOOK_SECRET); needed
	// when Config.GitHubAlerts is set.
	GitHubWebhookSecret string
}

// Limits.
const (
	maxBody = 64 << 10
	// replayWindow is how long after its timestamp a signed request stays acceptable: slack-go
	// accepts timestamps up to five minutes from now; one more minute covers clock steps.
	replayWindow = 6 * time.Minute
	// maxSeen bounds the replay cache; when full of live entries, new requests are refused
	// (fail closed) rather than forgetting one that could then be replayed.
	maxSeen = 100_000
)

// Server is the http.Handler (and Socket Mode dispatcher) for one Slack app.
type Server struct {
	o         Options
	approvals *Approvals
	mux       *http.ServeMux
	seen      *replayCache
	// deliveries remembers GitHub delivery IDs; alerts, which alerts started a run.
	deliveries *replayCache
	alerts     *alertRuns
	forms      *forms
	bg         sync.WaitGroup // follow-ups and Slack calls still going
	baseCtx    context.Context
	stopBase   context.CancelFunc
}

// New checks o and returns a Server.
func New(o Options) (*Server, error) {
	if o.Config == nil {
		return nil, errors.New("slack server: no config (the allow-lists of who may run what)")
	}
	if o.Runner == nil {
		return nil, errors.New("slack server: no runner")
	}
	if o.Secrets == nil {
		o.Secrets = redact.New()
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Command == "" {
		o.Command = "/respond"
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 30 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.Config.GitHubAlerts != nil && o.GitHubWebhookSecret == "" {
		return nil, errors.New("slack server: github_alerts is configured but there is no webhook secret to verify deliveries")
	}
	s := &Server{o: o, seen: newReplayCache(maxSeen), deliveries: newReplayCache(maxDeliveries),
		alerts: &alertRuns{runs: map[string]string{}}, forms: &forms{pending: map[string]*pendingForm{}}}
	o.PublicURL = strings.TrimSuffix(o.PublicURL, "/")
	s.o.PublicURL = o.PublicURL
	s.baseCtx, s.stopBase = context.WithCancel(context.Background())
	s.approvals = NewApprovals(o.Slack, o.Secrets, func(err error) { s.logf("slack approvals: %v", err) })
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /slack/commands", s.serveCommand)
	s.mux.HandleFunc("POST /slack/interactions", s.serveInteraction)
	s.mux.HandleFunc("POST /github/webhook", s.serveGitHubWebhook)
	s.mux.HandleFunc("GET /form/{token}", s.serveFormPage)
	s.mux.HandleFunc("POST /form/{token}", s.serveFormSubmit)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return s, nil
}

// Approvals is the server's approval hub: approvers it hands out are answered by the buttons
// this server receives.
func (s *Server) Approvals() *Approvals { return s.approvals }

func (s *Server) logf(format string, args ...any) {
	s.o.Logf("%s", s.o.Secrets.String(fmt.Sprintf(format, args...)))
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// verify reads the raw body, checks the signature and refuses replays. It answers the request
// itself and returns false when the request must not be processed.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return false
		}
		http.Error(w, "cannot read request", http.StatusBadRequest)
		return false
	}
	sv, err := slackgo.NewSecretsVerifier(r.Header, s.o.SigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		s.logf("refused %s from %s: %v", r.URL.Path, r.RemoteAddr, err)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	stamp := r.Header.Get("X-Slack-Request-Timestamp")
	ts, _ := strconv.ParseInt(stamp, 10, 64)
	switch s.seen.add(requestKey(stamp, body), time.Unix(ts, 0).Add(replayWindow), time.Now()) {
	case seenBefore:
		s.logf("refused a replayed request to %s from %s", r.URL.Path, r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	case seenFull:
		s.logf("refused a request to %s: replay cache full", r.URL.Path)
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return false
	}
	// The parsers read the form from the body: give them the bytes that were verified.
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// requestKey names a request by what its signature covers: the timestamp header as signed and
// the body. The signature's own text is not the key: Slack's hex can be sent in upper case, or
// mixed, and still verify, so keying on it would let one signed request in once per spelling.
func requestKey(stamp string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "v0:%s:", stamp)
	h.Write(body)
	return string(h.Sum(nil))
}

// ephemeral is the immediate answer to a slash command.
type ephemeral struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func (s *Server) serveCommand(w http.ResponseWriter, r *http.Request) {
	if !s.verify(w, r) {
		return
	}
	cmd, err := slackgo.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "not a slash command", http.StatusBadRequest)
		return
	}
	writeJSON(w, ephemeral{ResponseType: slackgo.ResponseTypeEphemeral, Text: s.command(cmd)})
}

func (s *Server) serveInteraction(w http.ResponseWriter, r *http.Request) {
	if !s.verify(w, r) {
		return
	}
	cb, err := slackgo.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "not an interaction payload", http.StatusBadRequest)
		return
	}
	s.interaction(cb)
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// interaction handles a button press. The decision is made here, in memory; the Slack calls it
// causes happen in the background so the answer is immediate.
func (s *Server) interaction(cb slackgo.InteractionCallback) {
	if cb.Type != slackgo.InteractionTypeBlockActions {
		return
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a == nil || (a.ActionID != slack.ActionApprove && a.ActionID != slack.ActionDeny) {
			continue
		}
		channel := cb.Channel.ID
		if channel == "" {
			channel = cb.Container.ChannelID
		}
		msgTS := cb.Container.MessageTs
		if msgTS == "" {
			msgTS = cb.Message.Timestamp
		}
		s.approvals.Press(Press{
			Approve: a.ActionID == slack.ActionApprove, Value: a.Value,
			User: cb.User.ID, Channel: channel, MessageTS: msgTS, ResponseURL: cb.ResponseURL,
		})
	}
}

// background runs fn with the server's background context, tracked so a shutdown waits for it.
func (s *Server) background(fn func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(s.baseCtx)
	}()
}

// ListenAndServe serves on addr until ctx ends; see Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) ([]Interrupted, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve answers HTTP on ln until ctx ends, then shuts down gracefully: it stops accepting, lets
// in-flight requests finish, asks the Runner to stop its runs at a journaled point, and returns
// the runs left unfinished. Everything is bounded by Options.ShutdownGrace.
func (s *Server) Serve(ctx context.Context, ln net.Listener) ([]Interrupted, error) {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.logf("serving Slack requests on %s", ln.Addr())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	grace, cancel := context.WithTimeout(context.Background(), s.o.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(grace); err != nil {
		s.logf("HTTP shutdown: %v", err)
	}
	interrupted, err := s.shutdown(grace)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return interrupted, errors.Join(serveErr, err)
}

// shutdown stops the runs and waits for background Slack calls, within ctx.
func (s *Server) shutdown(ctx context.Context) ([]Interrupted, error) {
	interrupted, err := s.o.Runner.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.stopBase() // give up on follow-ups still going
		<-done
	}
	s.approvals.Wait()
	for _, r := range interrupted {
		s.logf("run %s (%s) is unfinished: %s; continue it with: respond resume %s", r.RunID, r.Playbook, r.State, r.RunID)
	}
	return interrupted, err
}

// replayCache remembers request signatures until they expire.
type replayCache struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time
}

type seenResult int

const (
	seenNew seenResult = iota
	seenBefore
	seenFull
)

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: map[string]time.Time{}}
}

// add records key until expires and reports whether it was new.
func (c *replayCache) add(key string, expires, now time.Time) seenResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return seenBefore
	}
	if len(c.seen) >= c.max {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return seenFull
		}
	}
	c.seen[key] = expires
	return seenNew
}

// forget drops key, so that it counts as new again.
func (c *replayCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, key)
}
