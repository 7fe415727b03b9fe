package slackprogress_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	slackgo "github.com/slack-go/slack"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/slackprogress"
	"github.com/respond-sec/respond/steps"
)

const channel = "C0INCIDENT"

// setup returns a client and the workspace it talks to over 127.0.0.1.
func setup(t *testing.T) (*slack.Client, *slacksim.Sim, func()) {
	t.Helper()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok,
		Channels: []slacksim.Channel{{ID: channel, Name: "security-incidents"}},
		Users:    []slacksim.User{{ID: "U0ALICE", Name: "alice"}}})
	t.Cleanup(srv.Close)
	c, err := slack.New(slack.Config{Token: tok, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return c, sim, srv.Close
}

// errs collects what the sink reports.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) { e.mu.Lock(); e.list = append(e.list, err); e.mu.Unlock() }
func (e *errs) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.list...)
}

// Test step kinds: a finder that logs findings (one with the secret), a revoker that changes
// something, a usage table, a step that fails.
type finder struct {
	Secret string `yaml:"secret"`
}

func (f *finder) Run(_ context.Context, env *steps.Env) (steps.Outputs, error) {
	env.Logf("found key_abc in proj_1")
	env.Log("the leaked value "+f.Secret+" matched", map[string]any{"value": f.Secret})
	return steps.Outputs{"key_id": "key_abc"}, nil
}

type revoker struct {
	KeyID string `yaml:"key_id"`
}

func (r *revoker) Plan(context.Context, *steps.Env) (*steps.Plan, error) {
	return &steps.Plan{Summary: "delete " + r.KeyID, Actions: []steps.Action{{Method: "DELETE", Target: "/keys/" + r.KeyID}}}, nil
}

func (r *revoker) Run(_ context.Context, env *steps.Env) (steps.Outputs, error) {
	// Like every mutating step, it records the intent before the change: what it logs then is
	// what the summary lists as changed.
	if err := env.Intent("delete key", map[string]any{"key_id": r.KeyID}); err != nil {
		return nil, err
	}
	env.Logf("revoked key %s", r.KeyID)
	return steps.Outputs{}, nil
}

type table struct{}

func (table) Run(_ context.Context, env *steps.Env) (steps.Outputs, error) {
	env.Log("model      requests  cost\ngpt-4o     1200      $41.20\nTOTAL      1200      $41.20", nil)
	return steps.Outputs{}, nil
}

type failer struct {
	Secret string `yaml:"secret"`
}

func (f *failer) Plan(context.Context, *steps.Env) (*steps.Plan, error) {
	return &steps.Plan{Summary: "tighten"}, nil
}

func (f *failer) Run(context.Context, *steps.Env) (steps.Outputs, error) {
	return nil, errors.New("permission denied for " + f.Secret)
}

// revokeUses is a kind the catalog says revokes: the sink learns that from the catalog.
const revokeUses = "openai.revoke-key"

func lookup(uses string) (steps.Kind, bool) {
	k := steps.Kind{Name: uses}
	switch uses {
	case "test.find":
		k.New, k.Outputs = func() steps.Step { return &finder{} }, struct {
			KeyID string `json:"key_id"`
		}{}
	case revokeUses:
		k.New = func() steps.Step { return &revoker{} }
	case "test.table":
		k.New = func() steps.Step { return table{} }
	case "test.fail":
		k.New = func() steps.Step { return &failer{} }
	default:
		return steps.Kind{}, false
	}
	return k, true
}

const testPlaybook = `
name: leak
inputs:
  key: {description: leaked, secret: true, required: true}
steps:
  - {id: identify, uses: test.find, with: {secret: "{{ .inputs.key }}"}}
  - {id: revoke, uses: openai.revoke-key, with: {key_id: "{{ .steps.identify.outputs.key_id }}"}}
  - {id: review, uses: test.table}
  - {id: budgets, uses: test.fail, on_failure: continue, with: {secret: "{{ .inputs.key }}"}}
  - {id: never, uses: test.table, if: "{{ eq 1 2 }}"}
`

