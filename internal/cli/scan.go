package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/integrations/logs"
	"github.com/respond-sec/respond/internal/redact"
)

// The standalone building blocks: the same integrations the playbook steps use, for an engineer
// who wants one answer now (where is this key?) without a run.

var secretFileFlag = &cli.StringFlag{Name: "secret-file", Required: true,
	Usage: "`FILE` holding the leaked value (never pass it as an argument: argv is visible in ps)"}

func readSecretFile(f *Factory, path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(f.IO.In)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", usageErr("--secret-file: %v", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < redact.MinLen || strings.ContainsAny(s, "\r\n") {
		return "", usageErr("--secret-file %s must hold one value of at least %d characters on one line", path, redact.MinLen)
	}
	f.Secrets.Add(s)
	return s, nil
}

func newScanCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "scan",
		Usage: "find a leaked value in git history or log files (read-only)",
		Subcommands: []*cli.Command{
			{
				Name:      "git",
				Usage:     "scan every ref and every version of repositories (local paths, clone URLs, a list, an organization)",
				ArgsUsage: "PATH|URL...",
				Description: "A clone URL is fetched with GITHUB_TOKEN when it is set (a private repository needs it).\n" +
					"Several repositories, --repos FILE or --org ORG scan a fleet: clone URLs are mirrored into a cache\n" +
					"that the next run fetches, --concurrency repositories at a time, one combined report. A failing\n" +
					"repository does not stop the others (exit 1 after the report); an interrupted fleet (exit 130)\n" +
					"resumes where it stopped when the same command runs again." +
					envHelp("GITHUB_TOKEN", "RESPOND_GITHUB_API_URL", "RESPOND_STATE_DIR", gitrepo.CacheEnv),
				Flags: append([]cli.Flag{secretFileFlag,
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"}, gitCacheFlag}, fleetFlags()...),
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 && !isFleet(c) {
						return usageErr("scan git takes a PATH or URL, several, --repos FILE or --org ORG")
					}
					secret, err := readSecretFile(f, c.String("secret-file"))
					if err != nil {
						return err
					}
					mem, err := gitMemory(f, c)
					if err != nil {
						return err
					}
					if isFleet(c) {
						return scanFleet(c, f, secret, mem)
					}
					o := gitrepo.ScanOptions{Secrets: [][]byte{[]byte(secret)}, Memory: mem}
					target := c.Args().First()
					if strings.Contains(target, "://") || strings.HasPrefix(target, "git@") {
						o.URL, o.Token = target, f.Getenv("GITHUB_TOKEN")
					} else {
						o.Path = target
					}
					meter := progressMeter(f, c.String("output"))
					o.Progress = gitProgress(meter)
					res, err := gitrepo.Scan(c.Context, o)
					meter.Close()
					if err != nil {
						return &exitError{code: ExitStepFailed, err: fmt.Errorf("scan %s: %w", target, err)}
					}
					return printGitScan(f, c.String("output"), target, res)
				},
			},
			{
				Name:      "logs",
				Usage:     "scan files, directories, globs and .gz files",
				ArgsUsage: "PATH...",
				Flags: []cli.Flag{secretFileFlag,
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"}},
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return usageErr("scan logs takes one or more PATHs")
					}
					secret, err := readSecretFile(f, c.String("secret-file"))
					if err != nil {
						return err
					}
					res, err := logs.Search(c.Context, logs.Options{Paths: c.Args().Slice(), Secrets: [][]byte{[]byte(secret)},
						Mask: func(s []byte) string { return redact.Mask(string(s)) }})
					if res != nil {
						if perr := printLogScan(f, c.String("output"), res); perr != nil {
							return perr
						}
					}
					if err != nil {
						return &exitError{code: ExitStepFailed, err: err}
					}
					return nil
				},
			},
		},
	}
}

