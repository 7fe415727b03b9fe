package slackserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/secretref"
)

// GitHub webhook limits. GitHub gives a receiver 10 seconds and redelivers on request (or, for
// a GitHub App, automatically): each delivery is answered at once and the run goes on in the
// background.
const (
	maxWebhookBody = 1 << 20
	// deliveryTTL is how long a delivery ID is remembered: GitHub redelivers for up to three days.
	deliveryTTL   = 72 * time.Hour
	maxDeliveries = 100_000
)

// alertRequester is who started an alert-triggered run, as its journal and Slack message say.
const alertRequester = "github-secret-scanning"

// alertRuns remembers which alerts already started a run: one run per alert however often it is
// delivered (redeliveries, a created and a reopened event, two webhooks on repo and org).
type alertRuns struct {
	mu   sync.Mutex
	runs map[string]string // lower-case owner/repo#N → run ID ("" while starting)
}

// claim reserves alert for a new run; it reports false, with the run already started for it,
// when the alert has one.
func (a *alertRuns) claim(alert string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.runs[alert]; ok {
		return id, false
	}
	a.runs[alert] = ""
	return "", true
}

// settle records the run an alert started, or forgets the claim when none started, so that a
// redelivery can try again.
func (a *alertRuns) settle(alert, runID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if runID == "" {
		delete(a.runs, alert)
		return
	}
	a.runs[alert] = runID
}

// serveGitHubWebhook answers POST /github/webhook: a secret_scanning_alert delivery, signed with
// the webhook secret, starts the configured playbook with the alert as its secret input. The
// answer never says more than accepted, ignored or refused: the sender may not be GitHub.
func (s *Server) serveGitHubWebhook(w http.ResponseWriter, r *http.Request) {
	ga := s.o.Config.GitHubAlerts
	if ga == nil {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "cannot read request", http.StatusRequestEntityTooLarge)
		return
	}
	payload, err := github.VerifyWebhook(r.Header, body, []byte(s.o.GitHubWebhookSecret))
	if err != nil {
		s.logf("refused a GitHub webhook from %s: %v", r.RemoteAddr, err)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	event, delivery := r.Header.Get(github.HeaderEvent), r.Header.Get(github.HeaderDelivery)
	if event == "ping" {
		s.logf("GitHub webhook ping (delivery %s)", delivery)
		writeText(w, http.StatusOK, "pong")
		return
	}
	if delivery == "" {
		http.Error(w, "no "+github.HeaderDelivery, http.StatusBadRequest)
		return
	}
	switch s.deliveries.add("github:"+delivery, time.Now().Add(deliveryTTL), time.Now()) {
	case seenBefore:
		writeText(w, http.StatusOK, "duplicate delivery: already handled")
		return
	case seenFull:
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if event != github.EventSecretScanningAlert {
		writeText(w, http.StatusAccepted, "ignored: not a secret_scanning_alert event")
		return
	}
	ev, err := github.ParseAlertEvent(payload)
	if err != nil {
		s.logf("GitHub delivery %s: %v", delivery, err)
		http.Error(w, "not a secret_scanning_alert payload", http.StatusBadRequest)
		return
	}
	status, text := s.alertArrived(ga, ev, delivery)
	writeText(w, status, text)
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")
}

// alertArrived decides what one verified alert event does and starts the run in the background.
func (s *Server) alertArrived(ga *GitHubAlerts, ev github.AlertEvent, delivery string) (int, string) {
	if ev.Action != "created" && ev.Action != "reopened" {
		return http.StatusAccepted, "ignored: action " + ev.Action
	}
	if !slices.Contains(ga.SecretTypes, ev.SecretType) {
		s.logf("GitHub alert %s#%d (delivery %s) is of type %s, not one of %s: ignored", ev.Repo, ev.Number, delivery,
			ev.SecretType, strings.Join(ga.SecretTypes, ", "))
		return http.StatusAccepted, "ignored: secret type not configured"
	}
	ref := secretref.Ref{Repo: ev.Repo, Number: ev.Number}
	key := strings.ToLower(ref.String())
	if id, ok := s.alerts.claim(key); !ok {
		s.logf("GitHub alert %s (delivery %s) already has run %s", ref, delivery, orStarting(id))
		return http.StatusOK, "already handled"
	}
	inputs := map[string]string{ga.Input: ref.String()}
	for k, v := range ga.Inputs {
		if k != ga.Input {
			inputs[k] = v
		}
	}
	req := RunRequest{Playbook: ga.Playbook, Inputs: inputs, User: alertRequester, UserName: "GitHub secret scanning",
		Channel: ga.Channel}
	s.withSlackApprovers(&req)
	s.background(func(ctx context.Context) {
		sctx, cancel := context.WithTimeout(ctx, s.o.StartTimeout)
		defer cancel()
		id, err := s.o.Runner.Start(sctx, req)
		s.alerts.settle(key, id)
		if err != nil {
			s.deliveries.forget("github:" + delivery) // a redelivery of this one may try again
		}
		if err == nil {
			s.logf("GitHub alert %s (delivery %s) started run %s of %s in %s", ref, delivery, id, ga.Playbook, ga.Channel)
			return
		}
		s.logf("GitHub alert %s (delivery %s): %s did not start: %v", ref, delivery, ga.Playbook, err)
		if errors.Is(err, ErrShuttingDown) || s.o.Slack == nil {
			return
		}
		text := fmt.Sprintf(":x: GitHub secret scanning found a secret in %s (alert %d), but `%s` did not start: %s. "+
			"Redeliver the alert's webhook from GitHub, or start it here with `%s run %s %s=%s`.", esc(ev.Repo), ev.Number,
			esc(ga.Playbook), esc(firstLine(s.o.Secrets.String(err.Error()))), s.o.Command, esc(ga.Playbook), ga.Input, ref)
		if _, err := s.o.Slack.Post(ctx, ga.Channel, slack.Message{Text: s.o.Secrets.String(text)}); err != nil {
			s.logf("slack: %v", err)
		}
	})
	return http.StatusAccepted, "accepted: run starting"
}

func orStarting(id string) string {
	if id == "" {
		return "(starting)"
	}
	return id
}
