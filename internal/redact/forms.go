package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"net/url"
	"strings"
)

// Forms returns the ways value is commonly written out, the value itself first: JSON string
// bodies (Go's HTML-safe escaping, plain, with "\/", and escaped twice), HTML-escaped,
// URL-encoded (query and path, either hex case), hex (either case) and the base64 text (standard
// and URL alphabets) that encodes value at each of the three byte alignments it can have inside
// a longer encoded blob. Forms shorter than MinLen are left out.
func Forms(value string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(f string) {
		if len(f) >= MinLen && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	add(value)
	for _, j := range []string{jsonBody(value, true), jsonBody(value, false)} {
		add(j)
		add(strings.ReplaceAll(j, "/", `\/`))
		add(jsonBody(j, true))
		add(jsonBody(j, false))
	}
	add(html.EscapeString(value))
	for _, u := range []string{url.QueryEscape(value), url.PathEscape(value)} {
		add(u)
		add(lowerPercent(u))
		add(strings.ReplaceAll(u, "+", "%20"))
	}
	h := hex.EncodeToString([]byte(value))
	add(h)
	add(strings.ToUpper(h))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for off := range 3 {
			add(base64Core(enc, value, off))
		}
	}
	return out
}

// jsonBody is value as a JSON string without its quotes.
func jsonBody(value string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(value) // a string always encodes
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}

// lowerPercent writes the hex digits of percent-escapes in lower case (both are valid).
func lowerPercent(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// base64Core is the part of the base64 text of (off bytes, value, anything) that depends on
// value alone: the characters whose six bits all come from value's bytes. Whatever surrounds the
// secret in a longer blob, these characters appear in its encoding when the secret starts at a
// byte offset ≡ off (mod 3).
func base64Core(enc *base64.Encoding, value string, off int) string {
	buf := make([]byte, off, off+len(value))
	buf = append(buf, value...)
	s := enc.EncodeToString(buf)
	start := (8*off + 5) / 6
	end := 8 * (off + len(value)) / 6
	if end <= start {
		return ""
	}
	return s[start:end]
}