// runPlaybook runs testPlaybook through the real engine with a journal and the sink, as the CLI
// does, and returns the journal's records.
func runPlaybook(t *testing.T, sink *slackprogress.Sink, secrets *redact.Set, secret string, dryRun bool) []journal.Record {
	t.Helper()
	pb, err := playbook.Load("leak.yaml", []byte(testPlaybook), lookup)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j, err := journal.Create(dir, "run1")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bus := event.NewBus("run1", secrets, 0, nil)
	bus.Require(j)
	bus.Attach(sink)
	mode := "real"
	if dryRun {
		mode = "dry-run"
	}
	_, _ = engine.Run(t.Context(), engine.Options{Playbook: pb, Inputs: map[string]any{"key": secret}, RunID: "run1",
		Mode: mode, DryRun: dryRun, StartedBy: "U0ALICE", Events: bus, Secrets: secrets,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err := sink.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	recs, err := journal.Read(dir, "run1")
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func meta(pb string, mode string) slackprogress.Meta {
	return slackprogress.Meta{Playbook: pb, StartedBy: "U0ALICE", Mode: mode, Steps: []slackprogress.StepMeta{
		{ID: "identify", Uses: "test.find"}, {ID: "revoke", Uses: revokeUses}, {ID: "review", Uses: "test.table"},
		{ID: "budgets", Uses: "test.fail"}, {ID: "never", Uses: "test.table"}}}
}

// journalStatuses is what the journal says of each step: its last status-bearing event.
func journalStatuses(recs []journal.Record, steps []string) map[string]string {
	out := map[string]string{}
	for _, s := range steps {
		out[s] = "pending"
	}
	for _, r := range recs {
		switch r.Kind {
		case event.StepStarted:
			out[r.Step] = "running"
		case event.StepPlanned:
			out[r.Step] = "planned" // only dry runs stop at the plan; a later event overrides it
		case event.StepSucceeded:
			out[r.Step] = "succeeded"
		case event.StepFailed:
			out[r.Step] = "failed"
		case event.StepSkipped:
			out[r.Step] = "skipped"
		}
	}
	return out
}

var emojiStatus = map[string]string{
	":white_circle:": "pending", ":hourglass_flowing_sand:": "running", ":raised_hand:": "waiting",
	":memo:": "planned", ":white_check_mark:": "succeeded", ":x:": "failed", ":fast_forward:": "skipped",
}

var stepLineRe = regexp.MustCompile(`^(:[a-z_]+:) \*([^*]+)\*`)

// parentStatuses reads the checklist back from the blocks Slack holds.
func parentStatuses(t *testing.T, m slacksim.Message) (map[string]string, string) {
	t.Helper()
	var bs slackgo.Blocks
	if err := json.Unmarshal(m.Blocks, &bs); err != nil {
		t.Fatalf("parent blocks: %v", err)
	}
	out := map[string]string{}
	status := ""
	for _, b := range bs.BlockSet {
		sec, ok := b.(*slackgo.SectionBlock)
		if !ok || sec.Text == nil {
			continue
		}
		if sec.BlockID == "run_status" {
			status = sec.Text.Text
		}
		if !strings.HasPrefix(sec.BlockID, "run_steps_") {
			continue
		}
		for _, line := range strings.Split(sec.Text.Text, "\n") {
			if m := stepLineRe.FindStringSubmatch(line); m != nil {
				out[m[2]] = emojiStatus[m[1]]
			}
		}
	}
	return out, status
}

func TestParentMatchesJournal(t *testing.T) {
	t.Parallel()
	for _, dry := range []bool{false, true} {
		t.Run(map[bool]string{false: "real", true: "dry-run"}[dry], func(t *testing.T) {
			t.Parallel()
			client, sim, _ := setup(t)
			secrets := redact.New()
			secret := fakekey.Random().OpenAIProjectKey()
			secrets.Add(secret)
			var reported errs
			mode := engine.ModeReal
			if dry {
				mode = engine.ModeDryRun
			}
			sink := slackprogress.New(client, "#security-incidents", meta("leak", mode), secrets, reported.add)
			recs := runPlaybook(t, sink, secrets, secret, dry)

			ch, ts := sink.Parent()
			if ch != channel || ts == "" {
				t.Fatalf("Parent() = %q, %q", ch, ts)
			}
			parent, ok := sim.Lookup(channel, ts)
			if !ok {
				t.Fatal("parent message not in the workspace")
			}
			got, status := parentStatuses(t, parent)
			want := journalStatuses(recs, []string{"identify", "revoke", "review", "budgets", "never"})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parent checklist vs journal (-journal +parent):\n%s", diff)
			}
			outcome := journal.Summarize("run1", recs).Status
			if !strings.Contains(status, "Run "+outcome) {
				t.Errorf("parent status %q does not show the journal's outcome %q", status, outcome)
			}
			if errs := reported.all(); len(errs) != 0 {
				t.Errorf("errors reported: %v", errs)
			}

			thread := sim.Thread(channel, ts)
			if len(thread) == 0 {
				t.Fatal("empty thread")
			}
			all := ""
			for _, m := range thread {
				all += m.Text + "\n" + string(m.Blocks) + "\n"
			}
			wantIn := []string{"found key_abc in proj_1", "budgets"}
			if dry {
				wantIn = append(wantIn, "*Plan* for `revoke`: delete key_abc", "DELETE /keys/key_abc")
			} else {
				wantIn = append(wantIn, "gpt-4o     1200", "revoked key key_abc", "permission denied")
			}
			for _, w := range wantIn {
				if !strings.Contains(all, w) {
					t.Errorf("thread lacks %q:\n%s", w, all)
				}
			}
			last := thread[len(thread)-1]
			if !strings.Contains(string(last.Blocks), "summary_header") {
				t.Errorf("last thread message is not the summary: %s", last.Text)
			}
			if !dry && strings.Contains(last.Text, "NOT REVOKED") {
				t.Errorf("summary says the key was not revoked: %s", last.Text)
			}
			if snap := sim.Snapshot(); secrets.Contains(snap) || strings.Contains(string(snap), secret) {
				t.Error("the secret reached Slack")
			}
		})
	}
}

func TestSummaryContent(t *testing.T) {
	t.Parallel()
	client, sim, _ := setup(t)
	secrets := redact.New()
	secret := fakekey.Random().OpenAIProjectKey()
	secrets.Add(secret)
	sink := slackprogress.New(client, channel, meta("leak", engine.ModeReal), secrets, nil)
	runPlaybook(t, sink, secrets, secret, false)
	_, ts := sink.Parent()
	thread := sim.Thread(channel, ts)
	sum := string(thread[len(thread)-1].Blocks)
	for _, w := range []string{
		"What changed", "revoke: revoked key key_abc", // the mutating step's finding
		"Needs a human", "budgets failed: permission denied", // the failure, masked
		"respond resume run1",
		"Time to revoke",
	} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
	if strings.Contains(sum, "NOT REVOKED") {
		t.Errorf("summary says NOT REVOKED:\n%s", sum)
	}
}

// TestSecretMaskedEvenIfTheBusDidNot hands the sink events carrying a registered secret
// everywhere an event can carry text, bypassing the Bus's redaction.
func TestSecretMaskedEvenIfTheBusDidNot(t *testing.T) {
	t.Parallel()
	client, sim, _ := setup(t)
	secrets := redact.New()
	secret := fakekey.Random().OpenAIProjectKey()
	// Not shaped like a known key: only the registration masks it.
	plain := "hunter2-" + fakekey.Random().Hex(24)
	secrets.Add(secret, plain)
	m := meta("leak "+plain, engine.ModeReal)
	m.Title = "Leaked " + secret
	sink := slackprogress.New(client, channel, m, secrets, nil)
	now := time.Now()
	evs := []event.Event{
		{Kind: event.RunStarted, RunID: "run1", Time: now, Data: map[string]any{"started_by": plain}},
		{Kind: event.StepStarted, Step: "identify", Uses: "test.find", Time: now},
		{Kind: event.StepLog, Step: "identify", Message: "value " + secret, Data: map[string]any{"v": plain}},
		{Kind: event.StepLog, Step: "identify", Message: "table\n" + plain + " | 1\n" + secret + " | 2"},
		{Kind: event.StepPlanned, Step: "revoke", Message: "delete " + plain, Data: map[string]any{"plan": map[string]any{
			"summary": secret, "actions": []any{map[string]any{"method": "DELETE", "target": "/" + plain, "params": map[string]any{"k": secret}}}}}},
		{Kind: event.StepRetried, Step: "identify", Error: "503 for " + secret, Message: "retry " + plain},
		{Kind: event.ApprovalWaiting, Step: "revoke", Data: map[string]any{"approvers": []any{plain}}},
		{Kind: event.StepDenied, Step: "revoke", Data: map[string]any{"by": plain, "via": "terminal", "reason": secret}},
		{Kind: event.StepFailed, Step: "identify", Error: "failed with " + secret + "\n" + plain, Time: now.Add(time.Second)},
		{Kind: event.StepSkipped, Step: plain, Message: "skip " + secret},
		{Kind: event.RunFinished, Time: now.Add(2 * time.Second), Message: "failed " + plain, Error: secret, Data: map[string]any{"outcome": "failed"}},
	}
	for _, e := range evs {
		if err := sink.Emit(e); err != nil {
			t.Fatalf("Emit: %v", err)
		}
	}
	if err := sink.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap := sim.Snapshot()
	if secrets.Contains(snap) {
		t.Fatalf("a registered secret reached Slack:\n%s", snap)
	}
	if !strings.Contains(string(snap), redact.Mask(plain)) {
		t.Errorf("the masked form of the secret is not shown; snapshot:\n%s", snap)
	}
}

// blockingSleep holds the sink's first wait until the test releases it, so the test controls
// what happens during a rate-limit wait; later waits return at once.
type blockingSleep struct {
	mu       sync.Mutex
	waits    []time.Duration
	entered  chan struct{}
	release  chan struct{}
	blocking bool
}

func newBlockingSleep() *blockingSleep {
	return &blockingSleep{entered: make(chan struct{}), release: make(chan struct{}), blocking: true}
}

func (b *blockingSleep) sleep(ctx context.Context, d time.Duration) error {
	b.mu.Lock()
	b.waits = append(b.waits, d)
	first := b.blocking
	b.blocking = false
	b.mu.Unlock()
	if first {
		close(b.entered)
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

func TestRateLimitedUpdatesAreCoalescedAndNotLost(t *testing.T) {
	t.Parallel()
	client, sim, _ := setup(t)
	secrets := redact.New()
	var reported errs
	bs := newBlockingSleep()
	stepsMeta := slackprogress.Meta{Playbook: "burst", Mode: engine.ModeReal}
	for _, id := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"} {
		stepsMeta.Steps = append(stepsMeta.Steps, slackprogress.StepMeta{ID: id, Uses: "test.table"})
	}
	sink := slackprogress.NewWithSleep(client, channel, stepsMeta, secrets, reported.add, bs.sleep)
	now := time.Now()
	sink.Emit(event.Event{Kind: event.RunStarted, RunID: "run1", Time: now})
	ch, ts, err := sink.Thread(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Every further chat.update and thread post is refused three times with a 429.
	sim.FailNext(slacksim.AnyMethod, 3, slacksim.Fault{Status: 429, RetryAfter: 2 * time.Second})

	sink.Emit(event.Event{Kind: event.StepStarted, Step: "s1", Time: now})
	<-bs.entered // the sink is now waiting out the first 429
	events := 1
	for i, id := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"} {
		if i > 0 {
			sink.Emit(event.Event{Kind: event.StepStarted, Step: id, Time: now})
			events++
		}
		sink.Emit(event.Event{Kind: event.StepLog, Step: id, Message: "finding " + id})
		sink.Emit(event.Event{Kind: event.StepSucceeded, Step: id, Duration: event.Duration(time.Duration(i+1) * time.Second)})
		events += 2
	}
	sink.Emit(event.Event{Kind: event.RunFinished, Duration: event.Duration(9 * time.Second), Data: map[string]any{"outcome": "succeeded"}})
	events++
	close(bs.release)
	if err := sink.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	parent, _ := sim.Lookup(ch, ts)
	got, status := parentStatuses(t, parent)
	for _, id := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"} {
		if got[id] != "succeeded" {
			t.Errorf("step %s shows %q, want succeeded", id, got[id])
		}
	}
	if !strings.Contains(status, "Run succeeded") {
		t.Errorf("final status %q", status)
	}
	if edits := len(parent.History); edits == 0 || edits >= events/2 {
		t.Errorf("%d edits for %d events: updates were not coalesced", edits, events)
	}
	var threadText string
	for _, m := range sim.Thread(ch, ts) {
		threadText += m.Text + "\n"
	}
	for _, id := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"} {
		if !strings.Contains(threadText, "finding "+id) {
			t.Errorf("thread lost the finding of %s", id)
		}
	}
	bs.mu.Lock()
	waits := append([]time.Duration(nil), bs.waits...)
	bs.mu.Unlock()
	if len(waits) != 3 || waits[0] != 2*time.Second {
		t.Errorf("waits = %v, want three waits of Retry-After (2s)", waits)
	}
	if len(reported.all()) != 1 {
		t.Errorf("reported %v, want one report for the streak of 429s", reported.all())
	}
}

func TestSlackDownNeverStopsTheRun(t *testing.T) {
	t.Parallel()
	client, _, stop := setup(t)
	stop() // Slack is unreachable from the start
	var reported errs
	sink := slackprogress.NewWithSleep(client, channel, meta("leak", engine.ModeReal), redact.New(), reported.add,
		func(ctx context.Context, _ time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
				return nil
			}
		})
	for _, e := range []event.Event{
		{Kind: event.RunStarted, RunID: "run1"},
		{Kind: event.StepStarted, Step: "identify"},
		{Kind: event.StepLog, Step: "identify", Message: "found"},
		{Kind: event.RunFinished, Data: map[string]any{"outcome": "succeeded"}},
	} {
		if err := sink.Emit(e); err != nil {
			t.Fatalf("Emit returned %v with Slack down", err)
		}
	}
	// Close once the outage has been met (on a loaded machine the first post may not have been
	// tried within Close's deadline), so the error can name its cause.
	for deadline := time.Now().Add(30 * time.Second); len(reported.all()) == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := sink.Close(ctx)
	if !errors.Is(err, slackprogress.ErrUndelivered) {
		t.Fatalf("Close = %v, want ErrUndelivered", err)
	}
	got := reported.all()
	if len(got) != 1 {
		t.Fatalf("reported %v, want the outage said once (its first failure)", got)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Close = %v, want the cause (connection refused), not only the deadline", err)
	}
	var transient interface{ Transient() bool }
	if !errors.As(got[0], &transient) || !transient.Transient() {
		t.Errorf("first report %v is not the transient connection error", got[0])
	}
	if _, _, err := sink.Thread(t.Context()); err == nil {
		t.Error("Thread succeeded although nothing was posted")
	}
	if err := sink.Emit(event.Event{Kind: event.StepStarted, Step: "late"}); err != nil {
		t.Errorf("Emit after Close: %v", err)
	}
}

