// Package search is the `logs.search` step: find the leaked value in local log files (files,
// directories, globs, gzip-compressed rotations) and date its first appearance from the log
// lines' own timestamps. It only reads. A finding is a file and line with an excerpt in which the
// value is masked; a path that does not exist is an error, because a search that silently
// skipped a log proves nothing.
package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/logs"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
)

// Search's parameters.
type Search struct {
	// Paths are files, directories (searched recursively) and globs (with **); .gz files and
	// gzip rotations are read decompressed.
	Paths []string `yaml:"paths"`
	// Secret is the leaked value.
	Secret string `yaml:"secret"`
	// MaxFindings bounds the findings in the outputs (default 1000); count still counts all.
	MaxFindings int `yaml:"max_findings"`
}

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "logs.search",
	New:     func() steps.Step { return &Search{} },
	Outputs: Outputs{},
	Summary: "find the leaked value in log files, directories, globs and .gz files; file:line with the line masked (read-only)",
}

// Outputs are the step's results.
type Outputs struct {
	Findings     []steps.LogLine `json:"findings"`
	Count        int             `json:"count"`
	FirstSeen    string          `json:"first_seen"`
	FilesScanned int             `json:"files_scanned"`
}

// LogLines are the lines that still hold the value, masked.
func (o *Outputs) LogLines() []steps.LogLine { return o.Findings }

// ToDo asks for the files that still hold the key to be deleted or rotated: searching changed
// nothing.
func (o *Outputs) ToDo(steps.ToDoContext) []string {
	var files []string
	for _, f := range o.Findings {
		if !slices.Contains(files, f.File) {
			files = append(files, f.File)
		}
	}
	if len(files) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("Delete or rotate the log files that still hold the key (and their backups): %s.", strings.Join(files, ", "))}
}

const defaultMaxFindings = 1000

// Validate checks the parameters.
func (s *Search) Validate() error {
	var errs []error
	secret := strings.TrimSpace(s.Secret)
	switch {
	case secret == "":
		errs = append(errs, errors.New("secret: the leaked value is required"))
	case !openai.IsKeyID(secret) && len(secret) < redact.MinLen:
		errs = append(errs, fmt.Errorf("secret: shorter than %d characters, too short to search for or to redact", redact.MinLen))
	case strings.ContainsAny(secret, "\r\n"):
		errs = append(errs, errors.New("secret: contains a line break (log lines are searched one by one)"))
	}
	if len(s.Paths) == 0 {
		errs = append(errs, errors.New("paths: at least one file, directory or glob is required"))
	}
	for i, p := range s.Paths {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("paths[%d]: empty", i))
		}
	}
	if s.MaxFindings < 0 {
		errs = append(errs, errors.New("max_findings: must be positive"))
	}
	return errors.Join(errs...)
}

// Run searches.
func (s *Search) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	secret := strings.TrimSpace(s.Secret)
	if secret != "" && !openai.IsKeyID(secret) {
		env.Secret(secret)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if openai.IsKeyID(secret) {
		return nil, &steps.Skip{Reason: "only a key ID was given; searching logs needs the leaked value itself"}
	}
	// Named files and directories are checked before anything is read, so a typo fails at
	// once instead of after the other paths were scanned.
	var missing []error
	for _, p := range s.Paths {
		if strings.ContainsAny(p, "*?[") {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, fmt.Errorf("paths: %s: %w", p, unwrapPath(err)))
		}
	}
	if len(missing) > 0 {
		return nil, errors.Join(missing...)
	}
	limit := s.MaxFindings
	if limit == 0 {
		limit = defaultMaxFindings
	}
	res, err := logs.Search(ctx, logs.Options{
		Paths:       s.Paths,
		Secrets:     [][]byte{[]byte(secret)},
		Mask:        func(b []byte) string { return redact.Mask(string(b)) },
		MaxFindings: limit,
	})
	if res == nil {
		return nil, err
	}
	out := outputs(res)
	s.summary(env, secret, res, out)
	if err != nil {
		// Files that matched nothing or could not be read are a gap in the search: fail, with
		// what was found on record in the log above.
		return nil, fmt.Errorf("logs.search: not every path could be searched: %w", err)
	}
	return out, nil
}

func outputs(res *logs.Result) steps.Outputs {
	findings := make([]map[string]any, 0, len(res.Findings))
	for _, f := range res.Findings {
		findings = append(findings, map[string]any{"file": f.File, "line": f.Line, "excerpt": f.Excerpt})
	}
	first := ""
	if !res.FirstSeen.IsZero() {
		first = res.FirstSeen.UTC().Format(time.RFC3339)
	}
	return steps.Outputs{"findings": findings, "count": res.Matches, "first_seen": first, "files_scanned": res.FilesScanned}
}

func (s *Search) summary(env *steps.Env, secret string, res *logs.Result, out steps.Outputs) {
	msg := fmt.Sprintf("scanned %d file(s), %s: ", res.FilesScanned, size(res.BytesScanned))
	switch res.Matches {
	case 0:
		msg += "no line holds " + redact.Mask(secret)
	default:
		files := map[string]bool{}
		for _, f := range res.Findings {
			files[f.File] = true
		}
		msg += fmt.Sprintf("%d line(s) in %d file(s) hold %s", res.Matches, len(files), redact.Mask(secret))
		if f := out["first_seen"].(string); f != "" {
			msg += "; first seen " + f
		}
	}
	env.Log(msg, map[string]any{"files_scanned": res.FilesScanned, "count": res.Matches, "first_seen": out["first_seen"]})
	const show = 20
	for i, f := range res.Findings {
		if i == show {
			env.Logf("  … and %d more", res.Matches-show)
			break
		}
		env.Logf("  %s:%d  %s", f.File, f.Line, f.Excerpt)
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// unwrapPath drops the path an *os.PathError repeats, since the message names it already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
