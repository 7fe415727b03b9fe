package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/journal"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/rehearsal"
	"github.com/respond-sec/respond/internal/runner"
	"github.com/respond-sec/respond/internal/secretref"
)

func newResumeCmd(f *Factory) *cli.Command {
	flags := append([]cli.Flag{}, inputFlags...)
	flags = append(flags,
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "approve every approval-gated step (recorded as --yes)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"},
		&cli.StringFlag{Name: "playbook", Aliases: []string{"p"}, Usage: "continue with an edited playbook `FILE`: the diff is shown; only steps the run has not finished may change, and new steps go after them"},
		&cli.StringFlag{Name: "world", Hidden: true, Usage: "for a rehearsal run: the handle `FILE` of the world that still serves its simulators"},
	)
	flags = append(flags, temporalFlags()...)
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue an interrupted or failed run at its first unfinished step",
		ArgsUsage: "RUN|last",
		Description: "RUN is a run ID, a unique prefix of one, or last (the newest run).\n" +
			"The playbook and non-secret inputs come from the run's journal. Secret inputs are never\n" +
			"journaled: pass them again (their fingerprints must match the original run's), with --input,\n" +
			"--input-file or RESPOND_INPUT_<NAME>.\n" +
			"--playbook FILE continues with an edited playbook (a fixed step, a new step at the end); it is\n" +
			"journaled, so a later resume and `runs report` use it.\n" +
			"With --temporal, RUN is a run submitted to Temporal: its workers continue it by themselves after\n" +
			"a crash, and resume follows it again (answering its approvals) until it ends. A run that ended\n" +
			"without succeeding (fix the workers first) is started again from its events: its failed step is\n" +
			"retried and the steps that succeeded are not run again." + envHelp(append(runEnv, temporalEnv...)...),
		Flags: flags,
		Action: func(c *cli.Context) error {
			if t := f.temporalOptions(c); t.Address != "" {
				if c.NArg() != 1 {
					return usageErr("resume --temporal takes one RUN; got %d arguments", c.NArg())
				}
				return resumeTemporal(c.Context, f, t, c.Args().First(), c.String("output"), c.Bool("yes"))
			}
			_, id, err := f.runArg(c)
			if err != nil {
				return err
			}
			return runResume(c.Context, f, id, resumeOptions{args: c.StringSlice("input"), files: c.StringSlice("input-file"),
				yes: c.Bool("yes"), output: c.String("output"), world: c.String("world"), playbook: c.String("playbook")})
		},
	}
}

// resumeState is a run as its journal tells it (runner.Load).
type resumeState = runner.Journaled

// loadResume reads a run's journal after verifying it; an unusable one is a usage error.
func loadResume(dir, runID string) (*resumeState, error) {
	jd, err := (&runner.Runner{Dir: dir}).Load(runID)
	var bad *runner.UnusableError
	if errors.As(err, &bad) {
		return nil, usageErr("%v", bad)
	}
	return jd, err
}

// resumeInputs rebuilds the inputs: non-secret ones from the journal, secret ones supplied again
// and checked against the recorded fingerprints.
func resumeInputs(f *Factory, st *resumeState, args, files []string) (map[string]any, error) {
	supplied := map[string]any{}
	secretArgs := append([]string(nil), args...)
	needed := false
	for _, in := range st.Playbook.Inputs {
		if in.Secret && st.State.SecretFingerprints[in.Name] != "" {
			needed = true
		}
	}
	if needed || len(args) > 0 || len(files) > 0 {
		// Resolve with everything optional: only secret inputs are taken from here.
		relaxed := *st.Playbook
		relaxed.Inputs = nil
		for _, in := range st.Playbook.Inputs {
			cp := *in
			cp.Required = false
			relaxed.Inputs = append(relaxed.Inputs, &cp)
		}
		got, err := resolveInputs(&relaxed, inputSources{args: secretArgs, files: files, getenv: f.Getenv, stdin: f.IO.In}, f.Secrets)
		if err != nil {
			return nil, err
		}
		supplied = got
	}
	out := map[string]any{}
	var missing []string
	for _, in := range st.Playbook.Inputs {
		if !in.Secret {
			v, ok := st.State.Inputs[in.Name]
			if !ok {
				v = in.Default // added by an edited playbook (resume --playbook)
			}
			out[in.Name] = v
			continue
		}
		want := st.State.SecretFingerprints[in.Name]
		v, _ := supplied[in.Name].(string)
		if ref, ok := st.State.SecretRefs[in.Name]; ok && (v == "" || claimsRef(v)) {
			if r, err := secretref.Parse(v); v != "" && (err != nil || r.String() != ref) {
				return nil, usageErr("input %s: the run started from %s; resume it from the same alert", in.Name, ref)
			}
			out[in.Name] = ref // resolved again by the run: the value never had to be kept
			continue
		}
		if want == "" {
			out[in.Name] = v
			continue
		}
		if v == "" {
			missing = append(missing, fmt.Sprintf("  %s: pass it again with --input %s=@FILE, --input %s=- or RESPOND_INPUT_%s",
				in.Name, in.Name, in.Name, strings.ToUpper(in.Name)))
			continue
		}
		if redact.Fingerprint(v) != want {
			return nil, usageErr("input %s does not match the value the run started with (fingerprint %s, expected %s)",
				in.Name, redact.Fingerprint(v), want)
		}
		out[in.Name] = v
	}
	if len(missing) > 0 {
		return nil, usageErr("secret inputs are not journaled; resuming needs them again:\n%s", strings.Join(missing, "\n"))
	}
	return out, nil
}

