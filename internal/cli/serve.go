package cli

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/report"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/internal/slackserver"
	"github.com/respond-sec/respond/steps/github/githubkit"
	"github.com/respond-sec/respond/steps/slack/slackkit"
)

type serveOptions struct {
	Addr       string
	SocketMode bool
	Config     string
	Grace      time.Duration
	PublicURL  string
	Temporal   temporalOptions
}

func newServeCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "answer the /respond slash command and approval buttons from Slack",
		Description: "Serves POST /slack/commands, POST /slack/interactions and GET /healthz (or, with --socket-mode,\n" +
			"the same over a Socket Mode connection: no public URL needed), GET/POST /form/TOKEN (the one-time\n" +
			"form for a secret input, with --public-url), and with a github_alerts section in\n" +
			"--config, POST /github/webhook: a GitHub secret-scanning alert starts the playbook by itself. Who may start which playbook in\n" +
			"which channel, and who may approve, comes from --config (a YAML file of allow-lists).\n" +
			"Environment: SLACK_BOT_TOKEN; SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (--socket-mode).\n\n" +
			"Runs started from Slack post their progress in the channel the command came from and take\n" +
			"their inputs from the command (secret inputs cannot be typed into Slack: name the GitHub alert,\n" +
			"key=github-alert:OWNER/REPO#N, and the server fetches the value; leave it out for a one-time\n" +
			"form with --public-url; or give a key ID) and the\n" +
			"playbook's defaults. On shutdown (SIGINT/SIGTERM) each run stops at a journaled point and the\n" +
			"unfinished ones are listed. Interrupted runs are listed, not resumed, when the server starts:\n" +
			"resuming needs the secret inputs again, which only a person can give (respond resume RUN).\n" +
			"With --temporal, runs are submitted to `respond worker`s instead, which post their progress; the\n" +
			"server puts their approvals to Slack, and a shutdown or a crash of the server loses none of them." +
			envHelp("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "OPENAI_ADMIN_KEY", "GITHUB_TOKEN", "GITHUB_WEBHOOK_SECRET", "RESPOND_STATE_DIR",
				"RESPOND_TEMPORAL_ADDRESS", "RESPOND_TEMPORAL_NAMESPACE", "RESPOND_TEMPORAL_KEY"),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: ":8080", Usage: "listen `ADDRESS` for HTTP"},
			&cli.BoolFlag{Name: "socket-mode", Usage: "connect to Slack over Socket Mode instead of serving HTTP (needs SLACK_APP_TOKEN)"},
			&cli.StringFlag{Name: "config", Usage: "allow-list `FILE` (YAML: playbooks: {NAME: {users, channels, approvers, two_person}})"},
			&cli.DurationFlag{Name: "grace", Value: 30 * time.Second, Usage: "on shutdown, how long runs get to reach a journaled point"},
			&cli.StringFlag{Name: "public-url", Usage: "the HTTPS `URL` people reach this server at (as Slack does): a run that lacks a secret input gets a one-time form there"},
		}, temporalFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageErr("serve takes no arguments (flags only)")
			}
			return runServe(c.Context, f, serveOptions{Addr: c.String("addr"), SocketMode: c.Bool("socket-mode"),
				Config: c.String("config"), Grace: c.Duration("grace"), PublicURL: c.String("public-url"), Temporal: f.temporalOptions(c)})
		},
	}
}

func credentialsErr(format string, args ...any) error {
	return &exitError{code: ExitCredentials, err: fmt.Errorf(format, args...)}
}

