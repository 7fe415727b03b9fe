package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/doctor"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

// doctorOptions are the flags of respond doctor.
type doctorOptions struct {
	Playbook    string
	Output      string
	GitHubOrg   string
	GitHubRepos []string
}

// defaultDoctorPlaybook is what doctor checks when no PLAYBOOK is named.
const defaultDoctorPlaybook = "openai-key-leak"

func newDoctorCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check, read-only and before any incident, that the credentials a playbook needs are set, valid and allowed",
		ArgsUsage: "[PLAYBOOK]",
		Description: "PLAYBOOK defaults to " + defaultDoctorPlaybook + ". Nothing is changed: where only a change would prove a\n" +
			"permission the check says so (?). Exit code 4 when any check fails (✗)." +
			envHelp("OPENAI_ADMIN_KEY", "GITHUB_TOKEN", "SLACK_BOT_TOKEN"),
		Flags: []cli.Flag{
			outputFlag("text", "json"),
			&cli.StringFlag{Name: "github-org", Usage: "GitHub `ORG` the playbook searches (to try the token on it)"},
			&cli.StringSliceFlag{Name: "github-repo", Usage: "`OWNER/NAME` the playbook searches or delivers to; repeatable"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageErr("doctor takes at most one PLAYBOOK; got %d arguments", c.NArg())
			}
			format, err := outputFormat(c, "text", "json")
			if err != nil {
				return err
			}
			o := doctorOptions{Playbook: c.Args().First(), Output: format, GitHubOrg: c.String("github-org"),
				GitHubRepos: c.StringSlice("github-repo")}
			if o.Playbook == "" {
				o.Playbook = defaultDoctorPlaybook
			}
			return doctorRun(c.Context, f, o)
		},
	}
}

func doctorRun(ctx context.Context, f *Factory, o doctorOptions) error {
	for _, r := range o.GitHubRepos {
		if !githubkit.ValidRepo(r) {
			return usageErr("--github-repo %q: want OWNER/NAME", r)
		}
	}
	if strings.ContainsAny(o.GitHubOrg, "/ \t") {
		return usageErr("--github-org %q: want an organization login", o.GitHubOrg)
	}
	pb, err := loadPlaybook(o.Playbook)
	if err != nil {
		return err
	}
	rep := doctor.Run(ctx, doctor.Options{Playbook: pb, Getenv: f.Getenv, Now: f.Now,
		Secret: func(v ...string) { f.Secrets.Add(v...) }, GitHubOrg: o.GitHubOrg, GitHubRepos: o.GitHubRepos})
	if o.Output == "json" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("doctor: encode report: %w", err)
		}
		fmt.Fprintln(f.IO.Out, string(b))
	} else if err := rep.WriteText(f.IO.Out); err != nil {
		return err
	}
	if rep.Failed > 0 {
		return &reported{code: ExitCredentials, err: fmt.Errorf("doctor: %d check(s) failed", rep.Failed)}
	}
	return nil
}
