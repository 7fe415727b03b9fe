package journal_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

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
