package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/rehearsal"
	"github.com/respond-sec/respond/internal/report"
	"github.com/respond-sec/respond/internal/runner"
	execstep "github.com/respond-sec/respond/steps/exec"
)

type rehearseOptions struct {
	Playbook   string
	Seed       uint64
	DryRun     bool
	Chaos      bool
	JSONFile   string
	ReportFile string
	Output     string
	Dir        string
	World      string // a world another process serves (crash tests)
	Transcript string // where to write the Slack channel as a person sees it ("" prints it)
	AllowExec  bool   // run the playbook's exec steps (they see RESPOND_REHEARSAL=1)
	FromAlert  bool   // the run starts from GitHub's alert webhook, as under respond serve

	alertRaised time.Time // when GitHub raised the alert (FromAlert)

	scope rehearsal.Scope // what the playbook does that the world can check
}

func newRehearseCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "rehearse",
		Usage:     "run a playbook end to end against built-in simulators (no credentials needed)",
		ArgsUsage: "PLAYBOOK",
		Description: "Serves simulators of every external system on 127.0.0.1, builds a repository with a planted\n" +
			"leak, its remote, logs and GitHub alerts, plants a fresh fake leaked key, runs the playbook\n" +
			"unchanged through the normal engine with approvals recorded as \"rehearsal\", then checks from\n" +
			"the simulators' and repositories' state that the response worked. Each step kind the playbook uses\n" +
			"contributes its own checks, so a team's playbook is judged on what it does. Its exec steps run only\n" +
			"with --allow-exec, with RESPOND_REHEARSAL=1 in their environment. Exit 0 only if every check holds.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "seed", Usage: "reproduce a world: same keys, IDs, history and usage (default: random)"},
			&cli.BoolFlag{Name: "chaos", Usage: "make every simulator fail 20% of calls transiently (429, 500, dropped connections) and add latency"},
			&cli.BoolFlag{Name: "dry-run", Usage: "plan the changing steps and prove nothing changed"},
			&cli.StringFlag{Name: "report", Usage: "write a Markdown report to `FILE.md`"},
			&cli.StringFlag{Name: "json", Usage: "write the report as JSON to `FILE.json`"},
			&cli.StringFlag{Name: "dir", Usage: "build the world in `DIR` and keep it (default: a temporary directory, removed)"},
			&cli.StringFlag{Name: "slack-transcript", Usage: "write the Slack channel, as a person would see it, to `FILE` instead of printing it"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text, or json on stdout"},
			&cli.BoolFlag{Name: "allow-exec", Usage: "run the playbook's exec steps (their programs run for real, with RESPOND_REHEARSAL=1)"},
			&cli.BoolFlag{Name: "from-alert", Usage: "start the run as respond serve does when GitHub finds the key: a new alert's signed webhook, nobody typing anything; reports the time from alert to revocation"},
			&cli.StringFlag{Name: "world", Hidden: true, Usage: "run against a world another process serves (its handle `FILE`)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("rehearse takes one PLAYBOOK")
			}
			o := rehearseOptions{Playbook: c.Args().First(), DryRun: c.Bool("dry-run"), Chaos: c.Bool("chaos"),
				JSONFile: c.String("json"), ReportFile: c.String("report"), Output: c.String("output"),
				Dir: c.String("dir"), World: c.String("world"), Transcript: c.String("slack-transcript"),
				AllowExec: c.Bool("allow-exec"), FromAlert: c.Bool("from-alert")}
			if o.FromAlert && (o.DryRun || o.World != "") {
				return usageErr("--from-alert rehearses a real response in a world served here: not with --dry-run or --world")
			}
			if s := c.String("seed"); s != "" {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil || n == 0 {
					return usageErr("--seed must be a positive whole number, got %q", s)
				}
				o.Seed = n
			}
			return runRehearse(c.Context, f, o)
		},
	}
}

// world is a rehearsal world, served here or by another process.
type world interface {
	Getenv(string) string
	Input(string) (any, bool)
	InputNames() []string
}

func rehearsalInputs(pb *playbook.Playbook, w world) (map[string]any, error) {
	given := map[string]any{}
	for _, in := range pb.Inputs {
		if v, ok := w.Input(in.Name); ok {
			given[in.Name] = v
		}
	}
	out, missing, err := pb.Bind(given, func(string) string { return "rehearsal" })
	if err != nil {
		return nil, usageErr("rehearsal %v", err)
	}
	if len(missing) > 0 {
		in := pb.Inputs[slices.IndexFunc(pb.Inputs, func(in *playbook.Input) bool { return in.Name == missing[0] })]
		return nil, usageErr("%s: required input %q (line %d) cannot be rehearsed: the rehearsal world provides only %s; make it optional or give it a default",
			pb.File, in.Name, in.Line, strings.Join(w.InputNames(), ", "))
	}
	return out, nil
}

