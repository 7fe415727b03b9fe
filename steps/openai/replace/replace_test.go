package replace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/secrets"
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
		"auto needs old key": {Project: "p", Scopes: []string{"auto"},
			DeliverTo: []secrets.Spec{{Type: secrets.TypeFile, Path: "/x"}}},
	}
	for name, r := range tests {
		if err := r.Validate(); err == nil {
			t.Errorf("%s: validated", name)
		}
	}
}
