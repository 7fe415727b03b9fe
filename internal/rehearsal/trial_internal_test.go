package rehearsal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/github/githubsim"
)

// The dry-run proof fails for the part that changed, and only for it.
func TestDryRunProofNamesWhatChanged(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, w *World)
		changed string
	}{
		{"nothing", func(*testing.T, *World) {}, ""},
		{"a file in GitHub", func(t *testing.T, w *World) {
			if err := w.GitHub.AddFile(Repo, githubsim.File{Path: "NEW.md", Content: "x\n"}); err != nil {
				t.Fatal(err)
			}
		}, "github"},
		{"the local clone's refs", func(t *testing.T, w *World) {
			ref := filepath.Join(w.Repo.Local, ".git", "refs", "heads", "extra")
			if err := os.WriteFile(ref, []byte(w.Repo.DeployCommit+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "local clone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Start(t.Context(), Options{Seed: 5, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			trial := w.Begin(FullScope(), true)
			tc.change(t, w)
			checks := trial.Verify(t.Context())
			if len(checks) != 4 {
				t.Fatalf("%d checks, want one per snapshot: %+v", len(checks), checks)
			}
			for _, c := range checks {
				if wantOK := c.Name != "dry run changed nothing: "+tc.changed; c.OK != wantOK {
					t.Errorf("%s: ok=%v, want %v", c.Name, c.OK, wantOK)
				}
			}
		})
	}
}

// The leak check finds the leaked key in any output, cut or encoded, and says where it looked.
func TestLeakCheckScansEveryOutput(t *testing.T) {
	w, err := Start(t.Context(), Options{Seed: 6, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	trial := w.Begin(FullScope(), false)
	key := w.LeakedKey()
	tests := []struct {
		name    string
		outputs []Output
		unread  []string
		wantOK  bool
	}{
		{"clean", []Output{{"terminal output", "all fine"}, {"journal", "{}"}}, nil, true},
		{"key in the journal", []Output{{"terminal output", "all fine"}, {"journal", `{"x":"` + key + `"}`}}, nil, false},
		{"key cut in the report", []Output{{"report", "…" + key[10:40] + "…"}}, nil, false},
		{"journal unreadable", []Output{{"terminal output", "all fine"}}, []string{"the journal (gone)"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, n := trial.LeakCheck(nil, tc.outputs, tc.unread)
			if v.OK != tc.wantOK {
				t.Errorf("ok=%v, want %v (%d found): %s", v.OK, tc.wantOK, n, v.Detail)
			}
			if !strings.Contains(v.Detail, tc.outputs[0].Name) {
				t.Errorf("detail %q does not say where it looked", v.Detail)
			}
		})
	}
}
