package journal_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/journal"
)

func write(t *testing.T, dir, id string, n int) {
	t.Helper()
	j, err := journal.Create(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bus := event.NewBus(id, nil, 0, nil)
	bus.Require(j)
	if _, err := bus.Emit(event.Event{Kind: event.RunStarted, Data: map[string]any{"playbook": "p", "mode": "real"}}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n-1; i++ {
		if _, err := bus.Emit(event.Event{Kind: event.StepLog, Step: "s", Message: strings.Repeat("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bus.Emit(event.Event{Kind: event.RunFinished, Data: map[string]any{"outcome": "succeeded"}}); err != nil {
		t.Fatal(err)
	}
}

func TestJournalFileIsPrivateAndVerifies(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r1", 6)
	st, err := os.Stat(journal.Path(dir, "r1"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	n, err := journal.Verify(dir, "r1")
	if err != nil || n != 6 {
		t.Fatalf("verify = %d, %v", n, err)
	}
	runs, err := journal.List(dir)
	if err != nil || len(runs) != 1 || runs[0].Status != "succeeded" || runs[0].Playbook != "p" {
		t.Fatalf("list = %+v, %v", runs, err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(lines [][]byte) [][]byte
		want   string
	}{
		{"changed line", func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"xx"`), []byte(`"yy"`), 1)
			return l
		}, ":4: hash chain broken: line 3 was changed"},
		{"removed middle line", func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) }, ":3: hash chain broken"},
		{"reordered lines", func(l [][]byte) [][]byte { l[2], l[3] = l[3], l[2]; return l }, ":3: hash chain broken"},
		{"removed last line", func(l [][]byte) [][]byte { return l[:len(l)-1] }, "lines were removed from the end"},
		{"removed first line", func(l [][]byte) [][]byte { return l[1:] }, ":1: hash chain broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, dir, "r1", 6)
			path := journal.Path(dir, "r1")
			b, _ := os.ReadFile(path)
			lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
			lines = tt.tamper(lines)
			if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := journal.Verify(dir, "r1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verify = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLockKeepsOneProcessPerRun(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Create(dir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := journal.Open(dir, "r1"); !errors.Is(err, journal.ErrLocked) {
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
	j.Close()
	j2, _, err := journal.Open(dir, "r1")
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	j2.Close()
}

func TestOpenAppendsToTheChain(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r1", 4)
	j, recs, err := journal.Open(dir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus("r1", nil, len(recs), nil)
	bus.Require(j)
	if _, err := bus.Emit(event.Event{Kind: event.RunResumed}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if n, err := journal.Verify(dir, "r1"); err != nil || n != 5 {
		t.Fatalf("verify after resume = %d, %v", n, err)
	}
}

func TestRejectsUnsafeRunIDs(t *testing.T) {
	for _, id := range []string{"../x", "", "a/b", ".hidden"} {
		if _, err := journal.Create(t.TempDir(), id); err == nil {
			t.Errorf("Create(%q) succeeded", id)
		}
	}
}

func TestRunIDsNeverLeaveTheRunsDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"../x", "a/b", "a..b", "..", "/etc/passwd", "a\\b", "x\x00"} {
		if _, err := journal.Read(dir, id); err == nil || !strings.Contains(err.Error(), "invalid run ID") {
			t.Errorf("Read(%q) = %v", id, err)
		}
		if _, err := journal.Verify(dir, id); err == nil || !strings.Contains(err.Error(), "invalid run ID") {
			t.Errorf("Verify(%q) = %v", id, err)
		}
		if _, err := journal.Repair(dir, id, time.Now()); err == nil || !strings.Contains(err.Error(), "invalid run ID") {
			t.Errorf("Repair(%q) = %v", id, err)
		}
	}
}

// tear appends the first half of a record without its newline, as a crash mid-write leaves it.
func tear(t *testing.T, dir, id string) []byte {
	t.Helper()
	f, err := os.OpenFile(journal.Path(dir, id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	half := []byte(`{"prev":"0123","seq":7,"kind":"step.lo`)
	f.Write(half)
	return half
}

func TestTornTailIsNotTampering(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r1", 6)
	half := tear(t, dir, "r1")

	n, err := journal.Verify(dir, "r1")
	var torn *journal.TornTailError
	if !errors.As(err, &torn) || n != 6 || torn.Line != 7 || torn.Intact != 6 || torn.Bytes != int64(len(half)) {
		t.Fatalf("verify = %d, %v (%+v); want a torn tail at line 7 after 6 intact events", n, err, torn)
	}
	if !strings.Contains(err.Error(), "torn tail at line 7") || strings.Contains(err.Error(), "hash chain broken") {
		t.Errorf("message: %v", err)
	}
	if recs, err := journal.Read(dir, "r1"); err != nil || len(recs) != 6 {
		t.Errorf("read = %d records, %v", len(recs), err)
	}
	if _, _, err := journal.Open(dir, "r1"); !errors.As(err, &torn) {
		t.Errorf("open of a torn journal = %v", err)
	}

	rec, err := journal.Repair(dir, "r1", time.Now())
	if err != nil || rec == nil || rec.Kind != event.JournalRepaired || rec.Seq != 7 {
		t.Fatalf("repair = %+v, %v", rec, err)
	}
	if n, err := journal.Verify(dir, "r1"); err != nil || n != 7 {
		t.Fatalf("verify after repair = %d, %v", n, err)
	}
	if b, _ := os.ReadFile(journal.Path(dir, "r1")); bytes.Contains(b, half) {
		t.Error("the torn bytes are still in the journal")
	}
	if rec, err := journal.Repair(dir, "r1", time.Now()); rec != nil || err != nil {
		t.Errorf("second repair = %+v, %v; want nothing to do", rec, err)
	}
	j, recs, err := journal.Open(dir, "r1")
	if err != nil || len(recs) != 7 {
		t.Fatalf("open after repair = %d records, %v", len(recs), err)
	}
	j.Close()
}

func TestRepairRefusesTampering(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r1", 6)
	path := journal.Path(dir, "r1")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(`"xx"`), []byte(`"yy"`), 1), 0o600)
	tear(t, dir, "r1")
	before, _ := os.ReadFile(path)
	var ve *journal.VerifyError
	if _, err := journal.Repair(dir, "r1", time.Now()); !errors.As(err, &ve) {
		t.Fatalf("repair of a tampered journal = %v, want the VerifyError", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed repair changed the journal")
	}
}

func TestHeadTempFileDoesNotFollowSymlinks(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r1", 3)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep me"), 0o600)
	if err := os.Symlink(victim, filepath.Join(dir, "runs", "r1.head.tmp")); err != nil {
		t.Fatal(err)
	}
	j, recs, err := journal.Open(dir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus("r1", nil, len(recs), nil)
	bus.Require(j)
	if _, err := bus.Emit(event.Event{Kind: event.RunResumed}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if n, err := journal.Verify(dir, "r1"); err != nil || n != 4 {
		t.Errorf("verify = %d, %v", n, err)
	}
}

func TestPrepareDirRefusesUnsafeStateDirectories(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
		sub  bool // loosen runs/ instead of the state directory
		want string
	}{
		{"private", 0o700, false, ""},
		{"readable", 0o755, false, ""},
		{"world-writable", 0o777, false, "chmod 700"},
		{"group-writable", 0o770, false, "chmod 700"},
		{"sticky tmp-like", 0o1777, false, "chmod 700"},
		{"runs world-writable", 0o777, true, "chmod 700"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := journal.PrepareDir(dir); err != nil {
				t.Fatal(err)
			}
			target := dir
			if tc.sub {
				target = filepath.Join(dir, "runs")
				os.Mkdir(target, 0o700)
			}
			if err := os.Chmod(target, tc.mode); err != nil {
				t.Fatal(err)
			}
			err := journal.PrepareDir(dir)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("PrepareDir = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), target) {
				t.Fatalf("PrepareDir = %v, want a refusal naming %s and saying %q", err, target, tc.want)
			}
		})
	}
	t.Run("created private", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "state")
		if err := journal.PrepareDir(dir); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("mode %v", fi.Mode().Perm())
		}
	})
	t.Run("owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a directory away")
		}
		dir := t.TempDir()
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Skip(err)
		}
		// Root may use a directory it does not own only if root owns it: this one is nobody's.
		err := journal.PrepareDir(dir)
		if os.Geteuid() == 0 && err == nil {
			t.Fatal("a directory owned by uid 65534 was accepted")
		}
		if err != nil && !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("PrepareDir = %v", err)
		}
	})
}
