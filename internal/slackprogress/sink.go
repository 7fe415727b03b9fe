// Package slackprogress owns a run's presence in Slack: one parent message per run, edited in
// place as steps progress (a checklist with status and durations), a thread under it with the
// details (findings, plans, usage tables, retries, approvals) and a final summary (outcome, time
// to revoke, what changed, what needs a human).
//
// It is an event.Sink that never holds up the run: Emit folds the event into in-memory state and
// returns; one goroutine per Sink sends to Slack. Parent updates are coalesced (the newest state
// is rendered at send time, so a burst of events or a 429 wait costs one chat.update, not one per
// event) and never lost: Flush waits until Slack holds the last state. Thread messages are kept
// in order; consecutive ones queued behind a rate limit are merged into one post. Slack being
// down or refusing never fails the run: errors go to the onError callback.
package slackprogress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/redact"
)

// Meta is what the parent message knows before the first event.
type Meta struct {
	Playbook  string
	RunID     string // taken from the first event when empty
	StartedBy string // a Slack user ID (shown as a mention) or a name
	Mode      string // engine.ModeReal, ModeDryRun or ModeRehearsal
	Title     string // optional; default "<playbook> run"
	Steps     []StepMeta
}

// StepMeta is one line of the checklist.
type StepMeta struct{ ID, Uses string }

// Limits of what one thread message carries. Slack accepts 40,000 characters of text but
// recommends 4,000; merged messages stay under the recommendation.
const (
	maxThreadText = 3800
	maxLogLines   = 60
)

// Backoff when Slack fails without saying how long to wait.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 15 * time.Second
)

// ErrUndelivered is returned (wrapped) by Flush and Close when Slack does not hold the run's
// latest state by the deadline.
var ErrUndelivered = errors.New("slack progress not delivered")

// Sink posts one run's progress to a Slack channel. Create it with New; it is safe for concurrent
// use. Close it (or Flush it) when the run ends so the final state reaches Slack.
type Sink struct {
	client  *slack.Client
	channel string
	secrets *redact.Set
	onError func(error)
	sleep   func(context.Context, time.Duration) error

	ctx    context.Context // cancelled when Close gives up
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	st       state
	version  uint64 // bumped on every change of the parent's content
	sent     uint64 // version Slack holds
	queue    []threadItem
	inflight bool
	parentCh string
	parentTS string
	onParent func(channel, ts string)
	posted   chan struct{} // closed once the parent is posted, or posting failed for good
	broken   error         // the parent could not be posted: nothing more is sent
	closed   bool
	emitted  bool          // an event arrived, or Thread asked for the parent: there is something to post
	streak   int           // consecutive transient failures
	lastErr  error         // the latest failure of the current streak: what Flush names as the cause
	changed  chan struct{} // closed and replaced after every send attempt (Flush waits on it)
}

// New returns a Sink posting to channel (an ID or a name) with client. secrets masks every
// string once more before it leaves the process (events reaching sinks are already redacted by
// the Bus; this is defence in depth). onError hears about delivery failures, masked: the first of
// a streak of transient ones (the Sink keeps retrying), every permanent one, and what Close gives
// up on. It is called from the Sink's goroutine (or Close's caller), never under the Sink's lock;
// nil ignores them.
func New(client *slack.Client, channel string, meta Meta, secrets *redact.Set, onError func(error)) *Sink {
	return newSink(client, channel, meta, secrets, onError, sleepCtx)
}

