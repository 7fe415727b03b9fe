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
			wantNot: []string{"NOT revoked", "failed"},
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
