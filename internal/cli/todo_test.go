package cli_test

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The to-do list is computed once: the terminal summary, the Slack summary, the Markdown report
// and the JSON report of one rehearsal carry the same items in the same order.
func TestToDoListIsTheSameEverywhere(t *testing.T) {
	pb, err := os.ReadFile("../../playbooks/openai-key-leak.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// edit replaces old with new in the playbook, failing if the playbook no longer has old (the
	// scenario would silently test nothing).
	edit := func(t *testing.T, pb string, oldNew ...string) string {
		t.Helper()
		for i := 0; i < len(oldNew); i += 2 {
			if !strings.Contains(pb, oldNew[i]) {
				t.Fatalf("the playbook no longer has %q", oldNew[i])
			}
			pb = strings.Replace(pb, oldNew[i], oldNew[i+1], 1)
		}
		return pb
	}
	tests := []struct {
		name     string
		playbook func(t *testing.T) string // a file; "" runs the built-in playbook
		want     []string                  // items the list must hold
		wantNot  []string
		// logFindings says whether the logs hold the key when the run ends.
		logFindings bool
	}{
		{
			name:     "everything done",
			playbook: func(*testing.T) string { return "" },
			want: []string{
				"Tell the key's owner (alice@example.com) it was revoked",
				"Delete or rotate the log files that still hold the key",
				"Everyone with a clone must re-clone",
				"Check other places the key may have been copied",
			},
			wantNot:     []string{"NOT revoked", "failed"},
			logFindings: true,
		},
		{
			name: "a failed search and an unpushed purge",
			playbook: func(t *testing.T) string {
				text := edit(t, string(pb),
					`paths: "{{ json .inputs.log_paths }}"`, `paths: ["/nonexistent/respond-todo-test/app.log"]`,
					"      push: true\n", "      push: false\n")
				return writeFile(t, "playbook.yaml", text)
			},
			want: []string{
				"Step search_logs failed: ",
				"Step purge_history did not push the rewritten history",
				"Check other places the key may have been copied",
			},
			wantNot: []string{"Delete or rotate the log files"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			md, js, slackFile := filepath.Join(dir, "r.md"), filepath.Join(dir, "r.json"), filepath.Join(dir, "slack.txt")
			playbook := "openai-key-leak"
			if p := tc.playbook(t); p != "" {
				playbook = p
			}
			r := respond(t, nil, "", "rehearse", "--seed", "31", "--report", md, "--json", js, "--slack-transcript", slackFile, playbook)
			if r.stdout == "" {
				t.Fatalf("exit %d, nothing on stdout\n%s", r.code, r.stderr)
			}

			terminal := listAfter(t, r.stdout, "What a person must still do:", "  - [ ] ")
			markdown := listAfter(t, readText(t, md), "## What a person must still do", "- [ ] ")
			for i, s := range markdown {
				markdown[i] = strings.ReplaceAll(s, `\|`, "|")
			}
			var rep struct {
				HumanToDo []string `json:"human_to_do"`
				Changed   []struct {
					Step, What string
				} `json:"changed"`
				UsageTable  string `json:"usage_table"`
				LogsWithKey []struct {
					File string `json:"file"`
				} `json:"logs_with_key"`
			}
			if err := json.Unmarshal([]byte(readText(t, js)), &rep); err != nil {
				t.Fatalf("JSON report: %v", err)
			}
			slackList := listAfter(t, readText(t, slackFile), "Needs a human", "• ")
			for i, s := range slackList {
				slackList[i] = html.UnescapeString(s)
			}

			for name, got := range map[string][]string{"Slack summary": slackList, "Markdown report": markdown, "JSON report": rep.HumanToDo} {
				if d := cmp.Diff(terminal, got); d != "" {
					t.Errorf("%s and terminal summary differ (-terminal +%s):\n%s", name, name, d)
				}
			}
			// What changed: the same changes in Slack (at most five per step) and the reports, and
			// only changes.
			var changed []string
			for _, c := range rep.Changed {
				changed = append(changed, c.Step+": "+c.What)
			}
			mdChanged := listAfter(t, readText(t, md), "## What changed", "- **")
			for i, c := range mdChanged {
				mdChanged[i] = strings.ReplaceAll(strings.Replace(c, "**:", ":", 1), `\|`, "|")
			}
			if d := cmp.Diff(changed, mdChanged); d != "" {
				t.Errorf("What changed: JSON and Markdown differ (-JSON +Markdown):\n%s", d)
			}
			slackChanged := listAfter(t, readText(t, slackFile), "What changed", "• ")
			var capped []string
			perStep := map[string]int{}
			for _, c := range rep.Changed {
				if perStep[c.Step]++; perStep[c.Step] <= 5 {
					capped = append(capped, c.Step+": "+c.What)
				}
			}
			var slackShown []string
			for _, c := range slackChanged {
				if !strings.Contains(c, "…and ") {
					slackShown = append(slackShown, html.UnescapeString(c))
				}
			}
			if d := cmp.Diff(capped, slackShown); d != "" {
				t.Errorf("What changed: JSON and Slack differ (-JSON +Slack):\n%s", d)
			}
			if len(changed) == 0 {
				t.Error("What changed is empty")
			}
			for _, c := range changed {
				for _, notAChange := range []string{"TO-DO", "rescan finds", "considered", "what the forge may still hold"} {
					if strings.Contains(c, notAChange) {
						t.Errorf("What changed lists %q, which is not a change", c)
					}
				}
			}
			// The report carries the usage table and every log line that still holds the key.
			mdText := readText(t, md)
			if rep.UsageTable == "" || !strings.Contains(mdText, "## Usage while exposed\n\n```\n"+rep.UsageTable) {
				t.Errorf("the report lacks the usage table %q", rep.UsageTable)
			}
			if tc.logFindings != (len(rep.LogsWithKey) > 0) {
				t.Errorf("the JSON report has %d log lines holding the key, want some: %v", len(rep.LogsWithKey), tc.logFindings)
			}
			for _, l := range rep.LogsWithKey {
				if !strings.Contains(mdText, "| "+l.File+" | ") {
					t.Errorf("the Markdown report does not list %s", l.File)
				}
			}

			all := strings.Join(terminal, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("the to-do list lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(all, w) {
					t.Errorf("the to-do list has %q:\n%s", w, all)
				}
			}
		})
	}
}

// listAfter returns the items of the list that follows the line containing heading: the lines
// holding bullet, from the bullet on, up to the first line without one.
func listAfter(t *testing.T, text, heading, bullet string) []string {
	t.Helper()
	lines := strings.Split(text, "\n")
	at := -1
	for i, l := range lines {
		if strings.Contains(l, heading) {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no %q in:\n%s", heading, text)
	}
	var items []string
	for _, l := range lines[at+1:] {
		if strings.TrimSpace(l) == "" && len(items) == 0 {
			continue
		}
		i := strings.Index(l, bullet)
		if i < 0 {
			break
		}
		items = append(items, l[i+len(bullet):])
	}
	return items
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