func newSink(client *slack.Client, channel string, meta Meta, secrets *redact.Set, onError func(error),
	sleep func(context.Context, time.Duration) error) *Sink {
	if secrets == nil {
		secrets = redact.New()
	}
	report := func(error) {}
	if onError != nil {
		report = func(err error) { onError(secrets.Error(err)) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		client: client, channel: channel, secrets: secrets, onError: report, sleep: sleep,
		ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		posted: make(chan struct{}), changed: make(chan struct{}),
	}
	s.st.init(meta, secrets)
	go s.loop()
	return s
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

// Emit records e and returns at once; it always returns nil: Slack never stops a run.
func (s *Sink) Emit(e event.Event) error {
	e = event.Redact(e, s.secrets)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.emitted = true
	parent, items := s.st.apply(e)
	if parent {
		s.version++
	}
	s.queue = append(s.queue, items...)
	s.mu.Unlock()
	s.poke()
	return nil
}

// Seed folds events that happened before this Sink existed (a resumed run's journal) into the
// checklist without posting them to the thread.
func (s *Sink) Seed(events []event.Event) {
	s.mu.Lock()
	for _, e := range events {
		s.st.apply(event.Redact(e, s.secrets))
	}
	s.version++
	s.emitted = true
	s.mu.Unlock()
	s.poke()
}

func (s *Sink) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Thread waits until the parent message is posted and returns where it is: approvals and
// slack.notify post into its thread. It fails when posting failed for good or ctx ends first.
func (s *Sink) Thread(ctx context.Context) (channel, ts string, err error) {
	s.mu.Lock()
	s.emitted = true // a Sink that has seen no event yet posts its parent now
	s.mu.Unlock()
	s.poke()
	select {
	case <-s.posted:
	case <-ctx.Done():
		return "", "", fmt.Errorf("wait for the run's slack message: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return "", "", s.broken
	}
	return s.parentCh, s.parentTS, nil
}

// Adopt makes the Sink edit an existing parent message instead of posting one: a resumed run
// keeps the message its first process posted. Call it before the first event.
func (s *Sink) Adopt(channel, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parentTS != "" || s.broken != nil || channel == "" || ts == "" {
		return
	}
	s.parentCh, s.parentTS = channel, ts
	s.sent = s.version - 1 // the adopted message shows an old state: redraw it
	close(s.posted)
}

// Preflight makes sure the bot may post to the Sink's channel before the run starts: it joins a
// public channel it is not in (scope channels:join) and otherwise fails with an error matching
// slack.ErrNotInChannel that says how to invite the bot. Without Preflight the Sink does the same
// when its first post is refused.
func (s *Sink) Preflight(ctx context.Context) (slack.Membership, error) {
	m, err := s.client.CheckMembership(ctx, s.channel, true)
	if err != nil {
		return m, fmt.Errorf("slack channel %s: %w", s.channel, err)
	}
	return m, nil
}

// OnParent registers fn to be told, once, where the parent message was posted (the CLI journals
// it so a resumed run can Adopt it).
func (s *Sink) OnParent(fn func(channel, ts string)) {
	s.mu.Lock()
	s.onParent = fn
	s.mu.Unlock()
}

// Parent returns the parent message's channel ID and ts, or empty strings while it is not posted.
func (s *Sink) Parent() (channel, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parentCh, s.parentTS
}

// Flush waits until Slack holds the latest parent state and every thread message, or ctx ends
// (then the error wraps ErrUndelivered and says what is missing). A Sink whose parent could not
// be posted has nothing to deliver and returns that failure.
func (s *Sink) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		switch {
		case s.broken != nil:
			err := s.broken
			s.mu.Unlock()
			return err
		case !s.emitted:
			s.mu.Unlock()
			return nil // the run never started: nothing to show
		case s.parentTS != "" && s.sent == s.version && len(s.queue) == 0 && !s.inflight:
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		pending := s.pendingLocked()
		s.mu.Unlock()
		s.poke()
		select {
		case <-ch:
		case <-ctx.Done():
			// Name what Slack answered (e.g. connection refused), not only that time ran out.
			s.mu.Lock()
			cause := s.lastErr
			s.mu.Unlock()
			if cause == nil {
				cause = ctx.Err()
			}
			return fmt.Errorf("%w: %s: %v", ErrUndelivered, pending, cause)
		}
	}
}

func (s *Sink) pendingLocked() string {
	var parts []string
	if s.parentTS == "" {
		parts = append(parts, "the run's message was never posted")
	} else if s.sent != s.version {
		parts = append(parts, "the run's message shows an older state")
	}
	if n := len(s.queue); n > 0 {
		parts = append(parts, fmt.Sprintf("%d thread messages not posted", n))
	}
	if len(parts) == 0 {
		return "a request is in flight"
	}
	return strings.Join(parts, ", ")
}

// Close flushes (until ctx ends), then stops the Sink's goroutine. Later Emits are ignored. What
// could not be delivered is reported to onError and returned.
func (s *Sink) Close(ctx context.Context) error {
	err := s.Flush(ctx)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.done
	s.mu.Lock()
	if s.parentTS == "" && s.broken == nil {
		s.broken = errors.New("slack progress closed before the run started")
		if s.emitted {
			s.broken = fmt.Errorf("the run's slack message was never posted: %w", ErrUndelivered)
		}
		close(s.posted)
	}
	s.mu.Unlock()
	// Said once: a streak of failures was already reported when it began.
	s.mu.Lock()
	reported := s.streak > 0
	s.mu.Unlock()
	if err != nil && errors.Is(err, ErrUndelivered) && !reported {
		s.onError(fmt.Errorf("slack: giving up on run %s: %w", s.runID(), err))
	}
	return err
}

// Posted reports whether the run's message reached Slack. A Sink that never posted it is likely
// facing an unreachable Slack: its caller should not wait long for it at the end of the run.
func (s *Sink) Posted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parentTS != ""
}

func (s *Sink) runID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.view.RunID
}

