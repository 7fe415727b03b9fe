package rehearsal

import (
	"testing"

	"github.com/respond-sec/respond/steps/catalog"
)

// A kind that changes things must say what the world can check of it: a new mutating kind with
// no effect would be judged on nothing without anyone deciding so. Only a team's own program is
// exempt (the rehearsal runs it; what it does is its own business).
func TestEveryMutatingKindIsChecked(t *testing.T) {
	for _, k := range catalog.Kinds {
		if k.Mutating() && !k.Traits.RunsPrograms && len(kindChecks(k.Name)) == 0 {
			t.Errorf("step kind %s changes things but declares no effect the rehearsal checks", k.Name)
		}
		for _, e := range k.Traits.Effects {
			if len(effectChecks[e]) == 0 {
				t.Errorf("step kind %s declares effect %q, which no rehearsal check proves", k.Name, e)
			}
		}
	}
}
