package playbook_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps/catalog"
)

// A value has one Go type per declared input type, whether it came from a default (YAML), a
// flag, the environment, a file or Slack (strings).
func TestCoerceGivesOneTypePerInputType(t *testing.T) {
	tests := []struct {
		typ     string
		raw     any
		want    any
		wantErr bool
	}{
		{playbook.TypeNumber, 3, float64(3), false},
		{playbook.TypeNumber, "3", float64(3), false},
		{playbook.TypeNumber, 0.5, 0.5, false},
		{playbook.TypeNumber, "three", nil, true},
		{playbook.TypeString, 42, "42", false},
		{playbook.TypeString, "42", "42", false},
		{playbook.TypeString, []any{"a"}, nil, true},
		{playbook.TypeBool, "true", true, false},
		{playbook.TypeBool, false, false, false},
		{playbook.TypeBool, "yes", nil, true},
		{playbook.TypeList, "a, b,", []any{"a", "b"}, false},
		{playbook.TypeList, "", []any{}, false},
		{playbook.TypeList, []any{"a"}, []any{"a"}, false},
		{playbook.TypeList, 1, nil, true},
	}
	for _, tt := range tests {
		in := &playbook.Input{Name: "x", Type: tt.typ}
		got, err := in.Coerce(tt.raw, "test")
		if (err != nil) != tt.wantErr {
			t.Errorf("%s %#v: error %v, want error %t", tt.typ, tt.raw, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s %#v (-want +got):\n%s", tt.typ, tt.raw, diff)
		}
	}
}

func TestDefaultsHaveTheGivenValuesType(t *testing.T) {
	pb, err := playbook.Load("p.yaml", []byte(`name: p
inputs:
  n: {type: number, default: 3}
  s: {default: 42}
  l: {type: list}
steps:
  - {id: a, uses: exec, with: {argv: ["true"]}}
`), catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, in := range pb.Inputs {
		got[in.Name] = in.Value()
	}
	want := map[string]any{"n": float64(3), "s": "42", "l": []any{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values of inputs nobody gave (-want +got):\n%s", diff)
	}
}

func TestBindCoercesGivenDefaultsAbsentAndListsMissingInOrder(t *testing.T) {
	pb, err := playbook.Load("p.yaml", []byte(`name: p
inputs:
  z: {required: true}
  n: {type: number, default: 3}
  flag: {type: bool}
  a: {required: true}
  l: {type: list}
steps:
  - {id: a, uses: exec, with: {argv: ["true"]}}
`), catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	from := func(string) string { return "test" }
	got, missing, err := pb.Bind(map[string]any{"flag": "true", "l": "x, y", "undeclared": "ignored"}, from)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": float64(3), "flag": true, "l": []any{"x", "y"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"z", "a"}, missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if _, _, err := pb.Bind(map[string]any{"n": "three"}, from); err == nil || !strings.HasPrefix(err.Error(), "input n: ") {
		t.Errorf("a value of the wrong type: err = %v, want one naming input n", err)
	}
}
