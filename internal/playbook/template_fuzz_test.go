package playbook_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/playbook"
)

// bigNumber: text/template runs `range 99999` and `printf "%099999d"` as asked, and nested
// ranges multiply. Playbooks are the operator's own, so work the author asked for is no
// defect; the fuzzer is kept to small numbers and two ranges so that each input finishes.
var bigNumber = regexp.MustCompile(`[0-9]{4}`)

// FuzzRender: any template text renders or fails with an error that names its position; text
// without "{{" is returned as it is; nothing panics.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"plain text", "{{ .inputs.key }}", "{{ .steps.find.outputs.key_id }}", `{{ json .inputs.repos }}`,
		`{{ join "," .inputs.repos }}`, `{{ default "x" .inputs.none }}`, `{{ if .run.dry_run }}dry{{ else }}real{{ end }}`,
		`{{ range .inputs.repos }}{{ . }} {{ end }}`, `{{ .steps.missing.outputs.x }}`, `{{ upper (trim .inputs.note) }}`,
		`{{ template "x" }}`, `{{ define "a" }}{{ template "a" }}{{ end }}{{ template "a" }}`, `{{ .inputs.key | printf "%q" }}`,
		`{{`, `}}{{`, `{{ index .inputs.repos 5 }}`, `{{ call .inputs.key }}`,
	} {
		f.Add(s)
	}
	data := playbook.Data{
		Inputs: map[string]any{"key": "sk-proj-not-a-real-key", "repos": []any{"a/b", "c/d"}, "note": " hi ", "none": nil,
			"empty": []any{}, "map": map[string]any{"k": 1}},
		Steps: map[string]playbook.StepData{"find": {Status: "succeeded", Outputs: map[string]any{"key_id": "key_1"}}},
		Run:   playbook.RunData{ID: "r1", Playbook: "p", Mode: "real", Started: time.Unix(0, 0)},
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 || bigNumber.MatchString(text) || strings.Count(text, "range") > 2 {
			t.Skip()
		}
		out, err := playbook.Render("fuzz.yaml", 3, 7, text, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml:3:7: ") {
				t.Fatalf("error without its position: %v", err)
			}
			return
		}
		if !strings.Contains(text, "{{") && out != text {
			t.Fatalf("plain text changed: %q -> %q", text, out)
		}
	})
}
