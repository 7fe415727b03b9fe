package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/cli"
	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
)

// oldRunID is the run in testdata/journals/pre-typed-events.jsonl: a journal written by respond
// before events had typed payloads. Its step two failed because the file @MARKER@ named did not
// exist; the test points the marker at a file that does, so the resume can finish.
const oldRunID = "20261129T125545Z-4afdf6"

// plantOldJournal writes the fixture into a fresh state directory, with @MARKER@ replaced,
// dropping the run.started keys in drop (as journals older still lack them), and the hash chain
// and head recomputed for the changed lines.
func plantOldJournal(t *testing.T, marker string, drop ...string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "journals", "pre-typed-events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(marker)
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "runs"), 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	prev := journal.Genesis
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(l, `"@MARKER@"`, string(quoted))), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["kind"] == string(event.RunStarted) {
			for _, k := range drop {
				delete(rec["data"].(map[string]any), k)
			}
		}
		rec["prev"] = prev
		b, _ := json.Marshal(rec)
		sum := sha256.Sum256(b)
		prev = hex.EncodeToString(sum[:])
		out.Write(append(b, '\n'))
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(state, "runs", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(oldRunID+".jsonl", out.Bytes())
	write(oldRunID+".head", []byte(fmt.Sprintf(`{"lines":%d,"last":%q}`, len(lines), prev)))
	return state
}

func TestOldJournalStillResumes(t *testing.T) {
	cases := []struct {
		name string
		drop []string
	}{
		{"as written before typed events", nil},
		{"before dry_run and secret_inputs were recorded", []string{"dry_run", "secret_inputs"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := writeFile(t, "marker", "present")
			state := plantOldJournal(t, marker, c.drop...)
			env := map[string]string{"RESPOND_STATE_DIR": state, "RESPOND_USER": "oncall"}
			if r := respond(t, env, "", "runs", "verify", oldRunID); r.code != cli.ExitOK {
				t.Fatalf("the planted journal does not verify: %s%s", r.stdout, r.stderr)
			}
			r := respond(t, env, "", "resume", oldRunID)
			if r.code != cli.ExitOK {
				t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			recs, err := journal.Read(state, oldRunID)
			if err != nil {
				t.Fatal(err)
			}
			succeeded := map[string]int{}
			for _, rec := range recs {
				if rec.Kind == event.StepSucceeded {
					succeeded[rec.Step]++
				}
			}
			// Step one succeeded before and is kept; two runs again and three for the first time.
			if want := map[string]int{"one": 1, "two": 1, "three": 1}; !cmp.Equal(succeeded, want) {
				t.Errorf("succeeded steps (-want +got):\n%s", cmp.Diff(want, succeeded))
			}
			runs, err := journal.List(state)
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs list: %v, %v", runs, err)
			}
			got := runs[0]
			if got.Status != "succeeded" || got.Mode != "real" || got.Playbook != "old-format" {
				t.Errorf("runs list says %+v; want a succeeded real run of old-format", got)
			}
		})
	}
}