// job is one Slack call the loop decided to make, with what it needs to record its success.
type job struct {
	kind    int
	msg     slack.Message
	version uint64
	items   int // thread items the post covers
}

const (
	jobPostParent = iota
	jobUpdateParent
	jobThread
)

func (s *Sink) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		}
		for {
			j, ok := s.next()
			if !ok {
				break
			}
			err := s.do(j)
			wait, retry, report := s.finish(j, err)
			if report != nil {
				s.onError(report)
			}
			if retry {
				if s.sleep(s.ctx, wait) != nil {
					return
				}
			}
		}
	}
}

// next picks the most useful call: the parent first (replies need its ts), then the parent's
// newest state, then the thread in order.
func (s *Sink) next() (job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil || s.ctx.Err() != nil || !s.emitted {
		return job{}, false
	}
	switch {
	case s.parentTS == "":
		s.inflight = true
		return job{kind: jobPostParent, msg: s.st.parentMessage(), version: s.version}, true
	case s.sent != s.version:
		s.inflight = true
		return job{kind: jobUpdateParent, msg: s.st.parentMessage(), version: s.version}, true
	case len(s.queue) > 0:
		s.inflight = true
		msg, n := merge(s.queue)
		msg.ThreadTS = s.parentTS
		return job{kind: jobThread, msg: msg, items: n}, true
	}
	return job{}, false
}

func (s *Sink) do(j job) error {
	msg := s.mask(j.msg)
	switch j.kind {
	case jobPostParent:
		p, err := s.client.PostMessage(s.ctx, s.channel, msg)
		if errors.Is(err, slack.ErrNotInChannel) {
			// Slack refuses a bot outside the channel. Join a public one (when the app may) and
			// post again; otherwise the error says how to invite the bot.
			if _, jerr := s.client.CheckMembership(s.ctx, s.channel, true); jerr != nil {
				err = fmt.Errorf("%w; %w", err, jerr)
			} else {
				p, err = s.client.PostMessage(s.ctx, s.channel, msg)
			}
		}
		if err == nil {
			s.mu.Lock()
			s.parentCh, s.parentTS = p.Channel, p.TS
			fn := s.onParent
			s.mu.Unlock()
			if fn != nil {
				fn(p.Channel, p.TS)
			}
		}
		return err
	case jobUpdateParent:
		s.mu.Lock()
		ch, ts := s.parentCh, s.parentTS
		s.mu.Unlock()
		return s.client.Update(s.ctx, ch, ts, msg)
	default:
		s.mu.Lock()
		ch := s.parentCh
		s.mu.Unlock()
		_, err := s.client.PostMessage(s.ctx, ch, msg)
		return err
	}
}

