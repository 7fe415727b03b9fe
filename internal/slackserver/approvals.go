package slackserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/redact"
)

// flushBeforeAsking bounds the wait for the run's thread to catch up before a request is posted.
const flushBeforeAsking = 5 * time.Second

// Approvals matches button presses to the approval requests waiting for them. One hub serves
// every run of a server; its approvers (one per run) post the requests and wait.
type Approvals struct {
	client  *slack.Client
	secrets *redact.Set
	onError func(error)
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error

	mu      sync.Mutex
	pending map[string]*pending // by run ID + step ID
	bg      sync.WaitGroup
}

// pressWaitsForPost bounds how long a press waits for the answer to the post of its own request.
const pressWaitsForPost = 10 * time.Second

type pending struct {
	channel, ts string // set under the hub's lock once the request is posted
	view        slack.ApprovalView
	cfg         ApproverConfig
	decided     chan engine.Decision // buffered: the press never waits for the approver
	closed      bool
	// posted is closed once the post returned (ts set, or the request given up): a press can
	// reach us before the answer to our own post does.
	posted chan struct{}
}

// ApproverConfig is one run's approval policy.
type ApproverConfig struct {
	Playbook string
	// Thread locates the run's message; requests are posted in its thread.
	Thread Threader
	// Approvers are the Slack user IDs allowed to decide.
	Approvers []string
	// TwoPerson forbids Requester to approve (the playbook's approval.two_person also does).
	TwoPerson bool
	// Requester is the Slack user ID of who started the run.
	Requester string
}

// NewApprovals returns a hub posting with client. onError hears about Slack calls that failed in
// the background (nil ignores them).
func NewApprovals(client *slack.Client, secrets *redact.Set, onError func(error)) *Approvals {
	if secrets == nil {
		secrets = redact.New()
	}
	if onError == nil {
		onError = func(error) {}
	}
	return &Approvals{client: client, secrets: secrets, onError: onError, now: time.Now, sleep: sleepCtx,
		pending: map[string]*pending{}}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func pendingKey(runID, stepID string) string { return runID + "\x00" + stepID }

// Wait blocks until the hub's background Slack calls (message replacements, refusals) are done.
func (a *Approvals) Wait() { a.bg.Wait() }

func (a *Approvals) background(fn func(ctx context.Context)) {
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		fn(ctx)
	}()
}

// Approver returns an engine.Approver asking in Slack under cfg.
func (a *Approvals) Approver(cfg ApproverConfig) *Approver { return &Approver{hub: a, cfg: cfg} }

// Approver asks for one run's approvals with buttons in the run's thread.
type Approver struct {
	hub *Approvals
	cfg ApproverConfig
}

var _ engine.Approver = (*Approver)(nil)

// Available says whether anybody can answer from Slack.
func (ap *Approver) Available() error {
	switch {
	case ap.hub.client == nil:
		return errors.New("slack approvals: no Slack client")
	case ap.cfg.Thread == nil:
		return errors.New("slack approvals: the run has no Slack thread")
	case len(ap.cfg.Approvers) == 0:
		return fmt.Errorf("slack approvals: no approvers are configured for %s", ap.cfg.Playbook)
	}
	return nil
}

