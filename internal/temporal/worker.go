package temporal

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Conn says where the Temporal service is and how payloads are sealed.
type Conn struct {
	Address   string
	Namespace string
	Key       *Key
	// Logger receives the SDK's log (nil: warnings and errors only, to stderr through slog's
	// default handler).
	Logger *slog.Logger
}

// Dial connects to the Temporal service with the payload codec: nothing this client sends is in
// clear.
func Dial(ctx context.Context, c Conn) (client.Client, error) {
	if c.Key == nil {
		return nil, ErrNoKey
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cl, err := client.DialContext(ctx, client.Options{HostPort: c.Address, Namespace: c.Namespace,
		DataConverter: DataConverter(c.Key), FailureConverter: FailureConverter(c.Key),
		Logger: tlog.NewStructuredLogger(logger), MetricsHandler: newMetrics()})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", c.Address, c.Namespace, err)
	}
	return cl, nil
}

// WorkerOptions configure a worker.
type WorkerOptions struct {
	TaskQueue string
	// StopTimeout is how long a stopping worker lets running activities finish before it
	// cancels them (their steps then continue on another worker).
	StopTimeout time.Duration
	// Started is called once the worker polls.
	Started func()
}

// RunWorker executes runs from the task queue until ctx ends, then stops gracefully: it stops
// polling, gives running activities StopTimeout to finish, and cancels the rest, which the
// server hands to another worker.
func RunWorker(ctx context.Context, c client.Client, acts *Activities, o WorkerOptions) error {
	if o.TaskQueue == "" {
		o.TaskQueue = DefaultTaskQueue
	}
	w := worker.New(c, o.TaskQueue, worker.Options{WorkerStopTimeout: o.StopTimeout})
	w.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(acts.Begin, activity.RegisterOptions{Name: activityBegin})
	w.RegisterActivityWithOptions(acts.Step, activity.RegisterOptions{Name: activityStep})
	w.RegisterActivityWithOptions(acts.Finish, activity.RegisterOptions{Name: activityFinish})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", o.TaskQueue, err)
	}
	if o.Started != nil {
		o.Started()
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