func TestUnknownChannelIsReportedOnce(t *testing.T) {
	t.Parallel()
	client, sim, _ := setup(t)
	var reported errs
	sink := slackprogress.New(client, "#nowhere", meta("leak", engine.ModeReal), redact.New(), reported.add)
	sink.Emit(event.Event{Kind: event.RunStarted, RunID: "run1"})
	sink.Emit(event.Event{Kind: event.StepLog, Step: "identify", Message: "x"})
	if _, _, err := sink.Thread(t.Context()); err == nil {
		t.Fatal("Thread succeeded for an unknown channel")
	}
	if err := sink.Close(t.Context()); err == nil {
		t.Fatal("Close succeeded for an unknown channel")
	}
	got := reported.all()
	if len(got) != 1 || !strings.Contains(got[0].Error(), "channel_not_found") ||
		!strings.Contains(got[0].Error(), "/invite @respond") {
		t.Errorf("reported %v, want one channel_not_found saying how to invite the bot", got)
	}
	var methods []string
	for _, c := range sim.Calls() {
		methods = append(methods, c.Method)
	}
	// One post, then the read-only membership check that explains the refusal; nothing more.
	want := []string{slacksim.MethodPostMessage, slacksim.MethodAuthTest, slacksim.MethodConvList}
	if diff := cmp.Diff(want, methods); diff != "" {
		t.Errorf("calls after a permanent failure (-want +got):\n%s", diff)
	}
}

