package githubkit

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps/stepstest"
)

// logsZip serves one run's archive; a file named "broken" cannot be opened (unknown compression).
type logsZip struct {
	files [][2]string // name, content
	err   error
}

func (l logsZip) RunLogs(_ context.Context, _ string, _ int64) (*zip.Reader, error) {
	if l.err != nil {
		return nil, l.err
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range l.files {
		var w io.Writer
		var err error
		if f[0] == "broken" {
			w, err = zw.CreateRaw(&zip.FileHeader{Name: f[0], Method: 99})
		} else {
			w, err = zw.Create(f[0])
		}
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(f[1])); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func TestScans(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(1).OpenAIProjectKey()
	line := func(d time.Duration, msg string) string { return t0.Add(d).Format(time.RFC3339Nano) + " " + msg + "\n" }
	clean := [2]string{"0_setup.txt", line(0, "start")}
	early := [2]string{"1_build.txt", line(time.Minute, "ok") + line(2*time.Minute, "key="+secret)}
	late := [2]string{"2_deploy.txt", "no timestamp " + secret + "\n"}
	broken := [2]string{"broken", "x"}
	tests := []struct {
		name       string
		files      [][2]string
		survey     []File
		first      time.Time
		errs       int
		firstFile  File
		firstFound bool
		firstErr   string // substring; empty for none
	}{
		{name: "hits", files: [][2]string{clean, early, late},
			survey: []File{{"1_build.txt", 2}, {"2_deploy.txt", 1}}, first: t0.Add(2 * time.Minute),
			firstFile: File{"1_build.txt", 2}, firstFound: true},
		{name: "none", files: [][2]string{clean}},
		{name: "unreadable before a hit", files: [][2]string{clean, broken, late},
			survey: []File{{"2_deploy.txt", 1}}, errs: 1,
			firstErr: "logs of run 7 in acme/api: open broken:"},
		{name: "unreadable after a hit", files: [][2]string{early, broken},
			survey: []File{{"1_build.txt", 2}}, first: t0.Add(2 * time.Minute), errs: 1,
			firstFile: File{"1_build.txt", 2}, firstFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := logsZip{files: tc.files}
			res, err := Survey(t.Context(), c, "acme/api", 7, secret)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.survey, res.Files); d != "" {
				t.Errorf("Survey files (-want +got):\n%s", d)
			}
			if !res.FirstSeen.Equal(tc.first) || len(res.Errs) != tc.errs {
				t.Errorf("Survey first seen %v, errors %v; want %v, %d", res.FirstSeen, res.Errs, tc.first, tc.errs)
			}
			f, ok, err := First(t.Context(), c, "acme/api", 7, secret)
			switch {
			case tc.firstErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.firstErr) {
					t.Fatalf("First = %v, want an error with %q", err, tc.firstErr)
				}
			case err != nil:
				t.Fatal(err)
			case f != tc.firstFile || ok != tc.firstFound:
				t.Errorf("First = %v, %v; want %v, %v", f, ok, tc.firstFile, tc.firstFound)
			}
			stepstest.AssertNoSecret(t, fmt.Sprint(res, f, err), secret)
		})
	}
}

func TestDownloadErrorPassesThrough(t *testing.T) {
	t.Parallel()
	c := logsZip{err: fmt.Errorf("logs: %w", github.ErrNotFound)}
	if _, err := Survey(t.Context(), c, "acme/api", 7, "x"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("Survey: %v", err)
	}
	if _, _, err := First(t.Context(), c, "acme/api", 7, "x"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("First: %v", err)
	}
}
