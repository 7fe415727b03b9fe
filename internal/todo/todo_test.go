package todo_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/todo"
)

func started(mode string) event.Event {
	return event.Event{Kind: event.RunStarted, RunID: "run1", Data: map[string]any{"mode": mode}}
}

func finished(outcome string) event.Event {
	return event.Event{Kind: event.RunFinished, RunID: "run1", Message: outcome, Data: map[string]any{"outcome": outcome}}
}

func ok(id, uses string, outputs map[string]any) event.Event {
	return event.Event{Kind: event.StepSucceeded, RunID: "run1", Step: id, Uses: uses, Data: map[string]any{"outputs": outputs}}
}

func skipped(id, uses, reason string) event.Event {
	return event.Event{Kind: event.StepSkipped, RunID: "run1", Step: id, Uses: uses, Message: reason}
}

func TestFromEvents(t *testing.T) {
	revoked := ok("revoke", "openai.revoke-key", map[string]any{"revoked": true})
	tests := []struct {
		name string
		evs  []event.Event
		want []string
	}{
		{
			name: "key not revoked comes first",
			evs: []event.Event{started("real"),
				ok("identify", "openai.find-key", map[string]any{"owner": "alice"}),
				{Kind: event.StepFailed, Step: "revoke", Uses: "openai.revoke-key", Error: "403 forbidden\nmore"},
				finished("failed")},
			want: []string{
				"The leaked key was NOT revoked by this run: revoke it now (OpenAI dashboard → API keys), or fix the cause and run again.",
				"Step revoke failed: 403 forbidden …",
				"Fix the cause, then continue where it stopped: respond resume run1",
				todo.Elsewhere,
			},
		},
		{
			name: "outputs, findings and skips, in the order the steps ran",
			evs: []event.Event{started("real"),
				ok("identify", "openai.find-key", map[string]any{"owner": "alice"}),
				revoked,
				{Kind: event.StepLog, Step: "replace", Uses: "openai.create-replacement", Message: "TO-DO: narrow the scopes", Data: map[string]any{"needs_human": true}},
				ok("replace", "openai.create-replacement", map[string]any{"todo": []any{"narrow the scopes", "set an expiry"}}),
				ok("logs", "logs.search", map[string]any{"findings": []any{
					map[string]any{"file": "/var/log/a.log", "line": 3.0}, map[string]any{"file": "/var/log/a.log", "line": 9.0},
					map[string]any{"file": "/var/log/b.log.gz", "line": 1.0}}}),
				skipped("purge", "git.purge-history", "approval denied by nobody via none: no approver"),
				skipped("gh", "github.search", "not run: preflight failed: GITHUB_TOKEN is not set"),
				skipped("alerts", "github.resolve-alerts", "approval denied by bob via slack: not now"),
				skipped("budgets", "openai.tighten-budgets", "condition is false: x"),
				ok("review", "openai.review-usage", map[string]any{"flags": []any{"spike"}}),
				finished("denied")},
			want: []string{
				"Tell the key's owner (alice) it was revoked and why, and where the replacement now lives.",
				"narrow the scopes",
				"set an expiry",
				"Delete or rotate the log files that still hold the key (and their backups): /var/log/a.log, /var/log/b.log.gz.",
				"Step purge needs an approval nobody could give here: respond resume run1 --yes (or resume on a terminal, or approve in Slack)",
				"Step gh was not run (preflight failed: GITHUB_TOKEN is not set). Fix that, then run it: respond resume run1",
				"Step alerts was not approved (by bob via slack: not now): it did not run. To ask again: respond resume run1",
				"Review the usage flags (1) with finance and decide whether customers or OpenAI must be told.",
				todo.Elsewhere,
			},
		},
		{
			name: "a key already revoked before the run is not reported as live",
			evs: []event.Event{started("real"),
				ok("identify", "openai.find-key", map[string]any{"owner": "", "key_id": "", "already_revoked": true}),
				skipped("revoke", "openai.revoke-key", "condition is false: key_id"),
				finished("succeeded")},
			want: []string{
				"Find who owned the key (it was already revoked before this run) and tell them it leaked, and where the replacement now lives.",
				todo.Elsewhere,
			},
		},
		{
			name: "a key proven dead is not reported as live",
			evs: []event.Event{started("real"),
				{Kind: event.StepFailed, Step: "revoke", Uses: "openai.revoke-key", Error: "timeout"},
				ok("verify", "openai.verify-key-dead", map[string]any{"dead": true}),
				finished("failed")},
			want: []string{"Step revoke failed: timeout", "Fix the cause, then continue where it stopped: respond resume run1", todo.Elsewhere},
		},
		{
			name: "a purge that did not push",
			evs: []event.Event{started("real"), revoked,
				ok("purge", "git.purge-history", map[string]any{"refs_changed": 2.0, "verified": false, "forge_remains": []any{"forks keep it"}}),
				finished("succeeded")},
			want: []string{
				"forks keep it",
				"Step purge did not push the rewritten history: the remote still holds the key. Run it with push: true.",
				"Everyone with a clone must re-clone (or reset to the rewritten refs); old clones still hold the key.",
				todo.Elsewhere,
			},
		},
		{
			name: "a resumed step counts with its new outcome",
			evs: []event.Event{started("real"), revoked,
				{Kind: event.StepStarted, Step: "budgets", Uses: "openai.tighten-budgets"},
				{Kind: event.StepFailed, Step: "budgets", Uses: "openai.tighten-budgets", Error: "500"},
				finished("failed"),
				{Kind: event.RunResumed},
				{Kind: event.StepStarted, Step: "budgets", Uses: "openai.tighten-budgets"},
				ok("budgets", "openai.tighten-budgets", map[string]any{}),
				finished("succeeded")},
			want: []string{todo.Elsewhere},
		},
		{
			name: "a rehearsal suggests no resume",
			evs: []event.Event{started("rehearsal"), revoked,
				{Kind: event.StepIntent, Step: "budgets", Message: "set-limit"},
				{Kind: event.StepFailed, Step: "budgets", Uses: "openai.tighten-budgets", Error: "500"},
				finished("failed")},
			want: []string{"Step budgets failed: 500 (it changes things: check what it did before resuming)", todo.Elsewhere},
		},
		{
			name: "a dry run revokes nothing and owes nothing for it",
			evs: []event.Event{started("dry-run"),
				ok("identify", "openai.find-key", map[string]any{"owner": "alice"}),
				{Kind: event.StepPlanned, Step: "revoke", Uses: "openai.revoke-key"},
				finished("succeeded")},
			want: nil,
		},
		{
			name: "interrupted",
			evs:  []event.Event{started("real"), revoked, finished("interrupted")},
			want: []string{"The run was interrupted: every finished step is journaled. Continue where it stopped: respond resume run1", todo.Elsewhere},
		},
		{
			name: "preflight failed",
			evs:  []event.Event{started("real"), {Kind: event.StepLog, Step: "revoke", Uses: "openai.revoke-key", Message: "preflight"}, finished("preflight-failed")},
			want: []string{
				"The leaked key was NOT revoked by this run: revoke it now (OpenAI dashboard → API keys), or fix the cause and run again.",
				"Nothing was changed. Fix what preflight reported, then start again with the same command.",
				todo.Elsewhere,
			},
		},
		{
			name: "a playbook that revokes nothing",
			evs:  []event.Event{started("real"), ok("hello", "exec", map[string]any{}), finished("succeeded")},
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := todo.FromEvents(tc.evs)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("FromEvents (-want +got):\n%s", d)
			}
			// The List, fed one event at a time, says the same.
			var l todo.List
			for _, e := range tc.evs {
				_ = l.Emit(e)
			}
			if d := cmp.Diff(got, l.Items()); d != "" {
				t.Errorf("List.Items differs from FromEvents (-FromEvents +Items):\n%s", d)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	log := func(step, msg string) event.Event { return event.Event{Kind: event.StepLog, Step: step, Message: msg} }
	intent := func(step, name string) event.Event {
		return event.Event{Kind: event.StepIntent, Step: step, Message: name}
	}
	result := func(step string) event.Event { return event.Event{Kind: event.StepResult, Step: step, Message: "ok"} }
	tests := []struct {
		name string
		evs  []event.Event
		want []todo.Change
	}{
		{
			name: "only what is logged inside a named intent",
			evs: []event.Event{started("real"),
				log("purge_logs", "3 run(s) considered"),
				intent("purge_logs", "attempt"),
				log("purge_logs", "scanning run 7"),
				intent("purge_logs", "delete run logs"),
				log("purge_logs", "deleted the logs of run 7"),
				result("purge_logs"),
				log("purge_logs", "after the result"),
				{Kind: event.StepSucceeded, Step: "purge_logs"}},
			want: []todo.Change{{Step: "purge_logs", What: "deleted the logs of run 7"}},
		},
		{
			name: "reminders, reports and checks are not changes",
			evs: []event.Event{started("real"),
				intent("replace", "create key"),
				log("replace", "minted key_1"),
				log("replace", "TO-DO: narrow the scopes"),
				{Kind: event.StepLog, Step: "replace", Message: "remove it", Data: map[string]any{"needs_human": true}},
				log("replace", "what the forge may still hold:\n  forks"),
				log("replace", "repo: rescan finds the value in no ref"),
				{Kind: event.StepFailed, Step: "replace", Error: "boom"},
				log("replace", "after the failure")},
			want: []todo.Change{{Step: "replace", What: "minted key_1"}},
		},
		{
			name: "a dry run changes nothing",
			evs:  []event.Event{started("dry-run"), intent("revoke", "delete key"), log("revoke", "revoked key_1")},
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, todo.Changes(tc.evs)); d != "" {
				t.Errorf("Changes (-want +got):\n%s", d)
			}
		})
	}
}
