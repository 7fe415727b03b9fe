package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/report"
	"github.com/respond-sec/respond/internal/temporal"
)

// installation remembers that this process took its fingerprint key from a state directory:
// one process serves one installation, so the first directory's key is the process's.
var installation struct {
	sync.Mutex
	keyed bool
}

// prepareState refuses a state directory other users could tamper with and makes its
// fingerprint key the one masks and recorded fingerprints are computed with.
func prepareState(dir string) error {
	if err := journal.PrepareDir(dir); err != nil {
		return err
	}
	installation.Lock()
	defer installation.Unlock()
	if installation.keyed {
		return nil
	}
	key, err := redact.LoadKey(dir)
	if err != nil {
		return err
	}
	redact.SetKey(key)
	installation.keyed = true
	return nil
}

func newRunsCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:        "runs",
		Usage:       "list, show, report and verify run journals",
		Description: "Runs are journaled in the state directory." + envHelp("RESPOND_STATE_DIR"),
		Subcommands: []*cli.Command{
			newRunsListCmd(f), newRunsShowCmd(f), newRunsReportCmd(f), newRunsVerifyCmd(f),
		},
	}
}

func newRunsListCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list runs, newest first",
		Flags: append([]cli.Flag{outputFlag("text", "json")}, temporalFlags()...),
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c, "text", "json")
			if err != nil {
				return err
			}
			dir, runs, err := f.listRuns(c)
			if err != nil {
				return err
			}
			if format == "json" {
				if runs == nil {
					runs = []journal.Summary{}
				}
				writeJSON(f.IO.Out, f, runs)
				return nil
			}
			if len(runs) == 0 {
				fmt.Fprintf(f.IO.Err, "no runs in %s\n", dir)
				return nil
			}
			fmt.Fprintf(f.IO.Out, "%-26s %-23s %-9s %-17s %s\n", "RUN", "STARTED", "MODE", "STATUS", "PLAYBOOK")
			for _, r := range runs {
				fmt.Fprintf(f.IO.Out, "%-26s %-23s %-9s %-17s %s\n", r.RunID, report.FullTime(r.Started), r.Mode, r.Status, r.Playbook)
			}
			return nil
		},
	}
}

func newRunsShowCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a run's events",
		ArgsUsage: "RUN|last",
		Flags: append([]cli.Flag{outputFlag("text", "json"),
			&cli.BoolFlag{Name: "json", Hidden: true, Usage: "the same as --output json"}}, temporalFlags()...),
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c, "text", "json")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				format = "json"
			}
			id, recs, err := f.showRun(c)
			if err != nil {
				return err
			}
			if format == "text" && len(recs) > 0 {
				fmt.Fprintf(f.IO.Out, "run %s, started %s (times below are UTC)\n", id, report.FullTime(recs[0].Time))
			}
			for _, r := range recs {
				if format == "json" {
					b, _ := json.Marshal(r)
					fmt.Fprintln(f.IO.Out, string(b))
					continue
				}
				for i, l := range report.Describe(r.Event) {
					if i == 0 {
						fmt.Fprintf(f.IO.Out, "%s %s\n", timeOfDay(r.Time), l)
					} else {
						fmt.Fprintf(f.IO.Out, "             %s\n", l)
					}
				}
			}
			return nil
		},
	}
}

func newRunsReportCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "write a run's report: timeline, time to revoke, per-step results, what changed, what a person must still do",
		ArgsUsage: "RUN|last",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "md", Usage: "md (Markdown) or json"}},
		Action: func(c *cli.Context) error {
			dir, id, err := f.runArg(c)
			if err != nil {
				return err
			}
			st, err := loadResume(dir, id)
			if err != nil {
				return err
			}
			rep := report.Build(st.Result(), st.Events, 0, st.State.DryRun, false, nil)
			switch c.String("output") {
			case "md":
				fmt.Fprint(f.IO.Out, f.Secrets.String(rep.Markdown(st.Events)))
			case "json":
				writeJSON(f.IO.Out, f, rep)
			default:
				return usageErr("--output must be md or json")
			}
			return nil
		},
	}
}

func newRunsVerifyCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a run journal's hash chain (detects changed, removed or reordered lines)",
		ArgsUsage: "RUN|last",
		Action: func(c *cli.Context) error {
			dir, id, err := f.runArg(c)
			if err != nil {
				return err
			}
			n, err := journal.Verify(dir, id)
			var torn *journal.TornTailError
			if errors.As(err, &torn) {
				// Not tampering: the chain is intact up to an append a crash cut short.
				fmt.Fprintf(f.IO.Out, "%s: torn tail at line %d: %d events before it intact, hash chain intact; "+
					"the last write (%d bytes) was cut short, as by a crash. `respond resume %s` drops it and records the repair.\n",
					id, torn.Line, n, torn.Bytes, id)
				return &exitError{code: ExitStepFailed, err: fmt.Errorf("journal has a torn tail at line %d (not tampering)", torn.Line)}
			}
			if err != nil {
				return &exitError{code: ExitStepFailed, err: fmt.Errorf("journal verification failed: %w", err)}
			}
			fmt.Fprintf(f.IO.Out, "%s: ok, %d events, hash chain intact\n", id, n)
			return nil
		},
	}
}

// listRuns lists the state directory's runs, or with --temporal the service's; where says which.
func (f *Factory) listRuns(c *cli.Context) (where string, runs []journal.Summary, err error) {
	t := f.temporalOptions(c)
	if t.Address == "" {
		dir, err := f.stateDir()
		if err != nil {
			return "", nil, err
		}
		runs, err := journal.List(dir)
		return dir, runs, err
	}
	key, tc, err := f.dialTemporal(c.Context, t)
	if err != nil {
		return "", nil, err
	}
	defer tc.Close()
	runs, err = temporal.List(c.Context, tc, key, 100)
	return "Temporal at " + t.Address, runs, err
}

// showRun reads the run the argument names from its journal, or with --temporal from its workflow.
func (f *Factory) showRun(c *cli.Context) (string, []journal.Record, error) {
	t := f.temporalOptions(c)
	if t.Address == "" {
		dir, id, err := f.runArg(c)
		if err != nil {
			return "", nil, err
		}
		recs, err := journal.Read(dir, id)
		if err != nil {
			return "", nil, usageErr("%v", err)
		}
		return id, recs, nil
	}
	if c.NArg() != 1 {
		return "", nil, usageErr("%s takes one RUN; got %d arguments", c.Command.Name, c.NArg())
	}
	_, tc, err := f.dialTemporal(c.Context, t)
	if err != nil {
		return "", nil, err
	}
	defer tc.Close()
	id := c.Args().First()
	evs, err := temporal.Events(c.Context, tc, temporal.WorkflowID(id))
	if err != nil {
		return "", nil, usageErr("%v", err)
	}
	recs := make([]journal.Record, len(evs))
	for i, e := range evs {
		recs[i] = journal.Record{Event: e}
	}
	return id, recs, nil
}
