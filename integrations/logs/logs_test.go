package logs

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
)

func write(t *testing.T, path string, data []byte, gz bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		data = buf.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mask(secret []byte) string { return "sk-…" + string(secret[len(secret)-4:]) }

// noSecret fails if s holds any 8-byte piece of secret.
func noSecret(t *testing.T, s string, secret []byte) {
	t.Helper()
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(s, string(secret[i:i+8])) {
			t.Fatalf("excerpt leaks part of the secret: %q", s)
		}
	}
}

func TestSearchTree(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(1)
	leaked := []byte(keys.OpenAIProjectKey())
	other := []byte(keys.OpenAIAdminKey())
	dir := t.TempDir()
	line := func(ts, msg string) string { return ts + " " + msg + "\n" }
	write(t, filepath.Join(dir, "app", "app.log"), []byte(
		line("2024-05-01T10:00:05Z", "boot")+
			line("2024-05-01T10:00:06.123Z", "using key "+string(leaked)+" for requests")+
			"no timestamp "+string(other)+"\r\n"), false)
	write(t, filepath.Join(dir, "app", "app.log.1.gz"), []byte(
		line("2024-04-30T23:59:00+02:00", "old key="+string(leaked))), true)
	// gzip content under a name that does not say so (logrotate without .gz).
	write(t, filepath.Join(dir, "app", "app.log.2"), []byte(line("2024-04-29T08:00:00Z", string(leaked))), true)
	write(t, filepath.Join(dir, "deep", "a", "b", "worker.log"), []byte("x\ny\n"+string(leaked)+string(leaked)), false)
	write(t, filepath.Join(dir, "clean.log"), []byte("nothing to see\n"), false)

	opts := func(paths ...string) Options {
		return Options{Paths: paths, Secrets: [][]byte{leaked, other}, Mask: mask}
	}
	tests := []struct {
		name      string
		paths     []string
		wantFiles int
		want      []string // file:line relative to dir
	}{
		{"dir", []string{dir}, 5, []string{"app/app.log:2", "app/app.log:3", "app/app.log.1.gz:1", "app/app.log.2:1", "deep/a/b/worker.log:3"}},
		{"glob", []string{filepath.Join(dir, "app", "app.log*")}, 3, []string{"app/app.log:2", "app/app.log:3", "app/app.log.1.gz:1", "app/app.log.2:1"}},
		{"doublestar", []string{filepath.Join(dir, "**", "*.log")}, 3, []string{"app/app.log:2", "app/app.log:3", "deep/a/b/worker.log:3"}},
		{"file twice", []string{filepath.Join(dir, "clean.log"), dir + "/./clean.log"}, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Search(t.Context(), opts(tc.paths...))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Findings {
				rel, _ := filepath.Rel(dir, f.File)
				got = append(got, fmt.Sprintf("%s:%d", rel, f.Line))
				noSecret(t, f.Excerpt, leaked)
				noSecret(t, f.Excerpt, other)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("findings (-want +got):\n%s", d)
			}
			if res.FilesScanned != tc.wantFiles || res.Matches != len(tc.want) {
				t.Errorf("files %d matches %d, want %d %d", res.FilesScanned, res.Matches, tc.wantFiles, len(tc.want))
			}
		})
	}

	res, err := Search(t.Context(), opts(dir))
	if err != nil {
		t.Fatal(err)
	}
	// The earliest matching line is in the uncompressed-name gzip file.
	if want := time.Date(2024, 4, 29, 8, 0, 0, 0, time.UTC); !res.FirstSeen.Equal(want) {
		t.Errorf("FirstSeen = %v, want %v", res.FirstSeen, want)
	}
	if want := time.Date(2024, 5, 1, 10, 0, 6, 123e6, time.UTC); !res.LastSeen.Equal(want) {
		t.Errorf("LastSeen = %v, want %v", res.LastSeen, want)
	}
	f := res.Findings[0]
	tail := string(leaked[len(leaked)-4:])
	if want := "2024-05-01T10:00:06.123Z using key sk-…" + tail + " for requests"; f.Excerpt != want || f.Column != 36 || f.Secret != 0 {
		t.Errorf("finding = %+v\nwant excerpt %q column 36", f, want)
	}
	if f := res.Findings[1]; f.Secret != 1 || !f.Time.IsZero() || strings.ContainsAny(f.Excerpt, "\r\n") {
		t.Errorf("second finding = %+v", f)
	}
	if w := res.Findings[4]; w.Excerpt != "sk-…"+tail+"sk-…"+tail {
		t.Errorf("two secrets on one line: %q", w.Excerpt)
	}
}