func runServe(ctx context.Context, f *Factory, o serveOptions) error {
	if o.Config == "" {
		return usageErr("serve needs --config FILE: the allow-lists of who may start which playbook where, and who may approve")
	}
	cfg, err := slackserver.LoadConfig(o.Config)
	if err != nil {
		return usageErr("%v", err)
	}
	for name := range cfg.Playbooks {
		if _, err := loadPlaybook(name); err != nil {
			return usageErr("--config %s names playbook %s, which does not load: %v", o.Config, name, err)
		}
	}
	if err := checkGitHubAlerts(f, o, cfg); err != nil {
		return err
	}
	if err := checkPublicURL(o); err != nil {
		return err
	}
	token, signing, appToken := f.Getenv("SLACK_BOT_TOKEN"), f.Getenv("SLACK_SIGNING_SECRET"), f.Getenv("SLACK_APP_TOKEN")
	f.Secrets.Add(token, signing, appToken)
	switch {
	case token == "":
		return credentialsErr("serve needs SLACK_BOT_TOKEN (the bot's xoxb-… token)")
	case o.SocketMode && appToken == "":
		return credentialsErr("--socket-mode needs SLACK_APP_TOKEN (an app-level xapp-… token with connections:write)")
	case !o.SocketMode && signing == "":
		return credentialsErr("serve needs SLACK_SIGNING_SECRET to verify that requests come from Slack")
	}
	apiURL := f.Getenv(slackkit.EnvAPIURL)
	client, err := slack.New(slack.Config{Token: token, APIURL: apiURL})
	if err != nil {
		return credentialsErr("%v", err)
	}
	if err := client.AuthTest(ctx); err != nil {
		return credentialsErr("%v", err)
	}
	dir, err := f.stateDir()
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(f.IO.Err, "respond serve: %s\n", f.Secrets.String(fmt.Sprintf(format, args...)))
	}
	listInterrupted(dir, logf)

	local := &serveRunner{f: f, client: client, dir: dir, runs: slackserver.NewRuns(), logf: logf}
	runner, closeRunner, err := f.serveBackend(ctx, o.Temporal, local)
	if err != nil {
		return err
	}
	defer closeRunner()
	srv, err := slackserver.New(slackserver.Options{SigningSecret: signing, Config: cfg, Runner: runner, Slack: client,
		Secrets: f.Secrets, Logf: logf, ShutdownGrace: o.Grace, GitHubWebhookSecret: f.Getenv(envWebhookSecret),
		PublicURL: o.PublicURL})
	if err != nil {
		return err
	}
	if tr, ok := runner.(*temporalServeRunner); ok {
		tr.adopt(ctx, srv.SlackApprover)
	}
	var interrupted []slackserver.Interrupted
	if o.SocketMode {
		sm, err := slackserver.NewSocketModeClient(token, appToken, apiURL)
		if err != nil {
			return credentialsErr("%v", err)
		}
		interrupted, err = srv.ServeSocketMode(ctx, sm)
		if err != nil {
			return err
		}
	} else if interrupted, err = srv.ListenAndServe(ctx, o.Addr); err != nil {
		return err
	}
	if len(interrupted) > 0 {
		return &reported{code: ExitStepFailed, err: fmt.Errorf("%d runs were left unfinished by the shutdown", len(interrupted))}
	}
	return nil
}

// envWebhookSecret verifies GitHub's webhook deliveries (the secret set on the webhook).
const envWebhookSecret = "GITHUB_WEBHOOK_SECRET"

// checkGitHubAlerts checks what alert-triggered runs need before the server starts: the input
// the alert goes to is a secret input of the playbook, the webhook secret is set, and there is a
// GitHub token to read the alert with.
func checkGitHubAlerts(f *Factory, o serveOptions, cfg *slackserver.Config) error {
	ga := cfg.GitHubAlerts
	if ga == nil {
		return nil
	}
	if o.SocketMode {
		return usageErr("--config %s: github_alerts needs the HTTP endpoint POST /github/webhook; serve without --socket-mode", o.Config)
	}
	pb, err := loadPlaybook(ga.Playbook)
	if err != nil {
		return usageErr("--config %s: github_alerts.playbook %s does not load: %v", o.Config, ga.Playbook, err)
	}
	declared := map[string]bool{} // name → secret
	for _, in := range pb.Inputs {
		declared[in.Name] = in.Secret
	}
	if secret, ok := declared[ga.Input]; !ok || !secret {
		return usageErr("--config %s: github_alerts.input: playbook %s has no secret input %q to receive the alert", o.Config, pb.Name, ga.Input)
	}
	for name := range ga.Inputs {
		if secret, ok := declared[name]; !ok || secret {
			return usageErr("--config %s: github_alerts.inputs.%s: playbook %s has no such non-secret input (a config file is no place for a secret)",
				o.Config, name, pb.Name)
		}
	}
	secret := f.Getenv(envWebhookSecret)
	f.Secrets.Add(secret)
	switch {
	case secret == "":
		return credentialsErr("github_alerts needs %s, the secret set on the GitHub webhook, to verify deliveries", envWebhookSecret)
	case f.Getenv(githubkit.EnvToken) == "":
		return credentialsErr("github_alerts needs %s to read the alert's secret (secret-scanning alerts: read)", githubkit.EnvToken)
	}
	return nil
}

