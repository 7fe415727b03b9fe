package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
)

func TestNormalizeSecret(t *testing.T) {
	key := fakekey.New(3).OpenAIProjectKey()
	tests := []struct {
		in    string
		notes []string
	}{
		{key, nil},
		{"  " + key + "\r\n", nil},
		{"OPENAI_API_KEY=" + key, []string{"removed the OPENAI_API_KEY= prefix"}},
		{`OPENAI_API_KEY="` + key + `"`, []string{"removed the OPENAI_API_KEY= prefix", "removed the surrounding quotes"}},
		{`export OPENAI_API_KEY='` + key + `'`, []string{"removed the OPENAI_API_KEY= prefix", "removed the surrounding quotes"}},
		{"OPENAI_API_KEY: " + key, []string{"removed the OPENAI_API_KEY= prefix"}},
		{"Bearer " + key, []string{`removed "Bearer "`}},
		{"Authorization: Bearer " + key, []string{`removed "Bearer "`}},
		{`"Bearer ` + key + `"`, []string{"removed the surrounding quotes", `removed "Bearer "`}},
	}
	for _, tt := range tests {
		t.Run(redact.Mask(tt.in), func(t *testing.T) {
			got, notes := normalizeSecret(tt.in)
			if got != key {
				t.Errorf("normalized to %s, want the bare key", redact.Mask(got))
			}
			if diff := cmp.Diff(tt.notes, notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
	// A secret that merely contains '=' or quotes inside is left alone.
	for _, v := range []string{"c2VjcmV0IHZhbHVl==", "abc=def", `a"b"c`} {
		if got, notes := normalizeSecret(v); got != v || notes != nil {
			t.Errorf("normalizeSecret(%q) = %q %v, want it unchanged", v, got, notes)
		}
	}
}

func TestDescribeForeign(t *testing.T) {
	key := fakekey.New(4).OpenAIProjectKey()
	if d := describeForeign(key); d != "" {
		t.Errorf("an OpenAI project key described as %q", d)
	}
	for prefix, want := range map[string]string{"ghp_": "GitHub personal access token", "xoxb-": "Slack bot token", "sk-admin-": "OpenAI admin key"} {
		if d := describeForeign(prefix + strings.Repeat("x", 30)); !strings.Contains(d, want) {
			t.Errorf("%s…: %q, want %q", prefix, d, want)
		}
	}
}

func TestSecretInputFromTerminal(t *testing.T) {
	key := fakekey.New(5).OpenAIProjectKey()
	pb := &playbook.Playbook{Name: "p", Inputs: []*playbook.Input{
		{Name: "key", Description: "the leaked key", Secret: true, Required: true},
	}}
	for _, args := range [][]string{{"key=-"}, nil} { // asked for, or missing and prompted
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			var said strings.Builder
			asked := 0
			src := inputSources{args: args, getenv: func(string) string { return "" }, stdin: strings.NewReader("must not be read"),
				prompt: func() (string, error) { asked++; return `OPENAI_API_KEY="` + key + `"`, nil },
				note:   func(format string, a ...any) { fmt.Fprintf(&said, format+"\n", a...) }}
			secrets := redact.New()
			got, err := resolveInputs(pb, src, secrets)
			if err != nil {
				t.Fatal(err)
			}
			if asked != 1 || got["key"] != key {
				t.Errorf("asked %d times, key normalized: %v", asked, got["key"] == key)
			}
			if !strings.Contains(said.String(), "it is not shown") || !strings.Contains(said.String(), "removed the OPENAI_API_KEY= prefix") {
				t.Errorf("the person was not told:\n%s", said.String())
			}
			if s := secrets.String(`OPENAI_API_KEY="` + key + `"`); strings.Contains(s, key[8:]) {
				t.Errorf("pasted form not redacted: %s", s)
			}
		})
	}
	// Without a terminal, a missing secret is still an error that says how to pass it.
	src := inputSources{getenv: func(string) string { return "" }, stdin: strings.NewReader("")}
	if _, err := resolveInputs(pb, src, redact.New()); err == nil || !strings.Contains(err.Error(), "key=@FILE") {
		t.Errorf("missing secret without a terminal: %v", err)
	}
}

func TestSecretFileReminder(t *testing.T) {
	key := fakekey.New(6).OpenAIProjectKey()
	pb := &playbook.Playbook{Name: "p", Inputs: []*playbook.Input{{Name: "key", Description: "k", Secret: true, Required: true}}}
	file := t.TempDir() + "/leaked.txt"
	if err := writeTestFile(file, key+"\n"); err != nil {
		t.Fatal(err)
	}
	var reminders []string
	src := inputSources{args: []string{"key=@" + file}, getenv: func(string) string { return "" },
		remind: func(format string, a ...any) { reminders = append(reminders, fmt.Sprintf(format, a...)) }}
	if _, err := resolveInputs(pb, src, redact.New()); err != nil {
		t.Fatal(err)
	}
	if len(reminders) != 1 || !strings.Contains(reminders[0], "shred -u "+file) {
		t.Errorf("reminders: %q", reminders)
	}
}

func writeTestFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// A key ID given where a secret may go is not a secret: it is kept and shown as it is.
func TestKeyIDIsNotMasked(t *testing.T) {
	pb := &playbook.Playbook{Name: "p", Inputs: []*playbook.Input{{Name: "key", Description: "k", Secret: true, Required: true}}}
	src := inputSources{getenv: func(k string) string {
		if k == "RESPOND_INPUT_KEY" {
			return "key_storefrontBackend01"
		}
		return ""
	}}
	secrets := redact.New()
	got, err := resolveInputs(pb, src, secrets)
	if err != nil || got["key"] != "key_storefrontBackend01" {
		t.Fatalf("%v %v", got, err)
	}
	if s := secrets.String("revoking key_storefrontBackend01"); s != "revoking key_storefrontBackend01" {
		t.Errorf("the key ID was masked: %q", s)
	}
}
