package cli

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps/catalog"
)

// editedPlaybook is a playbook given to resume --playbook, checked against the run's journal.
type editedPlaybook struct {
	pb   *playbook.Playbook
	diff string // unified diff of the journaled source against the edited one; "" when equal
}

// loadEditedPlaybook loads FILE and checks that it only changes what a resume may change: steps
// the run has not finished, and new steps after the last finished one. A finished step already
// acted on the world under its old definition; a playbook that says otherwise would make the
// journal, the report and a later resume lie about what was done.
func loadEditedPlaybook(st *resumeState, arg string) (*editedPlaybook, error) {
	file, src, err := readPlaybook(arg)
	if err != nil {
		return nil, err
	}
	pb, err := playbook.Load(file, src, catalog.Lookup)
	if err != nil {
		return nil, usageErr("resume --playbook: %v", err)
	}
	if pb.Name != st.Playbook.Name {
		return nil, usageErr("resume --playbook: %s is playbook %q, the run is %q", file, pb.Name, st.Playbook.Name)
	}
	if err := checkInputsKept(st.Playbook, pb); err != nil {
		return nil, err
	}
	if err := checkFinishedKept(st, pb); err != nil {
		return nil, err
	}
	return &editedPlaybook{pb: pb, diff: unifiedDiff(st.Playbook.File+" (journaled)", file, string(st.Playbook.Source), string(src))}, nil
}

// checkInputsKept refuses an input whose type or secret-ness changed, or a new required input
// without a default: journaled values and fingerprints were recorded under the old declaration.
func checkInputsKept(old, edited *playbook.Playbook) error {
	was := map[string]*playbook.Input{}
	for _, in := range old.Inputs {
		was[in.Name] = in
	}
	for _, in := range edited.Inputs {
		o, ok := was[in.Name]
		switch {
		case !ok && in.Required && in.Default == nil:
			return usageErr("%s:%d: input %s is new and required: the run has no value for it; give it a default or make it optional",
				edited.File, in.Line, in.Name)
		case !ok:
		case inputType(o) != inputType(in):
			return usageErr("%s:%d: input %s changed type from %s to %s; the run's value was recorded as %s",
				edited.File, in.Line, in.Name, inputType(o), inputType(in), inputType(o))
		case o.Secret != in.Secret:
			return usageErr("%s:%d: input %s changed secret: %t to %t; the run recorded it as %s",
				edited.File, in.Line, in.Name, o.Secret, in.Secret, map[bool]string{true: "a fingerprint only", false: "a value"}[o.Secret])
		}
	}
	return nil
}

func inputType(in *playbook.Input) string {
	if in.Type == "" {
		return "string"
	}
	return in.Type
}

// checkFinishedKept refuses an edit to, a removal of, or a reordering around a step the run
// finished, and a change to a step whose side effect may be half done.
func checkFinishedKept(st *resumeState, edited *playbook.Playbook) error {
	finished, inFlight := engine.Finished(st.Playbook, st.Events)
	newSteps := map[string]*playbook.Step{}
	newIndex := map[string]int{}
	for i, s := range edited.Steps {
		newSteps[s.ID] = s
		newIndex[s.ID] = i
	}
	lastNew := -1 // position in the edited playbook of the last finished step
	prevOld := ""
	for _, s := range st.Playbook.Steps {
		_, done := finished[s.ID]
		if !done && !inFlight[s.ID] {
			continue
		}
		what := "finished (" + statusOf(finished[s.ID]) + ")"
		if !done {
			what = "half done (an intent without a result)"
		}
		n, ok := newSteps[s.ID]
		if !ok {
			return usageErr("%s: step %s was removed, but the run %s it (%s:%d); only unfinished steps may change",
				edited.File, s.ID, map[bool]string{true: "finished", false: "was part way through"}[done], st.Playbook.File, s.Line)
		}
		if d := stepChange(s, n); d != "" {
			return usageErr("%s:%d: step %s is %s in this run and cannot change (%s); only unfinished steps may change",
				edited.File, n.Line, s.ID, what, d)
		}
		if !done {
			continue
		}
		if newIndex[s.ID] < lastNew {
			return usageErr("%s:%d: step %s moved before step %s; finished steps keep their order", edited.File, n.Line, s.ID, prevOld)
		}
		lastNew, prevOld = newIndex[s.ID], s.ID
	}
	// The engine decides from the playbook it runs which failed steps to run again; an edit that
	// makes it keep a step the run did not finish (on_failure: continue on the step that stopped
	// the run) would leave that step failed instead of running it again.
	kept, _ := engine.Finished(edited, st.Events)
	for _, s := range edited.Steps {
		if _, ok := kept[s.ID]; ok {
			if _, done := finished[s.ID]; !done {
				return usageErr("%s:%d: step %s failed and stopped the run, so resume runs it again; changing its on_failure to continue would leave it failed instead; leave on_failure as it was for this run",
					edited.File, s.Line, s.ID)
			}
		}
	}
	was := map[string]bool{}
	for _, s := range st.Playbook.Steps {
		was[s.ID] = true
	}
	for i, s := range edited.Steps {
		if !was[s.ID] && i < lastNew {
			return usageErr("%s:%d: new step %s comes before step %s, which this run finished; add new steps after the last finished one",
				edited.File, s.Line, s.ID, prevOld)
		}
	}
	return nil
}