type gitFindingJSON struct {
	Kind   string    `json:"kind"`
	Commit string    `json:"commit"`
	Path   string    `json:"path,omitempty"`
	Line   int       `json:"line"`
	Author string    `json:"author"`
	Date   time.Time `json:"date"`
	Refs   []string  `json:"refs"`
	InTip  bool      `json:"in_tip"`
}

func printGitScan(f *Factory, output, target string, res *gitrepo.ScanResult) error {
	first := rfc3339(res.FirstSeen)
	switch output {
	case "json":
		out := struct {
			Findings    []gitFindingJSON `json:"findings"`
			FirstSeen   string           `json:"first_seen"`
			Commits     int              `json:"commits"`
			Refs        int              `json:"refs"`
			Unreachable int              `json:"unreachable"`
		}{Findings: findingsJSON(res.Findings), FirstSeen: first, Commits: res.Commits, Refs: res.Refs, Unreachable: res.Unreachable}
		writeJSON(f.IO.Out, f, out)
	case "text":
		fmt.Fprintf(f.IO.Out, "%s: %d finding(s) in %d commits across %d refs", target, len(res.Findings), res.Commits, res.Refs)
		if first != "" {
			fmt.Fprintf(f.IO.Out, "; first committed %s", first)
		}
		fmt.Fprintln(f.IO.Out)
		printGitFindings(f.IO.Out, res)
	default:
		return usageErr("--output must be text or json, got %q", output)
	}
	return nil
}

func findingsJSON(fs []gitrepo.Finding) []gitFindingJSON {
	out := []gitFindingJSON{}
	for _, x := range fs {
		out = append(out, gitFindingJSON{Kind: x.Kind, Commit: x.Commit, Path: x.Path, Line: x.Line,
			Author: x.Author, Date: x.Date.UTC(), Refs: x.Refs, InTip: x.InTip})
	}
	return out
}

// printGitFindings lists a scan's findings, one a line, and the unreachable objects.
func printGitFindings(out io.Writer, res *gitrepo.ScanResult) {
	for _, x := range res.Findings {
		where := x.Path
		switch x.Kind {
		case gitrepo.KindBlob:
		case gitrepo.KindCommitMessage, gitrepo.KindTagMessage:
			where = "(" + x.Kind + ")"
		default: // a name: Path holds it, masked
			where = "(" + x.Kind + ") " + x.Path
		}
		tip := ""
		if x.InTip {
			tip = "  [still at a ref tip]"
		}
		if x.Line > 0 {
			where += fmt.Sprintf(":%d", x.Line)
		}
		fmt.Fprintf(out, "  %.12s %s  %s  %s  %s%s\n", x.Commit, where, x.Author,
			x.Date.UTC().Format(time.DateOnly), strings.Join(x.Refs, ","), tip)
	}
	if res.Unreachable > 0 {
		fmt.Fprintf(out, "  %d unreachable object(s) in the store still hold it (a purge removes them)\n", res.Unreachable)
	}
}

func printLogScan(f *Factory, output string, res *logs.Result) error {
	var first string
	if !res.FirstSeen.IsZero() {
		first = res.FirstSeen.UTC().Format(time.RFC3339)
	}
	switch output {
	case "json":
		type finding struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Excerpt string `json:"excerpt"`
		}
		out := struct {
			Findings     []finding `json:"findings"`
			FirstSeen    string    `json:"first_seen"`
			FilesScanned int       `json:"files_scanned"`
		}{Findings: []finding{}, FirstSeen: first, FilesScanned: res.FilesScanned}
		for _, x := range res.Findings {
			out.Findings = append(out.Findings, finding{x.File, x.Line, x.Excerpt})
		}
		writeJSON(f.IO.Out, f, out)
	case "text":
		fmt.Fprintf(f.IO.Out, "%d line(s) in %d file(s) scanned", len(res.Findings), res.FilesScanned)
		if first != "" {
			fmt.Fprintf(f.IO.Out, "; first seen %s", first)
		}
		fmt.Fprintln(f.IO.Out)
		for _, x := range res.Findings {
			fmt.Fprintf(f.IO.Out, "  %s:%d  %s\n", x.File, x.Line, x.Excerpt)
		}
	default:
		return usageErr("--output must be text or json, got %q", output)
	}
	return nil
}

func newPurgeCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "purge",
		Usage:     "remove a leaked value from every ref, reflog, stash entry, name and the object store of a local repository",
		ArgsUsage: "PATH",
		Description: "Rewrites history (commits that hold or descend from the value get new hashes; others keep\n" +
			"theirs), including reflogs, stash entries and notes; renames files, branches and tags named after\n" +
			"the value; drops the old objects, writes commit-map and ref-map, and verifies with a rescan.\n" +
			"Holds git's locks throughout; an interrupted purge is finished by running it again.\n" +
			"Without --push, remote-tracking refs stay where the remote is (it still holds the value).\n" +
			"With --push, force-pushes the rewritten refs to the remote, each leased to its old value." +
			envHelp("GITHUB_TOKEN", "RESPOND_STATE_DIR", gitrepo.CacheEnv),
		Flags: []cli.Flag{secretFileFlag, gitCacheFlag,
			&cli.BoolFlag{Name: "push", Usage: "force-push the rewritten refs (with lease) to --remote"},
			&cli.StringFlag{Name: "remote", Value: "origin", Usage: "remote `NAME` or URL to push to"},
			&cli.StringFlag{Name: "replacement", Value: gitrepo.DefaultReplacement, Usage: "what replaces the value in text"},
			&cli.StringFlag{Name: "map-dir", Usage: "where to write commit-map and ref-map (default: a new directory under the state dir)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "list every ref, reflog, stash entry, note, name and remote that would change, and change nothing"},
		},
		Action: func(c *cli.Context) error { return runPurge(f, c) },
	}
}

func runPurge(f *Factory, c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErr("purge takes one PATH")
	}
	secret, err := readSecretFile(f, c.String("secret-file"))
	if err != nil {
		return err
	}
	path := c.Args().First()
	mem, err := gitMemory(f, c)
	if err != nil {
		return err
	}
	o := gitrepo.PurgeOptions{Path: path, Secrets: [][]byte{[]byte(secret)}, Replacement: c.String("replacement"),
		RewriteRemoteTracking: c.Bool("push"), Memory: mem}
	finish := fmt.Sprintf("respond purge --push --remote %s --secret-file %s %s", c.String("remote"), c.String("secret-file"), path)
	if c.Bool("dry-run") {
		plan, err := gitrepo.PlanPurge(c.Context, o)
		if err != nil {
			return &exitError{code: ExitStepFailed, err: fmt.Errorf("plan the purge of %s: %w", path, err)}
		}
		printPurgePlan(f.IO.Out, plan, c.Bool("push"), c.String("remote"), finish)
		return nil
	}
	o.MapDir = c.String("map-dir")
	if o.MapDir == "" {
		dir, err := f.stateDir()
		if err != nil {
			return err
		}
		o.MapDir = fmt.Sprintf("%s/purges/%s", dir, f.Now().UTC().Format("20060102T150405Z"))
	}
	meter := progressMeter(f, "text")
	o.Progress = gitProgress(meter)
	res, err := gitrepo.Purge(c.Context, o)
	meter.Close()
	if err != nil {
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("purge %s: %w", path, err)}
	}
	out := f.IO.Out
	if res.Resumed {
		fmt.Fprintln(out, "finished an interrupted purge")
	}
	fmt.Fprintf(out, "rewrote %d commits, %d blobs (%d binary), %d tags; %d refs changed; %d reflogs, %d of %d stash entries, %d notes, %d names rewritten; %d objects dropped\ncommit-map: %s\nref-map: %s\n",
		res.Commits, res.Blobs, res.BinaryBlobs, res.Tags, len(res.RefMap), len(res.Reflogs), res.Stash, res.StashTotal, res.Notes,
		len(res.Names), res.ObjectsDropped, res.CommitMapPath, res.RefMapPath)
	printUntracked(out, res.Untracked)
	if err := verifyPurge(c.Context, out, path, o.Secrets, finish); err != nil {
		return err
	}
	if !c.Bool("push") {
		return nil
	}
	return pushPurge(c.Context, out, gitrepo.PushOptions{Path: path, Remote: c.String("remote"), Token: f.Getenv("GITHUB_TOKEN"),
		RefMap: res.RefMap, CleanRemote: true, Secrets: o.Secrets})
}

