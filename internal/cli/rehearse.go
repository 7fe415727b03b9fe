package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/rehearsal"
)

type rehearseOptions struct {
	Playbook string
	Seed     uint64
	DryRun   bool
	JSONFile string
	Output   string
	KeepDir  string
}

func newRehearseCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "rehearse",
		Usage:     "run a playbook end to end against built-in simulators (no credentials needed)",
		ArgsUsage: "PLAYBOOK",
		Description: "Serves simulators of every external system on 127.0.0.1, plants a fresh fake leaked key,\n" +
			"runs the playbook unchanged through the normal engine with approvals recorded as \"rehearsal\",\n" +
			"then checks from the simulators' state that the response worked. Exit 0 only if every check holds.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "seed", Usage: "reproduce a world: same keys, IDs and usage (default: random)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "plan the changing steps and prove nothing changed"},
			&cli.StringFlag{Name: "json", Usage: "write the result as JSON to `FILE`"},
			&cli.StringFlag{Name: "dir", Usage: "build the world in `DIR` and keep it (default: a temporary directory, removed)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text, or json on stdout"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("rehearse takes one PLAYBOOK (flags go before it)")
			}
			o := rehearseOptions{Playbook: c.Args().First(), DryRun: c.Bool("dry-run"), JSONFile: c.String("json"),
				Output: c.String("output"), KeepDir: c.String("dir")}
			if s := c.String("seed"); s != "" {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil || n == 0 {
					return usageErr("--seed must be a positive whole number, got %q", s)
				}
				o.Seed = n
			}
			return runRehearse(c.Context, f, o)
		},
	}
}

// rehearsalResult is the JSON form of a rehearsal.
type rehearsalResult struct {
	Playbook      string                   `json:"playbook"`
	RunID         string                   `json:"run_id"`
	Seed          uint64                   `json:"seed"`
	DryRun        bool                     `json:"dry_run"`
	Outcome       string                   `json:"outcome"`
	TimeToRevoke  int64                    `json:"time_to_revoke_ms"`
	DurationMS    int64                    `json:"duration_ms"`
	Steps         []stepSummaryJSON        `json:"steps"`
	Verifications []rehearsal.Verification `json:"verifications"`
}

// timeline records when things happened, for time to revoke.
type timeline struct {
	mu      sync.Mutex
	started time.Time
	revoked time.Time
}

func (t *timeline) Emit(e event.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case e.Kind == event.RunStarted:
		t.started = e.Time
	case e.Kind == event.StepSucceeded && e.Uses == "openai.revoke-key" && t.revoked.IsZero():
		t.revoked = e.Time
	}
	return nil
}

func (t *timeline) toRevoke() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.revoked.IsZero() {
		return 0
	}
	return t.revoked.Sub(t.started)
}

func rehearsalInputs(pb *playbook.Playbook, w *rehearsal.World) (map[string]any, error) {
	out := map[string]any{}
	for _, in := range pb.Inputs {
		v, ok := w.Input(in.Name)
		if !ok {
			if in.Required {
				return nil, usageErr("the rehearsal world has no value for required input %q of %s", in.Name, pb.Name)
			}
			v = in.Default
			if v == nil {
				v = zeroOf(in.Type)
			}
			out[in.Name] = v
			continue
		}
		cv, err := convert(in, v, "rehearsal")
		if err != nil {
			return nil, usageErr("rehearsal input %s: %v", in.Name, err)
		}
		out[in.Name] = cv
	}
	return out, nil
}

func runRehearse(ctx context.Context, f *Factory, o rehearseOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return usageErr("--output must be text or json, got %q", o.Output)
	}
	pb, err := loadPlaybook(o.Playbook)
	if err != nil {
		return err
	}
	w, err := rehearsal.Start(ctx, rehearsal.Options{Seed: o.Seed, Dir: o.KeepDir})
	if err != nil {
		return err
	}
	defer w.Close()
	f.Secrets.Add(w.Secrets()...)
	inputs, err := rehearsalInputs(pb, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Err, "rehearsal world: seed %d, OpenAI simulator up, leaked key %s planted\n\n", w.Seed, f.Secrets.String(w.LeakedKey()))

	before := w.OpenAI.State()
	snapshot := w.OpenAI.Snapshot()
	tl := &timeline{}
	started := f.Now()
	res, runErr := f.execute(ctx, runSpec{
		pb: pb, inputs: inputs, dryRun: o.DryRun, mode: "rehearsal", output: "text", startedBy: "rehearsal",
		approver: engine.AutoApprover{By: "rehearsal", Via: "rehearsal"}, getenv: w.Getenv, sinks: []event.Sink{tl},
		quiet: o.Output == "json",
	})
	if res == nil {
		return runErr
	}
	var checks []rehearsal.Verification
	if o.DryRun {
		same := bytes.Equal(snapshot, w.OpenAI.Snapshot())
		checks = append(checks, rehearsal.Verification{Name: "dry run changed nothing in the OpenAI simulator", OK: same,
			Detail: fmt.Sprintf("state snapshot identical: %v", same)})
	} else {
		checks = w.Verify(ctx, before)
	}
	result := rehearsalResult{Playbook: pb.Name, RunID: res.RunID, Seed: w.Seed, DryRun: o.DryRun, Outcome: res.Outcome,
		TimeToRevoke: tl.toRevoke().Milliseconds(), DurationMS: f.Now().Sub(started).Milliseconds(),
		Steps: jsonSummary(res).Steps, Verifications: checks}
	if o.Output == "json" {
		writeJSON(f.IO.Out, f, result)
	} else {
		printVerifications(f.IO.Err, result)
	}
	if o.JSONFile != "" {
		var b bytes.Buffer
		writeJSON(&b, f, result)
		if err := os.WriteFile(o.JSONFile, b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", o.JSONFile, err)
		}
	}
	if runErr != nil {
		return runErr
	}
	for _, c := range checks {
		if !c.OK {
			return &reported{code: ExitStepFailed, err: fmt.Errorf("rehearsal verification failed: %s", c.Name)}
		}
	}
	return nil
}

func writeJSON(w io.Writer, f *Factory, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, f.Secrets.String(string(b)))
}

func printVerifications(w io.Writer, r rehearsalResult) {
	fmt.Fprintf(w, "\nverification (from the simulators' state):\n")
	for _, c := range r.Verifications {
		mark := "✓"
		if !c.OK {
			mark = "✗"
		}
		fmt.Fprintf(w, "  %s %-44s %s\n", mark, c.Name, c.Detail)
	}
	if r.TimeToRevoke > 0 {
		fmt.Fprintf(w, "\ntime to revoke: %s   total: %s\n", fmtDur(time.Duration(r.TimeToRevoke)*time.Millisecond), fmtDur(time.Duration(r.DurationMS)*time.Millisecond))
	}
}
