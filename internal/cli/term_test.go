package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/playbook"
)

// The live block must fit an 80×24 terminal whatever the playbook: a line that wraps or a block
// taller than the screen leaves stale lines, because each redraw moves up by the lines it wrote.
func TestLiveBlockFitsTheScreen(t *testing.T) {
	pb := &playbook.Playbook{Name: "big"}
	for i := range 40 {
		pb.Steps = append(pb.Steps, &playbook.Step{ID: fmt.Sprintf("step_with_a_rather_long_name_%02d", i), Uses: "openai.create-replacement"})
	}
	var out strings.Builder
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	ts := newTermSink(&out, true, pb, func() time.Time { return now })
	ts.size = func() (int, int) { return 80, 24 }
	defer ts.Close()
	_ = ts.Emit(event.Event{Kind: event.RunStarted, RunID: "20261129T030000Z-abcdef", Message: "big (real) with a long description", Time: now})
	for i, s := range pb.Steps[:25] {
		_ = ts.Emit(event.Event{Kind: event.StepStarted, Step: s.ID, Uses: s.Uses, Time: now})
		if i%5 == 4 {
			_ = ts.Emit(event.Event{Kind: event.StepFailed, Step: s.ID, Uses: s.Uses, Error: strings.Repeat("a very long error ", 20), Time: now})
			continue
		}
		_ = ts.Emit(event.Event{Kind: event.StepSucceeded, Step: s.ID, Uses: s.Uses, Duration: event.Duration(time.Second), Time: now})
	}
	block := ts.block()
	if len(block) > 22 {
		t.Errorf("block of %d lines on a 24-line screen", len(block))
	}
	for _, l := range block {
		if n := utf8.RuneCountInString(l); n >= 80 {
			t.Errorf("line of %d columns on an 80-column screen: %q", n, l)
		}
	}
	if joined := strings.Join(block, "\n"); !strings.Contains(joined, "20 earlier steps finished") {
		t.Errorf("folded block does not say what it hides:\n%s", joined)
	}
	// Before anything finished, the pending tail folds instead.
	fresh := newTermSink(&strings.Builder{}, true, pb, func() time.Time { return now })
	fresh.size = func() (int, int) { return 80, 24 }
	defer fresh.Close()
	if b := fresh.block(); len(b) != 22 || !strings.Contains(b[21], "20 more steps") {
		t.Errorf("fresh block of %d lines, last %q", len(b), b[len(b)-1])
	}
	// The redraw moves up exactly the lines the block wrote: scroll lines may wrap (they are
	// above the block and never redrawn), block lines may not.
	if ts.drawn != len(block) {
		t.Errorf("drawn %d lines, block has %d", ts.drawn, len(block))
	}
}

// A resumed run's block shows the steps that finished before as done.
func TestLiveBlockSeededOnResume(t *testing.T) {
	pb := &playbook.Playbook{Name: "p", Steps: []*playbook.Step{{ID: "a", Uses: "exec"}, {ID: "b", Uses: "exec"}}}
	now := time.Now()
	var out strings.Builder
	ts := newTermSink(&out, true, pb, func() time.Time { return now })
	defer ts.Close()
	ts.seed([]event.Event{
		{Kind: event.StepStarted, Step: "a", Uses: "exec", Time: now},
		{Kind: event.StepSucceeded, Step: "a", Uses: "exec", Duration: event.Duration(2 * time.Second), Time: now},
	})
	block := strings.Join(ts.block(), "\n")
	if !strings.Contains(block, "✓ a") || !strings.Contains(block, "· b") {
		t.Errorf("resumed block:\n%s", block)
	}
	if out.Len() != 0 {
		t.Errorf("seeding printed %q", out.String())
	}
}
