package rehearsal_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/rehearsal"
	"github.com/respond-sec/respond/playbooks"
	"github.com/respond-sec/respond/steps/catalog"
)

func TestScopeOf(t *testing.T) {
	src, ok := playbooks.Source("openai-key-leak")
	if !ok {
		t.Fatal("built-in playbook missing")
	}
	builtin, err := playbook.Load("openai-key-leak.yaml", src, catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pb   *playbook.Playbook
		want rehearsal.Scope
	}{
		{"built-in playbook", builtin, rehearsal.FullScope()},
		{"replacement into a file only", load(t, `name: file-only
steps:
  - id: replace
    uses: openai.create-replacement
    with:
      project: proj_x
      old_key_id: key_x
      scopes: [auto]
      deliver_to:
        - {type: file, path: /run/secrets/openai}
`), rehearsal.Scope{Kinds: map[string]bool{"openai.create-replacement": true}, Deliveries: map[string]bool{"file": true}}},
		{"a slack step reports to Slack", load(t, `name: tell
steps:
  - id: tell
    uses: slack.notify
    with: {channel: "#x", text: hi}
`), rehearsal.Scope{Kinds: map[string]bool{"slack.notify": true}, Deliveries: map[string]bool{}, Slack: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rehearsal.ScopeOf(tt.pb)
			if tt.name == "built-in playbook" {
				// Every kind the world checks is used, and the checks are the full set but the
				// organization's alerts, which respond audit --fix adds and no leak response does.
				want := slices.DeleteFunc(tt.want.Checks(), func(c string) bool { return c == "organization alerts" })
				if diff := cmp.Diff(want, got.Checks()); diff != "" {
					t.Errorf("checks (-full +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.want.Deliveries, got.Deliveries); diff != "" {
					t.Errorf("deliveries (-want +got):\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scope (-want +got):\n%s", diff)
			}
		})
	}
}

func load(t *testing.T, src string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Load("pb.yaml", []byte(src), catalog.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}