// Approve posts the request with Approve/Deny buttons and waits for an allowed press or the end
// of ctx (the engine's approval timeout, or another approver answering first). On ctx's end the
// buttons are replaced so nobody presses a stale request, and ctx's error is returned: the engine
// turns an expired deadline into a denial.
func (ap *Approver) Approve(ctx context.Context, req engine.ApprovalRequest) (engine.Decision, error) {
	if err := ap.Available(); err != nil {
		return engine.Decision{}, err
	}
	a := ap.hub
	channel, thread, err := ap.cfg.Thread.Thread(ctx)
	if err != nil {
		return engine.Decision{}, fmt.Errorf("ask for approval in slack: %w", err)
	}
	// Let the thread catch up first, so the request comes after the findings it is about. A
	// slow Slack only delays the request, never loses it.
	if f, ok := ap.cfg.Thread.(interface{ Flush(context.Context) error }); ok {
		fctx, cancel := context.WithTimeout(ctx, flushBeforeAsking)
		_ = f.Flush(fctx)
		cancel()
	}
	cfg := ap.cfg
	cfg.TwoPerson = cfg.TwoPerson || req.TwoPerson
	if cfg.Requester == "" {
		cfg.Requester = req.Requester
	}
	view := a.requestView(req, cfg)
	msg := slack.ApprovalRequest(view)
	msg.ThreadTS = thread
	// Registered before posting: the buttons exist from the moment Slack has the message, which
	// may be before its answer to the post reaches us.
	p := &pending{view: view, cfg: cfg, decided: make(chan engine.Decision, 1), posted: make(chan struct{})}
	key := pendingKey(req.RunID, req.StepID)
	a.mu.Lock()
	if old := a.pending[key]; old != nil {
		old.closed = true // a re-asked step (resume) supersedes the earlier request
	}
	a.pending[key] = p
	a.mu.Unlock()
	posted, err := a.post(ctx, channel, msg)
	a.mu.Lock()
	if err != nil {
		p.closed = true
		if a.pending[key] == p {
			delete(a.pending, key)
		}
	} else {
		p.channel, p.ts = posted.Channel, posted.TS
	}
	a.mu.Unlock()
	close(p.posted)
	if err != nil {
		return engine.Decision{}, fmt.Errorf("ask for approval of %s in slack: %w", req.StepID, err)
	}

	select {
	case d := <-p.decided:
		return d, nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	if p.closed {
		// A press decided in the same instant: that decision stands, and the buttons already
		// show it.
		a.mu.Unlock()
		select {
		case d := <-p.decided:
			return d, nil
		default:
			return engine.Decision{}, ctx.Err()
		}
	}
	p.closed = true
	if a.pending[key] == p {
		delete(a.pending, key)
	}
	a.mu.Unlock()
	reason := "Decided elsewhere (on the terminal, or the run stopped): these buttons no longer apply. " +
		"The run's thread and journal record the decision."
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		reason = "No decision in time: the step was not approved and did not run."
	}
	a.background(func(bctx context.Context) {
		text := fmt.Sprintf(":hourglass: Approval of step `%s` of run `%s` is closed. %s", esc(view.StepID), esc(view.RunID), reason)
		if err := a.client.Update(bctx, p.channel, p.ts, slack.Message{Text: a.secrets.String(text), ClearBlocks: true}); err != nil {
			a.onError(fmt.Errorf("close approval request of %s: %w", view.StepID, err))
		}
	})
	return engine.Decision{}, ctx.Err()
}

// post posts msg, waiting out rate limits and transient failures until ctx ends: an approval
// request that is never shown can only time out.
func (a *Approvals) post(ctx context.Context, channel string, msg slack.Message) (slack.Posted, error) {
	msg.Text = a.secrets.String(msg.Text)
	for attempt := 0; ; attempt++ {
		p, err := a.client.PostMessage(ctx, channel, msg)
		if err == nil {
			return p, nil
		}
		var t interface {
			Transient() bool
			RetryAfter() time.Duration
		}
		if !errors.As(err, &t) || !t.Transient() {
			return slack.Posted{}, err
		}
		wait := t.RetryAfter()
		if wait <= 0 {
			wait = min(250*time.Millisecond<<min(attempt, 6), 15*time.Second)
		}
		if serr := a.sleep(ctx, wait); serr != nil {
			return slack.Posted{}, errors.Join(err, serr)
		}
	}
}

func (a *Approvals) requestView(req engine.ApprovalRequest, cfg ApproverConfig) slack.ApprovalView {
	r := a.secrets.String
	title := req.Message
	if title == "" && req.Plan != nil {
		title = req.Plan.Summary
	}
	if title == "" {
		title = "Run step " + req.StepID
	}
	var details []string
	if req.Plan != nil {
		if req.Message != "" && req.Plan.Summary != "" {
			details = append(details, req.Plan.Summary)
		}
		for _, act := range req.Plan.Actions {
			l := strings.TrimSpace(act.Method + " " + act.Target)
			if len(act.Params) > 0 {
				if b, err := json.Marshal(act.Params); err == nil {
					l += " " + string(b)
				}
			}
			if act.Note != "" {
				l += "  # " + act.Note
			}
			details = append(details, l)
		}
	}
	approvers := make([]string, len(cfg.Approvers))
	copy(approvers, cfg.Approvers)
	return slack.ApprovalView{RunID: r(req.RunID), StepID: r(req.StepID), Uses: r(req.Uses), Title: r(title),
		Details: r(strings.Join(details, "\n")), RequestedBy: r(cfg.Requester), Approvers: approvers, TwoPerson: cfg.TwoPerson}
}

