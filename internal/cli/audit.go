package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/audit"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// auditOptions are the flags of respond audit.
type auditOptions struct {
	Output      string
	FailOn      audit.Severity
	GitHubOrg   string
	GitHubRepos []string
	UnusedDays  int
}

func newAuditCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "measure, read-only, how bad the next leak of an OpenAI key would be, and how to fix it",
		Description: "Reads every project's keys, budgets and rate limits (and, with a GitHub token and --github-org or\n" +
			"--github-repo, secret scanning, push protection, open OpenAI alerts and Actions secrets), and prints\n" +
			"each finding with its severity, the rule it breaks and the exact fix, then one blast-radius line per key.\n" +
			"Nothing is changed. Exit 1 when a finding reaches --fail-on, or when something could not be read." +
			envHelp("OPENAI_ADMIN_KEY", "GITHUB_TOKEN"),
		Flags: []cli.Flag{
			outputFlag("text", "json", "markdown"),
			&cli.StringFlag{Name: "fail-on", Value: "any", Usage: "exit 1 when a finding has at least this `SEVERITY`: any, low, medium, high, critical"},
			&cli.StringFlag{Name: "github-org", Usage: "GitHub `ORG` whose repositories, alerts and Actions secrets to check"},
			&cli.StringSliceFlag{Name: "github-repo", Usage: "`OWNER/NAME` to check; repeatable"},
			&cli.IntFlag{Name: "unused-days", Value: 90, Usage: "a key unused for `N` days is a revocation candidate"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("audit takes no arguments; got %q", c.Args().First())
			}
			format, err := outputFormat(c, "text", "json", "markdown")
			if err != nil {
				return err
			}
			sev, err := audit.ParseSeverity(c.String("fail-on"))
			if err != nil {
				return usageErr("--fail-on: %v", err)
			}
			if c.Int("unused-days") < 1 {
				return usageErr("--unused-days %d: want at least 1", c.Int("unused-days"))
			}
			o := auditOptions{Output: format, FailOn: sev, GitHubOrg: c.String("github-org"), GitHubRepos: c.StringSlice("github-repo"),
				UnusedDays: c.Int("unused-days")}
			return auditRun(c.Context, f, o)
		},
	}
}

func auditRun(ctx context.Context, f *Factory, o auditOptions) error {
	for _, r := range o.GitHubRepos {
		if !githubkit.ValidRepo(r) {
			return usageErr("--github-repo %q: want OWNER/NAME", r)
		}
	}
	if strings.ContainsAny(o.GitHubOrg, "/ \t") {
		return usageErr("--github-org %q: want an organization login", o.GitHubOrg)
	}
	env := f.readOnlyEnv()
	oc, err := openaikit.Client(env)
	if err != nil {
		return err
	}
	src := audit.Sources{OpenAI: oc, GitHubOrg: o.GitHubOrg, GitHubRepos: o.GitHubRepos, Now: f.Now,
		Secret: func(v ...string) { f.Secrets.Add(v...) }}
	if f.Getenv(githubkit.EnvToken) != "" {
		gc, err := githubkit.Client(env)
		if err != nil {
			return err
		}
		src.GitHub = gc
	}
	inv, err := audit.Collect(ctx, src)
	if err != nil {
		return openaikit.Classify(err)
	}
	rep := audit.Run(inv, audit.Options{UnusedDays: o.UnusedDays})
	switch o.Output {
	case "json":
		err = rep.WriteJSON(f.IO.Out)
	case "markdown":
		err = rep.WriteMarkdown(f.IO.Out)
	default:
		err = rep.WriteText(f.IO.Out)
	}
	if err != nil {
		return err
	}
	return auditVerdict(rep, o.FailOn)
}

// auditVerdict is exit 1 when a finding reaches failOn or a read failed (a report with gaps is
// not a clean bill), 0 otherwise.
func auditVerdict(rep *audit.Report, failOn audit.Severity) error {
	if w := rep.Worst(); w >= failOn && w > 0 {
		return &reported{code: ExitStepFailed, err: fmt.Errorf("audit: findings up to %s (--fail-on %s)", w, failOn)}
	}
	for _, g := range rep.Gaps {
		if strings.Contains(g, ": ") && !strings.HasPrefix(g, "key scopes") && !strings.HasPrefix(g, "GitHub: no ") {
			return &reported{code: ExitStepFailed, err: fmt.Errorf("audit: not everything could be read (see Not checked)")}
		}
	}
	return nil
}

// readOnlyEnv is a steps.Env for the steps' client constructors: the same variables and
// redaction, one client per service, and no way to record an intent (nothing changes).
func (f *Factory) readOnlyEnv() *steps.Env {
	return steps.ReadOnlyEnv("audit", f.Getenv, f.Now, func(v ...string) { f.Secrets.Add(v...) })
}
