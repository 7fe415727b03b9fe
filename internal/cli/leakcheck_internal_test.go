package cli

import "testing"

// The leak check never counts what it could not read as clean: the journal's read error surfaces.
func TestReadJournalFailsOnMissingRun(t *testing.T) {
	f := &Factory{Getenv: func(k string) string {
		if k == "RESPOND_STATE_DIR" {
			return t.TempDir()
		}
		return ""
	}}
	if _, err := readJournal(f, "no-such-run"); err == nil {
		t.Error("reading a missing journal succeeded")
	}
}
