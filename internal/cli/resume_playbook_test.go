package cli_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
)

// threeSteps fails at its second step; step one succeeded and may not change on resume.
const threeSteps = `name: three
inputs:
  note: {description: a note, default: hi}
steps:
  - id: one
    uses: exec
    with:
      argv: [echo, one]
  - id: two
    uses: exec
    with:
      argv: [false]
  - id: three
    uses: exec
    with:
      argv: [echo, three]
`

// failedRun runs threeSteps and returns the state directory and the failed run's ID.
func failedRun(t *testing.T) (map[string]string, string) {
	t.Helper()
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	if r := respond(t, env, "", "run", writeFile(t, "three.yaml", threeSteps)); r.code != cli.ExitStepFailed {
		t.Fatalf("first run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	runs, err := journal.List(state)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	return env, runs[0].RunID
}

func TestResumeWithEditedPlaybook(t *testing.T) {
	env, id := failedRun(t)
	edited := strings.Replace(threeSteps, "argv: [false]", "argv: [echo, fixed]", 1) +
		"  - id: four\n    uses: exec\n    with:\n      argv: [echo, four]\n"
	r := respond(t, env, "", "resume", "--playbook", writeFile(t, "three.yaml", edited), id)
	if r.code != cli.ExitOK {
		t.Fatalf("resume --playbook: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"-      argv: [false]\n", "+      argv: [echo, fixed]\n", "+  - id: four\n", "@@ -"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the diff lacks %q:\n%s", want, r.stdout)
		}
	}
	recs, err := journal.Read(env["RESPOND_STATE_DIR"], id)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	var journaled string
	for _, rec := range recs {
		if rec.Kind == event.StepSucceeded {
			ran[rec.Step]++
		}
		if rec.Kind == event.RunResumed {
			journaled, _ = rec.Data["playbook_source"].(string)
		}
	}
	// Step one is not run again; the fixed step two, step three and the new step four run once.
	if want := map[string]int{"one": 1, "two": 1, "three": 1, "four": 1}; !cmp.Equal(ran, want) {
		t.Errorf("steps succeeded (-want +got):\n%s", cmp.Diff(want, ran))
	}
	if journaled != edited {
		t.Errorf("run.resumed does not carry the edited playbook:\n%s", journaled)
	}
	// The report reads the edited playbook from the journal.
	if rep := respond(t, env, "", "runs", "report", id); rep.code != 0 || !strings.Contains(rep.stdout, "four") {
		t.Errorf("runs report does not show the new step: exit %d\n%s%s", rep.code, rep.stdout, rep.stderr)
	}
	if _, err := journal.Verify(env["RESPOND_STATE_DIR"], id); err != nil {
		t.Errorf("journal after resume: %v", err)
	}
}

// A later resume of a run continued with an edited playbook uses the edited one, and an edit
// to a step that the first resume finished is refused.
func TestSecondResumeKeepsTheEditedPlaybook(t *testing.T) {
	env, id := failedRun(t)
	edited := strings.Replace(threeSteps, "argv: [echo, three]", "argv: [false]", 1)
	edited = strings.Replace(edited, "argv: [false]\n  - id: three", "argv: [echo, fixed]\n  - id: three", 1)
	if r := respond(t, env, "", "resume", "--playbook", writeFile(t, "e.yaml", edited), id); r.code != cli.ExitStepFailed {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	again := strings.Replace(edited, "argv: [echo, fixed]", "argv: [echo, changed]", 1)
	r := respond(t, env, "", "resume", "--playbook", writeFile(t, "e.yaml", again), id)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "step two is finished") {
		t.Errorf("editing a step the first resume finished: exit %d\n%s", r.code, r.stderr)
	}
	// Without --playbook the journaled edit is used: step three still fails as edited.
	r = respond(t, env, "", "resume", id)
	if r.code != cli.ExitStepFailed || strings.Contains(r.stdout, "echo three") {
		t.Errorf("plain resume after an edit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestResumeRefusesEditsToFinishedSteps(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string // all in the error
	}{
		{"finished step's argv", func(s string) string { return strings.Replace(s, "[echo, one]", "[echo, uno]", 1) },
			[]string{"three.yaml:5:", "step one is finished (succeeded)", "with changed"}},
		{"finished step's uses", func(s string) string {
			return strings.Replace(s, "uses: exec\n    with:\n      argv: [echo, one]", "uses: slack.notify\n    with:\n      text: one", 1)
		}, []string{"step one", "uses: exec → slack.notify"}},
		{"finished step removed", func(s string) string {
			return strings.Replace(s, "  - id: one\n    uses: exec\n    with:\n      argv: [echo, one]\n", "", 1)
		}, []string{"step one was removed"}},
		{"finished step gains an if", func(s string) string {
			return strings.Replace(s, "  - id: one\n", "  - id: one\n    if: '{{ true }}'\n", 1)
		}, []string{"step one", "if changed"}},
		{"new step before a finished one", func(s string) string {
			return strings.Replace(s, "steps:\n", "steps:\n  - id: zero\n    uses: exec\n    with:\n      argv: [echo, zero]\n", 1)
		}, []string{"new step zero comes before step one"}},
		{"input changes type", func(s string) string {
			return strings.Replace(s, "note: {description: a note, default: hi}", "note: {description: a note, type: list}", 1)
		}, []string{"three.yaml:3:", "input note changed type from string to list"}},
		{"input becomes secret", func(s string) string {
			return strings.Replace(s, "note: {description: a note, default: hi}", "note: {description: a note, secret: true}", 1)
		}, []string{"input note changed secret"}},
		{"failed step made non-fatal", func(s string) string {
			return strings.Replace(s, "argv: [false]", "argv: [false]\n    on_failure: continue", 1)
		}, []string{"three.yaml:9:", "step two failed and stopped the run"}},
		{"another playbook", func(s string) string { return strings.Replace(s, "name: three", "name: four", 1) },
			[]string{`playbook "four", the run is "three"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, id := failedRun(t)
			path := journal.Path(env["RESPOND_STATE_DIR"], id)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := respond(t, env, "", "resume", "--playbook", writeFile(t, "three.yaml", tt.edit(threeSteps)), id)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want %d\n%s%s", r.code, cli.ExitUsage, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the error lacks %q:\n%s", w, r.stderr)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("a refused resume changed the journal:\n%s", after[len(before):])
			}
		})
	}
}

// Environment variables have no flags, so each command's help must name the ones it reads.
func TestHelpNamesTheEnvironment(t *testing.T) {
	tests := []struct {
		cmd  []string
		want []string
	}{
		{[]string{"run"}, []string{"RESPOND_STATE_DIR", "RESPOND_INPUT_<NAME>", "OPENAI_ADMIN_KEY", "GITHUB_TOKEN", "SLACK_BOT_TOKEN"}},
		{[]string{"plan"}, []string{"RESPOND_STATE_DIR", "RESPOND_INPUT_<NAME>", "OPENAI_ADMIN_KEY"}},
		{[]string{"resume"}, []string{"RESPOND_STATE_DIR", "RESPOND_INPUT_<NAME>", "OPENAI_ADMIN_KEY", "GITHUB_TOKEN", "SLACK_BOT_TOKEN"}},
		{[]string{"doctor"}, []string{"OPENAI_ADMIN_KEY", "GITHUB_TOKEN", "SLACK_BOT_TOKEN"}},
		{[]string{"rollback"}, []string{"RESPOND_STATE_DIR", "OPENAI_ADMIN_KEY"}},
		{[]string{"runs"}, []string{"RESPOND_STATE_DIR"}},
		{[]string{"scan", "git"}, []string{"GITHUB_TOKEN"}},
		{[]string{"purge"}, []string{"GITHUB_TOKEN", "RESPOND_STATE_DIR"}},
		{[]string{"serve"}, []string{"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "OPENAI_ADMIN_KEY"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cmd, " "), func(t *testing.T) {
			r := respond(t, nil, "", append(tt.cmd, "--help")...)
			env := r.stdout[strings.Index(r.stdout, "Environment:")+1:]
			for _, w := range tt.want {
				if !strings.Contains(env, "\n     "+w+" ") {
					t.Errorf("help does not list %s under Environment:\n%s", w, r.stdout)
				}
			}
		})
	}
}
