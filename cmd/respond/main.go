// Command respond runs the incident response to a leaked API key. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/respond-sec/respond/internal/cli"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// History scans and purges hold large tables of trees and commits (pointer-free, so
		// cheap to mark): collecting when the heap has grown by half rather than doubled keeps
		// their peak memory near what they hold (measured on bench/git.sh's 100,000-commit
		// repository: a purge's peak RSS 790 -> 650 MiB). GOGC in the environment still wins.
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, &cli.Factory{IO: cli.StdIO()})
	stop()
	os.Exit(code)
}
