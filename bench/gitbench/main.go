// Command gitbench runs the gitrepo scan or purge on one repository for bench/git.sh and prints
// what it found and how long it took. The secret is read from a file, never from argv.
//
//	gitbench scan  -repo PATH -secret-file F
//	gitbench purge -repo PATH -secret-file F -map-dir D
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/gitrepo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gitbench scan|purge -repo PATH -secret-file F [-map-dir D] [-workers N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	repo := fs.String("repo", "", "repository path")
	secretFile := fs.String("secret-file", "", "file holding the secret (one per line)")
	mapDir := fs.String("map-dir", "", "purge: where commit-map and ref-map go")
	workers := fs.Int("workers", 0, "parallel readers (0: GOMAXPROCS)")
	_ = fs.Parse(os.Args[2:])
	b, err := os.ReadFile(*secretFile)
	if err != nil {
		fail(err)
	}
	var secrets [][]byte
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			secrets = append(secrets, []byte(l))
		}
	}
	ctx := context.Background()
	start := time.Now()
	switch os.Args[1] {
	case "scan":
		res, err := gitrepo.Scan(ctx, gitrepo.ScanOptions{Path: *repo, Secrets: secrets, Workers: *workers})
		if err != nil {
			fail(err)
		}
		commits := map[string]bool{}
		for _, f := range append(res.Findings, res.Removals...) {
			if f.Kind == gitrepo.KindBlob {
				commits[f.Commit] = true
			}
		}
		fmt.Printf("scan %.3fs findings=%d removals=%d commits-with-changes=%d blobs-read=%d commits=%d refs=%d first-seen=%s\n",
			time.Since(start).Seconds(), len(res.Findings), len(res.Removals), len(commits), res.BlobsRead, res.Commits, res.Refs,
			res.FirstSeen.Format(time.RFC3339))
	case "purge":
		res, err := gitrepo.Purge(ctx, gitrepo.PurgeOptions{Path: *repo, Secrets: secrets, MapDir: *mapDir, Workers: *workers})
		if err != nil {
			fail(err)
		}
		fmt.Printf("purge %.3fs commits=%d trees=%d blobs=%d tags=%d refs=%d kept=%d written=%d dropped=%d\n",
			time.Since(start).Seconds(), res.Commits, res.Trees, res.Blobs, res.Tags, len(res.RefMap),
			res.ObjectsKept, res.ObjectsWritten, res.ObjectsDropped)
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gitbench:", err)
	os.Exit(1)
}
