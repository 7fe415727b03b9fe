package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInterspersed(t *testing.T) {
	app := NewApp(&Factory{})
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"flag after positional", []string{"respond", "rehearse", "openai-key-leak", "--seed", "7"},
			[]string{"respond", "rehearse", "--seed", "7", "openai-key-leak"}},
		{"bool flag takes no value", []string{"respond", "rehearse", "pb", "--chaos", "--seed=3"},
			[]string{"respond", "rehearse", "--chaos", "--seed=3", "pb"}},
		{"already in order", []string{"respond", "run", "--input", "note=x", "pb"},
			[]string{"respond", "run", "--input", "note=x", "pb"}},
		{"subcommand", []string{"respond", "scan", "git", ".", "--secret-file", "f", "-o", "json"},
			[]string{"respond", "scan", "git", "--secret-file", "f", "-o", "json", "."}},
		{"runs show", []string{"respond", "runs", "show", "r1", "--json"},
			[]string{"respond", "runs", "show", "--json", "r1"}},
		{"terminator keeps flag-like positionals", []string{"respond", "run", "pb", "--yes", "--", "-x"},
			[]string{"respond", "run", "--yes", "--", "pb", "-x"}},
		{"stdin dash is positional", []string{"respond", "validate", "-"},
			[]string{"respond", "validate", "-"}},
		{"completion flag stays last", []string{"respond", "runs", "--generate-bash-completion"},
			[]string{"respond", "runs", "--generate-bash-completion"}},
		{"unknown command untouched", []string{"respond", "reherse", "x", "--seed", "1"},
			[]string{"respond", "reherse", "x", "--seed", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, interspersed(app, tt.in)); diff != "" {
				t.Errorf("interspersed (-want +got):\n%s", diff)
			}
		})
	}
}
