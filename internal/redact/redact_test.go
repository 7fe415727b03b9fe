package redact_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
)

func TestMaskShape(t *testing.T) {
	key := fakekey.New(1).OpenAIProjectKey()
	m := redact.Mask(key)
	if !strings.HasPrefix(m, "sk-proj-…"+key[len(key)-4:]+"#") || len(m) != len("sk-proj-…")+4+1+6 {
		t.Errorf("Mask = %q", m)
	}
	if redact.New().String(m) != m {
		t.Errorf("masking a mask changed it")
	}
}

func TestUnregisteredPatternsAreMasked(t *testing.T) {
	src := fakekey.New(2)
	for _, v := range []string{src.OpenAIProjectKey(), src.OpenAIAdminKey(), src.OpenAIServiceAccountKey(), src.GitHubToken(), src.SlackBotToken()} {
		out := redact.New().String("token=" + v + ".")
		if strings.Contains(out, v) || strings.Contains(out, v[len(v)-12:]) {
			t.Errorf("%q leaked: %q", v[:8], out)
		}
	}
}

func TestRegisteredSecretsAreMaskedEverywhere(t *testing.T) {
	s := redact.New()
	secret := "hunter2-but-longer"
	s.Add(secret)
	if got := s.String("a " + secret + " b"); strings.Contains(got, secret) {
		t.Errorf("String: %q", got)
	}
	err := s.Error(errors.New("auth with " + secret + " failed"))
	if strings.Contains(err.Error(), secret) {
		t.Errorf("Error: %v", err)
	}
	if !s.Contains([]byte("x" + secret)) {
		t.Error("Contains missed the secret")
	}
}

func TestLongerSecretWinsOverItsPrefix(t *testing.T) {
	s := redact.New()
	s.Add("abcdefgh", "abcdefghijklmnop")
	if got := s.String("abcdefghijklmnop"); strings.Contains(got, "ijkl") {
		t.Errorf("partial mask leaked the rest: %q", got)
	}
}

func TestShortValuesAreNotRegistered(t *testing.T) {
	s := redact.New()
	if s.Add("abc") {
		t.Error("Add of a 3-byte value reported success")
	}
	if s.String("abc") != "abc" {
		t.Error("short value masked")
	}
}

func TestWriterMasksSecretsSplitAcrossWrites(t *testing.T) {
	s := redact.New()
	secret := fakekey.New(3).OpenAIProjectKey()
	s.Add(secret)
	var out bytes.Buffer
	w := s.Writer(&out)
	text := "line one\nthe key " + secret + " here\nend"
	for i := 0; i < len(text); i += 7 {
		io.WriteString(w, text[i:min(i+7, len(text))])
	}
	w.Close()
	if strings.Contains(out.String(), secret) || !strings.HasSuffix(out.String(), "end") {
		t.Errorf("writer output %q", out.String())
	}
}

// A key glued to the end of a long run of key characters (filler, base64) and split across
// writes is masked whole: the writer used to emit the key's first part at the end of a write,
// masked, and its tail in clear with the next one.
func TestWriterMasksAKeyGluedToALongWord(t *testing.T) {
	key := fakekey.New(31).OpenAIProjectKey()
	for _, filler := range []int{1000, 1025, 5000, 70000} {
		for cut := 1; cut < len(key); cut += 7 {
			var out bytes.Buffer
			w := redact.New().Writer(&out)
			w.Write([]byte(strings.Repeat("a", filler) + key[:cut]))
			w.Write([]byte(key[cut:] + "\n"))
			w.Close()
			body := key[len(key)-20:]
			if strings.Contains(out.String(), body) || !strings.Contains(out.String(), "sk-proj-…") {
				t.Fatalf("filler %d, cut %d: the key's tail survived: …%s", filler, cut, out.String()[filler-10:])
			}
		}
	}
}
