package findkey

import (
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps/openai/openaitest"
	"github.com/respond-sec/respond/steps/stepstest"
)

func TestMatches(t *testing.T) {
	t.Parallel()
	key := fakekey.New(1).OpenAIProjectKey()
	tests := []struct {
		redacted string
		want     bool
	}{
		{key[:8] + "..." + key[len(key)-4:], true},
		{key[:8] + "…" + key[len(key)-4:], true},
		{key[:8] + "****" + key[len(key)-4:], true},
		{key[:8] + "..." + "zzzz", false},
		{"sk-other..." + key[len(key)-4:], false},
		{key[:8] + "..." + key[len(key)-1:], false}, // one visible character proves nothing
		{"no separator", false},
	}
	for _, tt := range tests {
		if got := Matches(tt.redacted, key); got != tt.want {
			t.Errorf("Matches(%q) = %v, want %v", tt.redacted, got, tt.want)
		}
	}
}

func TestFindsTheKeyFromTheSecretAlone(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 1)
	out, err := (&FindKey{Key: w.Sim.LeakedKeySecret()}).Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if out["key_id"] != w.Sim.LeakedKeyID() || out["project_id"] != "proj_storefront" || out["secret_given"] != true {
		t.Errorf("outputs %v", out)
	}
	stepstest.AssertNoSecret(t, stepstest.JSON(t, out)+w.Rec.Text(), w.Sim.LeakedKeySecret())
}

func TestFindsTheKeyByID(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 2)
	out, err := (&FindKey{Key: w.Sim.LeakedKeyID()}).Run(t.Context(), w.Rec.Env)
	if err != nil || out["project_id"] != "proj_storefront" || out["secret_given"] != false {
		t.Fatalf("%v %v", out, err)
	}
}

func TestNoMatchSaysWhatToDo(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 3)
	other := fakekey.New(99).OpenAIProjectKey()
	_, err := (&FindKey{Key: other}).Run(t.Context(), w.Rec.Env)
	if err == nil || !strings.Contains(err.Error(), "no key's redacted value matches") || !strings.Contains(err.Error(), "--input key=key_") {
		t.Fatalf("err = %v", err)
	}
	stepstest.AssertNoSecret(t, err.Error(), other)
	if _, err := (&FindKey{Key: "key_nope"}).Run(t.Context(), w.Rec.Env); err == nil || !strings.Contains(err.Error(), "no key with ID key_nope") {
		t.Errorf("unknown ID: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := (&FindKey{}).Validate(); err == nil {
		t.Error("an empty key validated")
	}
}
