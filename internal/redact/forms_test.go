package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
)

// The encodings below come from the standard library's encoders, not from redact.Forms: they are
// the independent oracle of what a program writing the secret out would produce.
func TestEncodedFormsAreMasked(t *testing.T) {
	secrets := map[string]string{
		"key shape":     fakekey.New(7).OpenAIProjectKey(),
		"html specials": "p&ss<w>rd-" + fakekey.New(8).Hex(12),
		"url specials":  "a b/c?d=e+f%g#" + fakekey.New(9).Hex(8),
		"quotes":        `say "hi" \ ` + fakekey.New(10).Hex(8),
		"non-ascii":     "clé-secrète-" + fakekey.New(11).Hex(8),
	}
	for name, secret := range secrets {
		s := redact.New()
		s.Add(secret)
		unquote := func(b []byte) string { return strings.Trim(strings.TrimSpace(string(b)), `"`) }
		jsonHTML, _ := json.Marshal(secret)
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(secret)
		nested, _ := json.Marshal(string(jsonHTML))
		query := url.Values{"key": {secret}}.Encode()
		encoded := map[string]string{
			"json":         unquote(jsonHTML),
			"json plain":   unquote(plain.Bytes()),
			"json in json": unquote(nested),
			"query":        strings.TrimPrefix(query, "key="),
			"path":         url.PathEscape(secret),
			"html":         html.EscapeString(secret),
			"hex":          hex.EncodeToString([]byte(secret)),
			"HEX":          strings.ToUpper(hex.EncodeToString([]byte(secret))),
		}
		for how, text := range encoded {
			got := s.String("before " + text + " after")
			if strings.Contains(got, text) {
				t.Errorf("%s, %s: %q survived: %q", name, how, text, got)
			}
			if !strings.Contains(got, redact.Mask(secret)) {
				t.Errorf("%s, %s: no mask in %q", name, how, got)
			}
		}
		// base64 of a longer blob, with the secret at each alignment, in both alphabets.
		for _, b64 := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			for off := range 3 {
				blob := append(bytes.Repeat([]byte{0}, off), secret...)
				blob = append(blob, 0xff, 0xfe, 0xfd)
				text := b64.EncodeToString(blob)
				got := s.String("data:" + text + ";")
				if run := longestDecodedRun(got, secret); run >= 3 {
					t.Errorf("%s: base64 at offset %d: %d consecutive bytes of the secret decode from %q", name, off, run, got)
				}
			}
		}
	}
}

// longestDecodedRun decodes every run of base64 characters in text at every alignment and
// returns the longest piece of secret found in what it decodes to.
func longestDecodedRun(text, secret string) int {
	isB64 := func(r rune) bool {
		return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("+/-_", r)
	}
	best := 0
	for _, run := range strings.FieldsFunc(text, func(r rune) bool { return !isB64(r) }) {
		for start := range 4 {
			if start >= len(run) {
				break
			}
			part := run[start:]
			part = part[:len(part)/4*4]
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				dec, err := enc.DecodeString(part)
				if err != nil {
					continue
				}
				best = max(best, commonRun(dec, []byte(secret)))
			}
		}
	}
	return best
}

// commonRun is the length of the longest substring of secret found in b.
func commonRun(b, secret []byte) int {
	best := 0
	for i := range secret {
		for j := i + best + 1; j <= len(secret); j++ {
			if !bytes.Contains(b, secret[i:j]) {
				break
			}
			best = j - i
		}
	}
	return best
}

// The property: whatever the output and however it is split into writes, the streamed result is
// exactly the one-shot result and no registered secret, in any form, survives.
func TestWriterPropertyAnySplit(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 42))
		src := fakekey.New(seed)
		s := redact.New()
		var secrets []string
		for range 1 + r.IntN(3) {
			var v string
			switch r.IntN(4) {
			case 0:
				v = src.OpenAIProjectKey()
			case 1:
				v = src.Hex(redact.MinLen + r.IntN(20))
			case 2:
				v = "p&w<" + src.Hex(4+r.IntN(10)) + `>"/ +`
			default:
				v = src.GitHubToken()
			}
			secrets = append(secrets, v)
			s.Add(v)
		}
		var text strings.Builder
		for range r.IntN(40) {
			v := secrets[r.IntN(len(secrets))]
			switch r.IntN(6) {
			case 0:
				forms := redact.Forms(v)
				text.WriteString(forms[r.IntN(len(forms))])
			case 1:
				blob := append([]byte(src.Hex(r.IntN(5))), v...)
				text.WriteString(base64.StdEncoding.EncodeToString(blob))
			case 2:
				text.WriteString(v)
			case 3:
				text.WriteString(src.OpenAIAdminKey()) // unregistered key shape
			default:
				noise := make([]byte, r.IntN(60))
				for i := range noise {
					noise[i] = " \n\tab-_=/&<>\"é"[r.IntN(14)]
				}
				text.Write(noise)
			}
		}
		in := text.String()
		var out bytes.Buffer
		w := s.Writer(&out)
		for rest := in; rest != ""; {
			n := min(len(rest), 1+r.IntN(40))
			if _, err := w.Write([]byte(rest[:n])); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := s.String(in); out.String() != want {
			t.Fatalf("seed %d: streamed output differs from one-shot masking:\n got %q\nwant %q", seed, out.String(), want)
		}
		for _, v := range secrets {
			for _, f := range redact.Forms(v) {
				if strings.Contains(out.String(), f) {
					t.Fatalf("seed %d: form %q of a secret survived in %q", seed, f, out.String())
				}
			}
		}
		if s.Contains(out.Bytes()) {
			t.Fatalf("seed %d: Contains finds a secret in the output", seed)
		}
	}
}

func TestWriterHoldsLittle(t *testing.T) {
	s := redact.New()
	secret := fakekey.New(4).OpenAIProjectKey()
	s.Add(secret)
	var out bytes.Buffer
	w := s.Writer(&out)
	// A long line without a newline must come out as it goes, not at the end.
	chunk := bytes.Repeat([]byte("0123456789 "), 1000)
	for range 100 {
		w.Write(chunk)
	}
	if held := 100*len(chunk) - out.Len(); held > 4*len(secret)+2048 {
		t.Errorf("writer holds %d bytes back", held)
	}
	w.Close()
	if out.Len() != 100*len(chunk) {
		t.Errorf("after Close: %d bytes, want %d", out.Len(), 100*len(chunk))
	}
}
