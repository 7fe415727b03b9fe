package slack_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var started = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func defaultSteps() []slack.StepView {
	return []slack.StepView{
		{ID: "identify", Uses: "openai.find-key", Status: slack.StatusSucceeded, Duration: 1240 * time.Millisecond, Note: "key_abc in proj_123"},
		{ID: "revoke", Uses: "openai.revoke-key", Status: slack.StatusSucceeded, Duration: 380 * time.Millisecond},
		{ID: "verify", Uses: "openai.verify-key-dead", Status: slack.StatusSucceeded, Duration: 210 * time.Millisecond, Note: "leaked value gets 401"},
		{ID: "replace", Uses: "openai.create-replacement", Status: slack.StatusRunning, Duration: 2 * time.Second},
		{ID: "search", Uses: "github.search", Status: slack.StatusPending},
		{ID: "purge", Uses: "git.purge-history", Status: slack.StatusPending},
	}
}

// builders lists every message shape respond posts; each has a golden file.
func builders() map[string]slack.Message {
	running := slack.RunView{Title: "Leaked OpenAI API key sk-proj-…abcd", Playbook: "openai-key-leak", RunID: "run-20240506-1",
		StartedBy: "U0ALICE", Mode: slack.Live, Steps: defaultSteps()}

	waiting := running
	waiting.Steps = defaultSteps()
	waiting.Steps[3].Status, waiting.Steps[4].Status = slack.StatusSucceeded, slack.StatusSucceeded
	waiting.Steps[4].Duration, waiting.Steps[4].Note = 83*time.Second, "2 repos, 5 locations"
	waiting.Steps[5].Status = slack.StatusWaiting

	failed := running
	failed.Steps = defaultSteps()
	failed.Steps[3].Status, failed.Steps[3].Note = slack.StatusFailed, "secret store refused: 403\nsecond line dropped"
	failed.Steps[4].Status, failed.Steps[5].Status = slack.StatusSkipped, slack.StatusSkipped
	failed.Outcome, failed.Tone = "failed", slack.Bad

	dry := slack.RunView{Title: "Leaked OpenAI API key", Playbook: "openai-key-leak", RunID: "run-dry", StartedBy: "oncall@example.com",
		Mode: slack.DryRun, Outcome: "succeeded", Tone: slack.Good, Steps: []slack.StepView{
			{ID: "identify", Uses: "openai.find-key", Status: slack.StatusSucceeded, Duration: 900 * time.Millisecond},
			{ID: "revoke", Uses: "openai.revoke-key", Status: slack.StatusPlanned, Note: "DELETE /v1/organization/projects/proj_123/api_keys/key_abc"},
		}}

	hostile := slack.RunView{Title: "<!channel> & friends\nsecond line", Playbook: "p`q", RunID: "r<1>", StartedBy: "<@U0EVIL>",
		Mode: slack.Rehearsal, Steps: []slack.StepView{{ID: "a&b", Uses: "x", Status: "weird", Note: "<https://evil.example|click> *me*"}}}

	approval := slack.ApprovalView{RunID: "run-20240506-1", StepID: "purge", Uses: "git.purge-history",
		Title:       "Rewrite history of 2 repositories and force-push with lease",
		Details:     "acme/api: 3 commits rewritten on refs/heads/main, refs/tags/v1.2\nacme/web: 1 commit rewritten on refs/heads/dev\n",
		RequestedBy: "U0ALICE", Approvers: []string{"@security-leads", "U0BOB"}, TwoPerson: true}

	summary := slack.SummaryView{Title: "Leaked OpenAI API key sk-proj-…abcd", Playbook: "openai-key-leak", RunID: "run-20240506-1",
		Mode: slack.Rehearsal, Outcome: "succeeded", Tone: slack.Good, Duration: 4*time.Minute + 12*time.Second, TimeToRevoke: 42 * time.Second,
		Facts: []slack.Fact{{Label: "Exposure window", Value: "2024-05-01 10:00 → 2024-05-06 07:08 UTC (4d 21h)"}, {Label: "Spend in window", Value: "$312.40 (baseline $18.10)"}},
		Changed: []string{"revoked key_abc in proj_123", "created key_new (service account sa_respond, expires in 90d) → GitHub secret OPENAI_API_KEY",
			"rewrote history of acme/api and force-pushed 2 refs", "project hard limit $500 → $100"},
		NeedsHuman: []string{"GitHub still serves the diff of PR #12 (refs/pull/12/head): ask GitHub support to purge it"},
		Report:     "reports/run-20240506-1.md"}

	dryRunSummary := slack.SummaryView{Title: "Leaked OpenAI API key", Playbook: "openai-key-leak", RunID: "run-dry", Mode: slack.DryRun,
		Outcome: "succeeded", Tone: slack.Good, Duration: 3 * time.Second}

	return map[string]slack.Message{
		"run_running":         slack.RunMessage(running),
		"run_waiting":         slack.RunMessage(waiting),
		"run_failed":          slack.RunMessage(failed),
		"run_dry_run":         slack.RunMessage(dry),
		"run_hostile_input":   slack.RunMessage(hostile),
		"run_empty":           slack.RunMessage(slack.RunView{}),
		"approval_request":    slack.ApprovalRequest(approval),
		"approval_approved":   slack.ApprovalDecision(slack.DecisionView{RunID: approval.RunID, StepID: "purge", Uses: approval.Uses, Title: approval.Title, Approved: true, By: "U0BOB", At: started.Add(3 * time.Minute)}),
		"approval_denied":     slack.ApprovalDecision(slack.DecisionView{RunID: approval.RunID, StepID: "purge", Approved: false, By: "carol", At: started, Reason: "the requester cannot approve"}),
		"summary_succeeded":   slack.Summary(summary),
		"summary_dry_run":     slack.Summary(dryRunSummary),
		"summary_not_revoked": slack.Summary(slack.SummaryView{RunID: "r", Playbook: "p", Mode: slack.Live, Outcome: "failed", Tone: slack.Bad, NeedsHuman: []string{"revoke key_abc by hand"}}),
	}
}

