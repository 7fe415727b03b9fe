package slackserver

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/respond-sec/respond/internal/event"
)

// ErrShuttingDown is returned by Runs.Start once a shutdown has begun.
var ErrShuttingDown = errors.New("the server is shutting down; start the run again once it is back")

// Runs tracks the runs a server started, for a Runner to build on, so that a shutdown stops each
// one at a journaled point: a run between steps, or waiting for an approval, is cancelled at
// once; a run inside a step is cancelled as soon as that step's outcome is journaled (the engine
// then records the run as interrupted before the next step starts); whatever still runs when the
// deadline passes is cancelled outright, and its journal shows where it was.
type Runs struct {
	mu       sync.Mutex
	runs     map[*tracked]struct{}
	stopping bool
	lastGasp time.Duration
}

// NewRuns returns an empty tracker.
func NewRuns() *Runs { return &Runs{runs: map[*tracked]struct{}{}, lastGasp: defaultLastGasp} }

// Stopping reports whether a shutdown has begun.
func (rs *Runs) Stopping() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.stopping
}

type tracked struct {
	rs       *Runs
	playbook string
	cancel   context.CancelFunc
	started  chan struct{} // closed at the run's first event
	done     chan struct{} // closed when run returns
	once     sync.Once

	// guarded by rs.mu
	id       string
	step     string
	inStep   bool
	waiting  bool
	finished bool
	outcome  string
}

// Start calls run in a goroutine with a context of its own (a run outlives the request that
// started it; only Shutdown cancels it). run must attach track to the run's event bus: that is
// how the tracker learns the run ID and where the run stands. Start returns the run ID once the
// run's first event is recorded, or run's error if it ends before that. ctx bounds the wait only.
func (rs *Runs) Start(ctx context.Context, playbook string, run func(ctx context.Context, track event.Sink) error) (string, error) {
	runCtx, cancel := context.WithCancel(context.Background())
	t := &tracked{rs: rs, playbook: playbook, cancel: cancel, started: make(chan struct{}), done: make(chan struct{})}
	rs.mu.Lock()
	if rs.stopping {
		rs.mu.Unlock()
		cancel()
		return "", ErrShuttingDown
	}
	rs.runs[t] = struct{}{}
	rs.mu.Unlock()

	errc := make(chan error, 1)
	go func() {
		defer close(t.done)
		defer cancel()
		err := run(runCtx, t)
		errc <- err
		rs.mu.Lock()
		if !rs.stopping {
			delete(rs.runs, t)
		}
		rs.mu.Unlock()
	}()
	select {
	case <-t.started:
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return t.id, nil
	case err := <-errc:
		select {
		case <-t.started: // it ran (and ended) after all
			rs.mu.Lock()
			defer rs.mu.Unlock()
			return t.id, nil
		default:
		}
		if err == nil {
			err = errors.New("the run ended before recording anything")
		}
		return "", err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Emit follows the run's progress; at a journaled point during a shutdown it cancels the run.
func (t *tracked) Emit(e event.Event) error {
	rs := t.rs
	rs.mu.Lock()
	if t.id == "" {
		t.id = e.RunID
	}
	boundary := false
	switch e.Kind {
	case event.RunStarted, event.RunResumed:
		boundary = true
	case event.StepStarted:
		t.inStep, t.step = true, e.Step
	case event.StepApproved:
		t.inStep, t.waiting = true, false
	case event.ApprovalWaiting:
		t.waiting, boundary = true, true
	case event.StepSucceeded, event.StepFailed, event.StepSkipped, event.StepPlanned:
		t.inStep, t.waiting, boundary = false, false, true
	case event.RunFinished:
		t.finished, t.inStep, t.waiting = true, false, false
		d, _ := event.Decode[event.RunFinishedData](e)
		t.outcome = d.Outcome
	}
	if rs.stopping && boundary {
		t.cancel()
	}
	rs.mu.Unlock()
	t.once.Do(func() { close(t.started) })
	return nil
}

// ActiveRun is a run in progress.
type ActiveRun struct {
	RunID, Playbook, Step string
	Waiting               bool // for an approval
}

// Active lists the runs whose goroutine has not returned (a finished run may still be delivering
// its last Slack messages), by run ID.
func (rs *Runs) Active() []ActiveRun {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []ActiveRun
	for t := range rs.runs {
		select {
		case <-t.done:
			continue
		default:
		}
		out = append(out, ActiveRun{RunID: t.id, Playbook: t.playbook, Step: t.step, Waiting: t.waiting})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out
}

// defaultLastGasp is how long Shutdown waits, after its deadline, for runs it cancelled outright
// to journal their end.
const defaultLastGasp = 2 * time.Second

// Shutdown stops every run at a journaled point (see Runs) and waits for them until ctx ends;
// then it cancels what is left. It returns the runs that did not finish successfully, which
// `respond resume` can continue. Start refuses new runs from now on.
func (rs *Runs) Shutdown(ctx context.Context) []Interrupted {
	rs.mu.Lock()
	rs.stopping = true
	all := make([]*tracked, 0, len(rs.runs))
	for t := range rs.runs {
		all = append(all, t)
		if !t.inStep || t.waiting {
			t.cancel()
		}
	}
	rs.mu.Unlock()

	hard := false
	for _, t := range all {
		select {
		case <-t.done:
		case <-ctx.Done():
			hard = true
		}
		if hard {
			break
		}
	}
	if hard {
		for _, t := range all {
			t.cancel()
		}
		gasp := time.NewTimer(rs.lastGasp)
		defer gasp.Stop()
	wait:
		for _, t := range all {
			select {
			case <-t.done:
			case <-gasp.C:
				break wait
			}
		}
	}

	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []Interrupted
	for _, t := range all {
		var state string
		switch {
		case t.id == "":
			continue // it never recorded anything: nothing to resume
		case !t.finished && t.step == "":
			state = "interrupted before its first step (its journal has no end)"
		case !t.finished:
			state = "interrupted in step " + t.step + " (its journal has no end)"
		case t.outcome == "succeeded":
			continue
		default:
			state = "stopped at a journaled point (outcome " + t.outcome + ")"
		}
		out = append(out, Interrupted{RunID: t.id, Playbook: t.playbook, State: state})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out
}
