package cli

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/respond-sec/respond/internal/temporal"
)

// temporalEnv is what a command that talks to Temporal reads.
var temporalEnv = []string{"RESPOND_TEMPORAL_ADDRESS", "RESPOND_TEMPORAL_NAMESPACE", "RESPOND_TEMPORAL_KEY"}

// temporalFlags select a Temporal service; without --temporal (or RESPOND_TEMPORAL_ADDRESS) a
// command runs locally.
func temporalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "temporal", Usage: "run on the Temporal service at `HOST:PORT` (or RESPOND_TEMPORAL_ADDRESS)"},
		&cli.StringFlag{Name: "namespace", Usage: "Temporal `NAMESPACE` (or RESPOND_TEMPORAL_NAMESPACE; default: default)"},
		&cli.StringFlag{Name: "task-queue", Value: temporal.DefaultTaskQueue, Usage: "Temporal task `QUEUE` the workers poll"},
	}
}

// temporalOptions are the Temporal flags as given, with the environment's values for those left out.
type temporalOptions struct {
	Address, Namespace, TaskQueue string
}

func (f *Factory) temporalOptions(c *cli.Context) temporalOptions {
	o := temporalOptions{Address: c.String("temporal"), Namespace: c.String("namespace"), TaskQueue: c.String("task-queue")}
	if o.Address == "" {
		o.Address = f.Getenv("RESPOND_TEMPORAL_ADDRESS")
	}
	if o.Namespace == "" {
		o.Namespace = f.Getenv("RESPOND_TEMPORAL_NAMESPACE")
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	return o
}

// dialTemporal connects with the deployment's payload key, refusing to go on without one.
func (f *Factory) dialTemporal(ctx context.Context, o temporalOptions) (*temporal.Key, client.Client, error) {
	key, err := temporal.KeyFromEnv(f.Getenv)
	if err != nil {
		return nil, nil, usageErr("%v", err)
	}
	c, err := temporal.Dial(ctx, temporal.Conn{Address: o.Address, Namespace: o.Namespace, Key: key})
	if err != nil {
		return nil, nil, err
	}
	return key, c, nil
}

type workerOptions struct {
	temporalOptions
	StopTimeout time.Duration
	Metrics     string
}

func newWorkerCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "execute runs submitted to Temporal (respond run --temporal, respond serve --temporal)",
		Description: "A worker executes runs as Temporal workflows: each step is an activity that any worker may\n" +
			"pick up, and the run's events live in the workflow's history, encrypted with RESPOND_TEMPORAL_KEY.\n" +
			"Run several next to the Slack bot: when one dies mid-step, another continues the run from its\n" +
			"history, reconciling the step's recorded intents before acting again. Credentials (OPENAI_ADMIN_KEY,\n" +
			"GITHUB_TOKEN, SLACK_BOT_TOKEN) are the worker's. SIGTERM stops it gracefully." + envHelp(append(temporalEnv, runEnv...)...),
		Flags: append(temporalFlags(),
			&cli.DurationFlag{Name: "stop-timeout", Value: 30 * time.Second, Usage: "on SIGTERM, how long running steps may finish before they are handed to another worker"},
			&cli.StringFlag{Name: "metrics", Usage: "serve the SDK's metrics as JSON at http://`ADDR`/debug/vars"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageErr("worker takes no arguments; got %d", c.NArg())
			}
			o := workerOptions{temporalOptions: f.temporalOptions(c), StopTimeout: c.Duration("stop-timeout"), Metrics: c.String("metrics")}
			return runWorker(c.Context, f, o)
		},
	}
}

func runWorker(ctx context.Context, f *Factory, o workerOptions) error {
	if o.Address == "" {
		return usageErr("worker needs --temporal HOST:PORT or RESPOND_TEMPORAL_ADDRESS")
	}
	dir, err := f.stateDir()
	if err != nil {
		return err
	}
	key, c, err := f.dialTemporal(ctx, o.temporalOptions)
	if err != nil {
		return err
	}
	defer c.Close()
	if o.Metrics != "" {
		ln, err := net.Listen("tcp", o.Metrics)
		if err != nil {
			return usageErr("--metrics %s: %v", o.Metrics, err)
		}
		// Its own mux: libraries register debugging handlers on the default one.
		mux := http.NewServeMux()
		mux.Handle("/debug/vars", expvar.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(f.IO.Err, "metrics at http://%s/debug/vars\n", ln.Addr())
	}
	acts := &temporal.Activities{Client: c, Key: key, Dir: dir, Getenv: f.Getenv, Now: f.Now, Resolve: resolveSecretRefs,
		Warnings: f.IO.Err, AfterAppend: crashHook(f.Getenv("RESPOND_TEST_CRASH_AFTER"))}
	err = temporal.RunWorker(ctx, c, acts, temporal.WorkerOptions{TaskQueue: o.TaskQueue, StopTimeout: o.StopTimeout,
		Started: func() {
			fmt.Fprintf(f.IO.Err, "worker: executing runs from task queue %s on %s (namespace %s)\n", o.TaskQueue, o.Address, o.Namespace)
		}})
	if err != nil {
		return err
	}
	fmt.Fprintln(f.IO.Err, "worker: stopped")
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
