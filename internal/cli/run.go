package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/report"
	"github.com/respond-sec/respond/internal/runner"
)

// runOptions are the flags of run and plan.
type runOptions struct {
	Playbook   string
	Inputs     []string
	InputFiles []string
	DryRun     bool
	Yes        bool
	Output     string
	Temporal   temporalOptions
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
	flags = append(flags, temporalFlags()...)
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
			"Flags go before or after PLAYBOOK.\n" +
			"With --temporal the run is submitted to `respond worker`s and followed here: it goes on if this\n" +
			"terminal goes away. Secret inputs travel sealed with RESPOND_TEMPORAL_KEY, or as references." + envHelp(append(runEnv, temporalEnv...)...),
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("%s takes one PLAYBOOK; got %d arguments", name, c.NArg())
			}
			o := runOptions{Playbook: c.Args().First(), Inputs: c.StringSlice("input"), InputFiles: c.StringSlice("input-file"),
				DryRun: plan || c.Bool("dry-run"), Yes: c.Bool("yes"), Output: c.String("output"), Temporal: f.temporalOptions(c)}
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
	mode := engine.ModeReal
	if o.DryRun {
		mode = engine.ModeDryRun
	}
	spec := runSpec{Spec: runner.Spec{Playbook: pb, Inputs: inputs, DryRun: o.DryRun, Mode: mode, StartedBy: currentUser(f.Getenv)},
		output: o.Output}
	if o.Temporal.Address != "" {
		return f.submitTemporal(ctx, o.Temporal, spec, o.Yes)
	}
	if o.Yes {
		spec.Approver = engine.AutoApprover{By: spec.StartedBy, Via: "--yes"}
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

// runSpec is one execution of a playbook as the CLI asks for it: what runner.Spec says, and how
// to print it. Fresh runs, resumes, rehearsals and Slack-started runs all go through execute.
type runSpec struct {
	runner.Spec
	output string
	quiet  bool // no terminal progress (the caller prints its own)
	// summaryTo receives the text summary instead of stdout (respond audit --fix, whose stdout
	// is the report).
	summaryTo io.Writer
}

// newRunner is the Runner of the state directory dir, with this process's secrets, clock and
// environment.
func (f *Factory) newRunner(dir string) *runner.Runner {
	return &runner.Runner{Dir: dir, Secrets: f.Secrets, Getenv: f.Getenv, Now: f.Now, Warnings: f.IO.Err,
		AfterAppend: crashHook(f.Getenv("RESPOND_TEST_CRASH_AFTER"))}
}

// execute runs s through the runner with the terminal view and prompt, and prints the summary.
func (f *Factory) execute(ctx context.Context, s runSpec) (*engine.Result, error) {
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	getenv := f.Getenv
	if s.Getenv != nil {
		getenv = s.Getenv
	}
	// Before the journal exists: a reference that does not resolve leaves no half-started run.
	if s.Inputs, s.SecretRefs, err = resolveSecretRefs(ctx, s.Playbook, s.Inputs, getenv, f.Secrets); err != nil {
		return nil, err
	}
	var term *termSink
	if !s.quiet {
		term = newTermSink(f.IO.Err, f.IO.ErrTTY, s.Playbook, f.Now)
		term.size = f.IO.ErrSize
		term.seed(s.Prior)
		defer term.Close()
		s.Sinks = append([]event.Sink{term}, s.Sinks...)
	}
	if s.Approver == nil && f.IO.InTTY && f.IO.ErrTTY {
		s.Approver = &ttyApprover{in: bufio.NewReader(f.IO.In), out: f.IO.Err, term: term, user: s.StartedBy}
	}
	run, runErr := f.newRunner(dir).Start(ctx, s.Spec)
	if run == nil {
		return nil, runErr
	}
	defer run.Close()
	if term != nil {
		term.Close()
	}
	if s.output == "json" {
		b, _ := json.MarshalIndent(jsonSummary(run.Result), "", "  ")
		fmt.Fprintln(f.IO.Out, f.Secrets.String(string(b)))
	} else if !s.quiet {
		out := f.IO.Out // the outcome on stdout, so `respond run … | tee` keeps it
		if s.summaryTo != nil {
			out = s.summaryTo
		}
		printSummary(out, run.Result, run.Journal, run.ToDo)
	}
	if runErr != nil {
		return run.Result, &reported{code: ExitCode(runErr), err: runErr}
	}
	return run.Result, nil
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
func printSummary(w io.Writer, r *engine.Result, journalPath string, todos []string) {
	if r == nil {
		return
	}
	for _, st := range r.Steps {
		if st.Status == event.Failed && st.Error != "" {
			fmt.Fprintf(w, "\nstep %s failed:\n  %s\n", st.ID, strings.ReplaceAll(st.Error, "\n", "\n  "))
		}
	}
	fmt.Fprintf(w, "\nrun %s: %s. Journal: %s\n", r.RunID, r.Outcome, journalPath)
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
			for _, l := range report.PlanLines(generic) {
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