// membershipSink is a sink posting to a channel the bot is not in.
func membershipSink(t *testing.T, ch slacksim.Channel, scopes []string) (*slackprogress.Sink, *slacksim.Sim, *errs) {
	t.Helper()
	tok := fakekey.Random().SlackBotToken()
	sim, srv := slacksim.NewServer(slacksim.Config{Token: tok, Scopes: scopes, Channels: []slacksim.Channel{ch}})
	t.Cleanup(srv.Close)
	client, err := slack.New(slack.Config{Token: tok, APIURL: sim.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	reported := &errs{}
	sink := slackprogress.New(client, "#"+ch.Name, meta("leak", engine.ModeReal), redact.New(), reported.add)
	t.Cleanup(func() { _ = sink.Close(context.Background()) })
	return sink, sim, reported
}

func TestSinkJoinsAPublicChannelItIsNotIn(t *testing.T) {
	t.Parallel()
	sink, sim, reported := membershipSink(t, slacksim.Channel{ID: "C0PUBLIC", Name: "sec", WithoutBot: true}, nil)
	sink.Emit(event.Event{Kind: event.RunStarted, RunID: "run1"})
	ch, ts, err := sink.Thread(t.Context())
	if err != nil {
		t.Fatalf("Thread: %v (reported %v)", err, reported.all())
	}
	if err := sink.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := sim.Lookup(ch, ts); !ok || ch != "C0PUBLIC" {
		t.Errorf("parent %s/%s not in the channel", ch, ts)
	}
	if got := reported.all(); len(got) != 0 {
		t.Errorf("reported %v after joining", got)
	}
}

func TestSinkSaysHowToInviteTheBot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ch     slacksim.Channel
		scopes []string
		want   []string
	}{
		{"private channel", slacksim.Channel{ID: "G0PRIV", Name: "sec", Private: true, WithoutBot: true}, nil,
			[]string{"channel_not_found", "/invite @respond` in #sec"}},
		{"public channel, no channels:join", slacksim.Channel{ID: "C0PUB", Name: "sec", WithoutBot: true},
			[]string{"chat:write", "channels:read", "groups:read"},
			[]string{"not_in_channel", "/invite @respond` in #sec", "channels:join"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, sim, reported := membershipSink(t, tc.ch, tc.scopes)
			sink.Emit(event.Event{Kind: event.RunStarted, RunID: "run1"})
			if _, _, err := sink.Thread(t.Context()); err == nil {
				t.Fatal("Thread succeeded")
			}
			_ = sink.Close(t.Context())
			got := reported.all()
			if len(got) != 1 {
				t.Fatalf("reported %v, want one error", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0].Error(), w) {
					t.Errorf("report %q does not say %q", got[0], w)
				}
			}
			if n := len(sim.Channel(tc.ch.ID)); n != 0 {
				t.Errorf("%d messages landed in a channel the bot is not in", n)
			}
		})
	}
}

