package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/journal"
)

// runArg reads the one RUN argument of a command and resolves it: a full run ID, `last` for the
// newest run, or any unique prefix of an ID (like git's short hashes), so a person at 3 a.m. types
// `respond resume last` instead of copying 26 characters.
func (f *Factory) runArg(c *cli.Context) (dir, runID string, err error) {
	if c.NArg() != 1 {
		return "", "", usageErr("%s takes one RUN: a run ID, a unique prefix of one, or last (respond runs list)", commandPath(c))
	}
	dir, err = f.stateDir()
	if err != nil {
		return "", "", err
	}
	runID, err = resolveRunID(dir, c.Args().First())
	return dir, runID, err
}

func resolveRunID(dir, arg string) (string, error) {
	if arg != "last" {
		if err := journal.CheckRunID(arg); err != nil {
			return "", usageErr("%v", err)
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, "runs", "*.jsonl"))
	if err != nil {
		return "", err
	}
	var ids []string
	for _, p := range paths {
		ids = append(ids, strings.TrimSuffix(filepath.Base(p), ".jsonl"))
	}
	slices.Sort(ids)
	if arg == "last" {
		// IDs start with the second a run began; two in one second need the journal's own time.
		runs, err := journal.List(dir)
		if err != nil {
			return "", err
		}
		if len(runs) == 0 {
			return "", usageErr("no runs in %s yet", dir)
		}
		return runs[0].RunID, nil
	}
	var matches []string
	for _, id := range ids {
		if id == arg {
			return id, nil
		}
		if strings.HasPrefix(id, arg) {
			matches = append(matches, id)
		}
	}
	switch len(matches) {
	case 0:
		if _, err := os.Stat(filepath.Join(dir, "runs")); err != nil {
			return "", usageErr("no run %q: no runs in %s yet", arg, dir)
		}
		return "", usageErr("no run %q in %s (respond runs list)", arg, dir)
	case 1:
		return matches[0], nil
	}
	if len(matches) > 5 {
		matches = append(matches[:5], "…")
	}
	return "", usageErr("%q matches several runs: %s; type more of the ID", arg, strings.Join(matches, ", "))
}

func timeOfDay(t time.Time) string { return t.UTC().Format("15:04:05.000") }
