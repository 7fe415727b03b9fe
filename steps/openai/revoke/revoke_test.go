package revoke

import (
	"testing"

	"github.com/respond-sec/respond/steps/openai/openaitest"
)

func TestRevokeIsIdempotentAndReconciles(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 1)
	r := &Revoke{Project: "proj_storefront", KeyID: w.Sim.LeakedKeyID()}
	// Before: the key exists, so an interrupted revoke must run again.
	if _, done, err := r.Reconcile(t.Context(), w.Rec.Env, nil); err != nil || done {
		t.Fatalf("reconcile before the delete: done=%v err=%v", done, err)
	}
	out, err := r.Run(t.Context(), w.Rec.Env)
	if err != nil || out["revoked"] != true || out["already_revoked"] != false {
		t.Fatalf("%v %v", out, err)
	}
	if len(w.Rec.Intents()) != 1 {
		t.Errorf("intents %v: the DELETE must be announced first", w.Rec.Intents())
	}
	if k, _ := w.Sim.Key(w.Sim.LeakedKeyID()); !k.Deleted {
		t.Fatal("not deleted")
	}
	out, err = r.Run(t.Context(), w.Rec.Env)
	if err != nil || out["already_revoked"] != true {
		t.Errorf("second revoke: %v %v", out, err)
	}
	if _, done, err := r.Reconcile(t.Context(), w.Rec.Env, nil); err != nil || !done {
		t.Errorf("reconcile after the delete: done=%v err=%v", done, err)
	}
}
