package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/internal/fleet"
	"github.com/respond-sec/respond/internal/progress"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps/github/githubkit"
)

// The fleet flags of `scan git`: many repositories at once.
func fleetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "repos", Usage: "`FILE` listing repositories, one local path or clone URL per line (# starts a comment)"},
		&cli.StringFlag{Name: "org", Usage: "scan every repository of the GitHub organization `ORG` (listed and cloned with GITHUB_TOKEN)"},
		&cli.BoolFlag{Name: "skip-archived", Usage: "with --org: leave archived repositories out (their history is still served)"},
		&cli.BoolFlag{Name: "skip-forks", Usage: "with --org: leave forks out"},
		&cli.IntFlag{Name: "concurrency", Value: fleet.DefaultConcurrency, Usage: "repositories scanned at once"},
		&cli.StringFlag{Name: "cache-dir", Usage: "where clone URLs are mirrored and kept for the next run (default: mirrors/ in the state dir)"},
		&cli.BoolFlag{Name: "restart", Usage: "forget what an interrupted run of the same fleet finished and scan everything again"},
	}
}

func isFleet(c *cli.Context) bool {
	return c.NArg() > 1 || c.IsSet("repos") || c.IsSet("org")
}

// scanFleet scans many repositories; its report, exit code and failure handling follow the
// single-repository command: exit 1 when a repository could not be scanned (after the report of
// all the others), 130 when interrupted (the same command resumes).
func scanFleet(c *cli.Context, f *Factory, secret string, mem gitrepo.Memory) error {
	output := c.String("output")
	if output != "text" && output != "json" {
		return usageErr("--output must be text or json, got %q", output)
	}
	if n := c.Int("concurrency"); n < 1 || n > 64 {
		return usageErr("--concurrency must be between 1 and 64, got %d", n)
	}
	targets, skipped, spec, err := fleetTargets(c, f)
	if err != nil {
		return err
	}
	state, err := f.stateDir()
	if err != nil {
		return err
	}
	o := fleet.Options{Targets: targets, Secrets: [][]byte{[]byte(secret)}, SecretID: redact.Fingerprint(secret),
		Token: f.Getenv(githubkit.EnvToken), TokenHosts: fleet.TokenHosts(f.Getenv(githubkit.EnvBaseURL)),
		CacheDir: c.String("cache-dir"), Concurrency: c.Int("concurrency"), Memory: mem}
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(state, "mirrors")
	}
	sum := sha256.Sum256([]byte(spec + "\x00" + o.SecretID))
	o.StateFile = filepath.Join(state, "fleets", hex.EncodeToString(sum[:8])+".json")
	if c.Bool("restart") {
		if err := fleet.Forget(o.StateFile); err != nil {
			return err
		}
	}
	meter := progressMeter(f, output)
	o.Progress = func(s fleet.Status) { meter.Set(fleetUpdate(s)) }
	rep, err := fleet.Scan(c.Context, o)
	meter.Close()
	if rep != nil {
		printFleet(f, output, rep, skipped)
	}
	switch {
	case errors.Is(err, context.Canceled) || c.Context.Err() != nil:
		fmt.Fprintf(f.IO.Err, "interrupted: %d of %d repositories scanned; run the same command again to go on with the others\n",
			len(rep.Results)-rep.Failed, len(targets))
		return &exitError{code: ExitInterrupted, err: errors.New("interrupted")}
	case err != nil:
		return &exitError{code: ExitStepFailed, err: err}
	case rep.Failed > 0:
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("%d of %d repositories could not be scanned; run the same command again to retry them", rep.Failed, len(targets))}
	}
	return nil
}

// fleetTargets gathers the repositories from the arguments, --repos and --org, and a string
// that names this fleet (the same command resumes the same progress file).
func fleetTargets(c *cli.Context, f *Factory) (targets []fleet.Target, skipped []string, spec string, err error) {
	var parts []string
	for _, a := range c.Args().Slice() {
		t, err := fleet.NewTarget(a, "")
		if err != nil {
			return nil, nil, "", usageErr("%s: %v", a, err)
		}
		if t.Path != "" {
			t.Path, _ = filepath.Abs(t.Path)
		}
		targets = append(targets, t)
		parts = append(parts, "arg "+t.URL+t.Path)
	}
	if list := c.String("repos"); list != "" {
		ts, err := fleet.ReadList(list)
		if err != nil {
			return nil, nil, "", usageErr("--repos: %v", err)
		}
		targets = append(targets, ts...)
		abs, _ := filepath.Abs(list)
		parts = append(parts, "list "+abs)
	}
	if org := c.String("org"); org != "" {
		ts, sk, err := orgTargets(c, f, org)
		if err != nil {
			return nil, nil, "", err
		}
		targets, skipped = append(targets, ts...), sk
		parts = append(parts, fmt.Sprintf("org %s archived=%v forks=%v", strings.ToLower(org), !c.Bool("skip-archived"), !c.Bool("skip-forks")))
	} else if c.IsSet("skip-archived") || c.IsSet("skip-forks") {
		return nil, nil, "", usageErr("--skip-archived and --skip-forks go with --org")
	}
	if len(targets) == 0 {
		return nil, nil, "", usageErr("scan git: nothing to scan (give PATH|URL arguments, --repos or --org)")
	}
	return targets, skipped, strings.Join(parts, "\n"), nil
}

