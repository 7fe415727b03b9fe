package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/internal/audit"
	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/runner"
)

// auditFix runs the safe fixes of rep as a playbook through the runner (the plan on the
// terminal, an approval per fix, the journal, rollback) and returns the report to print: the
// audit again after a real run, rep itself when nothing ran, only a plan was made or the run was
// interrupted. The error
// is the run's (denied, failed, interrupted), to be returned once the report is out; a nil
// report means nothing is to be printed.
func (f *Factory) auditFix(ctx context.Context, o auditOptions, src audit.Sources, inv *audit.Inventory, rep *audit.Report) (*audit.Report, error) {
	fix, err := audit.PlanFix(inv, rep, audit.FixOptions{AlertEmails: o.AlertEmails})
	if err != nil {
		return nil, err
	}
	manual := 0
	for _, fd := range rep.Findings {
		if !audit.AutoFixed(fd.Check) {
			manual++
		}
	}
	for _, h := range fix.Held {
		fmt.Fprintf(f.IO.Err, "audit --fix: not fixed: %s\n", h)
	}
	if fix.Playbook == nil {
		fmt.Fprintf(f.IO.Err, "audit --fix: nothing respond can fix safely; %d finding(s) need a person (each names its fix)\n", manual)
		return rep, nil
	}
	fmt.Fprintf(f.IO.Err, "audit --fix: %d step(s) fix %d finding(s) (spend limits and alerts, reversibly); %d finding(s) need a person and keep their printed fix\n",
		len(fix.Steps), len(rep.Findings)-manual, manual)
	spec := runSpec{Spec: runner.Spec{Playbook: fix.Playbook, Inputs: map[string]any{}, DryRun: o.DryRun, Mode: engine.ModeReal,
		StartedBy: currentUser(f.Getenv)}, output: "text"}
	if o.DryRun {
		spec.Mode = engine.ModeDryRun
	}
	if o.Output != "text" {
		spec.summaryTo = f.IO.Err
	}
	if o.Yes {
		spec.Approver = engine.AutoApprover{By: spec.StartedBy, Via: "--yes"}
	}
	res, runErr := f.execute(ctx, spec)
	if res == nil || o.DryRun || !changedAnything(res) || ctx.Err() != nil {
		return rep, runErr
	}
	_, after, err := auditOnce(ctx, src, o)
	if err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("audit again after the fixes of run %s: %w", res.RunID, err))
	}
	fmt.Fprintf(f.IO.Err, "audit after run %s (undo: respond rollback %s):\n", res.RunID, res.RunID)
	return after, runErr
}

// changedAnything reports whether a step of the fix run succeeded.
func changedAnything(res *engine.Result) bool {
	for _, st := range res.Steps {
		if st.Status == event.Succeeded {
			return true
		}
	}
	return false
}

// postAudit posts the report's Markdown summary to channel with the bot's client, masked like
// everything respond prints; a rate limit is waited out (Retry-After), as a run's Slack steps do.
func (f *Factory) postAudit(ctx context.Context, channel string, rep *audit.Report) error {
	client, err := runner.SlackClient(f.Getenv, f.Secrets)
	if err != nil {
		return credentialsErr("--slack: %v", err)
	}
	msg := slack.Message{Text: f.Secrets.String(rep.SlackText())}
	for attempt := 1; ; attempt++ {
		_, err = client.PostMessage(ctx, channel, msg)
		var se *slack.Error
		if err == nil || attempt == 4 || !errors.As(err, &se) || !se.Transient() {
			break
		}
		wait := max(se.RetryAfter(), time.Duration(attempt)*time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(wait, 30*time.Second)):
		}
	}
	switch {
	case errors.Is(err, slack.ErrUnauthorized):
		return credentialsErr("--slack: %s", f.Secrets.String(err.Error()))
	case err != nil:
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("audit: %s", f.Secrets.String(err.Error()))}
	}
	fmt.Fprintf(f.IO.Err, "audit: summary posted to %s\n", channel)
	return nil
}