// verifyPurge rescans the purged repository: the value anywhere but in remote-tracking refs
// fails; only there, the purge is NOT FINISHED and finish says how to end it.
func verifyPurge(ctx context.Context, out io.Writer, path string, secrets [][]byte, finish string) error {
	check, err := gitrepo.Scan(ctx, gitrepo.ScanOptions{Path: path, Secrets: secrets})
	if err != nil {
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("verify %s: %w", path, err)}
	}
	local, remote := splitPinned(check.Findings)
	if len(local) > 0 || check.Unreachable > 0 {
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("verify %s: the value is still there (%d findings, %d unreachable objects); nothing pushed", path, len(local), check.Unreachable)}
	}
	if len(remote) > 0 {
		fmt.Fprintf(out, "NOT FINISHED: the remote still holds the value. Remote-tracking refs were left where the remote is: %s.\n", strings.Join(remote, ", "))
		fmt.Fprintf(out, "Locally no branch, tag, stash entry, reflog, note or name holds it any more (verified by a rescan);\nthe old commits stay in this clone as long as those refs name them. Finish with:\n  %s\n", finish)
	} else {
		fmt.Fprintln(out, "verified: the value is in no ref, reflog, stash entry, name and no object")
	}
	return nil
}

// pushPurge force-pushes the rewritten refs with a lease each and says what was pushed, skipped,
// left INCOMPLETE and what the forge may still hold.
func pushPurge(ctx context.Context, out io.Writer, po gitrepo.PushOptions) error {
	pr, err := gitrepo.Push(ctx, po)
	var lease *gitrepo.LeaseError
	if errors.As(err, &lease) {
		fmt.Fprintf(out, "INCOMPLETE: nothing was pushed, the remote moved since the purge read it:\n")
		for _, m := range lease.Mismatches {
			fmt.Fprintf(out, "  %s is %.12s, the purge rewrote %.12s\n", m.Ref, m.Got, m.Want)
		}
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("push incomplete: fetch, purge again and retry")}
	}
	if err != nil {
		return &exitError{code: ExitStepFailed, err: err}
	}
	if len(pr.Incomplete) > 0 {
		fmt.Fprintf(out, "INCOMPLETE: the remote %s still holds the value in refs this purge never saw:\n", pr.URL)
		for _, l := range pr.Incomplete {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	fmt.Fprintf(out, "force-pushed %d refs to %s (%d skipped)\n", len(pr.Pushed), pr.URL, len(pr.Skipped))
	for _, s := range pr.Skipped {
		fmt.Fprintf(out, "  skipped %s: %s\n", s.Ref, s.Reason)
	}
	if len(pr.ForgeRemains) > 0 {
		fmt.Fprintln(out, "what the forge may still hold:")
		for _, l := range pr.ForgeRemains {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	if len(pr.Incomplete) > 0 {
		return &exitError{code: ExitStepFailed, err: fmt.Errorf("push incomplete: %d remote ref(s) still hold the value", len(pr.Incomplete))}
	}
	return nil
}

// splitPinned separates findings that only remote-tracking refs (and their reflogs) reach, which
// a purge without --push leaves on purpose, from the rest. It returns the rest and the names of
// those refs.
func splitPinned(fs []gitrepo.Finding) (local []gitrepo.Finding, remote []string) {
	seen := map[string]bool{}
	for _, x := range fs {
		pinned := len(x.Refs) > 0
		for _, r := range x.Refs {
			pinned = pinned && strings.HasPrefix(r, "refs/remotes/")
		}
		if !pinned {
			local = append(local, x)
			continue
		}
		for _, r := range x.Refs {
			r = strings.TrimSuffix(r, "@{reflog}")
			if !seen[r] {
				seen[r] = true
				remote = append(remote, r)
			}
		}
	}
	slices.Sort(remote)
	return local, remote
}

func printUntracked(out io.Writer, files []string) {
	if len(files) == 0 {
		return
	}
	fmt.Fprintf(out, "untracked or ignored files that hold the value (not touched: remove or edit them yourself):\n")
	for _, p := range files {
		fmt.Fprintf(out, "  %s\n", p)
	}
}

// printPurgePlan lists everything a purge would change.
func printPurgePlan(out io.Writer, plan *gitrepo.PurgePlan, push bool, remote, finish string) {
	fmt.Fprintf(out, "would rewrite %d of %d commits, %d trees, %d blobs (%d binary), %d tags; drop %d unreachable object(s)\n",
		plan.Commits, plan.CommitsTotal, plan.Trees, plan.Blobs, plan.BinaryBlobs, plan.Tags, plan.Unreachable)
	if len(plan.Refs) > 0 {
		fmt.Fprintln(out, "refs:")
	}
	for _, rc := range plan.Refs {
		switch {
		case rc.RenamedTo != "":
			fmt.Fprintf(out, "  rename %s → %s (%.12s)\n", redactName(rc.Ref, rc.RenamedTo), rc.RenamedTo, rc.Old)
		case rc.Created():
			// listed with its rename
		case rc.Deleted():
			fmt.Fprintf(out, "  delete %s %.12s (read-only forge ref)\n", rc.Ref, rc.Old)
		default:
			fmt.Fprintf(out, "  %s %.12s → %.12s\n", rc.Ref, rc.Old, rc.New)
		}
	}
	if plan.HEAD != "" {
		fmt.Fprintf(out, "HEAD → %s\n", plan.HEAD)
	}
	for _, sr := range plan.Symrefs {
		fmt.Fprintf(out, "symbolic ref %s\n", sr)
	}
	if plan.Config {
		fmt.Fprintln(out, "config: the value (a renamed branch's section) is masked")
	}
	if len(plan.Reflogs) > 0 {
		fmt.Fprintln(out, "reflogs:")
	}
	for _, lg := range plan.Reflogs {
		fmt.Fprintf(out, "  %s: %d of %d entries\n", lg.Ref, lg.Entries, lg.Total)
	}
	if plan.StashTotal > 0 {
		fmt.Fprintf(out, "stash: %d of %d entries rewritten, none dropped\n", plan.Stash, plan.StashTotal)
	}
	if plan.Notes > 0 {
		fmt.Fprintf(out, "notes: %d moved to the rewritten commit they annotate\n", plan.Notes)
	}
	if len(plan.Names) > 0 {
		fmt.Fprintf(out, "file names renamed: %s\n", strings.Join(plan.Names, ", "))
	}
	printUntracked(out, plan.Untracked)
	switch {
	case push:
		var targets []string
		for _, rc := range plan.Refs {
			if !rc.Deleted() || rc.RenamedTo != "" {
				targets = append(targets, rc.Ref)
			}
		}
		fmt.Fprintf(out, "remote %s: would force-push (each leased to its current value) the rewritten counterparts of %d ref(s); renamed refs are created there and their old names deleted\n", remote, len(targets))
	case len(plan.Pinned) > 0:
		fmt.Fprintf(out, "remote-tracking refs left where the remote is (%d object(s) holding the value stay until the remote is purged): %s\n", plan.PinnedObjects, strings.Join(plan.Pinned, ", "))
		fmt.Fprintf(out, "the remote is not changed; to finish: %s\n", finish)
	}
}

// redactName is a ref's old name for display: the masked new name says where the key was.
func redactName(old, renamed string) string {
	if strings.Contains(renamed, gitrepo.NameMask) {
		return strings.Replace(renamed, gitrepo.NameMask, "<key>", 1)
	}
	return old
}
