package cli_test

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
)

// A secret holding &, < and > is written by --output json as \u0026, \u003c, \u003e; a
// program may print it hex- or base64-encoded. None of these forms reaches any output or the
// journal.
func TestEncodedSecretsNeverReachOutputsOrJournal(t *testing.T) {
	secret := "tok&<" + fakekey.New(31).Hex(24) + ">"
	keyFile := writeFile(t, "key", secret)
	pb := writeFile(t, "encoded.yaml", `name: encoded
inputs:
  key: {secret: true, required: true}
steps:
  - id: show
    uses: exec
    with:
      argv: [sh, -c, 'printf "%s\n" "$K"; printf "%s" "$K" | od -An -tx1 | tr -d " \n"; echo; printf "xy%s" "$K" | base64 -w0']
      env: {K: "{{ .inputs.key }}"}
`)
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	var all strings.Builder
	for _, args := range [][]string{
		{"run", "--output", "json", "--input", "key=@" + keyFile, pb},
		{"run", "--input", "key=@" + keyFile, pb},
	} {
		r := respond(t, env, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		all.WriteString(r.stdout + r.stderr)
	}
	if !strings.Contains(all.String(), `\u0026`) && !strings.Contains(all.String(), "…") {
		t.Fatal("nothing JSON-escaped or masked was printed: the test would prove nothing")
	}
	files, _ := filepath.Glob(filepath.Join(state, "runs", "*.jsonl"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		all.WriteString(string(b))
	}
	forms := map[string]string{
		"raw":          secret,
		"json":         strings.NewReplacer("&", `\u0026`, "<", `\u003c`, ">", `\u003e`).Replace(secret),
		"hex":          hex.EncodeToString([]byte(secret)),
		"base64 body":  base64.StdEncoding.EncodeToString([]byte("xy" + secret))[4:20],
		"secret alone": strings.TrimSuffix(strings.TrimPrefix(secret, "tok&<"), ">"),
	}
	for name, f := range forms {
		if strings.Contains(all.String(), f) {
			t.Errorf("the %s form of the secret reached an output or the journal", name)
		}
	}
	if !strings.Contains(all.String(), redact.Mask(secret)) {
		t.Errorf("the mask %s is never shown", redact.Mask(secret))
	}
}
