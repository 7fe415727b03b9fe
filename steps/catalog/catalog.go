// Package catalog is the one list of step kinds a playbook may use. Adding a kind means adding it
// here, with a line saying why it exists.
package catalog

import (
	"slices"

	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/exec"
	gitpurge "github.com/respond-sec/respond/steps/git/purgehistory"
	gitscan "github.com/respond-sec/respond/steps/git/scanhistory"
	"github.com/respond-sec/respond/steps/github/purgelogs"
	"github.com/respond-sec/respond/steps/github/resolvealerts"
	ghsearch "github.com/respond-sec/respond/steps/github/search"
	logsearch "github.com/respond-sec/respond/steps/logs/search"
	"github.com/respond-sec/respond/steps/openai/createreplacement"
	"github.com/respond-sec/respond/steps/openai/findkey"
	"github.com/respond-sec/respond/steps/openai/orgspendalerts"
	"github.com/respond-sec/respond/steps/openai/reviewusage"
	"github.com/respond-sec/respond/steps/openai/revokekey"
	"github.com/respond-sec/respond/steps/openai/tightenbudgets"
	"github.com/respond-sec/respond/steps/openai/verifykeydead"
	"github.com/respond-sec/respond/steps/slack/notify"
)

// Kinds lists every step kind.
var Kinds = []steps.Kind{
	// Custom actions a team already scripts, and the engine's own test step.
	exec.Kind,
	// The engineer often has only the leaked sk-... string, not its ID.
	findkey.Kind,
	// Revocation is the first change of a run and must be idempotent.
	revokekey.Kind,
	// A revocation that did not take is the worst outcome: prove it with the leaked value.
	verifykeydead.Kind,
	// The service the key served keeps working, with less power and an expiry.
	createreplacement.Kind,
	// What did the attacker do with it? Decides who else must be told.
	reviewusage.Kind,
	// Caps the damage of anything still unknown, reversibly.
	tightenbudgets.Kind,
	// The organization-wide net under every project's budget; what `respond audit --fix` adds.
	orgspendalerts.Kind,
	// Where else is the key? Alerts, code and Actions logs on GitHub, with first-seen times.
	ghsearch.Kind,
	// Copies in CI logs stay readable to anyone with repository access until deleted.
	purgelogs.Kind,
	// Closing the alerts as revoked tells everyone watching them that it is handled.
	resolvealerts.Kind,
	// Servers and laptops keep logs GitHub cannot see.
	logsearch.Kind,
	// Every clone keeps the whole history: the tip is not where a leak ends.
	gitscan.Kind,
	// Removing the value from history (after revoking it) stops the next scanner finding it.
	gitpurge.Kind,
	// Says in the run's Slack thread what the playbook author wants said.
	notify.Kind,
}

// Lookup finds a kind by its `uses` name.
func Lookup(uses string) (steps.Kind, bool) {
	i := slices.IndexFunc(Kinds, func(k steps.Kind) bool { return k.Name == uses })
	if i < 0 {
		return steps.Kind{}, false
	}
	return Kinds[i], true
}

// Names lists every kind's name.
func Names() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = k.Name
	}
	return out
}

// Revokes reports whether the kind named uses revokes the leaked credential: its first success
// ends the run's "time to revoke". Code that sees only events asks this, never a kind's name.
func Revokes(uses string) bool {
	k, ok := Lookup(uses)
	return ok && k.Revokes()
}