type resumeOptions struct {
	args, files []string
	yes         bool
	output      string
	world       string
	playbook    string // an edited playbook to continue with
}

// repairTornTail is done before a command appends to a run's journal (resume, rollback): a
// torn last line is dropped, on the record, and the command says so and goes on.
func repairTornTail(f *Factory, dir, runID string) error {
	rec, err := f.newRunner(dir).Repair(runID)
	if err != nil {
		return usageErr("%v", err)
	}
	if rec != nil {
		fmt.Fprintf(f.IO.Err, "respond: %s: %s; the repair is journaled as event %d\n", runID, rec.Message, rec.Seq)
	}
	return nil
}

func runResume(ctx context.Context, f *Factory, runID string, o resumeOptions) error {
	dir, err := f.stateDir()
	if err != nil {
		return err
	}
	// An edited playbook is checked before anything is appended to the journal: a refused one
	// leaves the run exactly as it was.
	var edited *editedPlaybook
	if o.playbook != "" {
		if err := journal.CheckRunID(runID); err != nil {
			return usageErr("%v", err)
		}
		st, err := loadResume(dir, runID)
		if err != nil {
			return err
		}
		if st.State.Status() == engine.OutcomeSucceeded {
			return usageErr("run %s already succeeded; nothing to resume", runID)
		}
		if edited, err = loadEditedPlaybook(st, o.playbook); err != nil {
			return err
		}
	}
	if err := repairTornTail(f, dir, runID); err != nil {
		return err
	}
	st, err := loadResume(dir, runID)
	if err != nil {
		return err
	}
	if st.State.Status() == engine.OutcomeSucceeded {
		return usageErr("run %s already succeeded; nothing to resume", runID)
	}
	if edited != nil {
		showEdit(f, st, edited, o.output)
	}
	if st.State.Mode == engine.ModeRehearsal {
		return resumeRehearsal(ctx, f, runID, st, o)
	}
	inputs, err := resumeInputs(f, st, o.args, o.files)
	if err != nil {
		return err
	}
	spec := runSpec{Spec: resumeSpec(st, inputs), output: o.output}
	if o.yes {
		spec.Approver = engine.AutoApprover{By: currentUser(f.Getenv), Via: "--yes"}
	}
	_, err = f.execute(ctx, spec)
	return err
}

// resumeRehearsal continues a rehearsal run. Its simulators lived in the process that ran it,
// so only a world another process still serves (--world) can be resumed against.
func resumeRehearsal(ctx context.Context, f *Factory, runID string, st *resumeState, o resumeOptions) error {
	if o.world == "" {
		return usageErr("run %s was a rehearsal and its simulators ended with the process that ran it: start a new one with `respond rehearse %s`", runID, st.Playbook.Name)
	}
	h, err := rehearsal.ReadHandle(o.world)
	if err != nil {
		return usageErr("%v", err)
	}
	f.Secrets.Add(h.Secrets...)
	inputs, err := rehearsalInputs(st.Playbook, h)
	if err != nil {
		return err
	}
	for name, fp := range st.State.SecretFingerprints {
		if v, _ := inputs[name].(string); redact.Fingerprint(v) != fp {
			return usageErr("the world in %s is not the one run %s started in (input %s differs)", o.world, runID, name)
		}
	}
	spec := resumeSpec(st, inputs)
	spec.Getenv, spec.Approver = h.Getenv, engine.AutoApprover{By: "rehearsal", Via: "rehearsal"}
	_, err = f.execute(ctx, runSpec{Spec: spec, output: o.output})
	return err
}

// resumeSpec continues the journaled run st with inputs.
func resumeSpec(st *resumeState, inputs map[string]any) runner.Spec {
	return runner.Spec{Playbook: st.Playbook, Inputs: inputs, DryRun: st.State.DryRun, Mode: st.State.Mode,
		StartedBy: st.State.StartedBy, RunID: st.State.RunID, Prior: st.Events}
}
