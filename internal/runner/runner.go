// Package runner owns running a playbook: it creates or reopens the run's journal, builds the
// event bus and its sinks (the journal required; the caller's views, the to-do list and the Slack
// progress message best effort, a resumed run adopting its Slack thread), hands the engine the
// run's approver and shared values, and returns the run's summary for the caller to print. Fresh
// runs, plans, resumes, rehearsals, Slack-started runs and rollbacks all go through it; the CLI
// only parses flags, resolves inputs and prints.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/slackprogress"
	"github.com/respond-sec/respond/internal/todo"
)

// Runner runs playbooks against one state directory.
type Runner struct {
	// Dir is the state directory (journals under Dir/runs), already prepared by the caller.
	Dir     string
	Secrets *redact.Set
	Getenv  func(string) string
	Now     func() time.Time
	// Warnings receives what goes wrong outside the run's own record (a failing progress sink,
	// Slack unavailable); the run goes on.
	Warnings io.Writer
	// AfterAppend is given to every journal the runner opens (tests crash the process with it).
	AfterAppend func(event.Event)
}

// Spec is one execution of a playbook.
type Spec struct {
	Playbook *playbook.Playbook
	Inputs   map[string]any
	// SecretRefs are the references secret inputs were resolved from (journaled, never values).
	SecretRefs map[string]string
	DryRun     bool
	Mode       string // engine.ModeReal, ModeDryRun or ModeRehearsal
	StartedBy  string
	// Approver decides approval-gated steps; nil means nobody can be asked.
	Approver engine.Approver
	// Getenv, when set, is the run's environment instead of the Runner's (a rehearsal's world).
	Getenv func(string) string
	// RunID and Prior are set when resuming: the journaled events of the run.
	RunID string
	Prior []event.Event
	// Sinks follow the run's events too (the terminal view, a rehearsal's recorder).
	Sinks []event.Sink
	// Shared seeds the run's shared values.
	Shared map[string]any
	// Slack is the run's progress sink when the caller made one (respond serve); when nil and
	// the playbook names a channel, the runner makes one from SLACK_BOT_TOKEN.
	Slack *slackprogress.Sink
	// Record, when set, is where the run's events are made durable instead of a journal in Dir
	// (a Temporal workflow's history); RunID and Prior are then required, and Phase says which
	// part of the run this call executes.
	Record event.Sink
	Phase  engine.Phase
}

// Run is an execution that has ended (finished, stopped or interrupted): what the CLI prints.
// Close must be called: it gives the Slack message time to show the final state and releases
// the journal.
type Run struct {
	ID      string
	Result  *engine.Result
	Journal string // the journal's path
	// ToDo is what a person must still do, from every event of the run (todo.FromEvents).
	ToDo   []string
	closes []func()
}

// Close waits for the best-effort sinks and releases the journal, once.
func (r *Run) Close() {
	for i := len(r.closes) - 1; i >= 0; i-- {
		r.closes[i]()
	}
	r.closes = nil
}

// NewRunID is a fresh run's ID: its UTC start time and a random suffix.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (rn *Runner) warnf(format string, args ...any) {
	if rn.Warnings != nil {
		fmt.Fprintf(rn.Warnings, "respond: warning: "+format+"\n", args...)
	}
}

// Start runs s to its end and returns the Run with the engine's error (nil when it succeeded).
// The returned Run is nil only when the journal could not be opened: then nothing happened.
func (rn *Runner) Start(ctx context.Context, s Spec) (*Run, error) {
	run, bus, err := rn.open(&s)
	if err != nil {
		return nil, err
	}
	getenv := rn.Getenv
	if s.Getenv != nil {
		getenv = s.Getenv
	}
	for _, sink := range s.Sinks {
		bus.Attach(sink)
	}
	// The to-do list comes from the events, the journaled ones of a resumed run included.
	todos := &todo.List{}
	for _, e := range s.Prior {
		_ = todos.Emit(e)
	}
	bus.Attach(todos)
	bus.OnSinkError = func(_ event.Sink, err error) {
		rn.warnf("a progress sink failed (the run goes on): %v", err)
	}
	if s.Slack == nil && s.Playbook.Notify.SlackChannel != "" {
		if closeSlack := rn.attachSlack(ctx, bus, &s, run.ID, getenv); closeSlack != nil {
			run.closes = append(run.closes, closeSlack)
		}
	}
	res, runErr := engine.Run(ctx, engine.Options{
		Playbook: s.Playbook, Inputs: s.Inputs, RunID: run.ID, Mode: s.Mode, DryRun: s.DryRun,
		StartedBy: s.StartedBy, Approver: s.Approver, Events: bus, Secrets: rn.Secrets, Getenv: getenv,
		Now: rn.Now, WorkDir: engine.RunDir(rn.Dir, run.ID), Prior: s.Prior,
		SecretRefs: s.SecretRefs, Shared: s.Shared, Phase: s.Phase,
	})
	run.Result, run.ToDo = res, todos.Items()
	return run, runErr
}

// open creates the journal of a fresh run or reopens a resumed one, with the bus that requires it.
func (rn *Runner) open(s *Spec) (*Run, *event.Bus, error) {
	var (
		j   *journal.Journal
		err error
		id  = s.RunID
	)
	if s.Record != nil {
		bus := event.NewBus(id, rn.Secrets, len(s.Prior), rn.Now)
		bus.Require(s.Record)
		return &Run{ID: id}, bus, nil
	}
	if id == "" {
		id = NewRunID(rn.Now())
		j, err = journal.Create(rn.Dir, id)
	} else {
		j, _, err = journal.Open(rn.Dir, id)
	}
	if err != nil {
		return nil, nil, err
	}
	j.AfterAppend = rn.AfterAppend
	bus := event.NewBus(id, rn.Secrets, len(s.Prior), rn.Now)
	bus.Require(j)
	run := &Run{ID: id, Journal: journal.Path(rn.Dir, id), closes: []func(){func() { _ = j.Close() }}}
	return run, bus, nil
}
