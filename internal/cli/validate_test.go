package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/cli"
)

// The playbook corpus and its goldens are written by internal/playbook's golden test with file
// names relative to the repository root; this test runs from internal/cli, so it names the files
// with this prefix and strips it from what the command prints before comparing.
const validateRoot = "../../"

// validateCorpus lists testdata/playbooks/DIR/*.yaml as this package's tests reach them.
func validateCorpus(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(validateRoot + "testdata/playbooks/" + dir + "/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no playbooks in testdata/playbooks/%s: %v", dir, err)
	}
	return files
}

// validateKnownBugs reads the bad playbooks the loader still accepts (see the file's header).
func validateKnownBugs(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(validateRoot + "testdata/playbooks/bad/KNOWN-BUGS")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			out[strings.TrimSpace(name)] = true
		}
	}
	return out
}

// validateCLI runs `respond validate ARGS...` in-process. These tests do not run in parallel:
// urfave/cli v2 writes its package-level HelpFlag on every parse, so two Mains at once race
// (urfave/cli#1699).
func validateCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &cli.Factory{
		IO:     cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb},
		Getenv: func(string) string { return "" },
	}
	code = cli.Main(t.Context(), append([]string{"respond", "validate"}, args...), f)
	return code, out.String(), errb.String()
}

func validateGolden(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".golden")
	if err != nil {
		t.Fatalf("%v (go test ./internal/playbook -run TestGolden -update writes it)", err)
	}
	return string(b)
}

func TestValidateBadPlaybooksExit2WithTheGoldenErrors(t *testing.T) {
	bugs := validateKnownBugs(t)
	for _, file := range validateCorpus(t, "bad") {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := validateCLI(t, file)
			if bugs[name] {
				if code == cli.ExitOK {
					t.Skip("known loader bug, see testdata/playbooks/bad/KNOWN-BUGS")
				}
				t.Fatalf("exit %d: the loader rejects %s now; remove it from KNOWN-BUGS", code, name)
			}
			if code != cli.ExitUsage {
				t.Errorf("exit code %d, want %d", code, cli.ExitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			got := strings.ReplaceAll(stderr, validateRoot+"testdata/", "testdata/")
			if diff := cmp.Diff(validateGolden(t, file), got); diff != "" {
				t.Errorf("stderr differs from %s.golden (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestValidateGoodPlaybooksExit0(t *testing.T) {
	for _, file := range validateCorpus(t, "good") {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			code, stdout, stderr := validateCLI(t, file)
			if code != cli.ExitOK || stderr != "" {
				t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr)
			}
			if !strings.HasPrefix(stdout, file+": ok (") || strings.Count(stdout, "\n") != 1 {
				t.Errorf("stdout = %q, want one line %q", stdout, file+": ok (NAME, N steps)")
			}
		})
	}
}

// TestValidateReportsEveryFile checks that one invalid playbook neither hides the others' errors
// nor stops the good ones being checked, and that the exit code says something was invalid.
func TestValidateReportsEveryFile(t *testing.T) {
	bugs := validateKnownBugs(t)
	good := validateCorpus(t, "good")
	var bad []string
	for _, file := range validateCorpus(t, "bad") {
		if !bugs[strings.TrimSuffix(filepath.Base(file), ".yaml")] {
			bad = append(bad, file)
		}
	}
	// Interleave so a bad file comes before and after each good one.
	var args []string
	for i := range max(len(good), len(bad)) {
		if i < len(bad) {
			args = append(args, bad[i])
		}
		if i < len(good) {
			args = append(args, good[i])
		}
	}

	code, stdout, stderr := validateCLI(t, args...)
	if code != cli.ExitUsage {
		t.Errorf("exit code %d, want %d", code, cli.ExitUsage)
	}
	var okLines []string
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		file, _, _ := strings.Cut(line, ": ok (")
		okLines = append(okLines, file)
	}
	if diff := cmp.Diff(good, okLines); diff != "" {
		t.Errorf("files reported ok (-want +got):\n%s", diff)
	}
	var want strings.Builder
	for _, file := range args {
		if slices.Contains(bad, file) {
			want.WriteString(validateGolden(t, file))
		}
	}
	got := strings.ReplaceAll(stderr, validateRoot+"testdata/", "testdata/")
	if diff := cmp.Diff(want.String(), got); diff != "" {
		t.Errorf("stderr is not every bad file's golden errors in order (-want +got):\n%s", diff)
	}
}

func TestValidateUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no playbook", nil, "validate takes one or more PLAYBOOKs"},
		{"missing file", []string{filepath.Join(t.TempDir(), "missing.yaml")}, "read playbook:"},
		{"unknown name", []string{"no-such-playbook"}, `no playbook "no-such-playbook"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := validateCLI(t, tt.args...)
			if code != cli.ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit code %d, stderr %q; want %d and %q", code, stderr, cli.ExitUsage, tt.want)
			}
		})
	}
}