// Press is one click on an approval button.
type Press struct {
	Approve     bool
	Value       string // the button's value: run and step
	User        string // Slack user ID
	Channel     string
	MessageTS   string // the message carrying the button
	ResponseURL string
}

// PressResult says what a press did.
type PressResult int

// Press results.
const (
	// Decided: the press answered a pending request.
	Decided PressResult = iota
	// NotPending: nothing is waiting for this button (already decided, timed out, closed or
	// unknown); the press changes nothing.
	NotPending
	// Refused: the presser may not decide this request; they were told why, privately.
	Refused
)

// Press applies a button press: an allow-listed approver's press decides the request; anybody
// else's is refused privately; a press on a request no longer waiting changes nothing. The
// decision is made before Press returns; Slack calls it causes happen in the background.
func (a *Approvals) Press(pr Press) PressResult {
	runID, stepID, err := slack.ParseApprovalValue(pr.Value)
	if err != nil {
		a.tell(pr, "That button does not belong to a respond approval.")
		return NotPending
	}
	key := pendingKey(runID, stepID)
	a.mu.Lock()
	p := a.pending[key]
	if p != nil && !p.closed && p.ts == "" {
		// The press overtook the answer to our own post: wait for it, briefly.
		a.mu.Unlock()
		select {
		case <-p.posted:
		case <-time.After(pressWaitsForPost):
		}
		a.mu.Lock()
		p = a.pending[key]
	}
	if p == nil || p.closed || p.ts == "" || (pr.MessageTS != "" && pr.MessageTS != p.ts) {
		a.mu.Unlock()
		a.tell(pr, "This approval request is no longer waiting (it was decided, timed out, or closed). Nothing changed.")
		return NotPending
	}
	if !slices.Contains(p.cfg.Approvers, pr.User) {
		a.mu.Unlock()
		a.tell(pr, fmt.Sprintf(":no_entry: You are not an approver of `%s`. Nothing changed.", esc(p.cfg.Playbook)))
		return Refused
	}
	if pr.Approve && p.cfg.TwoPerson && pr.User == p.cfg.Requester {
		a.mu.Unlock()
		a.tell(pr, ":no_entry: Two-person rule: you started this run, so someone else must approve it. Nothing changed.")
		return Refused
	}
	p.closed = true
	delete(a.pending, key)
	d := engine.Decision{Approved: pr.Approve, By: pr.User, Via: "slack", At: a.now().UTC()}
	if !pr.Approve {
		d.Reason = "denied in Slack"
	}
	p.decided <- d
	a.mu.Unlock()

	v := slack.DecisionView{RunID: p.view.RunID, StepID: p.view.StepID, Uses: p.view.Uses, Title: p.view.Title,
		Approved: d.Approved, By: d.By, At: d.At}
	a.background(func(ctx context.Context) {
		if err := a.client.Update(ctx, p.channel, p.ts, slack.ApprovalDecision(v)); err != nil {
			a.onError(fmt.Errorf("show the decision on %s: %w", v.StepID, err))
		}
	})
	return Decided
}

// tell shows text to the presser only: through the press's response_url, else as an ephemeral
// message in the channel.
func (a *Approvals) tell(pr Press, text string) {
	if a.client == nil {
		return
	}
	a.background(func(ctx context.Context) {
		m := slack.Message{Text: a.secrets.String(text)}
		var err error
		if pr.ResponseURL != "" {
			err = a.client.Respond(ctx, pr.ResponseURL, m, true, false)
		} else if pr.Channel != "" && pr.User != "" {
			err = a.client.PostEphemeral(ctx, pr.Channel, pr.User, m)
		}
		if err != nil {
			a.onError(fmt.Errorf("tell %s about their press: %w", pr.User, err))
		}
	})
}

// Waiting reports how many requests are posted and wait for a press.
func (a *Approvals) Waiting() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, p := range a.pending {
		if p.ts != "" && !p.closed {
			n++
		}
	}
	return n
}
