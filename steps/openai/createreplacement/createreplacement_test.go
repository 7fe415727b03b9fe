package createreplacement

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/secrets"
	"github.com/respond-sec/respond/steps/openai/openaikit"
	"github.com/respond-sec/respond/steps/openai/openaitest"
	"github.com/respond-sec/respond/steps/stepstest"
)

func liveReplacements(sim *openaisim.Server) []openaisim.KeyState {
	var out []openaisim.KeyState
	for _, k := range sim.State().Keys {
		if strings.HasPrefix(k.Name, "respond-") && !k.Deleted {
			out = append(out, k)
		}
	}
	return out
}

func TestMintsAScopedExpiringKeyIntoItsSink(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 1)
	path := filepath.Join(t.TempDir(), "key")
	r := &Replace{Project: "proj_storefront", Scopes: []string{"auto"}, OldKeyID: w.Sim.LeakedKeyID(),
		DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: path}, {Type: secrets.TypeFile, Path: ""}}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := r.Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	keys := liveReplacements(w.Sim)
	if len(keys) != 1 || keys[0].AllPermissions() || keys[0].ExpiresAt.IsZero() || out["key_id"] != keys[0].ID {
		t.Fatalf("keys %+v, outputs %v", keys, out)
	}
	// The leaked key used chat completions, embeddings and moderations before the exposure; its
	// project stores vector stores, which the API reports per project only: those scopes come
	// with a to-do to check them.
	want := []string{openai.ScopeModelRead, openai.ScopeModelRequest, openai.ScopeResponsesWrite,
		openai.ScopeVectorStoresRead, openai.ScopeVectorStoresWrite}
	if diff := cmp.Diff(want, keys[0].Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if todo, _ := out["todo"].([]string); len(todo) != 1 || !strings.Contains(todo[0], "vector_stores") {
		t.Errorf("todo %q: the project-wide scopes must be flagged", todo)
	}
	// Its account was created without a key (role none) and then given role member, or the key
	// could do nothing; the proof call says so.
	for _, sa := range w.Sim.State().ServiceAccounts {
		if sa.ID == keys[0].ServiceAccountID && sa.Role != openai.RoleMember {
			t.Errorf("service account role %q, want member", sa.Role)
		}
	}
	if p, _ := out["proven"].(string); !strings.Contains(p, "answered 200") {
		t.Errorf("proven = %q", out["proven"])
	}
	value, err := os.ReadFile(path)
	if err != nil || len(value) < 20 {
		t.Fatalf("delivered %q, %v", value, err)
	}
	// The value was registered before anything else and appears in no output or log.
	if secretsSeen := w.Rec.Secrets(); len(secretsSeen) == 0 || secretsSeen[len(secretsSeen)-1] != string(value) {
		t.Error("the new value was not registered for redaction")
	}
	stepstest.AssertNoSecret(t, stepstest.JSON(t, out)+w.Rec.Text(), string(value))
}

func TestFailedDeliveryLeavesNoLiveKey(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 2)
	r := &Replace{Project: "proj_storefront", Scopes: []string{"api.model.request"},
		DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: filepath.Join(t.TempDir(), "ok")},
			{Type: secrets.TypeFile, Path: filepath.Join(t.TempDir(), "missing-dir", "key")}}}
	_, err := r.Run(t.Context(), w.Rec.Env)
	if err == nil || !strings.Contains(err.Error(), "was deleted so it is not left live and undelivered") {
		t.Fatalf("err = %v", err)
	}
	if keys := liveReplacements(w.Sim); len(keys) != 0 {
		t.Errorf("%d live replacement keys after a failed delivery", len(keys))
	}
	if _, err := os.Stat(r.DeliverTo[0].Path); !errors.Is(err, os.ErrNotExist) {
		t.Error("the first sink still holds the deleted key's value")
	}
}

func TestLostCreateIsReconciledToOneKey(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 3)
	w.Sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{
		{Route: openaisim.RouteCreateServiceAccountKey, ApplyThenDrop: 1, MaxFaults: 1}}})
	r := &Replace{Project: "proj_storefront", Scopes: []string{"api.model.request"},
		DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: filepath.Join(t.TempDir(), "key"), Overwrite: true}}}
	if _, err := r.Run(t.Context(), w.Rec.Env); err == nil {
		t.Fatal("a lost answer to the create did not fail the attempt")
	}
	if keys := liveReplacements(w.Sim); len(keys) != 0 {
		t.Fatalf("the key whose value was lost is still live: %+v", keys)
	}
	if _, err := r.Run(t.Context(), w.Rec.Env); err != nil {
		t.Fatal(err)
	}
	if keys := liveReplacements(w.Sim); len(keys) != 1 {
		t.Errorf("%d live replacement keys, want 1", len(keys))
	}
}

