package rehearsal

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every check a kind can contribute is answered by exactly one part of the world: a check
// nobody answers would be silently dropped from the verification.
func TestEveryCheckHasOnePart(t *testing.T) {
	answered := map[string][]string{}
	for _, p := range simulators() {
		for name := range p.Checks() {
			answered[name] = append(answered[name], p.Name())
		}
	}
	for _, c := range checkOrder {
		if len(answered[c]) != 1 {
			t.Errorf("check %q is answered by %v, want exactly one part", c, answered[c])
		}
	}
	if len(answered) != len(checkOrder) {
		t.Errorf("parts answer %d checks, the kinds contribute %d", len(answered), len(checkOrder))
	}
}

// The world is the sum of its parts: their environment, inputs, secrets and states.
func TestWorldRegistersEveryPart(t *testing.T) {
	w, err := Start(t.Context(), Options{Seed: 7, Dir: t.TempDir(), Chaos: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var names []string
	for _, s := range w.Snapshots() {
		if len(s.State) == 0 {
			t.Errorf("snapshot %s is empty", s.Name)
		}
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"openai", "local clone", "remote", "github"}, names); diff != "" {
		t.Errorf("snapshots (-want +got):\n%s", diff)
	}
	for _, p := range w.parts {
		for k, v := range p.Env() {
			if w.Getenv(k) != v {
				t.Errorf("%s: env %s not in the world", p.Name(), k)
			}
		}
		for k := range p.Inputs() {
			if _, ok := w.Input(k); !ok {
				t.Errorf("%s: input %s not in the world", p.Name(), k)
			}
		}
	}
	if got := len(w.Secrets()); got != 4 {
		t.Errorf("%d secrets, want the leaked key and three credentials", got)
	}
	if w.Getenv("RESPOND_REHEARSAL") != "1" {
		t.Error("RESPOND_REHEARSAL is not set")
	}
}
