package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/audit"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
	"github.com/respond-sec/respond/steps/openai/openaikit"
	"github.com/respond-sec/respond/steps/slack/slackkit"
)

// auditOptions are the flags of respond audit.
type auditOptions struct {
	Output      string
	FailOn      audit.Severity
	GitHubOrg   string
	GitHubRepos []string
	UnusedDays  int
	// Fix runs the safe, reversible fixes as a playbook; DryRun only plans them.
	Fix         bool
	DryRun      bool
	Yes         bool
	AlertEmails []string
	// Slack is a channel the Markdown summary is posted to.
	Slack string
}

func newAuditCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "measure how bad the next leak of an OpenAI key would be, how to fix it, and (--fix) fix what is safe",
		Description: "Reads every project's keys, budgets and rate limits (and, with a GitHub token and --github-org or\n" +
			"--github-repo, secret scanning, push protection, open OpenAI alerts and Actions secrets), and prints\n" +
			"each finding with its severity, the rule it breaks and the exact fix, then one blast-radius line per key.\n" +
			"Nothing is changed without --fix, which runs only the safe, reversible fixes (project spend limits\n" +
			"derived from recent spend, project and organization spend alerts) as a journaled playbook run: the\n" +
			"plan first, an approval per fix (or --yes), then the audit again; respond rollback RUN undoes it.\n" +
			"Exit 1 when a finding reaches --fail-on, or when something could not be read." +
			envHelp("OPENAI_ADMIN_KEY", "GITHUB_TOKEN", "SLACK_BOT_TOKEN", "RESPOND_STATE_DIR"),
		Flags: auditFlags(),
		Action: func(c *cli.Context) error {
			o, err := auditOptionsOf(c)
			if err != nil {
				return err
			}
			return auditRun(c.Context, f, o)
		},
	}
}

func auditFlags() []cli.Flag {
	return []cli.Flag{
		outputFlag("text", "json", "markdown"),
		&cli.StringFlag{Name: "fail-on", Value: "any", Usage: "exit 1 when a finding has at least this `SEVERITY`: any, low, medium, high, critical"},
		&cli.StringFlag{Name: "github-org", Usage: "GitHub `ORG` whose repositories, alerts and Actions secrets to check"},
		&cli.StringSliceFlag{Name: "github-repo", Usage: "`OWNER/NAME` to check; repeatable"},
		&cli.IntFlag{Name: "unused-days", Value: 90, Usage: "a key unused for `N` days is a revocation candidate"},
		&cli.BoolFlag{Name: "fix", Usage: "apply the safe, reversible fixes (spend limits and alerts) through a playbook run, then audit again"},
		&cli.BoolFlag{Name: "dry-run", Usage: "with --fix: show the plan of every fix and change nothing"},
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "with --fix: approve every fix (recorded as --yes)"},
		&cli.StringSliceFlag{Name: "alert-email", Usage: "with --fix: `ADDRESS` the spend alerts email (the API's only channel); repeatable"},
		&cli.StringFlag{Name: "slack", Usage: "post the Markdown summary to `CHANNEL` (needs SLACK_BOT_TOKEN)"},
	}
}

func auditOptionsOf(c *cli.Context) (auditOptions, error) {
	if c.NArg() > 0 {
		return auditOptions{}, usageErr("audit takes no arguments; got %q", c.Args().First())
	}
	format, err := outputFormat(c, "text", "json", "markdown")
	if err != nil {
		return auditOptions{}, err
	}
	sev, err := audit.ParseSeverity(c.String("fail-on"))
	if err != nil {
		return auditOptions{}, usageErr("--fail-on: %v", err)
	}
	if c.Int("unused-days") < 1 {
		return auditOptions{}, usageErr("--unused-days %d: want at least 1", c.Int("unused-days"))
	}
	o := auditOptions{Output: format, FailOn: sev, GitHubOrg: c.String("github-org"), GitHubRepos: c.StringSlice("github-repo"),
		UnusedDays: c.Int("unused-days"), Fix: c.Bool("fix"), DryRun: c.Bool("dry-run"), Yes: c.Bool("yes"),
		AlertEmails: c.StringSlice("alert-email"), Slack: strings.TrimSpace(c.String("slack"))}
	for _, flag := range []string{"dry-run", "yes", "alert-email"} {
		if c.IsSet(flag) && !o.Fix {
			return auditOptions{}, usageErr("--%s goes with --fix", flag)
		}
	}
	if o.Fix && len(o.AlertEmails) == 0 {
		return auditOptions{}, usageErr("--fix needs --alert-email ADDRESS: the spend alerts it adds can only be emailed")
	}
	for _, a := range o.AlertEmails {
		if !strings.Contains(a, "@") || strings.ContainsAny(a, " \t") {
			return auditOptions{}, usageErr("--alert-email %q: want an email address", a)
		}
	}
	if c.IsSet("slack") && o.Slack == "" {
		return auditOptions{}, usageErr("--slack: name a channel, e.g. #security")
	}
	return o, nil
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
	if o.Slack != "" && f.Getenv(slackkit.EnvToken) == "" {
		return credentialsErr("--slack %s needs %s (the bot's xoxb-… token, with chat:write)", o.Slack, slackkit.EnvToken)
	}
	src, err := f.auditSources(o)
	if err != nil {
		return err
	}
	inv, rep, err := auditOnce(ctx, src, o)
	if err != nil {
		return err
	}
	var fixErr error
	if o.Fix {
		if rep, fixErr = f.auditFix(ctx, o, src, inv, rep); rep == nil {
			return fixErr
		}
	}
	if err := writeAudit(f.IO.Out, rep, o.Output); err != nil {
		return err
	}
	if o.Slack != "" {
		if err := f.postAudit(ctx, o.Slack, rep); err != nil {
			return err
		}
	}
	if fixErr != nil {
		return fixErr
	}
	return auditVerdict(rep, o.FailOn)
}

func (f *Factory) auditSources(o auditOptions) (audit.Sources, error) {
	env := f.readOnlyEnv()
	oc, err := openaikit.Client(env)
	if err != nil {
		return audit.Sources{}, err
	}
	src := audit.Sources{OpenAI: oc, GitHubOrg: o.GitHubOrg, GitHubRepos: o.GitHubRepos, Now: f.Now,
		Secret: func(v ...string) { f.Secrets.Add(v...) }}
	if f.Getenv(githubkit.EnvToken) != "" {
		gc, err := githubkit.Client(env)
		if err != nil {
			return audit.Sources{}, err
		}
		src.GitHub = gc
	}
	return src, nil
}

func auditOnce(ctx context.Context, src audit.Sources, o auditOptions) (*audit.Inventory, *audit.Report, error) {
	inv, err := audit.Collect(ctx, src)
	if err != nil {
		return nil, nil, openaikit.Classify(err)
	}
	return inv, audit.Run(inv, audit.Options{UnusedDays: o.UnusedDays}), nil
}

func writeAudit(w io.Writer, rep *audit.Report, format string) error {
	switch format {
	case "json":
		return rep.WriteJSON(w)
	case "markdown":
		return rep.WriteMarkdown(w)
	}
	return rep.WriteText(w)
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
