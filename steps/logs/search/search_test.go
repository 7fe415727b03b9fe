package search

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/stepstest"
)

// newEnv records what logs.search hands back and refuses intents: the step only reads.
func newEnv(t *testing.T) *stepstest.Recorder {
	rec := stepstest.New(t, nil)
	rec.OnIntent = func(string, map[string]any) error { return errors.New("a read-only step recorded an intent") }
	return rec
}

func write(t *testing.T, path, content string, gz bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	data := []byte(content)
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// tree lays out logs: app.log (two hits, timestamped), app.log.1.gz (an older hit), nested
// worker logs (one hit without a timestamp, one clean file), and a decoy with another key.
func tree(t *testing.T, secret, other string) string {
	dir := t.TempDir()
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	write(t, filepath.Join(dir, "app.log"), ts(0)+" start\n"+ts(time.Minute)+" auth key="+secret+" ok\n"+
		ts(2*time.Minute)+" retry with "+secret+"\n", false)
	write(t, filepath.Join(dir, "app.log.1.gz"), ts(-48*time.Hour)+" boot\n"+ts(-47*time.Hour)+" env OPENAI_API_KEY="+secret+"\n", true)
	write(t, filepath.Join(dir, "workers", "a", "w.log"), "plain line\nleaked "+secret+" here\n", false)
	write(t, filepath.Join(dir, "workers", "b", "w.log"), "nothing\n", false)
	write(t, filepath.Join(dir, "decoy.log"), ts(-96*time.Hour)+" key="+other+"\n", false)
	return dir
}

func TestSearch(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(1)
	secret, other := keys.OpenAIProjectKey(), keys.OpenAIProjectKey()
	dir := tree(t, secret, other)
	m := redact.Mask(secret)
	tests := []struct {
		name  string
		paths []string
		want  steps.Outputs
	}{
		{"dir", []string{dir}, steps.Outputs{
			"findings": []map[string]any{
				{"file": filepath.Join(dir, "app.log"), "line": 2, "excerpt": ts(time.Minute) + " auth key=" + m + " ok"},
				{"file": filepath.Join(dir, "app.log"), "line": 3, "excerpt": ts(2*time.Minute) + " retry with " + m},
				{"file": filepath.Join(dir, "app.log.1.gz"), "line": 2, "excerpt": ts(-47*time.Hour) + " env OPENAI_API_KEY=" + m},
				{"file": filepath.Join(dir, "workers", "a", "w.log"), "line": 2, "excerpt": "leaked " + m + " here"},
			},
			"count": 4, "first_seen": t0.Add(-47 * time.Hour).Format(time.RFC3339), "files_scanned": 5,
		}},
		{"glob", []string{filepath.Join(dir, "workers", "**", "*.log")}, steps.Outputs{
			"findings": []map[string]any{
				{"file": filepath.Join(dir, "workers", "a", "w.log"), "line": 2, "excerpt": "leaked " + m + " here"},
			},
			"count": 1, "first_seen": "", "files_scanned": 2,
		}},
		{"file", []string{filepath.Join(dir, "decoy.log")}, steps.Outputs{
			"findings": []map[string]any{}, "count": 0, "first_seen": "", "files_scanned": 1,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newEnv(t)
			s := &Search{Paths: tc.paths, Secret: secret}
			out, err := s.Run(t.Context(), rec.Env)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, out); d != "" {
				t.Errorf("outputs (-want +got):\n%s", d)
			}
			if len(rec.Secrets()) != 1 || rec.Secrets()[0] != secret {
				t.Error("the secret was not registered")
			}
			b, _ := json.Marshal(out)
			stepstest.AssertNoSecret(t, string(b), secret)
			stepstest.AssertNoSecret(t, rec.Text(), secret)
			if !strings.Contains(rec.Text(), fmt.Sprintf("scanned %d file(s)", tc.want["files_scanned"])) {
				t.Errorf("summary:\n%s", rec.Text())
			}
		})
	}
}

func ts(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

func TestMissingPaths(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(2).OpenAIProjectKey()
	dir := tree(t, secret, fakekey.New(3).OpenAIProjectKey())
	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"file", []string{dir, filepath.Join(dir, "nope.log")}, []string{"paths: " + filepath.Join(dir, "nope.log") + ": no such file"}},
		{"two", []string{"/nonexistent/a.log", "/nonexistent/b"}, []string{"/nonexistent/a.log", "/nonexistent/b"}},
		{"glob", []string{filepath.Join(dir, "*.txt")}, []string{filepath.Join(dir, "*.txt") + ": no file matches"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newEnv(t)
			_, err := (&Search{Paths: tc.paths, Secret: secret}).Run(t.Context(), rec.Env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			stepstest.AssertNoSecret(t, err.Error(), secret)
			stepstest.AssertNoSecret(t, rec.Text(), secret)
		})
	}
	_, err := (&Search{Paths: []string{"/nonexistent/a.log"}, Secret: secret}).Run(t.Context(), newEnv(t).Env)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error does not match fs.ErrNotExist: %v", err)
	}
}

func TestMaxFindings(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(4).OpenAIProjectKey()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "%s line %d %s\n", ts(time.Duration(50-i)*time.Second), i, secret)
	}
	write(t, filepath.Join(dir, "big.log"), b.String(), false)
	env := newEnv(t).Env
	out, err := (&Search{Paths: []string{dir}, Secret: secret, MaxFindings: 5}).Run(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out["findings"].([]map[string]any)); n != 5 || out["count"] != 50 {
		t.Errorf("findings %d, count %v; want 5 of 50", n, out["count"])
	}
	if out["first_seen"] != t0.Add(time.Second).Format(time.RFC3339) {
		t.Errorf("first_seen %v must consider every match, not only those kept", out["first_seen"])
	}
}

func TestSkipAndValidate(t *testing.T) {
	t.Parallel()
	env := newEnv(t).Env
	if _, err := (&Search{Paths: []string{"/nonexistent"}, Secret: "key_abc123"}).Run(t.Context(), env); err == nil {
		t.Error("a key ID must skip")
	} else if _, ok := steps.IsSkip(err); !ok {
		t.Errorf("got %v, want a skip", err)
	}
	secret := fakekey.New(5).OpenAIProjectKey()
	tests := []struct {
		name string
		s    Search
		want string
	}{
		{"ok", Search{Paths: []string{"/var/log"}, Secret: secret}, ""},
		{"no paths", Search{Secret: secret}, "paths: at least one"},
		{"empty path", Search{Paths: []string{" "}, Secret: secret}, "paths[0]: empty"},
		{"no secret", Search{Paths: []string{"/var/log"}}, "secret: the leaked value is required"},
		{"newline", Search{Paths: []string{"/var/log"}, Secret: secret[:20] + "\n" + secret[20:]}, "line break"},
	}
	for _, tc := range tests {
		err := tc.s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if err != nil {
			stepstest.AssertNoSecret(t, err.Error(), secret)
		}
	}
}