// checkPublicURL refuses a --public-url the one-time form could not safely be served at: a
// secret typed into a page sent over plain HTTP crosses the network readable. Loopback is the
// exception (a TLS-terminating proxy on the same host, and tests).
func checkPublicURL(o serveOptions) error {
	if o.PublicURL == "" {
		return nil
	}
	if o.SocketMode {
		return usageErr("--public-url serves the one-time form over HTTP; Socket Mode has no HTTP endpoint: serve without --socket-mode")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return usageErr("--public-url %q: want https://HOST[/PATH], the address people reach this server at", o.PublicURL)
	}
	host := u.Hostname()
	loopback := host == "localhost" || net.ParseIP(host).IsLoopback()
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return usageErr("--public-url %q: must be https:// (secrets are typed into the one-time form); put the server behind the TLS its Slack endpoints use", o.PublicURL)
	}
	return nil
}

// listInterrupted says which runs in the state directory never finished. They are not resumed
// automatically: a resume needs the run's secret inputs again, which the journal never holds.
func listInterrupted(dir string, logf func(string, ...any)) {
	runs, err := journal.List(dir)
	if err != nil {
		logf("cannot list earlier runs in %s: %v", dir, err)
		return
	}
	for _, r := range runs {
		if r.Status != "interrupted" {
			continue
		}
		what := r.RunID
		if r.Playbook != "" {
			what += " (" + r.Playbook + ", started " + report.FullTime(r.Started) + ")"
		}
		logf("run %s never finished (or is running in another process); continue it with: respond resume %s "+
			"(secret inputs must be given again)", what, r.RunID)
	}
}

// serveRunner starts Slack-requested runs through Factory.execute, each in its own goroutine with
// its own context and journal.
type serveRunner struct {
	f      *Factory
	client *slack.Client
	dir    string
	runs   *slackserver.Runs
	logf   func(string, ...any)
}

var _ slackserver.Runner = (*serveRunner)(nil)

func (r *serveRunner) Inputs(name string) ([]slackserver.InputSpec, error) {
	pb, err := loadPlaybook(name)
	if err != nil {
		return nil, err
	}
	out := make([]slackserver.InputSpec, 0, len(pb.Inputs))
	for _, in := range pb.Inputs {
		out = append(out, slackserver.InputSpec{Name: in.Name, Secret: in.Secret, Required: in.Required, HasValue: in.Default != nil})
	}
	return out, nil
}

// slackInputs converts the command's values to the inputs' types; absent inputs take their
// defaults. Nothing comes from the environment: a Slack run must not pick up whatever
// RESPOND_INPUT_* the server was started with.
func slackInputs(pb *playbook.Playbook, given map[string]string) (map[string]any, error) {
	raw := map[string]any{}
	for k, v := range given {
		raw[k] = v
	}
	// A secret input holds a key ID or a reference to where the key lives (the server refuses
	// anything else): both already shown in Slack. Neither is registered for masking, which would
	// hide it in every message and make the server refuse the next command naming it; execute
	// resolves a reference and registers the value.
	out, missing, err := pb.Bind(raw, func(string) string { return "slack" })
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing required %s: %s", pluralWord(len(missing), "input"), strings.Join(missing, ", "))
	}
	return out, nil
}

