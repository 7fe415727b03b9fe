package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// CommandSink runs a program (no shell) with the value on its stdin, e.g. a secret manager's
// CLI. The program inherits the environment minus respond's own credentials, plus Env.
type CommandSink struct {
	Argv []string
	Env  map[string]string
}

// CommandError is a command that failed. Stderr is kept for the caller to redact and show; it
// is not part of Error(), because a failing command may echo its input.
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

// credentialVars are never passed to a sink command unless Env sets them explicitly: the
// command needs the new key, not respond's admin credentials.
var credentialVars = []string{
	"OPENAI_ADMIN_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "GH_TOKEN",
	"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN",
}

// Deliver runs the command with value on stdin; a non-zero exit is a *CommandError.
func (c *CommandSink) Deliver(ctx context.Context, value []byte) error {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(value)
	cmd.Env = c.environ()
	stderr := &limitedBuffer{max: maxOutput}
	cmd.Stdout = &limitedBuffer{max: maxOutput}
	cmd.Stderr = stderr
	// A child that keeps the pipes open after being killed must not hang the run.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
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

func (c *CommandSink) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, cv := range credentialVars {
			if strings.EqualFold(k, cv) {
				drop = true
			}
		}
		if _, set := c.Env[k]; set {
			drop = true
		}
		if !drop {
			env = append(env, kv)
		}
	}
	for k, v := range c.Env {
		env = append(env, k+"="+v)
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
