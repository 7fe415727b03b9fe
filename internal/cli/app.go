// Package cli is the respond command line: one file per command, all output through IO, and the
// only place exit codes are chosen. Nothing here calls os.Exit; cmd/respond does, with the code
// Main returns.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitStepFailed  = 1
	ExitUsage       = 2
	ExitDenied      = 3
	ExitCredentials = 4
	// ExitInterrupted follows the shell's 128+SIGINT: the run was stopped, not failed or denied.
	ExitInterrupted = 130
)

// Version is set at build time with -ldflags "-X github.com/respond-sec/respond/internal/cli.Version=…".
var Version = "dev"

// IO is where a command reads and writes. Data goes to Out; progress and errors go to Err.
type IO struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	InTTY  bool
	OutTTY bool
	ErrTTY bool
	// ErrSize reports the terminal's columns and rows when Err is one (nil otherwise).
	ErrSize func() (cols, rows int)
}

// Factory is what every command shares: streams, environment, clock and the run-wide
// redaction set.
type Factory struct {
	IO      IO
	Getenv  func(string) string
	Now     func() time.Time
	Secrets *redact.Set
	// ReadSecret reads one secret typed on the terminal without echo; nil means the real terminal
	// when stdin is one. Tests set it.
	ReadSecret func() (string, error)

	reminders []string
}

// remind queues a line printed once the command is over, after everything else (e.g. "delete the
// file that holds the leaked key").
func (f *Factory) remind(format string, args ...any) {
	f.reminders = append(f.reminders, fmt.Sprintf(format, args...))
}

// StdIO returns the process's streams with terminal detection.
func StdIO() IO {
	io := IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, InTTY: isTerminal(os.Stdin), OutTTY: isTerminal(os.Stdout),
		ErrTTY: isTerminal(os.Stderr)}
	if io.ErrTTY {
		io.ErrSize = func() (int, int) {
			c, r, err := term.GetSize(int(os.Stderr.Fd()))
			if err != nil {
				return 0, 0
			}
			return c, r
		}
	}
	return io
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// exitError carries an exit code chosen here.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string, f *Factory) int {
	if f.Getenv == nil {
		f.Getenv = os.Getenv
	}
	if f.Now == nil {
		f.Now = time.Now
	}
	if f.Secrets == nil {
		f.Secrets = redact.New()
	}
	errw := f.Secrets.Writer(f.IO.Err)
	defer errw.Flush()
	outw := f.Secrets.Writer(f.IO.Out)
	defer outw.Flush()
	f.IO.Err, f.IO.Out = errw, outw
	f.useInstallationKey()
	app := NewApp(f)
	err := app.RunContext(ctx, interspersed(app, args))
	code := ExitCode(err)
	if err != nil && !errors.Is(err, errAlreadyReported) {
		fmt.Fprintf(f.IO.Err, "respond: %v\n", f.Secrets.String(err.Error()))
	}
	for _, r := range f.reminders {
		fmt.Fprintf(f.IO.Err, "reminder: %s\n", r)
	}
	return code
}

// errAlreadyReported marks an error whose details a command has printed itself.
var errAlreadyReported = errors.New("reported")

type reported struct {
	code int
	err  error
}

func (r *reported) Error() string { return r.err.Error() }
func (r *reported) Unwrap() []error {
	return []error{r.err, errAlreadyReported}
}

// ExitCode maps an error to the documented exit codes.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var rep *reported
	if errors.As(err, &rep) && rep.code != 0 {
		return rep.code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var pe playbook.Errors
	switch {
	case errors.As(err, &pe):
		return ExitUsage
	case errors.Is(err, steps.ErrCredentials):
		return ExitCredentials
	case errors.Is(err, engine.ErrInterrupted):
		return ExitInterrupted
	case errors.Is(err, engine.ErrDenied), errors.Is(err, engine.ErrNoApprover), errors.Is(err, engine.ErrCancelled):
		return ExitDenied
	case errors.Is(err, engine.ErrStepFailed), errors.Is(err, engine.ErrPreflight):
		return ExitStepFailed
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitUsage
}

// NewApp builds the urfave/cli application.
func NewApp(f *Factory) *cli.App {
	app := &cli.App{
		Name:                      "respond",
		Usage:                     "run the incident response to a leaked API key",
		Version:                   Version,
		Writer:                    f.IO.Out,
		ErrWriter:                 f.IO.Err,
		DisableSliceFlagSeparator: true,
		EnableBashCompletion:      true,
		Action:                    unknownCommand,
		// Without this handler urfave/cli calls os.Exit itself (cli.HandleExitCoder); Main chooses codes.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageErr("%v.%s (see `%s --help`)", err, flagHint(c, err), commandPath(c))
		},
		Commands: []*cli.Command{
			newRehearseCmd(f),
			newRunCmd(f, false),
			newRunCmd(f, true),
			newResumeCmd(f),
			newRollbackCmd(f),
			newValidateCmd(f),
			newDoctorCmd(f),
			newAuditCmd(f),
			newPlaybooksCmd(f),
			newRunsCmd(f),
			newScanCmd(f),
			newPurgeCmd(f),
			newServeCmd(f),
			newWorkerCmd(f),
			newVersionCmd(f),
			newCompletionCmd(f),
		},
	}
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			if c.OnUsageError == nil {
				c.OnUsageError = app.OnUsageError
			}
			if len(c.Subcommands) > 0 && c.Action == nil {
				c.Action = unknownCommand
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return app
}

func newVersionCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			cli.VersionPrinter(c)
			return nil
		},
	}
}

// useInstallationKey makes fingerprints this installation's (stable across runs) for every
// command, also those that never touch the state directory (scan), when the directory exists. A
// missing or refused directory is left to the commands that need it to report.
func (f *Factory) useInstallationKey() {
	dir, err := journal.DefaultDir(f.Getenv)
	if err != nil {
		return
	}
	if _, err := os.Stat(dir); err == nil {
		_ = prepareState(dir)
	}
}

func (f *Factory) stateDir() (string, error) {
	dir, err := journal.DefaultDir(f.Getenv)
	if err != nil {
		return "", err
	}
	return dir, prepareState(dir)
}
