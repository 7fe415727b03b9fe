package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/journal"
)

func newRunsCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list, show, report and verify run journals",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list runs, newest first",
				Action: func(c *cli.Context) error {
					dir, err := f.stateDir()
					if err != nil {
						return err
					}
					runs, err := journal.List(dir)
					if err != nil {
						return err
					}
					if len(runs) == 0 {
						fmt.Fprintf(f.IO.Err, "no runs in %s\n", dir)
						return nil
					}
					for _, r := range runs {
						fmt.Fprintf(f.IO.Out, "%-26s %-20s %-9s %-17s %s\n", r.RunID, r.Started.Local().Format(time.DateTime), r.Mode, r.Status, r.Playbook)
					}
					return nil
				},
			},
			{
				Name:      "show",
				Usage:     "print a run's events",
				ArgsUsage: "RUN",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the journal records as JSON lines"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErr("runs show takes one RUN")
					}
					dir, err := f.stateDir()
					if err != nil {
						return err
					}
					recs, err := journal.Read(dir, c.Args().First())
					if err != nil {
						return usageErr("%v", err)
					}
					for _, r := range recs {
						if c.Bool("json") {
							b, _ := json.Marshal(r)
							fmt.Fprintln(f.IO.Out, string(b))
							continue
						}
						for i, l := range describe(r.Event) {
							if i == 0 {
								fmt.Fprintf(f.IO.Out, "%s %s\n", r.Time.Local().Format("15:04:05.000"), l)
							} else {
								fmt.Fprintf(f.IO.Out, "             %s\n", l)
							}
						}
					}
					return nil
				},
			},
			{
				Name:      "report",
				Usage:     "write a run's report: timeline, time to revoke, per-step results, what changed, what a person must still do",
				ArgsUsage: "RUN",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "md", Usage: "md (Markdown) or json"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErr("runs report takes one RUN (flags go before it)")
					}
					dir, err := f.stateDir()
					if err != nil {
						return err
					}
					st, err := loadResume(dir, c.Args().First())
					if err != nil {
						return err
					}
					rep := buildReport(resultFromJournal(st), st.prior, 0, st.dryRun, false, nil)
					switch c.String("output") {
					case "md":
						fmt.Fprint(f.IO.Out, f.Secrets.String(rep.markdown(st.prior)))
					case "json":
						writeJSON(f.IO.Out, f, rep)
					default:
						return usageErr("--output must be md or json")
					}
					return nil
				},
			},
			{
				Name:      "verify",
				Usage:     "check a run journal's hash chain (detects changed, removed or reordered lines)",
				ArgsUsage: "RUN",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErr("runs verify takes one RUN")
					}
					dir, err := f.stateDir()
					if err != nil {
						return err
					}
					n, err := journal.Verify(dir, c.Args().First())
					if err != nil {
						return &exitError{code: ExitStepFailed, err: fmt.Errorf("journal verification failed: %w", err)}
					}
					fmt.Fprintf(f.IO.Out, "%s: ok, %d events, hash chain intact\n", c.Args().First(), n)
					return nil
				},
			},
		},
	}
}
