// Command respond runs the incident response to a leaked API key. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/respond-sec/respond/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, &cli.Factory{IO: cli.StdIO()})
	stop()
	os.Exit(code)
}
