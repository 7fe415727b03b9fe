package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/respond-sec/respond/internal/redact"
)

// CommandSink runs a program (no shell) with the value on its stdin, e.g. a secret manager's
// CLI. The program sees only PATH, HOME and LANG from respond's environment, plus Env: never
// respond's credentials, never its inputs (RESPOND_INPUT_*), never whatever else the shell that
// started respond happened to hold.
type CommandSink struct {
	Argv []string
	Env  map[string]string
}

// CommandError is a command that failed. Stderr (its first 64 KiB, with the delivered value
// masked before the cut) is kept for the caller to redact and show; it is not part of Error(),
// because a failing command may echo its input in forms the sink does not know.
type CommandError struct {
	Program  string
	ExitCode int // -1 when the command did not exit normally
	Stderr   []byte
	Err      error
}

func (e *CommandError) Error() string {
	if e.ExitCode >= 0 {
		return fmt.Sprintf("command %s exited with status %d", e.Program, e.ExitCode)
	}
	return fmt.Sprintf("command %s: %v", e.Program, e.Err)
}

func (e *CommandError) Unwrap() error { return e.Err }

// maxOutput bounds the stderr kept from a command.
const maxOutput = 64 << 10

// inherited is all a sink command gets from respond's environment; everything else it needs,
// the sink's env names.
var inherited = []string{"PATH", "HOME", "LANG"}

// Deliver runs the command with value on stdin; a non-zero exit is a *CommandError.
func (c *CommandSink) Deliver(ctx context.Context, value []byte) error {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(value)
	cmd.Env = c.environ(os.LookupEnv)
	// The value is masked in stderr as it arrives, before the cap cuts it: a cut through an
	// echoed value would leave a piece no later masking recognises.
	mask := redact.New()
	mask.Add(string(value))
	stderr := &limitedBuffer{max: maxOutput}
	masked := mask.Writer(stderr)
	cmd.Stdout = io.Discard
	cmd.Stderr = masked
	// A child that keeps the pipes open after being killed must not hang the run.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	_ = masked.Close()
	if err == nil {
		return nil
	}
	ce := &CommandError{Program: c.Argv[0], ExitCode: -1, Stderr: stderr.Bytes(), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		ce.ExitCode = ee.ExitCode()
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		ce.ExitCode, ce.Err = -1, ctxErr
	}
	return fmt.Errorf("deliver to %s: %w", c.Describe(), ce)
}

// environ is the command's whole environment: the inherited allow-list, then Env.
func (c *CommandSink) environ(lookup func(string) (string, bool)) []string {
	var env []string
	for _, k := range inherited {
		if _, set := c.Env[k]; set {
			continue
		}
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+c.Env[k])
	}
	return env
}

// Describe names the program only: arguments may carry tokens.
func (c *CommandSink) Describe() string {
	return fmt.Sprintf("stdin of command %s (%d args)", c.Argv[0], len(c.Argv)-1)
}

// Exists is not supported: a command cannot be asked what it holds.
func (c *CommandSink) Exists(context.Context) (bool, error) {
	return false, fmt.Errorf("check %s: %w", c.Describe(), ErrUnsupported)
}

// Undo is not supported.
func (c *CommandSink) Undo(context.Context) error {
	return fmt.Errorf("undo %s: %w", c.Describe(), ErrUnsupported)
}

// limitedBuffer keeps the first max bytes and discards the rest (never blocking the child).
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte { return bytes.Clone(b.buf.Bytes()) }
