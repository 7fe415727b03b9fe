// Survey and First read the logs of a GitHub Actions run for the leaked value: the one reading
// that github.search reports from and github.purge-logs deletes on. It downloads the run's log
// archive and scans each file in it; only file names and line numbers come out, never a line.

package githubkit

import (
	"archive/zip"
	"context"
	"fmt"
	"time"

	"github.com/respond-sec/respond/integrations/logs"
	"github.com/respond-sec/respond/internal/redact"
)

// LogDownloader is the client method the scans call.
type LogDownloader interface {
	RunLogs(ctx context.Context, repo string, runID int64) (*zip.Reader, error)
}

// File is a log file that holds the secret, at the first line that does.
type File struct {
	Name string
	Line int
}

// Result is what Survey read of a run.
type Result struct {
	// Files hold the secret, in the archive's order.
	Files []File
	// FirstSeen is the earliest timestamp on a line holding the secret; zero when none had one.
	FirstSeen time.Time
	// Errs are the files that could not be read: a gap, not a failure.
	Errs []error
}

// Survey scans every file of a run's logs and reports each that holds the secret. A file that
// cannot be read is listed in Errs and the others are still scanned. Logs already deleted or
// expired give an error matching github.ErrNotFound.
func Survey(ctx context.Context, c LogDownloader, repo string, runID int64, secret string) (Result, error) {
	return scan(ctx, c, repo, runID, secret, false)
}

// First returns the first file of a run's logs that holds the secret; ok is false when none
// does. A file that cannot be read fails the scan: deleting on a partial reading is not a
// decision to take, and keeping logs that do hold the secret is not either. Logs already deleted
// or expired give an error matching github.ErrNotFound.
func First(ctx context.Context, c LogDownloader, repo string, runID int64, secret string) (f File, ok bool, err error) {
	res, err := scan(ctx, c, repo, runID, secret, true)
	if err != nil || len(res.Files) == 0 {
		return File{}, false, err
	}
	return res.Files[0], true, nil
}

// scan reads the run's files in order. strict fails on the first file that cannot be read and
// stops at the first file that holds the secret.
func scan(ctx context.Context, c LogDownloader, repo string, runID int64, secret string, strict bool) (Result, error) {
	var res Result
	zr, err := c.RunLogs(ctx, repo, runID)
	if err != nil {
		return res, err
	}
	opts := logs.Options{Secrets: [][]byte{[]byte(secret)}, Mask: func(b []byte) string { return redact.Mask(string(b)) },
		MaxFindings: 1}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		r, err := scanFile(ctx, f, opts)
		if err != nil && strict {
			return res, fmt.Errorf("logs of run %d in %s: %w", runID, repo, err)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return res, ctxErr
		}
		if err != nil {
			res.Errs = append(res.Errs, err)
		}
		if r == nil || len(r.Findings) == 0 {
			continue
		}
		res.Files = append(res.Files, File{Name: f.Name, Line: r.Findings[0].Line})
		if !r.FirstSeen.IsZero() && (res.FirstSeen.IsZero() || r.FirstSeen.Before(res.FirstSeen)) {
			res.FirstSeen = r.FirstSeen
		}
		if strict {
			break
		}
	}
	return res, nil
}

// scanFile scans one file of the archive. Its result may hold findings even with an error: the
// lines read before the failure.
func scanFile(ctx context.Context, f *zip.File, opts logs.Options) (*logs.Result, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Name, err)
	}
	defer rc.Close()
	return logs.ScanReader(ctx, f.Name, rc, opts)
}
