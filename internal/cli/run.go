package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/slackprogress"
	"github.com/respond-sec/respond/internal/todo"
	"github.com/respond-sec/respond/steps/slack/slackkit"
)

// runOptions are the flags of run and plan.
type runOptions struct {
	Playbook   string
	Inputs     []string
	InputFiles []string
	DryRun     bool
	Yes        bool
	Output     string
}

var inputFlags = []cli.Flag{
	&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "input `NAME=VALUE`, NAME=@FILE or NAME=- (stdin); repeatable. Secret inputs only from a file, stdin or the environment"},
	&cli.StringSliceFlag{Name: "input-file", Usage: "YAML `FILE` mapping input names to values"},
}

func newRunCmd(f *Factory, plan bool) *cli.Command {
	name, usage := "run", "run a playbook"
	if plan {
		name, usage = "plan", "show what a playbook would do, changing nothing (run --dry-run)"
	}
	flags := append([]cli.Flag{}, inputFlags...)
	flags = append(flags,
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text, or json for one JSON summary on stdout at the end"},
	)
	if !plan {
		flags = append(flags,
			&cli.BoolFlag{Name: "dry-run", Usage: "plan every changing step instead of running it; read-only steps still run"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "approve every approval-gated step (recorded as --yes)"},
		)
	}
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "PLAYBOOK",
		Description: "PLAYBOOK is a file, a name in ./playbooks, or a built-in name (respond playbooks list).\n" +
			"Flags go before or after PLAYBOOK." + envHelp(runEnv...),
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("%s takes one PLAYBOOK; got %d arguments", name, c.NArg())
			}
			o := runOptions{Playbook: c.Args().First(), Inputs: c.StringSlice("input"), InputFiles: c.StringSlice("input-file"),
				DryRun: plan || c.Bool("dry-run"), Yes: c.Bool("yes"), Output: c.String("output")}
			return runRun(c.Context, f, o)
		},
	}
}

func runRun(ctx context.Context, f *Factory, o runOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return usageErr("--output must be text or json, got %q", o.Output)
	}
	pb, err := loadPlaybook(o.Playbook)
	if err != nil {
		return err
	}
	inputs, err := resolveInputs(pb, f.inputSources(o.Inputs, o.InputFiles), f.Secrets)
	if err != nil {
		return err
	}
	mode := "real"
	if o.DryRun {
		mode = "dry-run"
	}
	spec := runSpec{pb: pb, inputs: inputs, dryRun: o.DryRun, mode: mode, output: o.Output, startedBy: currentUser(f.Getenv)}
	if o.Yes {
		spec.approver = engine.AutoApprover{By: spec.startedBy, Via: "--yes"}
	}
	_, err = f.execute(ctx, spec)
	return err
}

func currentUser(getenv func(string) string) string {
	for _, k := range []string{"RESPOND_USER", "USER", "LOGNAME"} {
		if u := getenv(k); u != "" {
			return u
		}
	}
	return "unknown"
}

// runSpec is everything one execution of a playbook needs: fresh runs, resumes, rehearsals and
// Slack-started runs all go through Factory.execute.
type runSpec struct {
	pb        *playbook.Playbook
	inputs    map[string]any
	dryRun    bool
	mode      string
	output    string
	startedBy string
	approver  engine.Approver // nil: a TTY prompt when there is a terminal
	getenv    func(string) string
	runID     string        // set when resuming
	prior     []event.Event // set when resuming
	sinks     []event.Sink
	quiet     bool // no terminal progress (the caller prints its own)
	// shared seeds the run's shared values (the Slack thread for slack.notify).
	shared map[string]any
	// slack is the run's Slack progress sink when the caller made one (respond serve); when nil
	// and the playbook names a channel, execute makes one from SLACK_BOT_TOKEN.
	slack *slackprogress.Sink
}

func newRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (f *Factory) execute(ctx context.Context, s runSpec) (*engine.Result, error) {
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	getenv := f.Getenv
	if s.getenv != nil {
		getenv = s.getenv
	}
	// Before the journal exists: a reference that does not resolve leaves no half-started run.
	var refs map[string]string
	if s.inputs, refs, err = resolveSecretRefs(ctx, s.pb, s.inputs, getenv, f.Secrets); err != nil {
		return nil, err
	}
	var j *journal.Journal
	if s.runID == "" {
		s.runID = newRunID(f.Now())
		j, err = journal.Create(dir, s.runID)
	} else {
		j, _, err = journal.Open(dir, s.runID)
	}
	if err != nil {
		return nil, err
	}
	defer j.Close()
	j.AfterAppend = crashHook(f.Getenv("RESPOND_TEST_CRASH_AFTER"))

	bus := event.NewBus(s.runID, f.Secrets, len(s.prior), f.Now)
	bus.Require(j)
	var term *termSink
	if !s.quiet {
		term = newTermSink(f.IO.Err, f.IO.ErrTTY, s.pb, f.Now)
		term.size = f.IO.ErrSize
		term.seed(s.prior)
		defer term.Close()
		bus.Attach(term)
	}
	for _, sink := range s.sinks {
		bus.Attach(sink)
	}
	// The to-do list comes from the events, the journaled ones of a resumed run included.
	todos := &todo.List{}
	for _, e := range s.prior {
		_ = todos.Emit(e)
	}
	bus.Attach(todos)
	bus.OnSinkError = func(_ event.Sink, err error) {
		fmt.Fprintf(f.IO.Err, "respond: warning: a progress sink failed (the run goes on): %v\n", err)
	}

	approver := s.approver
	if approver == nil && f.IO.InTTY && f.IO.ErrTTY {
		approver = &ttyApprover{in: bufio.NewReader(f.IO.In), out: f.IO.Err, term: term, user: s.startedBy}
	}
	if s.slack == nil && s.pb.Notify.SlackChannel != "" {
		if closeSlack := f.attachSlackSink(ctx, bus, &s, getenv); closeSlack != nil {
			defer closeSlack()
		}
	}
	res, runErr := engine.Run(ctx, engine.Options{
		Playbook: s.pb, Inputs: s.inputs, RunID: s.runID, Mode: s.mode, DryRun: s.dryRun,
		StartedBy: s.startedBy, Approver: approver, Events: bus, Secrets: f.Secrets, Getenv: getenv,
		Now: f.Now, WorkDir: engine.RunDir(dir, s.runID), Prior: s.prior,
		SecretRefs: refs, Shared: s.shared,
	})
	if term != nil {
		term.Close()
	}
	if s.output == "json" {
		b, _ := json.MarshalIndent(jsonSummary(res), "", "  ")
		fmt.Fprintln(f.IO.Out, f.Secrets.String(string(b)))
	} else if !s.quiet {
		printSummary(f.IO.Out, res, dir, todos.Items()) // the outcome on stdout, so `respond run … | tee` keeps it
	}
	if runErr != nil {
		return res, &reported{code: ExitCode(runErr), err: runErr}
	}
	return res, nil
}

