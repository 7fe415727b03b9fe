// Package exec is the `exec` step: run a program (no shell) with templated argv, environment and
// standard input. It is how a playbook calls a custom tool, and the engine's own test step.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"

	"github.com/respond-sec/respond/steps"
)

// Exec runs argv[0] with argv[1:]. The child sees only PATH, HOME, LANG and TZ from respond's
// environment plus Env, so credentials in respond's environment do not leak to tools by accident.
type Exec struct {
	Argv  []string          `yaml:"argv" respond:"no-secret"` // argv is visible to every user (ps)
	Env   map[string]string `yaml:"env"`
	Stdin string            `yaml:"stdin"`
	Dir   string            `yaml:"dir"`
	// Check, when set, is run on resume after a crash mid-step: exit 0 means the work was done
	// and is not repeated; any other exit runs Argv again.
	Check []string `yaml:"check" respond:"no-secret"`
}

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "exec",
	New:     func() steps.Step { return &Exec{} },
	Outputs: []string{"stdout", "exit_code"},
	Summary: "run a program without a shell; outputs stdout and exit_code",
}

// maxOutput bounds what is kept of a program's output.
const maxOutput = 1 << 20

// Validate checks the parameters.
func (e *Exec) Validate() error {
	if len(e.Argv) == 0 || strings.TrimSpace(e.Argv[0]) == "" {
		return errors.New("argv: a program to run is required")
	}
	for k := range e.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: invalid variable name %q", k)
		}
	}
	return nil
}

// Plan shows the command that would run.
func (e *Exec) Plan(_ context.Context, _ *steps.Env) (*steps.Plan, error) {
	params := map[string]any{"argv": e.Argv}
	if len(e.Env) > 0 {
		keys := make([]string, 0, len(e.Env))
		for k := range e.Env {
			keys = append(keys, k)
		}
		params["env"] = keys
	}
	if e.Stdin != "" {
		params["stdin_bytes"] = len(e.Stdin)
	}
	return &steps.Plan{
		Summary: "run " + strings.Join(e.Argv, " "),
		Actions: []steps.Action{{Method: "exec", Target: e.Argv[0], Params: params}},
		Outputs: steps.Outputs{"stdout": "", "exit_code": 0},
	}, nil
}

// Run runs the program; a non-zero exit fails the step.
func (e *Exec) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	stdout, code, stderr, err := e.run(ctx, e.Argv)
	out := steps.Outputs{"stdout": stdout, "exit_code": code}
	if err != nil {
		return out, err
	}
	msg := fmt.Sprintf("%s exited %d", e.Argv[0], code)
	if shown := tail(stdout, 20); shown != "" {
		msg += "\n" + shown
	}
	env.Log(msg, map[string]any{"exit_code": code})
	if code != 0 {
		msg := strings.TrimSpace(stderr)
		if len(msg) > 500 {
			msg = "…" + msg[len(msg)-500:]
		}
		if msg != "" {
			msg = ": " + msg
		}
		return out, fmt.Errorf("%s exited with status %d%s", e.Argv[0], code, msg)
	}
	return out, nil
}

// Reconcile runs Check, if any, to learn whether an interrupted run already did the work.
func (e *Exec) Reconcile(ctx context.Context, env *steps.Env, _ []steps.Intent) (steps.Outputs, bool, error) {
	if len(e.Check) == 0 {
		env.Logf("no check command: running %s again", e.Argv[0])
		return nil, false, nil
	}
	_, code, _, err := e.run(ctx, e.Check)
	if err != nil {
		return nil, false, fmt.Errorf("check: %w", err)
	}
	return steps.Outputs{"stdout": "", "exit_code": 0}, code == 0, nil
}

func (e *Exec) run(ctx context.Context, argv []string) (stdout string, code int, stderr string, err error) {
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.Dir
	cmd.Env = baseEnv()
	for k, v := range e.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if e.Stdin != "" {
		cmd.Stdin = strings.NewReader(e.Stdin)
	}
	var o, se limited
	cmd.Stdout, cmd.Stderr = &o, &se
	runErr := cmd.Run()
	var exit *osexec.ExitError
	switch {
	case runErr == nil:
		return o.String(), 0, se.String(), nil
	case errors.As(runErr, &exit) && ctx.Err() == nil:
		return o.String(), exit.ExitCode(), se.String(), nil
	case ctx.Err() != nil:
		return o.String(), -1, se.String(), fmt.Errorf("run %s: %w", argv[0], ctx.Err())
	default:
		return "", -1, "", fmt.Errorf("run %s: %w", argv[0], runErr)
	}
}

// tail returns at most the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// limited keeps the first maxOutput bytes of what is written to it.
type limited struct{ bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