func TestSearchErrorsKeepResults(t *testing.T) {
	t.Parallel()
	leaked := []byte(fakekey.New(2).OpenAIProjectKey())
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.log"), append([]byte("k="), leaked...), false)
	res, err := Search(t.Context(), Options{
		Paths:   []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "missing.log"), filepath.Join(dir, "*.nothing")},
		Secrets: [][]byte{leaked},
	})
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no file matches") {
		t.Fatalf("err = %v, want missing file and empty glob reported", err)
	}
	if res == nil || res.Matches != 1 || res.Findings[0].Excerpt != "k="+DefaultMask {
		t.Fatalf("result = %+v", res)
	}

	bad := []Options{
		{Paths: []string{dir}},
		{Paths: []string{dir}, Secrets: [][]byte{{}}},
		{Paths: []string{dir}, Secrets: [][]byte{[]byte("a\nb")}},
		{Secrets: [][]byte{leaked}},
	}
	for i, o := range bad {
		if _, err := Search(t.Context(), o); err == nil {
			t.Errorf("options %d: want error", i)
		}
	}
}

func TestSecretAcrossBufferBoundary(t *testing.T) {
	t.Parallel()
	leaked := []byte(fakekey.New(3).OpenAIProjectKey())
	for _, split := range []int{1, len(leaked) / 2, len(leaked) - 1} {
		t.Run(fmt.Sprint(split), func(t *testing.T) {
			t.Parallel()
			// The secret starts split bytes before the end of the first 64 KiB segment.
			pre := bytes.Repeat([]byte("a"), bufSize-split)
			line := append(append(append([]byte(nil), pre...), leaked...), []byte(" tail\nnext\n")...)
			res, err := ScanReader(t.Context(), "mem", bytes.NewReader(line), Options{Secrets: [][]byte{leaked}, Mask: mask})
			if err != nil {
				t.Fatal(err)
			}
			if res.Matches != 1 {
				t.Fatalf("matches = %d, want 1", res.Matches)
			}
			f := res.Findings[0]
			if f.Line != 1 || f.Column != len(pre)+1 {
				t.Errorf("line %d column %d, want 1 %d", f.Line, f.Column, len(pre)+1)
			}
			noSecret(t, f.Excerpt, leaked)
			if !strings.HasPrefix(f.Excerpt, "…") || !strings.Contains(f.Excerpt, mask(leaked)+" tail") || len(f.Excerpt) > DefaultMaxLineBytes+8 {
				t.Errorf("excerpt %q", f.Excerpt)
			}
		})
	}
}