func orgTargets(c *cli.Context, f *Factory, org string) ([]fleet.Target, []string, error) {
	tok := f.Getenv(githubkit.EnvToken)
	if tok == "" {
		return nil, nil, &exitError{code: ExitCredentials, err: errors.New("--org: GITHUB_TOKEN is not set (a token that may read the organization's repositories)")}
	}
	f.Secrets.Add(tok)
	gc, err := github.New(github.Config{Token: tok, BaseURL: f.Getenv(githubkit.EnvBaseURL)})
	if err != nil {
		return nil, nil, usageErr("--org: %v", err)
	}
	ts, sk, err := fleet.OrgTargets(c.Context, gc, org, fleet.OrgFilter{SkipArchived: c.Bool("skip-archived"), SkipForks: c.Bool("skip-forks")})
	switch {
	case errors.Is(err, github.ErrUnauthorized), errors.Is(err, github.ErrForbidden):
		return nil, nil, &exitError{code: ExitCredentials, err: err}
	case err != nil:
		return nil, nil, &exitError{code: ExitStepFailed, err: err}
	}
	return ts, sk, nil
}

// progressMeter is a bar on stderr when a person watches: stdout and stderr both terminals and
// text output. Anything else (a pipe, a file, CI, --output json) gets no progress at all.
func progressMeter(f *Factory, output string) progress.Meter {
	if output != "text" || !f.IO.OutTTY || !f.IO.ErrTTY {
		return progress.Nop{}
	}
	return progress.Bar(f.IO.Err)
}

// gitProgress feeds a meter from gitrepo's progress callbacks.
func gitProgress(m progress.Meter) gitrepo.Progress {
	return func(phase string, done, total int64) {
		m.Set(progress.Update{Phase: phase, Unit: unitOf(phase), Done: done, Total: total})
	}
}

func unitOf(phase string) string {
	switch phase {
	case gitrepo.PhaseClone, gitrepo.PhaseFetch:
		return "objects"
	}
	return "commits"
}

// fleetUpdate is the fleet's progress: repositories done, and what the busiest one is doing.
func fleetUpdate(s fleet.Status) progress.Update {
	u := progress.Update{Phase: "repositories", Unit: "repos", Done: int64(s.Done + s.Failed), Total: int64(s.Total)}
	switch {
	case len(s.Running) == 0:
	case s.PhaseOfRepo != "" && s.Of > 0:
		u.Note = fmt.Sprintf("(%d running; %s: %s %d/%d)", len(s.Running), s.PhaseOfRepo, s.Phase, s.Units, s.Of)
	default:
		u.Note = fmt.Sprintf("(%d running: %s)", len(s.Running), strings.Join(s.Running, ", "))
	}
	if s.Failed > 0 {
		u.Note += fmt.Sprintf(" %d failed", s.Failed)
	}
	return u
}

func printFleet(f *Factory, output string, rep *fleet.Report, skipped []string) {
	if output == "json" {
		writeJSON(f.IO.Out, f, fleetJSON(rep, skipped))
		return
	}
	out := f.IO.Out
	with := 0
	for _, r := range rep.Results {
		fmt.Fprintln(out, fleet.Describe(r))
		if r.Err == nil {
			printGitFindings(out, r.Scan)
			if len(r.Scan.Findings) > 0 {
				with++
			}
		}
	}
	fmt.Fprintf(out, "fleet: %d repositories, %d finding(s) in %d of them, %d failed", len(rep.Results), rep.Findings, with, rep.Failed)
	if rep.Resumed > 0 {
		fmt.Fprintf(out, ", %d scanned by an earlier run", rep.Resumed)
	}
	if !rep.FirstSeen.IsZero() {
		fmt.Fprintf(out, "; first committed %s", rep.FirstSeen.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(out)
	if len(skipped) > 0 {
		fmt.Fprintf(out, "left out (--skip-archived/--skip-forks): %s\n", strings.Join(skipped, ", "))
	}
}

type fleetRepoJSON struct {
	Name        string           `json:"name"`
	URL         string           `json:"url,omitempty"`
	Path        string           `json:"path,omitempty"`
	Status      string           `json:"status"` // scanned, failed or interrupted
	Resumed     bool             `json:"resumed"`
	Error       string           `json:"error,omitempty"`
	Findings    []gitFindingJSON `json:"findings"`
	FirstSeen   string           `json:"first_seen"`
	Commits     int              `json:"commits"`
	Refs        int              `json:"refs"`
	Unreachable int              `json:"unreachable"`
}

func fleetJSON(rep *fleet.Report, skipped []string) any {
	out := struct {
		Repositories []fleetRepoJSON `json:"repositories"`
		Findings     int             `json:"findings"`
		FirstSeen    string          `json:"first_seen"`
		Failed       int             `json:"failed"`
		Skipped      []string        `json:"skipped"`
	}{Repositories: []fleetRepoJSON{}, Findings: rep.Findings, FirstSeen: rfc3339(rep.FirstSeen), Failed: rep.Failed, Skipped: skipped}
	if out.Skipped == nil {
		out.Skipped = []string{}
	}
	for _, r := range rep.Results {
		j := fleetRepoJSON{Name: r.Target.Name, URL: r.Target.URL, Path: r.Target.Path, Status: "scanned", Resumed: r.Resumed, Findings: []gitFindingJSON{}}
		switch {
		case errors.Is(r.Err, context.Canceled):
			j.Status, j.Error = "interrupted", r.Err.Error()
		case r.Err != nil:
			j.Status, j.Error = "failed", r.Err.Error()
		default:
			j.Findings = findingsJSON(r.Scan.Findings)
			j.FirstSeen, j.Commits, j.Refs, j.Unreachable = rfc3339(r.Scan.FirstSeen), r.Scan.Commits, r.Scan.Refs, r.Scan.Unreachable
		}
		out.Repositories = append(out.Repositories, j)
	}
	return out
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