func TestBuildersGolden(t *testing.T) {
	t.Parallel()
	render := slacksim.New(simConfig("t"))
	for name, m := range builders() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var blocks bytes.Buffer
			enc := json.NewEncoder(&blocks)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(m.Blocks); err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, blocks.Bytes()); err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("== fallback text\n%s\n\n== as a person sees it\n%s\n\n== blocks\n%s",
				m.Text, render.Render(m.Text, compact.Bytes()), unescapeHTML.Replace(blocks.String()))
			golden(t, filepath.Join("testdata", name+".golden"), got)
		})
	}
}

// TestBuildersAcceptedBySlack posts every message shape, and a run far larger than any playbook,
// to the sim, which refuses what Slack would (block count, text lengths, duplicate IDs).
func TestBuildersAcceptedBySlack(t *testing.T) {
	t.Parallel()
	c, _, _ := setup(t)
	msgs := builders()
	var steps []slack.StepView
	for i := range 120 {
		steps = append(steps, slack.StepView{ID: fmt.Sprintf("step-%03d", i), Uses: "exec", Status: slack.StatusSucceeded,
			Duration: time.Duration(i) * time.Second, Note: strings.Repeat("long note ", 60)})
	}
	msgs["huge_run"] = slack.RunMessage(slack.RunView{Title: strings.Repeat("T", 400), RunID: "r", Steps: steps, Outcome: "succeeded", Tone: slack.Good})
	long := make([]string, 200)
	for i := range long {
		long[i] = strings.Repeat("changed & <more> ", 60)
	}
	facts := make([]slack.Fact, 25)
	for i := range facts {
		facts[i] = slack.Fact{Label: fmt.Sprint("fact ", i), Value: strings.Repeat("v&", 3000)}
	}
	msgs["huge_summary"] = slack.Summary(slack.SummaryView{RunID: "r", Changed: long, NeedsHuman: long, Facts: facts})
	msgs["huge_approval"] = slack.ApprovalRequest(slack.ApprovalView{RunID: "r", StepID: "s", Title: strings.Repeat("t", 5000), Details: strings.Repeat("<&>", 3000)})
	for name, m := range msgs {
		if len(m.Blocks) > 50 {
			t.Errorf("%s: %d blocks, Slack allows 50", name, len(m.Blocks))
		}
		if _, err := c.Post(t.Context(), incidents, m); err != nil {
			t.Errorf("%s: Slack would refuse it: %v", name, err)
		}
	}
}

func TestApprovalValue(t *testing.T) {
	t.Parallel()
	tests := []struct{ run, step string }{
		{"run-20240506-1", "purge"},
		{"r&step=x", "a=b&c"},
		{"run with spaces", "ünïcode"},
	}
	for _, tt := range tests {
		run, step, err := slack.ParseApprovalValue(slack.ApprovalValue(tt.run, tt.step))
		if err != nil || run != tt.run || step != tt.step {
			t.Errorf("round trip of (%q, %q) = (%q, %q, %v)", tt.run, tt.step, run, step, err)
		}
	}
	for _, bad := range []string{"", "run=r", "step=s", "%zz", "garbage"} {
		if _, _, err := slack.ParseApprovalValue(bad); err == nil {
			t.Errorf("ParseApprovalValue(%q) succeeded", bad)
		}
	}
	// Both buttons carry the value; the handler tells them apart by action ID.
	m := slack.ApprovalRequest(slack.ApprovalView{RunID: "r1", StepID: "s1"})
	raw, _ := json.Marshal(m.Blocks)
	for _, want := range []string{slack.ActionApprove, slack.ActionDeny, slack.ApprovalBlockID} {
		if !strings.Contains(string(raw), `"`+want+`"`) {
			t.Errorf("approval request has no %q", want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	tests := map[time.Duration]string{
		0:                                          "0ms",
		340 * time.Millisecond:                     "340ms",
		1240 * time.Millisecond:                    "1.2s",
		9*time.Second + 940*time.Millisecond:       "9.9s",
		42*time.Second + 600*time.Millisecond:      "43s",
		59*time.Second + 700*time.Millisecond:      "1m00s",
		125 * time.Second:                          "2m05s",
		time.Hour + 2*time.Minute + 29*time.Second: "1h02m",
	}
	for d, want := range tests {
		if got := slack.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// unescapeHTML undoes the \u003c escapes slack-go's own MarshalJSON methods make, so goldens,
// which people review, show < > & as they are.
var unescapeHTML = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); run go test -update and review the diff:\n%s", path, diff)
	}
}

func TestSummaryOnlyTalksAboutRevocationWhenThePlaybookRevokes(t *testing.T) {
	t.Parallel()
	render := func(v slack.SummaryView) string {
		m := slack.Summary(v)
		b, _ := json.Marshal(m.Blocks)
		return m.Text + string(b)
	}
	base := slack.SummaryView{Title: "exec", Playbook: "exec-example", RunID: "r1", Mode: slack.Live, Outcome: "succeeded", Tone: slack.Good}
	if got := render(base); !strings.Contains(got, "NOT REVOKED") {
		t.Errorf("a revoking playbook whose key was not revoked must say so:\n%s", got)
	}
	base.NoRevocation = true
	if got := render(base); strings.Contains(got, "NOT REVOKED") || strings.Contains(got, "Time to revoke") {
		t.Errorf("a playbook that revokes nothing talks about revocation:\n%s", got)
	}
}
