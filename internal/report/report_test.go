package report

import (
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/engine"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/steps/catalog"
)

// kinds finds one kind that revokes and one that does not, so the test names no kind itself.
func kinds(t *testing.T) (revokes, other string) {
	t.Helper()
	for _, n := range catalog.Names() {
		if catalog.Revokes(n) && revokes == "" {
			revokes = n
		} else if !catalog.Revokes(n) && other == "" {
			other = n
		}
	}
	if revokes == "" || other == "" {
		t.Fatalf("the catalog has no revoking kind (%q) or no other kind (%q)", revokes, other)
	}
	return revokes, other
}

func TestTimeToRevoke(t *testing.T) {
	revokes, other := kinds(t)
	t0 := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	at := func(d time.Duration, k event.Kind, uses string) event.Event {
		return event.Event{Time: t0.Add(d), Kind: k, Uses: uses, Step: "s"}
	}
	tests := []struct {
		name   string
		evs    []event.Event
		want   time.Duration
		wantOK bool
	}{
		{"first revocation counts", []event.Event{at(0, event.RunStarted, ""), at(time.Second, event.StepSucceeded, other),
			at(3*time.Second, event.StepSucceeded, revokes), at(9*time.Second, event.StepSucceeded, revokes)}, 3 * time.Second, true},
		{"a failed revocation is not one", []event.Event{at(0, event.RunStarted, ""), at(2*time.Second, event.StepFailed, revokes)}, 0, false},
		{"nothing revoked", []event.Event{at(0, event.RunStarted, ""), at(time.Second, event.StepSucceeded, other)}, 0, false},
		{"within the clock's resolution is still a revocation", []event.Event{at(0, event.RunStarted, ""), at(0, event.StepSucceeded, revokes)}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := TimeToRevoke(tc.evs)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("TimeToRevoke = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	revokes, _ := kinds(t)
	t0 := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	res := &engine.Result{RunID: "r1", Playbook: "pb", Mode: engine.ModeRehearsal, Outcome: engine.OutcomeSucceeded,
		Started: t0, Finished: t0.Add(4 * time.Second),
		Steps: []*engine.StepResult{{ID: "revoke", Uses: revokes, Status: event.Succeeded, Attempts: 2, Duration: 1500 * time.Millisecond}}}
	evs := []event.Event{
		{Time: t0, Kind: event.RunStarted, RunID: "r1", Message: "pb"},
		{Time: t0.Add(time.Second), Kind: event.StepRetried, Step: "revoke", Uses: revokes, Attempt: 1, Message: "again", Error: "503 a|b\nmore"},
		{Time: t0.Add(2 * time.Second), Kind: event.StepSucceeded, Step: "revoke", Uses: revokes},
	}
	r := Build(res, evs, 7, true, true, nil)
	if r.TimeToRevokeMS != 2000 || len(r.Retries) != 1 || r.Retries[0].Error != "503 a|b" {
		t.Fatalf("report = %+v; want revoked at 2s and one retry with the error's first line", r)
	}
	md := r.Markdown(evs)
	for _, want := range []string{
		"# pb: " + engine.OutcomeSucceeded,
		"(rehearsal, dry run, chaos, seed 7). Time to revoke **2.0s**, whole run 4.0s.",
		"| revoke | `" + revokes + "` | succeeded | 2 | 1.5s |",
		"| revoke | 1 | 503 a\\|b |",
		"| +2.0s | revoke | ok " + revokes + " |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md)
		}
	}
}