func TestValidateRefusesAllPermissionsAndNowhere(t *testing.T) {
	t.Parallel()
	tests := map[string]Replace{
		"empty scopes": {Project: "p", DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: "/x"}}},
		"no sink":      {Project: "p", Scopes: []string{"api.model.request"}, DeliverTo: []secrets.Spec{{Type: secrets.TypeFile}}},
	}
	for name, r := range tests {
		if err := r.Validate(); err == nil {
			t.Errorf("%s: validated", name)
		}
	}
}

// refusing is the real client, except that every key check is refused as a role-none key would be.
type refusing struct{ *openai.Client }

func (refusing) CheckKey(context.Context, string) (openai.KeyCheck, error) {
	return openai.KeyCheck{Status: http.StatusUnauthorized, Message: "You have insufficient permissions for this operation."}, nil
}

func TestAKeyThatDoesNotWorkIsDeletedNotDelivered(t *testing.T) {
	t.Parallel()
	for _, document := range []bool{false, true} {
		t.Run(map[bool]string{false: "sdk reading", true: "document reading"}[document], func(t *testing.T) {
			t.Parallel()
			w := openaitest.StartWith(t, openaisim.Options{Seed: 5, RefuseServiceAccountKeyDelete: document})
			c, err := openaikit.Client(w.Rec.Env)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "key")
			r := &Replace{Project: "proj_storefront", Scopes: []string{"api.model.request"}, ProveWithin: 20 * time.Millisecond,
				DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: path}}, client: refusing{c}}
			_, err = r.Run(t.Context(), w.Rec.Env)
			if !errors.Is(err, ErrReplacementDoesNotWork) || !strings.Contains(err.Error(), "401 (no error code)") {
				t.Fatalf("err = %v, want ErrReplacementDoesNotWork quoting the answer", err)
			}
			if keys := liveReplacements(w.Sim); len(keys) != 0 {
				t.Errorf("%d live replacement keys after a failed proof", len(keys))
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Error("a key that does not work was delivered")
			}
		})
	}
}

func TestNoUsageFallsBackToDefaultScopesWithAToDo(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 6)
	// Long before the leaked key was created: nothing to derive from.
	before := time.Now().Add(-300 * 24 * time.Hour).UTC().Format(time.RFC3339)
	r := &Replace{Project: "proj_storefront", Scopes: []string{"auto"}, OldKeyID: w.Sim.LeakedKeyID(), AutoBefore: before,
		DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: filepath.Join(t.TempDir(), "key")}}}
	out, err := r.Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatalf("Run: %v (no usage must never fail the run)", err)
	}
	keys := liveReplacements(w.Sim)
	if len(keys) != 1 {
		t.Fatalf("%d replacement keys", len(keys))
	}
	if diff := cmp.Diff(openai.DefaultScopes, keys[0].Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	todo, _ := out["todo"].([]string)
	if len(todo) != 1 || !strings.Contains(todo[0], "default scopes") || !strings.Contains(out["scopes_basis"].(string), "minimal default") {
		t.Errorf("todo %q, basis %q: the fallback must be stated", todo, out["scopes_basis"])
	}
}

func TestAKeyWithoutExpiryIsReported(t *testing.T) {
	t.Parallel()
	w := openaitest.StartWith(t, openaisim.Options{Seed: 7, IgnoreKeyExpiry: true})
	r := &Replace{Project: "proj_storefront", Scopes: []string{"api.model.request"},
		DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: filepath.Join(t.TempDir(), "key")}}}
	out, err := r.Run(t.Context(), w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	todo, _ := out["todo"].([]string)
	if out["expires_at"] != "" || len(todo) != 1 || !strings.Contains(todo[0], "without an expiry") ||
		!strings.Contains(w.Rec.Text(), "HAS NO EXPIRY") {
		t.Errorf("expires_at %q, todo %q, log:\n%s", out["expires_at"], todo, w.Rec.Text())
	}
}
