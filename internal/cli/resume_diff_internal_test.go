package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unifiedDiff is checked with patch(1) as an independent oracle: applying the diff to the old
// text must give the new one exactly.
func TestUnifiedDiffAppliesWithPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch(1) not installed")
	}
	lines := func(n int, f func(int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i) + "\n")
		}
		return b.String()
	}
	base := lines(40, func(i int) string { return "line " + string(rune('a'+i%26)) + strings.Repeat("x", i) })
	tests := []struct {
		name, a, b string
		hunks      int
	}{
		{"one line changed", base, strings.Replace(base, "line c", "line C", 1), 1},
		{"far apart changes make two hunks", base, strings.Replace(strings.Replace(base, "line b", "B", 1), "line z", "Z", 1), 2},
		{"near changes share a hunk", base, strings.Replace(strings.Replace(base, "line b", "B", 1), "line f", "F", 1), 1},
		{"appended at the end", base, base + "new 1\nnew 2\n", 1},
		{"inserted at the start", base, "first\n" + base, 1},
		{"deleted lines", base, strings.Replace(base, lines(3, func(i int) string { return "line " + string(rune('e'+i)) + strings.Repeat("x", 4+i) }), "", 1), 1},
		{"from empty", "", "a\nb\n", 1},
		{"to empty", "a\nb\n", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a == tt.b {
				t.Fatal("the test case changes nothing")
			}
			d := unifiedDiff("old", "new", tt.a, tt.b)
			if n := strings.Count(d, "\n@@ "); n != tt.hunks {
				t.Errorf("%d hunks, want %d:\n%s", n, tt.hunks, d)
			}
			dir := t.TempDir()
			target := filepath.Join(dir, "f")
			if err := os.WriteFile(target, []byte(tt.a), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("patch", "--silent", "--force", "--no-backup-if-mismatch", "-r", "-", target)
			cmd.Stdin = strings.NewReader(d)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("patch refused the diff: %v\n%s\ndiff:\n%s", err, out, d)
			}
			got, _ := os.ReadFile(target)
			if string(got) != tt.b {
				t.Errorf("patched text differs:\n%s\ndiff:\n%s", got, d)
			}
		})
	}
	if d := unifiedDiff("a", "b", base, base); d != "" {
		t.Errorf("equal texts gave a diff:\n%s", d)
	}
}