func TestPreflightJoinsOrExplains(t *testing.T) {
	t.Parallel()
	sink, _, _ := membershipSink(t, slacksim.Channel{ID: "C0PUBLIC", Name: "sec", WithoutBot: true}, nil)
	m, err := sink.Preflight(t.Context())
	if err != nil || !m.Joined || !m.Member {
		t.Errorf("Preflight on a public channel: %+v, %v; want joined", m, err)
	}
	sink, _, _ = membershipSink(t, slacksim.Channel{ID: "G0PRIV", Name: "sec", Private: true, WithoutBot: true}, nil)
	if _, err := sink.Preflight(t.Context()); !errors.Is(err, slack.ErrNotInChannel) || !strings.Contains(err.Error(), "/invite") {
		t.Errorf("Preflight on a private channel: %v; want ErrNotInChannel with how to invite", err)
	}
}

func TestSeedShowsEarlierSteps(t *testing.T) {
	t.Parallel()
	client, sim, _ := setup(t)
	sink := slackprogress.New(client, channel, meta("leak", engine.ModeReal), redact.New(), nil)
	sink.Seed([]event.Event{
		{Kind: event.RunStarted, RunID: "run1"},
		{Kind: event.StepStarted, Step: "identify"},
		{Kind: event.StepSucceeded, Step: "identify"},
	})
	sink.Emit(event.Event{Kind: event.RunResumed, RunID: "run1"})
	if err := sink.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	ch, ts := sink.Parent()
	parent, _ := sim.Lookup(ch, ts)
	got, _ := parentStatuses(t, parent)
	if got["identify"] != "succeeded" || got["revoke"] != "pending" {
		t.Errorf("checklist %v", got)
	}
	thread := sim.Thread(ch, ts)
	if len(thread) != 1 || !strings.Contains(thread[0].Text, "resumed") {
		t.Errorf("thread %v, want only the resume notice", thread)
	}
}

func TestNothingPostedForARunThatNeverStarted(t *testing.T) {
	t.Parallel()
	client, sim, _ := setup(t)
	sink := slackprogress.New(client, channel, meta("leak", engine.ModeReal), redact.New(), nil)
	if err := sink.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Calls()); n != 0 {
		t.Errorf("%d Slack calls for a run that never started", n)
	}
	if _, _, err := sink.Thread(t.Context()); err == nil {
		t.Error("Thread succeeded after Close")
	}
}
