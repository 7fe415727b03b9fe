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

// A value that matches no live key and no longer authenticates is already revoked: the run goes
// on with the cleanup. An unknown ID with no deletion in the audit log is still an error.
func TestAValueThatNoLongerWorksIsAlreadyRevoked(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 3)
	other := fakekey.New(99).OpenAIProjectKey()
	out, err := (&FindKey{Key: other}).Run(t.Context(), w.Rec.Env)
	if err != nil || out["already_revoked"] != true || out["key_id"] != "" {
		t.Fatalf("%v %v", out, err)
	}
	if !strings.Contains(w.Rec.Text(), "ALREADY REVOKED") {
		t.Errorf("the log does not say so:\n%s", w.Rec.Text())
	}
	stepstest.AssertNoSecret(t, w.Rec.Text(), other)
	if _, err := (&FindKey{Key: "key_nope"}).Run(t.Context(), w.Rec.Env); err == nil || !strings.Contains(err.Error(), "no key with ID key_nope") {
		t.Errorf("unknown ID: %v", err)
	}
}

// A key a teammate revoked in the dashboard: found by ID in the audit log, with who and when.
func TestAKeyRevokedByHandIsFoundInTheAuditLog(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 4)
	id := w.Sim.LeakedKeyID()
	if !w.Sim.RevokeByHand(id, "bob@example.com") {
		t.Fatal("could not revoke by hand")
	}
	out, err := (&FindKey{Key: id}).Run(t.Context(), w.Rec.Env)
	if err != nil || out["already_revoked"] != true || out["key_id"] != id || out["project_id"] != "proj_storefront" ||
		out["revoked_by"] != "bob@example.com" || out["revoked_at"] == "" {
		t.Fatalf("%v %v", out, err)
	}
	// Given the value instead, the key is proven dead and the deletion is listed as a candidate.
	out, err = (&FindKey{Key: w.Sim.LeakedKeySecret()}).Run(t.Context(), w.Rec.Env)
	if err != nil || out["already_revoked"] != true {
		t.Fatalf("%v %v", out, err)
	}
	if !strings.Contains(w.Rec.Text(), id+" revoked by bob@example.com") {
		t.Errorf("the recent deletion is not listed:\n%s", w.Rec.Text())
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := (&FindKey{}).Validate(); err == nil {
		t.Error("an empty key validated")
	}
}
