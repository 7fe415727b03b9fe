package cli_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/journal"
)

// A crash in the middle of an append leaves a torn last line: `runs verify` says so (and not
// that the journal was tampered with), and `resume` drops it on the record and goes on.
func TestTornJournalTailIsReportedAndRepaired(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"RESPOND_STATE_DIR": state}
	ledger := writeFile(t, "ledger", "")
	pb := writeFile(t, "ledger.yaml", ledgerPlaybook)
	if r := respond(t, env, "", "run", "--input", "ledger="+ledger, pb); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	runs, err := journal.List(state)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %+v, %v", runs, err)
	}
	id := runs[0].RunID
	// Keep the run unfinished (drop run.finished), then tear an append.
	path := journal.Path(state, id)
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	intact := len(lines) - 1
	os.WriteFile(path, []byte(strings.Join(lines[:intact], "")+`{"prev":"ab","seq":`), 0o600)
	os.WriteFile(strings.TrimSuffix(path, ".jsonl")+".head", []byte(`{"lines":0,"last":""}`), 0o600)

	r := respond(t, env, "", "runs", "verify", id)
	want := "torn tail at line " + strconv.Itoa(intact+1)
	if r.code != 1 || !strings.Contains(r.stdout, want) || strings.Contains(r.stdout+r.stderr, "hash chain broken") {
		t.Fatalf("verify: exit %d, want 1 and %q\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
	if r := respond(t, env, "", "runs", "report", id); r.code != 0 {
		t.Errorf("report of a torn journal: exit %d\n%s", r.code, r.stderr)
	}

	r = respond(t, env, "", "resume", id)
	if r.code != 0 || !strings.Contains(r.stderr, "dropped a torn last line") {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	if r := respond(t, env, "", "runs", "verify", id); r.code != 0 || !strings.Contains(r.stdout, "hash chain intact") {
		t.Fatalf("verify after resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	recs, _ := journal.Read(state, id)
	if len(recs) <= intact || recs[intact].Kind != "journal.repaired" {
		t.Errorf("record %d after resume: %+v", intact+1, recs[min(intact, len(recs)-1)])
	}
}

func TestStateDirectoryOthersCanWriteIsRefused(t *testing.T) {
	state := t.TempDir()
	os.Chmod(state, 0o777)
	r := respond(t, map[string]string{"RESPOND_STATE_DIR": state}, "", "runs", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "chmod 700 "+state) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestRunIDsArePlainNames(t *testing.T) {
	for _, args := range [][]string{{"runs", "show", "../x"}, {"runs", "verify", "a/b"}, {"resume", ".."}, {"runs", "report", "../../etc/passwd"}} {
		r := respond(t, nil, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "invalid run ID") {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}
