package redact_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/redact"
)

// FuzzWriter: for any output, any secret and any split of the output into writes, the streamed
// result equals the one-shot result and holds neither the secret nor any of its forms.
func FuzzWriter(f *testing.F) {
	f.Add("the key sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA is here\n", "hunter2-and-more", []byte{3, 9, 1})
	f.Add(`{"v":"p\u0026ss\u003cword"}`, "p&ss<word", []byte{5})
	f.Add("cD0mc3M8d29yZA== and 70267373", "p&ss<word", []byte{1, 1, 1, 40})
	f.Fuzz(func(t *testing.T, text, secret string, splits []byte) {
		s := redact.New()
		registered := s.Add(secret) && strings.TrimSpace(secret) != ""
		var out bytes.Buffer
		w := s.Writer(&out)
		rest := text
		for _, n := range splits {
			k := min(int(n), len(rest))
			w.Write([]byte(rest[:k]))
			rest = rest[k:]
		}
		w.Write([]byte(rest))
		w.Close()
		if !longWord(text) {
			if want := s.String(text); out.String() != want {
				t.Fatalf("streamed %q, one-shot %q", out.String(), want)
			}
		}
		if registered {
			for _, form := range redact.Forms(strings.TrimSpace(secret)) {
				if at := outsideMasks(out.String(), form); at >= 0 {
					t.Fatalf("form %q of the secret survived at %d in %q", form, at, out.String())
				}
			}
		}
	})
}

// outsideMasks returns where form occurs in out without touching a mask, or -1. An occurrence
// that runs into a mask is no leak: a mask's fingerprint digits next to ordinary text can spell
// a short secret ("000000" from "…#c17e40" and "00000") without revealing anything.
func outsideMasks(out, form string) int {
	var masks [][2]int
	for i := 0; ; {
		j := strings.Index(out[i:], "…")
		if j < 0 {
			break
		}
		at := i + j
		// the widest mask: an 11-byte prefix, the ellipsis, 4 tail bytes, '#', 6 hex digits
		masks = append(masks, [2]int{at - len("sk-svcacct-"), at + len("…") + 4 + 1 + 6})
		i = at + len("…")
	}
	for i := 0; ; i++ {
		j := strings.Index(out[i:], form)
		if j < 0 {
			return -1
		}
		start, end := i+j, i+j+len(form)
		touches := false
		for _, m := range masks {
			if start < m[1] && end > m[0] {
				touches = true
			}
		}
		if !touches {
			return start
		}
		i = start
	}
}

// longWord: a key-shaped run longer than the writer waits for may be cut differently when
// streamed (it is no key, so nothing is lost).
func longWord(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			run++
			if run > 1000 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