func statusOf(sr *engine.StepResult) string {
	if sr == nil {
		return ""
	}
	return string(sr.Status)
}

// stepChange names the first field of a step that differs, or "" when none does. Positions and
// comments are not the step's meaning; everything the engine reads is compared.
func stepChange(a, b *playbook.Step) string {
	switch {
	case a.Uses != b.Uses:
		return fmt.Sprintf("uses: %s → %s", a.Uses, b.Uses)
	case a.If != b.If:
		return "if changed"
	case !reflect.DeepEqual(withValue(a), withValue(b)):
		return "with changed"
	case a.Retry != b.Retry:
		return "retry changed"
	case a.Timeout != b.Timeout:
		return "timeout changed"
	case a.OnFailure != b.OnFailure:
		return fmt.Sprintf("on_failure: %s → %s", a.OnFailure, b.OnFailure)
	case !reflect.DeepEqual(a.Approval, b.Approval):
		return "approval changed"
	}
	return ""
}

// withValue decodes a step's with block, so a comment or a quoting change is not a change.
func withValue(s *playbook.Step) any {
	if s.With == nil {
		return nil
	}
	var v any
	if err := s.With.Decode(&v); err != nil {
		// Undecodable here means it could not have loaded; compare the text as a fallback.
		return fmt.Sprintf("%v", s.With)
	}
	return v
}

// unifiedDiff is a line-based unified diff (3 lines of context) of a against b. Playbooks are
// small, so the quadratic longest-common-subsequence table costs nothing that matters.
func unifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	ops := diffOps(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start, end := max(k-diffContext, 0), hunkEnd(ops, k)
		writeHunk(&out, ops[start:end])
		k = end
	}
	return out.String()
}

const diffContext = 3

// diffOp is one line of a diff: kept (' '), removed ('-') or added ('+'), with where it sits in
// a (ai) and b (bi), or where it would go.
type diffOp struct {
	kind   byte
	text   string
	ai, bi int
}

// diffOps walks the longest common subsequence of la and lb into a line-by-line edit script.
func diffOps(la, lb []string) []diffOp {
	// lcs[i][j] is the length of the LCS of la[i:] and lb[j:].
	lcs := make([][]int, len(la)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(lb)+1)
	}
	for i := len(la) - 1; i >= 0; i-- {
		for j := len(lb) - 1; j >= 0; j-- {
			if la[i] == lb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < len(la) || j < len(lb) {
		switch {
		case i < len(la) && j < len(lb) && la[i] == lb[j]:
			ops = append(ops, diffOp{' ', la[i], i, j})
			i, j = i+1, j+1
		case i < len(la) && (j == len(lb) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, diffOp{'-', la[i], i, j}) // removals first, as diff -u shows them
			i++
		default:
			ops = append(ops, diffOp{'+', lb[j], i, j})
			j++
		}
	}
	return ops
}

// hunkEnd is where the hunk holding the change at k ends: it extends while the next change is
// within 2*context unchanged lines, then takes context lines more.
func hunkEnd(ops []diffOp, k int) int {
	end := k
	for end < len(ops) {
		if ops[end].kind != ' ' {
			end++
			continue
		}
		run := end
		for run < len(ops) && ops[run].kind == ' ' {
			run++
		}
		if run == len(ops) || run-end > 2*diffContext {
			return min(end+diffContext, len(ops))
		}
		end = run
	}
	return end
}

func writeHunk(out *strings.Builder, hunk []diffOp) {
	var na, nb int
	for _, o := range hunk {
		if o.kind != '+' {
			na++
		}
		if o.kind != '-' {
			nb++
		}
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(hunk[0].ai, na), hunkRange(hunk[0].bi, nb))
	for _, o := range hunk {
		out.WriteByte(o.kind)
		out.WriteString(o.text)
		out.WriteByte('\n')
	}
}

// hunkRange is a unified diff's "start,count"; an empty range names the line before it.
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// showEdit prints the diff and makes the edited playbook the run's; the engine journals it in
// run.resumed, where loadResume finds it for a later resume and for `runs report`.
func showEdit(f *Factory, st *resumeState, e *editedPlaybook, output string) {
	w := f.IO.Out
	if output == "json" {
		w = f.IO.Err // stdout carries only the JSON summary
	}
	if e.diff == "" {
		fmt.Fprintf(w, "respond: %s is the playbook the run already uses; nothing changed\n", e.pb.File)
		return
	}
	fmt.Fprintf(w, "respond: continuing with the edited playbook %s:\n%s", e.pb.File, f.Secrets.String(e.diff))
	st.Playbook = e.pb
}