// finish records the outcome of j and says whether (and how long) to wait before going on, and
// what to report (outside the lock: onError may call back into the Sink).
func (s *Sink) finish(j job, err error) (wait time.Duration, retry bool, report error) {
	s.mu.Lock()
	defer func() {
		s.inflight = false
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}()
	if err == nil {
		s.streak, s.lastErr = 0, nil
		switch j.kind {
		case jobPostParent:
			s.sent = j.version
			close(s.posted)
		case jobUpdateParent:
			s.sent = j.version
		case jobThread:
			s.queue = s.queue[j.items:]
		}
		return 0, false, nil
	}
	if s.ctx.Err() != nil {
		return 0, false, nil // Close gave up; it reports what is missing
	}
	var t interface {
		Transient() bool
		RetryAfter() time.Duration
	}
	if errors.As(err, &t) && t.Transient() {
		s.streak++
		s.lastErr = err
		if s.streak == 1 {
			report = fmt.Errorf("slack progress for run %s (will retry in the background; the run does not wait for Slack): %w", s.st.view.RunID, err)
		}
		wait = t.RetryAfter()
		if wait <= 0 {
			wait = min(minBackoff<<min(s.streak-1, 10), maxBackoff)
		}
		return wait, true, report
	}
	s.streak = 0
	switch j.kind {
	case jobPostParent:
		s.broken = fmt.Errorf("post the run's message to slack channel %s: %w", s.channel, err)
		close(s.posted)
		s.queue = nil
		report = s.broken
	case jobUpdateParent:
		// The message was deleted, or the new state is refused: report it; the next change
		// tries again with a newer state.
		s.sent = j.version
		report = fmt.Errorf("update the run's slack message: %w", err)
	case jobThread:
		s.queue = s.queue[j.items:]
		report = fmt.Errorf("post to the run's slack thread (%d messages dropped): %w", j.items, err)
	}
	return 0, false, report
}

// mask runs the message through the redaction set one last time, blocks included.
func (s *Sink) mask(m slack.Message) slack.Message {
	m.Text = s.secrets.String(m.Text)
	if len(m.Blocks) == 0 {
		return m
	}
	raw, err := json.Marshal(m.Blocks)
	if err != nil {
		m.Blocks, m.ClearBlocks = nil, true
		return m
	}
	masked := s.secrets.String(string(raw))
	if masked == string(raw) {
		return m
	}
	var bs slackgo.Blocks
	if err := json.Unmarshal([]byte(masked), &bs); err != nil {
		m.Blocks, m.ClearBlocks = nil, true // text alone is safe; blocks we cannot rebuild are not sent
		return m
	}
	m.Blocks = bs.BlockSet
	return m
}

// threadItem is one message for the thread. Text items may be merged with their neighbours;
// block items (the summary) are posted alone.
type threadItem struct {
	text   string
	blocks []slack.Block
}

func merge(q []threadItem) (slack.Message, int) {
	if len(q[0].blocks) > 0 {
		return slack.Message{Text: q[0].text, Blocks: q[0].blocks}, 1
	}
	var b strings.Builder
	n := 0
	for _, it := range q {
		if len(it.blocks) > 0 || (n > 0 && b.Len()+1+len(it.text) > maxThreadText) {
			break
		}
		if n > 0 {
			b.WriteString("\n")
		}
		b.WriteString(it.text)
		n++
	}
	return slack.Message{Text: b.String()}, n
}

// escape makes text inert in mrkdwn (& < > only, as Slack requires).
func escape(s string) string { return slackutilsx.EscapeMessage(s) }
