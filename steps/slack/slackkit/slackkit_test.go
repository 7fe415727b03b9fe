package slackkit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/respond-sec/respond/integrations/slack"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/slack/slackkit"
)

func sharedWith(v any, present bool) *steps.Env {
	return &steps.Env{Shared: func(key string, build func() (any, error)) (any, error) {
		if present && key == slackkit.Key {
			return v, nil
		}
		return build()
	}}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	client, err := slack.New(slack.Config{Token: "test-token"})
	if err != nil {
		t.Fatal(err)
	}
	th := &slackkit.Thread{Channel: "C1", TS: "1.2", Client: client}
	tests := []struct {
		name string
		env  *steps.Env
		ok   bool
	}{
		{"nil env", nil, false},
		{"no Shared", &steps.Env{}, false},
		{"nothing stored", sharedWith(nil, false), false},
		{"pointer", sharedWith(th, true), true},
		{"value", sharedWith(*th, true), true},
		{"no client", sharedWith(&slackkit.Thread{Channel: "C1"}, true), false},
		{"wrong type", sharedWith("C1", true), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := slackkit.FromEnv(tc.env)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, slackkit.ErrNoThread)) {
				t.Fatalf("FromEnv = %v, %v", got, err)
			}
			if tc.ok {
				ch, ts, err := got.Locate(context.Background())
				if err != nil || ch != "C1" || ts != "1.2" {
					t.Errorf("Locate = %q, %q, %v", ch, ts, err)
				}
			}
		})
	}
}
