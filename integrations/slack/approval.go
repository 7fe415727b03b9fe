package slack

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
)

// Action IDs of the approval buttons; the interactivity handler dispatches on them.
const (
	ActionApprove = "respond_approve"
	ActionDeny    = "respond_deny"
)

// ApprovalBlockID is the block_id of the actions block holding the two buttons.
const ApprovalBlockID = "respond_approval"

// ApprovalView is an approval request for one step of one run. Strings must be redacted.
type ApprovalView struct {
	RunID  string
	StepID string
	Uses   string
	// Title says in one line what approving will do: "Rewrite history of 2 repos and force-push".
	Title string
	// Details is the step's plan (API calls, refs to push), shown preformatted.
	Details     string
	RequestedBy string   // who started the run: a Slack user ID or a name
	Approvers   []string // who may approve: Slack user IDs, @group handles or names
	// TwoPerson says the person who started the run cannot approve it.
	TwoPerson bool
}

// DecisionView is the outcome of an approval request; it replaces the request (so its buttons
// are gone and cannot be pressed again).
type DecisionView struct {
	RunID    string
	StepID   string
	Uses     string
	Title    string
	Approved bool
	By       string // a Slack user ID or a name
	At       time.Time
	Reason   string // optional: "approved on the terminal", "requester cannot approve"
}

// ApprovalValue is the value both buttons carry: it names the run and the step, so a press can
// be matched to its request without any server-side lookup table.
func ApprovalValue(runID, stepID string) string {
	return url.Values{"run": {runID}, "step": {stepID}}.Encode()
}

// ParseApprovalValue reads a button value made by ApprovalValue.
func ParseApprovalValue(value string) (runID, stepID string, err error) {
	v, err := url.ParseQuery(value)
	if err != nil {
		return "", "", fmt.Errorf("parse approval button value: %w", err)
	}
	runID, stepID = v.Get("run"), v.Get("step")
	if runID == "" || stepID == "" {
		return "", "", errors.New("parse approval button value: run or step missing")
	}
	return runID, stepID, nil
}

// ApprovalRequest builds the message that asks for approval of one step, with Approve (behind a
// confirmation dialog) and Deny buttons whose action IDs are ActionApprove and ActionDeny.
func ApprovalRequest(v ApprovalView) Message {
	what := stepRef(v.StepID, v.Uses, v.RunID)
	blocks := []Block{section("respond_approval_title",
		":raised_hand: *Approval needed* for "+what+"\n"+escapeLimit(v.Title, maxNote))}
	if strings.TrimSpace(v.Details) != "" {
		// 8 runes of fences and newlines around the preformatted plan.
		blocks = append(blocks, section("respond_approval_details",
			"```\n"+escapeLimit(strings.TrimRight(v.Details, "\n"), maxSectionText-8)+"\n```"))
	}
	var ctx []string
	if v.RequestedBy != "" {
		ctx = append(ctx, "Requested by "+mention(v.RequestedBy))
	}
	if len(v.Approvers) > 0 {
		names := make([]string, len(v.Approvers))
		for i, a := range v.Approvers {
			names[i] = mention(a)
		}
		ctx = append(ctx, "Approvers: "+strings.Join(names, ", "))
	}
	if v.TwoPerson {
		ctx = append(ctx, "The person who started the run cannot approve it")
	}
	if len(ctx) > 0 {
		blocks = append(blocks, slackgo.NewContextBlock("respond_approval_context", mrkdwn(strings.Join(ctx, "  ·  "))))
	}

	value := ApprovalValue(v.RunID, v.StepID)
	approve := slackgo.NewButtonBlockElement(ActionApprove, value, plain("Approve")).
		WithStyle(slackgo.StylePrimary).
		WithConfirm(slackgo.NewConfirmationBlockObject(
			plain("Approve this step?"),
			mrkdwn(confirmText(v)),
			plain("Approve"),
			plain("Cancel")))
	deny := slackgo.NewButtonBlockElement(ActionDeny, value, plain("Deny")).WithStyle(slackgo.StyleDanger)
	blocks = append(blocks, slackgo.NewActionBlock(ApprovalBlockID, approve, deny))

	return Message{
		Text:   fmt.Sprintf("Approval needed for step %s of run %s: %s", escape(v.StepID), escape(v.RunID), escape(v.Title)),
		Blocks: blocks,
	}
}

// ApprovalDecision builds the message recording who approved or denied a step, and when.
func ApprovalDecision(v DecisionView) Message {
	emoji, verb := ":white_check_mark:", "Approved"
	if !v.Approved {
		emoji, verb = ":no_entry:", "Denied"
	}
	by := ""
	if v.By != "" {
		by = " by " + mention(v.By)
	}
	text := emoji + " *" + verb + "*" + by + ": " + stepRef(v.StepID, v.Uses, v.RunID)
	if v.Title != "" {
		text += "\n" + escapeLimit(v.Title, maxNote)
	}
	blocks := []Block{section("respond_decision", text)}
	var ctx []string
	if !v.At.IsZero() {
		ctx = append(ctx, v.At.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if v.Reason != "" {
		ctx = append(ctx, escapeLimit(v.Reason, maxNote))
	}
	if len(ctx) > 0 {
		blocks = append(blocks, slackgo.NewContextBlock("respond_decision_context", mrkdwn(strings.Join(ctx, "  ·  "))))
	}
	return Message{
		Text:   fmt.Sprintf("Step %s of run %s %s%s", escape(v.StepID), escape(v.RunID), strings.ToLower(verb), by),
		Blocks: blocks,
	}
}

func stepRef(stepID, uses, runID string) string {
	s := "step `" + code(stepID) + "`"
	if uses != "" {
		s += " (`" + code(uses) + "`)"
	}
	return s + " of run `" + code(runID) + "`"
}

// confirmText is the Approve confirmation dialog's text (Slack allows 300 characters).
func confirmText(v ApprovalView) string {
	prefix := "Run `" + code(truncate(v.RunID, 60)) + "` will go on with `" + code(truncate(v.StepID, 60)) + "`"
	if v.Title == "" {
		return prefix + "."
	}
	budget := maxNote - runes(prefix) - 2
	if budget < 10 {
		return truncate(prefix, maxNote)
	}
	return prefix + ": " + escapeLimit(v.Title, budget)
}
