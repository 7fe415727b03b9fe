package revokekey

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/steps/openai/openaikit"
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
	if err != nil || out["revoked"] != true || out["already_revoked"] != false || out["path"] != PathKeyDeleted {
		t.Fatalf("%v %v", out, err)
	}
	if len(w.Rec.Intents()) != 1 {
		t.Errorf("intents %v: the DELETE must be announced first", w.Rec.Intents())
	}
	if k, _ := w.Sim.Key(w.Sim.LeakedKeyID()); !k.Deleted {
		t.Fatal("not deleted")
	}
	out, err = r.Run(t.Context(), w.Rec.Env)
	if err != nil || out["already_revoked"] != true || out["path"] != PathAlreadyGone {
		t.Errorf("second revoke: %v %v", out, err)
	}
	if _, done, err := r.Reconcile(t.Context(), w.Rec.Env, nil); err != nil || !done {
		t.Errorf("reconcile after the delete: done=%v err=%v", done, err)
	}
}

// The SDK says DELETE api_keys/{id} deletes service-account keys; the document says it errors.
// Both readings must end with the key revoked, or with the run stopped and told what to do.
func TestServiceAccountKeys(t *testing.T) {
	t.Parallel()
	const project, saKey, sa = "proj_storefront", "key_storefront_ci", "svc_acct_storefront_ci"
	tests := []struct {
		name       string
		document   bool // the simulator refuses service-account keys
		otherKey   bool // the service account owns a second key
		keyID      string
		wantPath   string
		wantErr    string // "" when revoked
		saDeleted  bool
		keyDeleted bool
	}{
		{name: "sdk reading", keyID: saKey, wantPath: PathKeyDeleted, keyDeleted: true},
		{name: "document reading, only key", document: true, keyID: saKey, wantPath: PathServiceAccountDeleted, saDeleted: true, keyDeleted: true},
		{name: "document reading, other keys", document: true, otherKey: true, keyID: saKey, wantErr: "IS NOT REVOKED"},
		{name: "document reading, user key", document: true, keyID: "key_storefront_backend", wantPath: PathKeyDeleted, keyDeleted: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := openaitest.StartWith(t, openaisim.Options{Seed: uint64(10 + i), RefuseServiceAccountKeyDelete: tt.document})
			ctx := t.Context()
			var other string
			if tt.otherKey {
				c, err := openaikit.Client(w.Rec.Env)
				if err != nil {
					t.Fatal(err)
				}
				nk, err := c.CreateServiceAccountKey(ctx, project, sa, "second", []string{"api.model.read"}, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				other = nk.ID
			}
			out, err := (&Revoke{Project: project, KeyID: tt.keyID}).Run(ctx, w.Rec.Env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), other) ||
					!strings.Contains(err.Error(), "service_accounts/"+sa) {
					t.Fatalf("err = %v, want %q naming the other key %s and the account's path", err, tt.wantErr, other)
				}
			} else if err != nil || out["revoked"] != true || out["path"] != tt.wantPath {
				t.Fatalf("Run = %v, %v; want revoked by %q", out, err, tt.wantPath)
			}
			if k, _ := w.Sim.Key(tt.keyID); k.Deleted != tt.keyDeleted {
				t.Errorf("key deleted = %v, want %v", k.Deleted, tt.keyDeleted)
			}
			st := w.Sim.State()
			for _, a := range st.ServiceAccounts {
				if a.ID == sa && a.Deleted != tt.saDeleted {
					t.Errorf("service account deleted = %v, want %v", a.Deleted, tt.saDeleted)
				}
			}
			if tt.saDeleted {
				in := w.Rec.Intents()
				if len(in) != 2 || in[1].Name != "delete service account" || out["service_account_id"] != sa {
					t.Errorf("intents %v, outputs %v: the account's deletion must be announced and reported", in, out)
				}
				if !strings.Contains(w.Rec.Text(), "path: "+PathServiceAccountDeleted) {
					t.Errorf("log does not say which path was taken:\n%s", w.Rec.Text())
				}
			}
		})
	}
}

func TestPlanShowsTheServiceAccountFallback(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 20)
	before := w.Sim.Snapshot()
	tests := []struct {
		key     string
		actions int
	}{
		{"key_storefront_backend", 1}, // a user's key: just the DELETE
		{"key_storefront_ci", 2},      // its account's only key: the account's DELETE is the fallback
	}
	for _, tt := range tests {
		p, err := (&Revoke{Project: "proj_storefront", KeyID: tt.key}).Plan(t.Context(), w.Rec.Env)
		if err != nil || len(p.Actions) != tt.actions {
			t.Errorf("%s: plan %+v, %v; want %d actions", tt.key, p, err, tt.actions)
		}
	}
	if after := w.Sim.Snapshot(); string(after) != string(before) {
		t.Error("planning changed the simulator's state")
	}
}

// keepsKeys deletes service accounts without their keys: an API that did so must not get the
// key reported revoked.
type keepsKeys struct{ *openai.Client }

func (keepsKeys) DeleteServiceAccount(context.Context, string, string) (bool, error) {
	return false, nil
}

func TestAKeyThatOutlivesItsAccountIsNotCalledRevoked(t *testing.T) {
	t.Parallel()
	w := openaitest.StartWith(t, openaisim.Options{Seed: 21, RefuseServiceAccountKeyDelete: true})
	c, err := openaikit.Client(w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Revoke{Project: "proj_storefront", KeyID: "key_storefront_ci", client: keepsKeys{c}}).Run(t.Context(), w.Rec.Env)
	if err == nil || !strings.Contains(err.Error(), "MAY NOT BE REVOKED") || !strings.Contains(err.Error(), "still listed") {
		t.Fatalf("err = %v, want the key reported as possibly live", err)
	}
}