func runRehearse(ctx context.Context, f *Factory, o rehearseOptions) error {
	// The state directory holds the fingerprint key: load it before the first mask is printed, so
	// the world's line and the run show the same fingerprint for the same key.
	if _, err := f.stateDir(); err != nil {
		return err
	}
	if o.Output != "text" && o.Output != "json" {
		return usageErr("--output must be text or json, got %q", o.Output)
	}
	pb, err := loadPlaybook(o.Playbook)
	if err != nil {
		return err
	}
	// A dry run only plans exec steps: nothing runs that needs allowing.
	if err := checkExecAllowed(pb, o.AllowExec || o.DryRun); err != nil {
		return err
	}
	o.scope = rehearsal.ScopeOf(pb)
	// Everything respond prints is kept to be scanned for the keys afterwards. Out and Err are
	// written from several goroutines (the engine, the Slack sink), so the copy is locked.
	printed := &lockedBuffer{}
	f.IO.Out = io.MultiWriter(f.IO.Out, printed)
	f.IO.Err = io.MultiWriter(f.IO.Err, printed)

	var (
		w      world
		served *rehearsal.World
		seed   = o.Seed
	)
	if o.World != "" {
		h, err := rehearsal.ReadHandle(o.World)
		if err != nil {
			return usageErr("%v", err)
		}
		f.Secrets.Add(h.Secrets...)
		w, seed = h, h.Seed
	} else {
		// The world runs on the command's clock, as the run does (a fixed one in golden tests).
		served, err = rehearsal.Start(ctx, rehearsal.Options{Seed: o.Seed, Dir: o.Dir, Chaos: o.Chaos,
			SlackChannel: pb.Notify.SlackChannel, Clock: f.Now, AlertArrives: o.FromAlert})
		if err != nil {
			return err
		}
		defer served.Close()
		f.Secrets.Add(served.Secrets()...)
		w, seed = served, served.Seed
		chaos := ""
		if o.Chaos {
			chaos = ", chaos on (20% transient faults)"
		}
		fmt.Fprintf(f.IO.Err, "rehearsal world (seed %d%s): OpenAI and GitHub simulators on 127.0.0.1, %s with %s planted in its history, its remote, logs in %s\n\n",
			seed, chaos, served.Repo.Local, f.Secrets.String(served.LeakedKey()), served.LogDir)
	}
	inputs, err := rehearsalInputs(pb, w)
	if err != nil {
		return err
	}

	var trial *rehearsal.Trial
	if served != nil {
		trial = served.Begin(o.scope, o.DryRun)
	}
	rec := &event.Log{}
	spec := runSpec{Spec: runner.Spec{
		Playbook: pb, Inputs: inputs, DryRun: o.DryRun, Mode: engine.ModeRehearsal, StartedBy: "rehearsal",
		Approver: engine.AutoApprover{By: "rehearsal", Via: "rehearsal"}, Getenv: w.Getenv, Sinks: []event.Sink{rec},
	}, output: "text", quiet: o.Output == "json"}
	out, err := rehearsalRun(ctx, f, o, served, spec)
	if err != nil {
		return err
	}
	if out.res == nil {
		return out.err
	}
	o.alertRaised = out.raised
	return finishRehearsal(ctx, f, o, out.res, out.err, rec.All(), served, trial, seed, printed)
}

// rehearsalRun runs spec in the world: directly, or with --from-alert through GitHub's webhook.
func rehearsalRun(ctx context.Context, f *Factory, o rehearseOptions, served *rehearsal.World, spec runSpec) (alertOutcome, error) {
	if !o.FromAlert {
		res, err := f.execute(ctx, spec)
		return alertOutcome{res: res, err: err}, nil
	}
	return rehearseFromAlert(ctx, f, served, spec)
}

