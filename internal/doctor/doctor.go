// Package doctor owns `respond doctor`: before any incident, with the real credentials, check that
// every credential the playbook's steps will use is present, valid and allowed to do what those
// steps do. It only reads. Where only a change would prove a permission (deleting a key, writing a
// spend limit, resolving an alert with a fine-grained token) it says so instead of guessing.
//
// What each step kind needs it declares itself (steps.Traits.Needs); the clients are the steps' own, built
// from the same environment variables (openaikit.Client, githubkit.Client, SLACK_BOT_TOKEN), so a
// green doctor means the run will find the same credentials.
package doctor

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps"
)

// Status is the outcome of one check.
type Status string

// The statuses. Only Fail makes the doctor exit non-zero.
const (
	OK      Status = "ok"      // checked and allowed
	Fail    Status = "fail"    // missing, invalid or refused: the step would fail
	Warn    Status = "warn"    // works for a run, but something around it needs attention
	Unknown Status = "unknown" // cannot be checked read-only (or without a repository named)
)

// Mark is the symbol the table shows.
func (s Status) Mark() string {
	switch s {
	case OK:
		return "✓"
	case Fail:
		return "✗"
	case Warn:
		return "!"
	}
	return "?"
}

// Check is one row of the report.
type Check struct {
	Service string `json:"service"` // OpenAI, GitHub, Slack
	Name    string `json:"check"`
	Status  Status `json:"status"`
	Detail  string `json:"detail,omitempty"`
	// Fix says what to do; set for every status but OK.
	Fix string `json:"fix,omitempty"`
	// Steps are the playbook steps that need this (IDs, in playbook order).
	Steps []string `json:"steps"`
}

// Report is the doctor's answer.
type Report struct {
	Playbook string  `json:"playbook"`
	Checks   []Check `json:"checks"`
	// Failed counts the checks with status Fail.
	Failed int  `json:"failed"`
	OK     bool `json:"ok"`
}

// Options say what to check and with what.
type Options struct {
	Playbook *playbook.Playbook
	// Getenv reads the credentials and API URLs, as a run does.
	Getenv func(string) string
	// Secret registers credential values for redaction, the moment they are read.
	Secret func(values ...string)
	Now    func() time.Time
	// GitHubOrg and GitHubRepos name where the GitHub steps will look (the playbook's inputs
	// are not known before an incident); without them what only a repository can show is
	// Unknown.
	GitHubOrg   string
	GitHubRepos []string
}

// need is one thing a step does with a credential. Kinds declare theirs (steps.Traits.Needs);
// the run's own Slack progress adds slash commands.
type need = steps.Permission

const (
	openaiProjects        = steps.OpenAIProjects
	openaiKeys            = steps.OpenAIKeys
	openaiRevoke          = steps.OpenAIRevoke
	openaiServiceAccounts = steps.OpenAIServiceAccounts
	openaiUsage           = steps.OpenAIUsage
	openaiCosts           = steps.OpenAICosts
	openaiSpendRead       = steps.OpenAISpendRead
	openaiSpendWrite      = steps.OpenAISpendWrite
	githubAlertsRead      = steps.GitHubAlertsRead
	githubAlertsWrite     = steps.GitHubAlertsWrite
	githubCodeSearch      = steps.GitHubCodeSearch
	githubLogsRead        = steps.GitHubLogsRead
	githubLogsDelete      = steps.GitHubLogsDelete
	githubSecretsWrite    = steps.GitHubSecretsWrite
	slackPost             = steps.SlackPost
	slackCommands         = need("slack:commands")
)

// RunSlackStep is the pseudo step ID of the run's Slack progress (notify.slack.channel).
const RunSlackStep = "(slack progress)"

// needs maps each need to the steps that have it, in playbook order.
func needs(pb *playbook.Playbook) map[need][]string {
	out := map[need][]string{}
	add := func(n need, step string) {
		if !slices.Contains(out[n], step) {
			out[n] = append(out[n], step)
		}
	}
	if pb.Notify.SlackChannel != "" {
		add(slackPost, RunSlackStep)
		add(slackCommands, RunSlackStep)
	}
	for _, st := range pb.Steps {
		ns := st.Kind.Traits.Needs
		if f := st.Kind.Traits.NeedsFor; f != nil {
			ns = append(slices.Clip(ns), f(st.With)...)
		}
		for _, n := range ns {
			add(n, st.ID)
		}
	}
	return out
}

// Run checks everything the playbook needs and returns the report; it never fails as a whole:
// every problem is a row.
func Run(ctx context.Context, o Options) *Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Secret == nil {
		o.Secret = func(...string) {}
	}
	need := needs(o.Playbook)
	env := o.env()
	var (
		mu   sync.Mutex
		rows = map[string][]Check{}
		wg   sync.WaitGroup
	)
	run := func(service string, check func(context.Context) []Check) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := check(ctx)
			mu.Lock()
			rows[service] = got
			mu.Unlock()
		}()
	}
	if hasAny(need, openaiProjects, openaiKeys, openaiRevoke, openaiServiceAccounts, openaiUsage, openaiCosts, openaiSpendRead, openaiSpendWrite) {
		run("OpenAI", func(ctx context.Context) []Check { return checkOpenAI(ctx, o, env, need) })
	}
	if hasAny(need, githubAlertsRead, githubAlertsWrite, githubCodeSearch, githubLogsRead, githubLogsDelete, githubSecretsWrite) {
		run("GitHub", func(ctx context.Context) []Check { return checkGitHub(ctx, o, env, need) })
	}
	if hasAny(need, slackPost, slackCommands) {
		run("Slack", func(ctx context.Context) []Check { return checkSlack(ctx, o, need) })
	}
	wg.Wait()
	r := &Report{Playbook: o.Playbook.Name, Checks: []Check{}}
	for _, svc := range []string{"OpenAI", "GitHub", "Slack"} {
		r.Checks = append(r.Checks, rows[svc]...)
	}
	for _, c := range r.Checks {
		if c.Status == Fail {
			r.Failed++
		}
	}
	r.OK = r.Failed == 0
	return r
}

func hasAny(m map[need][]string, ns ...need) bool {
	for _, n := range ns {
		if len(m[n]) > 0 {
			return true
		}
	}
	return false
}

// env is a steps.Env for the steps' own client constructors: the same variables, the same
// redaction, one client per service.
func (o Options) env() *steps.Env { return steps.ReadOnlyEnv("doctor", o.Getenv, o.Now, o.Secret) }

// row builds a check for need n; a check with no steps needing it is not shown.
func row(service, name string, steps []string, status Status, detail, fix string) Check {
	return Check{Service: service, Name: name, Status: status, Detail: detail, Fix: fix, Steps: steps}
}

// keep drops rows no step needs.
func keep(rows []Check) []Check {
	out := rows[:0]
	for _, r := range rows {
		if len(r.Steps) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// inOrder sorts step IDs as the playbook runs them, the run's Slack progress first.
func inOrder(pb *playbook.Playbook, ids []string) []string {
	pos := map[string]int{RunSlackStep: -1}
	for i, st := range pb.Steps {
		pos[st.ID] = i
	}
	slices.SortStableFunc(ids, func(a, b string) int { return pos[a] - pos[b] })
	return ids
}

// oneLine flattens an error message for the table.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