// attachSlackSink attaches the progress sink of the playbook's channel to bus and puts its
// thread in the run's shared values. It returns what closes the sink at the end of the run, or
// nil when Slack is unavailable: that never stops a response, it is said and the run goes on.
func (f *Factory) attachSlackSink(ctx context.Context, bus *event.Bus, s *runSpec, getenv func(string) string) func() {
	sink, thread, err := newSlackSink(getenv, *s, f)
	if err != nil {
		fmt.Fprintf(f.IO.Err, "respond: warning: no Slack progress in %s: %v\n", s.pb.Notify.SlackChannel, f.Secrets.String(err.Error()))
		return nil
	}
	if s.prior != nil {
		if th := engine.Fold(s.prior).Thread; th.TS != "" {
			sink.Adopt(th.Channel, th.TS)
		}
		sink.Seed(s.prior)
	}
	sink.OnParent(func(ch, ts string) {
		_, _ = bus.Emit(event.Event{Message: s.pb.Notify.SlackChannel}.With(event.SlackThreadData{Channel: ch, TS: ts}))
	})
	bus.Attach(sink)
	s.shared = withShared(s.shared, slackkit.Key, thread)
	return func() {
		// A reachable Slack gets time to show the final state (rate limits); one that never
		// took the run's message costs a few seconds at most. The Sink reports what it could
		// not deliver itself, once.
		wait := 30 * time.Second
		if !sink.Posted() {
			wait = 3 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
		defer cancel()
		_ = sink.Close(ctx)
	}
}

func withShared(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for key, val := range m {
		out[key] = val
	}
	return out
}

// newSlackSink builds the progress sink for the playbook's channel from SLACK_BOT_TOKEN (and
// RESPOND_SLACK_API_URL, for simulators).
func newSlackSink(getenv func(string) string, s runSpec, f *Factory) (*slackprogress.Sink, *slackkit.Thread, error) {
	tok := getenv(slackkit.EnvToken)
	if tok == "" {
		return nil, nil, fmt.Errorf("%s is not set", slackkit.EnvToken)
	}
	f.Secrets.Add(tok)
	client, err := slack.New(slack.Config{Token: tok, APIURL: getenv(slackkit.EnvAPIURL)})
	if err != nil {
		return nil, nil, err
	}
	meta := slackprogress.Meta{Playbook: s.pb.Name, RunID: s.runID, StartedBy: s.startedBy, Mode: s.mode}
	for _, st := range s.pb.Steps {
		meta.Steps = append(meta.Steps, slackprogress.StepMeta{ID: st.ID, Uses: st.Uses})
	}
	sink := slackprogress.New(client, s.pb.Notify.SlackChannel, meta, f.Secrets, func(err error) {
		fmt.Fprintf(f.IO.Err, "respond: warning: Slack: %v\n", f.Secrets.String(err.Error()))
	})
	return sink, slackThread(sink, client, f.Secrets), nil
}

// crashHook returns a journal hook that kills the process with SIGKILL right after a matching
// line is durable: "KIND:STEP" or "KIND:STEP:N" (the Nth match). Only tests set
// RESPOND_TEST_CRASH_AFTER; it exists so crash-and-resume is proven against a real process.
func crashHook(spec string) func(event.Event) {
	if spec == "" {
		return nil
	}
	parts := strings.Split(spec, ":")
	kind, step, nth := parts[0], "", 1
	if len(parts) > 1 {
		step = parts[1]
	}
	if len(parts) > 2 {
		nth, _ = strconv.Atoi(parts[2])
	}
	seen := 0
	return func(e event.Event) {
		if string(e.Kind) != kind || (step != "" && e.Step != step) {
			return
		}
		if seen++; seen == nth {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never run past the crash point
		}
	}
}

type summaryJSON struct {
	*engine.Result
	DurationMS int64             `json:"duration_ms"`
	Steps      []stepSummaryJSON `json:"steps"`
}

type stepSummaryJSON struct {
	*engine.StepResult
	DurationMS int64 `json:"duration_ms"`
}

func jsonSummary(r *engine.Result) summaryJSON {
	s := summaryJSON{Result: r}
	if r == nil {
		return s
	}
	s.DurationMS = r.Finished.Sub(r.Started).Milliseconds()
	for _, st := range r.Steps {
		s.Steps = append(s.Steps, stepSummaryJSON{StepResult: st, DurationMS: st.Duration.Milliseconds()})
	}
	return s
}

// printSummary prints the run's outcome and its to-do list (the same list the Slack summary and
// the reports carry, from todo.FromEvents).
func printSummary(w io.Writer, r *engine.Result, dir string, todos []string) {
	if r == nil {
		return
	}
	for _, st := range r.Steps {
		if st.Status == event.Failed && st.Error != "" {
			fmt.Fprintf(w, "\nstep %s failed:\n  %s\n", st.ID, strings.ReplaceAll(st.Error, "\n", "\n  "))
		}
	}
	fmt.Fprintf(w, "\nrun %s: %s. Journal: %s\n", r.RunID, r.Outcome, journal.Path(dir, r.RunID))
	if len(todos) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", todoHeading)
	for _, t := range todos {
		fmt.Fprintf(w, "  - [ ] %s\n", t)
	}
}

// todoHeading introduces the to-do list in the terminal and the Markdown report alike.
const todoHeading = "What a person must still do:"

// ttyApprover asks on the terminal, showing the plan first.
type ttyApprover struct {
	in   *bufio.Reader
	out  io.Writer
	term *termSink
	user string
}

func (a *ttyApprover) Available() error { return nil }

func (a *ttyApprover) Approve(ctx context.Context, req engine.ApprovalRequest) (engine.Decision, error) {
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	ask := func() {
		fmt.Fprintf(a.out, "\nApproval needed for step %s (%s).\n", req.StepID, req.Uses)
		if req.Message != "" {
			fmt.Fprintf(a.out, "  %s\n", req.Message)
		}
		if req.Plan != nil {
			fmt.Fprintf(a.out, "  It will: %s\n", req.Plan.Summary)
			b, _ := json.Marshal(req.Plan)
			var generic any
			_ = json.Unmarshal(b, &generic)
			for _, l := range planLines(generic) {
				fmt.Fprintf(a.out, "  %s\n", l)
			}
		}
		fmt.Fprintf(a.out, "Approve? [y/N] ")
		// The redacting writer holds back a line until its newline; a prompt has none.
		if fl, ok := a.out.(interface{ Flush() error }); ok {
			_ = fl.Flush()
		}
		go func() {
			line, err := a.in.ReadString('\n')
			ch <- answer{line, err}
		}()
	}
	if a.term != nil {
		a.term.Pause(ask)
		defer a.term.Resume()
	} else {
		ask()
	}
	select {
	case <-ctx.Done():
		return engine.Decision{}, ctx.Err()
	case ans := <-ch:
		if ans.err != nil && ans.line == "" {
			if errors.Is(ans.err, io.EOF) {
				return engine.Decision{Approved: false, By: a.user, Via: "terminal", Reason: "no answer (end of input)"}, nil
			}
			return engine.Decision{}, ans.err
		}
		yes := strings.EqualFold(strings.TrimSpace(ans.line), "y") || strings.EqualFold(strings.TrimSpace(ans.line), "yes")
		d := engine.Decision{Approved: yes, By: a.user, Via: "terminal"}
		if !yes {
			d.Reason = "answered no"
		}
		return d, nil
	}
}
