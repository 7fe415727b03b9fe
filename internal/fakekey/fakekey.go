// Package fakekey makes secret values that look like real ones, for simulators, rehearsals and
// tests. Nothing secret-looking is ever committed: every value is generated at run time.
package fakekey

import (
	"math/rand/v2"
	"strings"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Source makes fake secrets. A Source built from a seed repeats its values, so a rehearsal world
// can be reproduced; it is not safe for concurrent use.
type Source struct{ r *rand.Rand }

// New returns a Source seeded with seed.
func New(seed uint64) *Source {
	return &Source{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Random returns a Source with a random seed.
func Random() *Source { return New(rand.Uint64()) }

func (s *Source) chars(n int, set string) string {
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(set[s.r.IntN(len(set))])
	}
	return b.String()
}

// OpenAIProjectKey returns a value shaped like an OpenAI project key (sk-proj-...).
func (s *Source) OpenAIProjectKey() string {
	return "sk-proj-" + s.chars(48, alphabet+"_-") + "T3BlbkFJ" + s.chars(48, alphabet+"_-")
}

// OpenAIServiceAccountKey returns a value shaped like a service-account key (sk-svcacct-...).
func (s *Source) OpenAIServiceAccountKey() string {
	return "sk-svcacct-" + s.chars(48, alphabet+"_-") + "T3BlbkFJ" + s.chars(48, alphabet+"_-")
}

// OpenAIAdminKey returns a value shaped like an OpenAI admin key (sk-admin-...).
func (s *Source) OpenAIAdminKey() string { return "sk-admin-" + s.chars(64, alphabet+"_-") }

// GitHubToken returns a value shaped like a classic GitHub token (ghp_...).
func (s *Source) GitHubToken() string { return "ghp_" + s.chars(36, alphabet) }

// SlackBotToken returns a value shaped like a Slack bot token (xoxb-...).
func (s *Source) SlackBotToken() string {
	return "xoxb-" + s.chars(12, "0123456789") + "-" + s.chars(13, "0123456789") + "-" + s.chars(24, alphabet)
}

// Hex returns n random lowercase hex characters (signing secrets, IDs).
func (s *Source) Hex(n int) string { return s.chars(n, "0123456789abcdef") }

// ID returns a prefixed identifier such as key_abc123.
func (s *Source) ID(prefix string, n int) string { return prefix + s.chars(n, alphabet) }