// finishRehearsal has the world judge the run, prints and writes the report and decides the
// exit code. A world another process serves is judged there: served and trial are nil.
func finishRehearsal(ctx context.Context, f *Factory, o rehearseOptions, res *engine.Result, runErr error, evs []event.Event,
	served *rehearsal.World, trial *rehearsal.Trial, seed uint64, printed *lockedBuffer) error {
	var checks []rehearsal.Verification
	if trial != nil {
		checks = trial.Verify(ctx)
	}
	rep := report.Build(res, evs, seed, o.DryRun, o.Chaos, checks)
	// Measured to the same moment as the time to revoke (the revoking step's success), so the
	// alert's figure is never the smaller of the two.
	if at, ok := report.RevokedAt(evs); ok && !o.alertRaised.IsZero() {
		rep.AlertToRevokeMS = max(at.Sub(o.alertRaised).Milliseconds(), 1)
	}
	var outputs []rehearsal.Output
	if served != nil {
		rep.FaultsInjected = served.FaultsInjected()
		transcript, err := showTranscript(f, o, served)
		if err != nil {
			return err
		}
		outputs = append(outputs, rehearsal.Output{Name: "Slack transcript", Text: transcript})
	}
	var unread []string
	jb, err := readJournal(f, res.RunID)
	if err != nil {
		unread = append(unread, fmt.Sprintf("the journal (%v)", err))
	}
	outputs = append([]rehearsal.Output{{Name: "terminal output", Text: printed.String()}, {Name: "journal", Text: string(jb)},
		{Name: "report", Text: rep.Markdown(evs)}}, outputs...)
	if trial != nil {
		leak, n := trial.LeakCheck(evs, outputs, unread)
		checks = append(checks, leak)
		rep.LeaksInOutputs = n
	}
	rep.LeakScanned = []string{"terminal output", "journal", "report", "Slack transcript"}
	rep.Verifications = checks
	if err := writeRehearsalReport(f, o, rep, trial, evs); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	for _, c := range checks {
		if !c.OK {
			return &reported{code: ExitStepFailed, err: fmt.Errorf("rehearsal verification failed: %s", c.Name)}
		}
	}
	return nil
}

// showTranscript writes the Slack channel, as a person sees it, to --slack-transcript or prints
// it, and returns it for the leak check.
func showTranscript(f *Factory, o rehearseOptions, served *rehearsal.World) (string, error) {
	transcript := served.Transcript()
	if o.Transcript != "" {
		if err := os.WriteFile(o.Transcript, []byte(f.Secrets.String(transcript)), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", o.Transcript, err)
		}
	} else if o.Output == "text" && o.scope.Slack {
		fmt.Fprintf(f.IO.Out, "\nSlack, as the channel shows it:\n\n%s\n", indent(transcript))
	}
	return transcript, nil
}

// writeRehearsalReport prints the verifications (or the JSON report) and writes the report files.
func writeRehearsalReport(f *Factory, o rehearseOptions, rep report.Report, trial *rehearsal.Trial, evs []event.Event) error {
	if o.Output == "json" {
		writeJSON(f.IO.Out, f, rep)
	} else {
		var unchecked []string
		if trial != nil {
			unchecked = trial.Unchecked()
		}
		rep.WriteVerdict(f.IO.Out, unchecked) // the result, on stdout with the run summary
	}
	if o.JSONFile != "" {
		var b bytes.Buffer
		writeJSON(&b, f, rep)
		if err := os.WriteFile(o.JSONFile, b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", o.JSONFile, err)
		}
	}
	if o.ReportFile != "" {
		if err := os.WriteFile(o.ReportFile, []byte(f.Secrets.String(rep.Markdown(evs))), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", o.ReportFile, err)
		}
	}
	return nil
}

// checkExecAllowed refuses a rehearsal of a playbook with steps that run programs (exec) unless
// they were allowed: a rehearsal otherwise touches nothing but its simulators, and a program can
// touch anything.
func checkExecAllowed(pb *playbook.Playbook, allowed bool) error {
	if allowed {
		return nil
	}
	var found []string
	for _, st := range pb.Steps {
		if st.Kind.Traits.RunsPrograms {
			found = append(found, fmt.Sprintf("%q (line %d)", st.ID, st.Line))
		}
	}
	if len(found) == 0 {
		return nil
	}
	return usageErr("%s: exec step(s) %s would run programs for real, outside the simulators: rehearse with --allow-exec to run them (they see %s=1)",
		pb.File, strings.Join(found, ", "), execstep.RehearsalVar)
}

// readJournal reads a run's journal file for the leak check.
func readJournal(f *Factory, runID string) ([]byte, error) {
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(journal.Path(dir, runID))
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
