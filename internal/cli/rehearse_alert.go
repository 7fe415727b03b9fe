package cli

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/rehearsal"
	"github.com/respond-sec/respond/internal/slackserver"
)

// rehearseFromAlert runs the playbook the way `respond serve` does when GitHub finds the key: the
// world's GitHub creates the alert and delivers its signed webhook to the server's real handler,
// which starts the run with the alert as its secret input; nobody types or sees the key. It
// returns the run's outcome with the time from the alert's creation to the revocation's DELETE;
// an error means the run could not be set up.
func rehearseFromAlert(ctx context.Context, f *Factory, served *rehearsal.World, spec runSpec) (alertOutcome, error) {
	input := ""
	for _, in := range spec.Playbook.Inputs {
		if in.Secret && input == "" {
			input = in.Name
		}
	}
	if input == "" {
		return alertOutcome{}, usageErr("%s: --from-alert gives the alert to a secret input, and the playbook declares none", spec.Playbook.File)
	}
	const channel, user = "C0SECURITY", "U0REHEARSAL" // the allow-list needs some; approvals are the rehearsal's
	cfg := &slackserver.Config{
		Playbooks:    map[string]slackserver.PlaybookACL{spec.Playbook.Name: {Users: []string{user}, Channels: []string{channel}}},
		GitHubAlerts: &slackserver.GitHubAlerts{Playbook: spec.Playbook.Name, Channel: channel, SecretTypes: []string{"openai_api_key"}, Input: input},
	}
	hookSecret := fakekey.Random().Hex(32)
	f.Secrets.Add(hookSecret)
	runner := &alertRehearsal{f: f, spec: spec, runs: slackserver.NewRuns(), done: make(chan alertOutcome, 1)}
	srv, err := slackserver.New(slackserver.Options{Config: cfg, Runner: runner, Secrets: f.Secrets, GitHubWebhookSecret: hookSecret,
		Logf: func(format string, args ...any) { fmt.Fprintf(f.IO.Err, "respond serve: "+format+"\n", args...) }})
	if err != nil {
		return alertOutcome{}, err
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	served.GitHub.SetWebhook(&githubsim.Webhook{URL: hs.URL + "/github/webhook", Secret: hookSecret, APIURL: served.Getenv("RESPOND_GITHUB_API_URL")})
	raised, err := served.RaiseAlert()
	if err != nil {
		return alertOutcome{}, err
	}
	fmt.Fprintf(f.IO.Err, "GitHub found the key: alert %s#%d created, webhook on its way to POST /github/webhook\n\n", rehearsal.Repo, served.KeyAlert)
	select {
	case out := <-runner.done:
		out.raised = raised
		return out, nil
	case <-ctx.Done():
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		runner.runs.Shutdown(stop)
		return alertOutcome{err: ctx.Err()}, nil
	}
}

type alertOutcome struct {
	res    *engine.Result
	err    error
	raised time.Time // when GitHub raised the alert
}

// alertRehearsal is the server's Runner in a rehearsal: the run gets the world's inputs, with
// the request's (the alert reference) in place of the world's key, and the rehearsal's approver.
type alertRehearsal struct {
	f    *Factory
	spec runSpec
	runs *slackserver.Runs
	done chan alertOutcome
}

func (r *alertRehearsal) Inputs(string) ([]slackserver.InputSpec, error) {
	var out []slackserver.InputSpec
	for _, in := range r.spec.Playbook.Inputs {
		out = append(out, slackserver.InputSpec{Name: in.Name, Secret: in.Secret, Required: in.Required, HasValue: true})
	}
	return out, nil
}

func (r *alertRehearsal) Start(ctx context.Context, req slackserver.RunRequest) (string, error) {
	spec := r.spec
	spec.Inputs = map[string]any{}
	for k, v := range r.spec.Inputs {
		spec.Inputs[k] = v
	}
	for _, in := range spec.Playbook.Inputs {
		if v, ok := req.Inputs[in.Name]; ok {
			cv, err := in.Coerce(v, "the alert")
			if err != nil {
				return "", fmt.Errorf("input %s: %v", in.Name, err)
			}
			spec.Inputs[in.Name] = cv
		}
	}
	spec.StartedBy = req.User
	return r.runs.Start(ctx, spec.Playbook.Name, func(runCtx context.Context, track event.Sink) error {
		spec.Sinks = append(append([]event.Sink(nil), spec.Sinks...), track)
		res, err := r.f.execute(runCtx, spec)
		r.done <- alertOutcome{res: res, err: err}
		return err
	})
}

func (r *alertRehearsal) Status(string) (string, error) {
	return "", fmt.Errorf("no status in a rehearsal")
}
func (r *alertRehearsal) List() ([]string, error) { return nil, nil }
func (r *alertRehearsal) Shutdown(ctx context.Context) ([]slackserver.Interrupted, error) {
	return r.runs.Shutdown(ctx), nil
}
