package exec_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/steps/exec"
	"github.com/respond-sec/respond/steps/stepstest"
)

// sh runs a shell script as the exec step would (the step itself never uses a shell).
func sh(script string, args ...string) *exec.Exec {
	return &exec.Exec{Argv: append([]string{"sh", "-c", script, "sh"}, args...)}
}

// A cut through a key must never show the part of it past the cut: the text is masked first.
func TestCutsNeverShowPartOfASecret(t *testing.T) {
	key := fakekey.New(21).OpenAIProjectKey()
	plain := "plain-" + fakekey.New(22).Hex(40) // registered, no known shape
	tests := []struct {
		name     string
		script   string
		arg      string
		secret   string
		register bool
	}{
		// stderr's last 500 bytes start 50 bytes before the key's end: the prefix is cut off.
		{"stderr tail through a key shape", `printf %s "$1" >&2; exit 3`, key + strings.Repeat("y", 450), key, false},
		{"stderr tail through a registered secret", `printf %s "$1" >&2; exit 3`, plain + strings.Repeat("y", 480), plain, true},
		// stdout's 1 MiB cap falls in the middle of the key.
		{"stdout cap through a key", `head -c 1048526 /dev/zero | tr '\0' a; printf '%s\n' "$1"; head -c 5000 /dev/zero`, key, key, false},
		{"stdout cap through a registered secret", `head -c 1048556 /dev/zero | tr '\0' a; printf '%s\n' "$1"`, plain, plain, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := stepstest.New(t, nil)
			if tc.register {
				rec.Env.Secrets = redact.New()
				rec.Env.Secrets.Add(tc.secret)
			}
			out, err := sh(tc.script, tc.arg).Run(t.Context(), rec.Env)
			text := stepstest.JSON(t, out) + rec.Text()
			if err != nil {
				text += err.Error()
			}
			stepstest.AssertNoSecret(t, text, tc.secret)
			if len(out["stdout"].(string)) > 1<<20 {
				t.Errorf("stdout kept %d bytes", len(out["stdout"].(string)))
			}
		})
	}
}

// 100 MB of output: what is kept, logged and journaled stays bounded, and so does memory (the
// cap used to be bypassed by bytes.Buffer.ReadFrom: 1.6 GB of memory and a 200 MB journal).
func TestHugeOutputStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB through a pipe")
	}
	rec := stepstest.New(t, nil)
	rec.Env.Secrets = redact.New()
	rec.Env.Secrets.Add(fakekey.New(23).OpenAIProjectKey())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := sh(`yes 'a line of output 0123456789' | head -c 100000000; yes 'and errors' | head -c 100000000 >&2; exit 1`).Run(t.Context(), rec.Env)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "exited with status 1") {
		t.Fatalf("err = %v", err)
	}
	journaled := len(stepstest.JSON(t, out)) + len(rec.Text()) + len(err.Error())
	if journaled > 1<<20+1<<17 { // the 1 MiB cap, JSON escaping of its newlines, a 4 KiB log and the error
		t.Errorf("%d bytes would be journaled", journaled)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MB for 200 MB of output", alloc>>20)
	}
	if !strings.Contains(rec.Text(), "stdout was cut") {
		t.Errorf("the log does not say stdout was cut: %.300s", rec.Text())
	}
}

func TestShortOutputIsKeptWhole(t *testing.T) {
	rec := stepstest.New(t, nil)
	out, err := sh(`printf 'one\ntwo'; printf 'ignored' >&2`).Run(t.Context(), rec.Env)
	if err != nil || out["stdout"] != "one\ntwo" || out["exit_code"] != 0 {
		t.Fatalf("out = %v, err = %v", out, err)
	}
	if strings.Contains(rec.Text(), "cut") {
		t.Errorf("log: %s", rec.Text())
	}
}

// A program learns it runs in a rehearsal from RESPOND_REHEARSAL=1 and from nothing else: not
// from a value other than 1, and not from the playbook's own env.
func TestRehearsalVariable(t *testing.T) {
	tests := []struct {
		name   string
		getenv map[string]string
		env    map[string]string
		want   string
	}{
		{"rehearsal", map[string]string{"RESPOND_REHEARSAL": "1"}, nil, "[1]"},
		{"real run", nil, nil, "[]"},
		{"another value is not a rehearsal", map[string]string{"RESPOND_REHEARSAL": "yes"}, nil, "[]"},
		{"the playbook cannot unset it", map[string]string{"RESPOND_REHEARSAL": "1"}, map[string]string{"RESPOND_REHEARSAL": "0"}, "[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := stepstest.New(t, tc.getenv)
			step := sh(`printf '[%s]' "$RESPOND_REHEARSAL"`)
			step.Env = tc.env
			out, err := step.Run(t.Context(), rec.Env)
			if err != nil {
				t.Fatal(err)
			}
			if got := out["stdout"]; got != tc.want {
				t.Errorf("the program saw %q, want %q", got, tc.want)
			}
		})
	}
}