func (r *serveRunner) Start(ctx context.Context, req slackserver.RunRequest) (string, error) {
	pb, err := loadPlaybook(req.Playbook)
	if err != nil {
		return "", err
	}
	given := req.Inputs
	if len(req.Secrets) > 0 {
		given = map[string]string{}
		for k, v := range req.Inputs {
			given[k] = v
		}
		for k, v := range req.Secrets {
			// Cleaned as a pasted key is; the server registered the value as given already.
			clean, _ := normalizeSecret(v)
			r.f.Secrets.Add(v, clean)
			given[k] = clean
		}
	}
	inputs, err := slackInputs(pb, given)
	if err != nil {
		return "", err
	}
	mode := engine.ModeReal
	if req.DryRun {
		mode = engine.ModeDryRun
	}
	sink := runner.NewSlackSink(r.client, req.Channel, pb, "", req.User, mode, r.f.Secrets, func(err error) { r.logf("slack: %v", err) })
	// Without a Slack approver nobody can approve: an empty FirstOf says so at preflight, and
	// keeps execute from falling back to prompting on the server's terminal.
	approver := engine.Approver(engine.FirstOf{})
	if req.Approver != nil {
		approver = engine.FirstOf{req.Approver(sink)}
	}
	spec := runSpec{Spec: runner.Spec{Playbook: pb, Inputs: inputs, DryRun: req.DryRun, Mode: mode, StartedBy: req.User,
		Approver: approver, Slack: sink, Shared: map[string]any{slackkit.Key: runner.SlackThread(sink, r.client, r.f.Secrets)}},
		output: "text", quiet: true}
	return r.runs.Start(ctx, pb.Name, func(runCtx context.Context, track event.Sink) error {
		spec.Sinks = []event.Sink{track, sink}
		_, runErr := r.f.execute(runCtx, spec)
		// The run is over (or stopped); Slack gets a bounded time to show its final state.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), 30*time.Second)
		defer cancel()
		if err := sink.Close(closeCtx); err != nil {
			r.logf("slack: %v", err)
		}
		return runErr
	})
}

func (r *serveRunner) Status(runID string) (string, error) {
	recs, err := journal.Read(r.dir, runID)
	if err != nil {
		return "", err
	}
	sum := journal.Summarize(runID, recs)
	run := engine.Fold(journal.Events(recs))
	status := sum.Status
	for _, a := range r.runs.Active() {
		if a.RunID == runID {
			status = "running"
			if a.Waiting {
				status = "waiting for approval of " + a.Step
			} else if a.Step != "" {
				status = "running step " + a.Step
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %s  %s\nstarted %s\n", sum.RunID, sum.Playbook, sum.Mode, status,
		sum.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	for _, st := range run.Steps {
		fmt.Fprintf(&b, "  %-20s %s\n", st.ID, serveStatus(st))
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// serveStatus is a step's last known status as /respond status shows it.
func serveStatus(st *engine.StepState) string {
	switch st.Status {
	case event.Waiting:
		return "waiting for approval"
	case event.Pending:
		return "running" // named by an event, so it has begun
	}
	return string(st.Status)
}

// listLimit is how many finished runs `/respond list` shows.
const listLimit = 10

func (r *serveRunner) List() ([]string, error) {
	var lines []string
	active := map[string]bool{}
	for _, a := range r.runs.Active() {
		active[a.RunID] = true
		what := "running"
		if a.Waiting {
			what = "waiting for approval of " + a.Step
		} else if a.Step != "" {
			what = "running step " + a.Step
		}
		lines = append(lines, fmt.Sprintf("%s  %s  %s", a.RunID, a.Playbook, what))
	}
	runs, err := journal.List(r.dir)
	if err != nil {
		return lines, err
	}
	n := 0
	for _, s := range runs {
		if active[s.RunID] || n == listLimit {
			continue
		}
		n++
		lines = append(lines, fmt.Sprintf("%s  %s  %s  %s", s.RunID, s.Playbook, s.Mode, s.Status))
	}
	return lines, nil
}

func (r *serveRunner) Shutdown(ctx context.Context) ([]slackserver.Interrupted, error) {
	return r.runs.Shutdown(ctx), nil
}
