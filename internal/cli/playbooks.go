package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/report"
	"github.com/respond-sec/respond/playbooks"
	"github.com/respond-sec/respond/steps/catalog"
)

// outputFlag is the one flag name every listing and show command uses for its format.
func outputFlag(formats ...string) *cli.StringFlag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: formats[0],
		Usage: "output format: " + strings.Join(formats, " or ")}
}

// outputFormat reads --output and refuses a format the command does not have.
func outputFormat(c *cli.Context, formats ...string) (string, error) {
	o := c.String("output")
	for _, f := range formats {
		if o == f {
			return o, nil
		}
	}
	return "", usageErr("--output must be %s, not %q", strings.Join(formats, " or "), o)
}

type playbookListing struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Error       string `json:"error,omitempty"`
}

type inputListing struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

type kindListing struct {
	Name     string   `json:"name"`
	Summary  string   `json:"summary"`
	Outputs  []string `json:"outputs"`
	Mutating bool     `json:"mutating"`
}

func newPlaybooksCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "playbooks",
		Usage: "list and show playbooks and step kinds",
		Subcommands: []*cli.Command{
			newPlaybooksListCmd(f), newPlaybooksShowCmd(f), newPlaybooksSchemaCmd(f), newPlaybooksKindsCmd(f),
		},
	}
}

func newPlaybooksListCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the built-in playbooks",
		Flags: []cli.Flag{outputFlag("text", "json")},
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c, "text", "json")
			if err != nil {
				return err
			}
			list := []playbookListing{}
			for _, name := range playbooks.Names() {
				pb, err := loadPlaybook(name)
				if err != nil {
					list = append(list, playbookListing{Name: name, Error: report.FirstLine(err.Error())})
					continue
				}
				list = append(list, playbookListing{Name: name, Description: report.FirstLine(strings.TrimSpace(pb.Description))})
			}
			if format == "json" {
				writeJSON(f.IO.Out, f, list)
				return nil
			}
			for _, p := range list {
				if p.Error != "" {
					fmt.Fprintf(f.IO.Out, "%-24s (invalid: %s)\n", p.Name, p.Error)
					continue
				}
				fmt.Fprintf(f.IO.Out, "%-24s %s\n", p.Name, p.Description)
			}
			return nil
		},
	}
}

func newPlaybooksShowCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a playbook's YAML and its inputs",
		ArgsUsage: "PLAYBOOK",
		Flags:     []cli.Flag{outputFlag("text", "json")},
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c, "text", "json")
			if err != nil {
				return err
			}
			if c.NArg() != 1 {
				return usageErr("playbooks show takes one PLAYBOOK")
			}
			file, src, err := readPlaybook(c.Args().First())
			if err != nil {
				return err
			}
			if format == "text" {
				fmt.Fprintf(f.IO.Out, "# %s\n%s", file, src)
				return nil
			}
			pb, err := loadPlaybook(c.Args().First())
			if err != nil {
				return err
			}
			writeJSON(f.IO.Out, f, struct {
				Name   string         `json:"name"`
				File   string         `json:"file"`
				Inputs []inputListing `json:"inputs"`
				YAML   string         `json:"yaml"`
			}{pb.Name, file, inputsOf(pb), string(src)})
			return nil
		},
	}
}

func newPlaybooksSchemaCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "schema",
		Usage: "print the JSON Schema (draft 2020-12) of playbooks, for editors and CI",
		Description: "Editors with yaml-language-server validate and complete a playbook that starts with\n" +
			"  # yaml-language-server: $schema=PATH/TO/playbook.schema.json\n" +
			"The repository keeps the current schema in docs/playbook.schema.json.",
		Action: func(c *cli.Context) error {
			b, err := json.MarshalIndent(playbook.Schema(catalog.Kinds), "", "  ")
			if err != nil {
				return fmt.Errorf("playbook schema: %w", err)
			}
			fmt.Fprintln(f.IO.Out, string(b))
			return nil
		},
	}
}

func newPlaybooksKindsCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "kinds",
		Usage: "list the step kinds a playbook can use",
		Flags: []cli.Flag{outputFlag("text", "json")},
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c, "text", "json")
			if err != nil {
				return err
			}
			kinds := make([]kindListing, len(catalog.Kinds))
			for i, k := range catalog.Kinds {
				kinds[i] = kindListing{Name: k.Name, Summary: k.Summary, Outputs: k.OutputNames(), Mutating: k.Mutating()}
			}
			if format == "json" {
				writeJSON(f.IO.Out, f, kinds)
				return nil
			}
			for _, k := range kinds {
				mut := "read-only"
				if k.Mutating {
					mut = "changes things (planned in a dry run)"
				}
				fmt.Fprintf(f.IO.Out, "%-28s %s\n%-28s outputs: %s; %s\n", k.Name, k.Summary, "", strings.Join(k.Outputs, ", "), mut)
			}
			return nil
		},
	}
}

func inputsOf(pb *playbook.Playbook) []inputListing {
	out := make([]inputListing, len(pb.Inputs))
	for i, in := range pb.Inputs {
		typ := in.Type
		if typ == "" {
			typ = "string"
		}
		out[i] = inputListing{Name: in.Name, Type: typ, Required: in.Required, Secret: in.Secret, Default: in.Default, Description: in.Description}
	}
	return out
}
