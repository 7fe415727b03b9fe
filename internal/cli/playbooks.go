package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/playbooks"
	"github.com/respond-sec/respond/steps/catalog"
)

func newPlaybooksCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "playbooks",
		Usage: "list and show playbooks and step kinds",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list the built-in playbooks",
				Action: func(c *cli.Context) error {
					for _, name := range playbooks.Names() {
						pb, err := loadPlaybook(name)
						if err != nil {
							fmt.Fprintf(f.IO.Out, "%-24s (invalid: %v)\n", name, firstLine(err.Error()))
							continue
						}
						fmt.Fprintf(f.IO.Out, "%-24s %s\n", name, firstLine(strings.TrimSpace(pb.Description)))
					}
					return nil
				},
			},
			{
				Name:      "show",
				Usage:     "print a playbook's YAML and its inputs",
				ArgsUsage: "PLAYBOOK",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErr("playbooks show takes one PLAYBOOK")
					}
					file, src, err := readPlaybook(c.Args().First())
					if err != nil {
						return err
					}
					fmt.Fprintf(f.IO.Out, "# %s\n%s", file, src)
					return nil
				},
			},
			{
				Name:  "kinds",
				Usage: "list the step kinds a playbook can use",
				Action: func(c *cli.Context) error {
					for _, k := range catalog.Kinds {
						mut := "read-only"
						if k.Mutating() {
							mut = "changes things (planned in a dry run)"
						}
						fmt.Fprintf(f.IO.Out, "%-28s %s\n%-28s outputs: %s; %s\n", k.Name, k.Summary, "", strings.Join(k.Outputs, ", "), mut)
					}
					return nil
				},
			},
		},
	}
}
