// Package catalog is the one list of step kinds a playbook may use. Adding a kind means adding it
// here, with a line saying why it exists.
package catalog

import (
	"slices"

	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/exec"
)

// Kinds lists every step kind.
var Kinds = []steps.Kind{
	// Custom actions a team already scripts, and the engine's own test step.
	exec.Kind,
}

// Lookup finds a kind by its `uses` name.
func Lookup(uses string) (steps.Kind, bool) {
	i := slices.IndexFunc(Kinds, func(k steps.Kind) bool { return k.Name == uses })
	if i < 0 {
		return steps.Kind{}, false
	}
	return Kinds[i], true
}
