// Command gitbench runs the gitrepo scan or purge on one repository for bench/git.sh and prints
// what it found and how long it took. The secret is read from a file, never from argv.
//
//	gitbench scan  -repo PATH -secret-file F [-cache SIZE]
//	gitbench purge -repo PATH -secret-file F -map-dir D [-cache SIZE]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
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
	memProfile := fs.String("memprofile", "", "write a heap profile taken at the peak of the Go heap")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile")
	cache := fs.String("cache", "", "tree and commit data kept in memory, e.g. 64MiB (default: gitrepo's)")
	_ = fs.Parse(os.Args[2:])
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50) // as cmd/respond does
	}
	var mem gitrepo.Memory
	if *cache != "" {
		n, err := gitrepo.ParseSize(*cache)
		if err != nil {
			fail(err)
		}
		mem.CacheBytes = n
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		stop := profilePeak(*memProfile)
		defer stop()
	}
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
		res, err := gitrepo.Scan(ctx, gitrepo.ScanOptions{Path: *repo, Secrets: secrets, Workers: *workers, Memory: mem})
		if err != nil {
			fail(err)
		}
		commits := map[string]bool{}
		for _, f := range append(res.Findings, res.Removals...) {
			if f.Kind == gitrepo.KindBlob {
				commits[f.Commit] = true
			}
		}
		fmt.Printf("scan %.3fs findings=%d removals=%d commits-with-changes=%d blobs-read=%d commits=%d refs=%d unreachable=%d first-seen=%s\n",
			time.Since(start).Seconds(), len(res.Findings), len(res.Removals), len(commits), res.BlobsRead, res.Commits, res.Refs, res.Unreachable,
			res.FirstSeen.Format(time.RFC3339))
	case "purge":
		res, err := gitrepo.Purge(ctx, gitrepo.PurgeOptions{Path: *repo, Secrets: secrets, MapDir: *mapDir, Workers: *workers, Memory: mem})
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

// profilePeak samples the Go heap every 20 ms and writes a heap profile whenever it reaches a new
// peak, so that the file shows what the heap held at its largest. The returned func stops it and
// prints the peak.
func profilePeak(path string) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	var peak uint64
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak+peak/10 {
				peak = ms.HeapInuse
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		fmt.Fprintf(os.Stderr, "gitbench: peak Go heap in use %d MiB\n", peak>>20)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gitbench:", err)
	os.Exit(1)
}
