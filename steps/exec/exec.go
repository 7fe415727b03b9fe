// Package exec is the `exec` step: run a program (no shell) with templated argv, environment and
// standard input. It is how a playbook calls a custom tool, and the engine's own test step.
package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/respond-sec/respond/steps"
)

// Exec runs argv[0] with argv[1:]. The child sees only PATH, HOME, LANG and TZ from respond's
// environment plus Env (and RESPOND_REHEARSAL=1 in a rehearsal), so credentials in respond's
// environment do not leak to tools by accident.
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
	Outputs: Outputs{},
	Summary: "run a program without a shell; outputs stdout and exit_code",
	Traits:  steps.Traits{RunsPrograms: true},
}

// Outputs are the step's results.
type Outputs struct {
	Stdout   string `json:"stdout"`
	ExitCode int    `json:"exit_code"`
}

// RehearsalVar is set to 1 in the program's environment during a rehearsal.
const RehearsalVar = "RESPOND_REHEARSAL"

// Bounds on what is kept of a program's output, whatever it writes: the first maxOutput bytes
// of stdout (the step's output, journaled), the last maxStderr bytes of stderr, and the last
// maxShown bytes of each in the text a person sees.
const (
	maxOutput = 1 << 20
	maxStderr = 64 << 10
	maxShown  = 4 << 10
	maxError  = 500
)

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
	res, err := e.run(ctx, env, e.Argv)
	out := steps.Outputs{"stdout": res.stdout, "exit_code": res.code}
	if err != nil {
		return out, err
	}
	msg := fmt.Sprintf("%s exited %d", e.Argv[0], res.code)
	if shown := lastBytes(tail(res.stdout, 20), maxShown); shown != "" {
		msg += "\n" + shown
	}
	data := map[string]any{"exit_code": res.code}
	if res.truncated {
		msg += fmt.Sprintf("\n(stdout was cut: only its first %d bytes are kept)", maxOutput)
		data["stdout_truncated"] = true
	}
	env.Log(msg, data)
	if res.code != 0 {
		msg := lastBytes(strings.TrimSpace(res.stderr), maxError)
		if msg != "" {
			msg = ": " + msg
		}
		return out, fmt.Errorf("%s exited with status %d%s", e.Argv[0], res.code, msg)
	}
	return out, nil
}

// lastBytes keeps the end of s, at most n bytes, starting on a character boundary. s is already
// masked: cutting it cannot uncover a secret.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}

// Reconcile runs Check, if any, to learn whether an interrupted run already did the work.
func (e *Exec) Reconcile(ctx context.Context, env *steps.Env, _ []steps.Intent) (steps.Outputs, bool, error) {
	if len(e.Check) == 0 {
		env.Logf("no check command: running %s again", e.Argv[0])
		return nil, false, nil
	}
	res, err := e.run(ctx, env, e.Check)
	if err != nil {
		return nil, false, fmt.Errorf("check: %w", err)
	}
	return steps.Outputs{"stdout": "", "exit_code": 0}, res.code == 0, nil
}

// result is what a program left: its masked, bounded output and its exit code.
type result struct {
	stdout, stderr string
	code           int
	truncated      bool // stdout went past maxOutput
}

// run runs argv. Both streams are masked as they arrive, before anything is cut: the cap on
// stdout and the tail of stderr are taken from masked text, so no cut can leave a piece of a
// secret behind.
func (e *Exec) run(ctx context.Context, env *steps.Env, argv []string) (result, error) {
	secrets := env.Secrets
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.Dir
	cmd.Env = baseEnv()
	for k, v := range e.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// A rehearsal says so to the program, which may then skip what only makes sense for real.
	// It comes last: the playbook's env cannot make a rehearsal pass for an incident.
	if env.Getenv != nil && env.Getenv(RehearsalVar) == "1" {
		cmd.Env = append(cmd.Env, RehearsalVar+"=1")
	}
	if e.Stdin != "" {
		cmd.Stdin = strings.NewReader(e.Stdin)
	}
	head := &headBuffer{max: maxOutput}
	outMask := secrets.Writer(head)
	stdout := &untilFull{w: outMask, full: head.full}
	tailBuf := &tailBuffer{max: maxStderr}
	errMask := secrets.Writer(tailBuf)
	cmd.Stdout, cmd.Stderr = stdout, errMask
	// A child that leaves the pipes open to a grandchild must not hold the run.
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if stdout.dropped == 0 {
		// What the masking writer holds back is the end of the output; once the cap dropped
		// bytes, it is past the cut and is dropped with them (it may be half a secret).
		_ = outMask.Close()
	}
	_ = errMask.Close()
	res := result{stdout: head.String(), stderr: tailBuf.String(), truncated: stdout.dropped > 0 || head.dropped > 0}
	var exit *osexec.ExitError
	switch {
	case runErr == nil:
		return res, nil
	case errors.As(runErr, &exit) && ctx.Err() == nil:
		res.code = exit.ExitCode()
		return res, nil
	case ctx.Err() != nil:
		res.code = -1
		return res, fmt.Errorf("run %s: %w", argv[0], ctx.Err())
	default:
		return result{code: -1}, fmt.Errorf("run %s: %w", argv[0], runErr)
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

// headBuffer keeps the first max bytes written to it and counts the rest. It is a plain
// io.Writer on purpose: a bytes.Buffer's ReadFrom would let io.Copy fill it past any limit.
type headBuffer struct {
	b       []byte
	max     int
	dropped int64
}

func (h *headBuffer) Write(p []byte) (int, error) {
	room := h.max - len(h.b)
	if room > 0 {
		h.b = append(h.b, p[:min(len(p), room)]...)
	}
	h.dropped += int64(len(p) - min(len(p), max(room, 0)))
	return len(p), nil
}

func (h *headBuffer) full() bool { return len(h.b) >= h.max }

func (h *headBuffer) String() string { return string(h.b) }

// untilFull passes writes on until full reports true, then only counts them: output past the
// cap is neither kept nor masked, and the child is never blocked.
type untilFull struct {
	w       io.Writer
	full    func() bool
	dropped int64
}

func (u *untilFull) Write(p []byte) (int, error) {
	if u.dropped > 0 || u.full() {
		u.dropped += int64(len(p))
		return len(p), nil
	}
	return u.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it, in at most 2*max bytes of memory.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if len(t.b)+len(p) > 2*t.max {
		keep := t.max - len(p)
		t.b = t.b[:copy(t.b, t.b[len(t.b)-keep:])]
	}
	t.b = append(t.b, p...)
	return n, nil
}

func (t *tailBuffer) String() string {
	if len(t.b) > t.max {
		return string(t.b[len(t.b)-t.max:])
	}
	return string(t.b)
}
