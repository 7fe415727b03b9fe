package github

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// WorkflowRun is one Actions workflow run.
type WorkflowRun struct {
	Repo       string // owner/name
	ID         int64
	Name       string
	HeadBranch string
	HeadSHA    string
	Event      string
	Status     string
	Conclusion string
	HTMLURL    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ListWorkflowRuns lists the runs of a repository created at or after since (all runs when since
// is zero), newest first, all pages. GitHub returns at most 1000 runs for a created filter.
func (c *Client) ListWorkflowRuns(ctx context.Context, repo string, since time.Time) ([]WorkflowRun, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	opts := &gh.ListWorkflowRunsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	if !since.IsZero() {
		opts.Created = ">=" + since.UTC().Format(time.RFC3339)
	}
	var out []WorkflowRun
	for {
		var runs *gh.WorkflowRuns
		var resp *gh.Response
		err := c.do(ctx, call{op: "list workflow runs of " + repo}, func(g *gh.Client) (*gh.Response, error) {
			var err error
			runs, resp, err = g.Actions.ListRepositoryWorkflowRuns(ctx, owner, name, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range runs.WorkflowRuns {
			out = append(out, WorkflowRun{
				Repo:       repo,
				ID:         r.GetID(),
				Name:       r.GetName(),
				HeadBranch: r.GetHeadBranch(),
				HeadSHA:    r.GetHeadSHA(),
				Event:      r.GetEvent(),
				Status:     r.GetStatus(),
				Conclusion: r.GetConclusion(),
				HTMLURL:    r.GetHTMLURL(),
				CreatedAt:  r.GetCreatedAt().Time,
				UpdatedAt:  r.GetUpdatedAt().Time,
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// RunLogs downloads the logs zip of a run: GitHub answers 302 with a pre-signed URL, which is
// fetched with a plain GET that does not carry the token. The zip is held in memory, bounded by
// Config.MaxLogBytes. Logs already deleted or expired give an error matching ErrNotFound.
func (c *Client) RunLogs(ctx context.Context, repo string, runID int64) (*zip.Reader, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("get logs of run %d in %s", runID, repo)
	var loc *url.URL
	err = c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		loc, resp, err = g.Actions.GetWorkflowRunLogs(ctx, owner, name, runID, 1)
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	data, err := c.download(ctx, op, loc)
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: read zip: %w", op, err)
	}
	return zr, nil
}

func (c *Client) download(ctx context.Context, op string, loc *url.URL) ([]byte, error) {
	var data []byte
	err := c.retryTransient(ctx, func() error {
		var err error
		data, err = c.downloadOnce(ctx, op, loc)
		return err
	})
	return data, err
}

func (c *Client) downloadOnce(ctx context.Context, op string, loc *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, classify(ctx, call{op: op + ": download zip"}, nil, sanitize(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		e := classify(ctx, call{op: op + ": download zip", quiet: true}, resp, fmt.Errorf("status %s", resp.Status))
		if wait, _, limited := rateLimitWait(nil, resp, c.clk.Now()); limited {
			return nil, newRateLimited(call{op: op + ": download zip", quiet: true}, resp, wait, e)
		}
		return nil, e
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxLogBytes+1))
	if err != nil {
		return nil, classify(ctx, call{op: op + ": download zip"}, nil, err)
	}
	if int64(len(data)) > c.maxLogBytes {
		return nil, fmt.Errorf("%s: zip larger than %d bytes", op, c.maxLogBytes)
	}
	return data, nil
}

// DeleteRunLogs deletes the logs of a run (the run itself stays). A run that does not exist
// gives an error matching ErrNotFound.
func (c *Client) DeleteRunLogs(ctx context.Context, repo string, runID int64) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	return c.do(ctx, call{op: fmt.Sprintf("delete logs of run %d in %s", runID, repo)},
		func(g *gh.Client) (*gh.Response, error) {
			return g.Actions.DeleteWorkflowRunLogs(ctx, owner, name, runID)
		})
}
