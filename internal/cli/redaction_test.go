package cli_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
)

// leak reports where any 12-byte window of a secret's body appears in text.
func leak(text, secret string) (string, bool) {
	body := secret[strings.LastIndexAny(secret[:min(len(secret), 12)], "-_")+1:]
	for i := 0; i+12 <= len(body); i++ {
		if j := strings.Index(text, body[i:i+12]); j >= 0 {
			return text[max(0, j-40):min(len(text), j+60)], true
		}
	}
	return "", false
}

func TestSecretsNeverReachOutputsOrJournal(t *testing.T) {
	src := fakekey.New(99)
	key := src.OpenAIProjectKey()
	unregistered := src.GitHubToken() // never registered: masked by its shape
	keyFile := writeFile(t, "key", key)
	pb := writeFile(t, "leaky.yaml", `name: leaky
inputs:
  key: {secret: true, required: true}
  token: {}
steps:
  - id: echo_out
    uses: exec
    with: {argv: [sh, -c, 'echo "key=$K token=$T"'], env: {K: "{{ .inputs.key }}", T: "{{ .inputs.token }}"}}
  - id: echo_err
    uses: exec
    on_failure: continue
    with: {argv: [sh, -c, 'echo "bad key $K" >&2; exit 3'], env: {K: "{{ .inputs.key }}"}}
  - id: reuse
    uses: exec
    with: {argv: [echo, "{{ .steps.echo_out.outputs.stdout }}"]}
  - id: stdin_secret
    uses: exec
    with: {argv: [cat], stdin: "{{ .inputs.key }}"}
`)
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	var all strings.Builder
	for _, args := range [][]string{
		{"run", "--output", "json", "--input", "key=@" + keyFile, "--input", "token=" + unregistered, pb},
		{"run", "--input", "key=@" + keyFile, "--input", "token=" + unregistered, pb},
		{"plan", "--output", "json", "--input", "key=@" + keyFile, "--input", "token=" + unregistered, pb},
	} {
		r := respond(t, env, "", args...)
		if r.code != 1 && args[0] == "run" {
			t.Errorf("%v: exit %d, want 1 (echo_err fails)\n%s", args, r.code, r.stderr)
		}
		// A plan runs no exec step and shows no environment, so only runs must show the mask.
		if args[0] == "run" && !strings.Contains(r.stdout+r.stderr, "sk-proj-…") {
			t.Errorf("%v: the masked key is not shown at all; the test would prove nothing", args)
		}
		all.WriteString(r.stdout + r.stderr)
	}
	err := filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		all.WriteString(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"registered key": key, "unregistered token": unregistered} {
		if where, ok := leak(all.String(), secret); ok {
			t.Errorf("%s leaked: …%s…", name, where)
		}
	}
	if !strings.Contains(all.String(), "bad key sk-proj-…") {
		t.Error("the failing step's stderr (with the masked key) is not in the error text")
	}
}