func TestCutEdgesNeverShowAPieceOfTheSecret(t *testing.T) {
	t.Parallel()
	leaked := []byte(fakekey.New(4).OpenAIProjectKey())
	// One occurrence inside the first segment, a second one cut by the segment boundary: the
	// first window's excerpt must not end with the second one's prefix.
	line := []byte("start " + string(leaked) + " middle ")
	line = append(line, bytes.Repeat([]byte("b"), bufSize-len(line)-20)...)
	line = append(line, leaked...)
	line = append(line, "\n"...)
	res, err := ScanReader(t.Context(), "mem", bytes.NewReader(line), Options{Secrets: [][]byte{leaked}, Mask: mask, MaxLineBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Findings[0]
	noSecret(t, f.Excerpt, leaked)
	if !strings.HasPrefix(f.Excerpt, "start "+mask(leaked)) || !strings.HasSuffix(f.Excerpt, mask(leaked)+"…") {
		t.Errorf("excerpt edges: %q … %q", f.Excerpt[:40], f.Excerpt[len(f.Excerpt)-40:])
	}
}

// endless yields n filler bytes then tail, without holding them in memory.
type endless struct {
	n    int64
	tail []byte
}

var filler = bytes.Repeat([]byte("x"), 32<<10)

func (e *endless) Read(p []byte) (int, error) {
	if e.n > 0 {
		k := copy(p[:min(int64(len(p)), e.n)], filler)
		e.n -= int64(k)
		return k, nil
	}
	if len(e.tail) == 0 {
		return 0, io.EOF
	}
	k := copy(p, e.tail)
	e.tail = e.tail[k:]
	return k, nil
}

// Not parallel: it measures allocation, which parallel tests would disturb.
func TestHugeLineBoundedMemory(t *testing.T) {
	leaked := []byte(fakekey.New(5).OpenAIProjectKey())
	const size = 32 << 20
	r := &endless{n: size, tail: append(append([]byte(nil), leaked...), "\nafter "+string(leaked)+"\n"...)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := ScanReader(t.Context(), "huge", r, Options{Secrets: [][]byte{leaked}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if res.Matches != 2 || res.Findings[0].Column != size+1 || res.Findings[1].Line != 2 {
		t.Fatalf("findings = %+v", res.Findings)
	}
	if res.BytesScanned != size+int64(2*len(leaked)+8) {
		t.Errorf("bytes scanned = %d", res.BytesScanned)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("allocated %d MiB for a %d MiB line", alloc>>20, size>>20)
	}
}

func TestExcerptTrimAndClean(t *testing.T) {
	t.Parallel()
	leaked := []byte(fakekey.New(6).OpenAIProjectKey())
	long := strings.Repeat("é", 300) // 2-byte runes: trimming must not split one
	tests := []struct {
		name string
		line string
		max  int
		want string
	}{
		{"short", "a " + string(leaked) + " b", 100, "a [REDACTED] b"},
		{"controls", "\x1b[31mred " + string(leaked) + "\tx\x00", 100, "\uFFFD[31mred [REDACTED] x\uFFFD"},
		{"trim centred", long + string(leaked) + long, 30, "…" + strings.Repeat("é", 5) + "[REDACTED]" + strings.Repeat("é", 5) + "…"},
		{"trim at start", string(leaked) + long, 20, "[REDACTED]" + strings.Repeat("é", 5) + "…"},
		{"invalid utf8", "\xff\xfe" + string(leaked), 100, "\uFFFD[REDACTED]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := ScanReader(t.Context(), "m", strings.NewReader(tc.line+"\n"), Options{Secrets: [][]byte{leaked}, MaxLineBytes: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Findings[0].Excerpt; got != tc.want {
				t.Errorf("excerpt\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSecretInsideAnotherIsMaskedAsTheLonger(t *testing.T) {
	t.Parallel()
	long := []byte(fakekey.New(7).OpenAIProjectKey())
	short := long[10:40]
	res, err := ScanReader(t.Context(), "m", bytes.NewReader(append([]byte("k="), long...)), Options{
		Secrets: [][]byte{short, long},
		Mask:    func(s []byte) string { return fmt.Sprintf("<%d>", len(s)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := res.Findings[0]; f.Excerpt != fmt.Sprintf("k=<%d>", len(long)) || f.Secret != 1 || f.Column != 3 {
		t.Errorf("finding = %+v", f)
	}
}

func TestMaxFindingsStillCountsAndDates(t *testing.T) {
	t.Parallel()
	leaked := []byte(fakekey.New(8).OpenAIProjectKey())
	var b bytes.Buffer
	for i := range 50 {
		fmt.Fprintf(&b, "2024-01-01T00:00:%02dZ %s\n", 59-i, leaked)
	}
	res, err := ScanReader(t.Context(), "m", &b, Options{Secrets: [][]byte{leaked}, MaxFindings: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 5 || res.Matches != 50 || res.FirstSeen.Second() != 10 {
		t.Errorf("findings %d matches %d first %v", len(res.Findings), res.Matches, res.FirstSeen)
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.log"), []byte("x\n"), false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Search(ctx, Options{Paths: []string{dir}, Secrets: [][]byte{[]byte("secret")}}); err == nil {
		t.Error("cancelled search: want error")
	}
}

func BenchmarkScan(b *testing.B) {
	leaked := []byte(fakekey.New(9).OpenAIProjectKey())
	var buf bytes.Buffer
	for i := 0; buf.Len() < 16<<20; i++ {
		fmt.Fprintf(&buf, "2024-01-01T00:00:00Z request %d served in 12ms user=alice path=/v1/things\n", i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ScanReader(b.Context(), "m", bytes.NewReader(data), Options{Secrets: [][]byte{leaked}}); err != nil {
			b.Fatal(err)
		}
	}
}
