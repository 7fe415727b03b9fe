package playbook_test

import (
	"bytes"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps/catalog"
)

// FuzzLoad feeds the loader arbitrary bytes, seeded with every good and bad playbook. Whatever
// the input, Load must not panic, and must either return a usable playbook or a non-empty
// playbook.Errors whose every entry is positioned inside the file.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		for _, name := range corpus(f, dir) {
			f.Add(readCorpus(f, name))
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const file = "fuzz.yaml"
		pb, err := playbook.Load(file, src, catalog.Lookup)
		if err != nil {
			if pb != nil {
				t.Errorf("Load returned a playbook with its error")
			}
			pe := checkErrors(t, file, err)
			// A position past the end shows the reader no snippet. yaml.v3 may place a problem
			// at the end of the stream, one line past the last (input "---"), so that is allowed.
			lines := yamlLines(src)
			for _, e := range pe {
				if e.Line > lines+1 {
					t.Errorf("error at line %d of a %d-line file: %s", e.Line, lines, e.Msg)
				}
			}
			return
		}
		if pb == nil || pb.Name == "" || len(pb.Steps) == 0 {
			t.Fatalf("Load accepted a playbook without a name or steps: %+v", pb)
		}
		var ids []string
		for _, s := range pb.Steps {
			if s.ID == "" || s.Kind.New == nil || s.Line < 1 || s.Col < 1 {
				t.Errorf("Load accepted step %+v", s)
			}
			if slices.Contains(ids, s.ID) {
				t.Errorf("Load accepted duplicate step id %q", s.ID)
			}
			ids = append(ids, s.ID)
			if s.Retry.Attempts < 1 || s.Retry.MaxDelay < s.Retry.Delay || s.Timeout < 0 {
				t.Errorf("Load accepted step %s with retry %+v, timeout %s", s.ID, s.Retry, s.Timeout)
			}
		}
		_ = describe(pb)
	})
}

// yamlLines counts lines the way YAML does: a lone CR, LF, CRLF, NEL, LS and PS each end one.
func yamlLines(src []byte) int {
	n := 1
	for len(src) > 0 {
		r, size := utf8.DecodeRune(src)
		src = src[size:]
		switch r {
		case '\r':
			if bytes.HasPrefix(src, []byte("\n")) {
				src = src[1:]
			}
			n++
		case '\n', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
