package redact_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
)

// BenchmarkWriter streams log-like output (no secret in it) through a Set holding three
// secrets, 32 KiB per write as os/exec copies a pipe.
func BenchmarkWriter(b *testing.B) {
	src := fakekey.New(1)
	s := redact.New()
	s.Add(src.OpenAIProjectKey(), src.GitHubToken(), "p&ss<"+src.Hex(20))
	chunk := bytes.Repeat([]byte("2026-11-29T10:00:00Z GET /v1/models 200 12ms user=alice\n"), 32<<10/56)
	b.SetBytes(int64(len(chunk)))
	w := s.Writer(io.Discard)
	for b.Loop() {
		w.Write(chunk)
	}
	w.Close()
}
