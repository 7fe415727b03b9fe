package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func newValidateCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check playbooks without running anything",
		ArgsUsage: "PLAYBOOK...",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageErr("validate takes one or more PLAYBOOKs")
			}
			bad := 0
			for _, arg := range c.Args().Slice() {
				pb, err := loadPlaybook(arg)
				if err != nil {
					bad++
					fmt.Fprintln(f.IO.Err, err)
					continue
				}
				fmt.Fprintf(f.IO.Out, "%s: ok (%s, %s)\n", pb.File, pb.Name, plural(len(pb.Steps), "step"))
			}
			if bad > 0 {
				return &reported{code: ExitUsage, err: fmt.Errorf("%d of %d playbooks are invalid", bad, c.NArg())}
			}
			return nil
		},
	}
}
