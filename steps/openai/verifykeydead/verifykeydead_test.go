package verifykeydead

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
	"github.com/respond-sec/respond/steps/openai/openaitest"
	"github.com/respond-sec/respond/steps/stepstest"
)

func TestALiveKeyFailsLoudly(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 1)
	secret := w.Sim.LeakedKeySecret()
	_, err := (&VerifyDead{Key: secret, Within: 30 * time.Millisecond, Every: 10 * time.Millisecond}).Run(t.Context(), w.Rec.Env)
	if !errors.Is(err, ErrStillLive) {
		t.Fatalf("err = %v, want ErrStillLive", err)
	}
	stepstest.AssertNoSecret(t, err.Error()+w.Rec.Text(), secret)
}

func TestARevokedKeyIsDead(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 2)
	secret := w.Sim.LeakedKeySecret()
	c, err := openaikit.Client(w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteProjectKey(t.Context(), "proj_storefront", w.Sim.LeakedKeyID()); err != nil {
		t.Fatal(err)
	}
	out, err := (&VerifyDead{Key: secret}).Run(t.Context(), w.Rec.Env)
	if err != nil || out["dead"] != true || out["status"] != 401 || out["code"] != openai.CodeInvalidAPIKey {
		t.Fatalf("%v %v", out, err)
	}
}

// A live key the API refuses for another reason than invalid_api_key is not proven dead: here a
// service-account key whose account has no role (401, no error code).
func TestARefusedButLiveKeyIsNotProvenDead(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 4)
	c, err := openaikit.Client(w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	sa, err := c.CreateServiceAccount(ctx, "proj_storefront", "no-role")
	if err != nil {
		t.Fatal(err)
	}
	nk, err := c.CreateServiceAccountKey(ctx, "proj_storefront", sa.ID, "k", []string{openai.ScopeModelRead}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&VerifyDead{Key: nk.Value, Within: 30 * time.Millisecond, Every: 10 * time.Millisecond}).Run(ctx, w.Rec.Env)
	if !errors.Is(err, ErrNotProven) || !strings.Contains(err.Error(), "401 (no error code)") ||
		!strings.Contains(err.Error(), "insufficient permissions") {
		t.Fatalf("err = %v, want ErrNotProven quoting the 401 and its message", err)
	}
	stepstest.AssertNoSecret(t, err.Error()+w.Rec.Text(), nk.Value)
}

// seq answers the checks in order, repeating the last answer.
type seq struct{ answers []openai.KeyCheck }

func (s *seq) CheckKey(context.Context, string) (openai.KeyCheck, error) {
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	return a, nil
}

func TestOnlyInvalidAPIKeyProvesDeath(t *testing.T) {
	t.Parallel()
	dead := openai.KeyCheck{Status: http.StatusUnauthorized, Code: openai.CodeInvalidAPIKey}
	tests := []struct {
		name       string
		answers    []openai.KeyCheck
		wantErr    error
		wantQuote  string // in the error
		wantChecks int    // on success
	}{
		{"mismatched organization", []openai.KeyCheck{{Status: 401, Code: "mismatched_organization", Message: "OpenAI-Organization header should match organization for API key"}},
			ErrNotProven, "401 mismatched_organization", 0},
		{"missing scopes", []openai.KeyCheck{{Status: 401, Message: "You have insufficient permissions for this operation. Missing scopes: api.model.read."}},
			ErrNotProven, "Missing scopes", 0},
		{"403 insufficient permissions", []openai.KeyCheck{{Status: 403, Code: "insufficient_permissions"}}, ErrNotProven, "403 insufficient_permissions", 0},
		{"401 with another code", []openai.KeyCheck{{Status: 401, Code: "invalid_organization"}}, ErrNotProven, "401 invalid_organization", 0},
		{"still works", []openai.KeyCheck{{Status: 200}}, ErrStillLive, "answered 200", 0},
		{"dies while propagating", []openai.KeyCheck{{Status: 200}, {Status: 401, Code: "mismatched_organization"}, dead}, nil, "", 3},
		{"dead at once", []openai.KeyCheck{dead}, nil, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := stepstest.New(t, nil)
			secret := fakekey.New(9).OpenAIProjectKey() // never sent anywhere: the checker is fake
			v := &VerifyDead{Key: secret, Within: 50 * time.Millisecond, Every: 5 * time.Millisecond, client: &seq{answers: tt.answers}}
			out, err := v.Run(t.Context(), rec.Env)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantQuote) {
					t.Fatalf("err = %v, want %v quoting %q", err, tt.wantErr, tt.wantQuote)
				}
				stepstest.AssertNoSecret(t, err.Error()+rec.Text(), secret)
				return
			}
			if err != nil || out["dead"] != true || out["checks"] != tt.wantChecks || out["code"] != openai.CodeInvalidAPIKey {
				t.Fatalf("Run = %v, %v; want dead after %d checks", out, err, tt.wantChecks)
			}
		})
	}
}

func TestOnlyAKeyIDIsSkipped(t *testing.T) {
	t.Parallel()
	w := openaitest.Start(t, 3)
	_, err := (&VerifyDead{Key: "key_abc"}).Run(t.Context(), w.Rec.Env)
	if _, ok := steps.IsSkip(err); !ok {
		t.Fatalf("err = %v, want a skip", err)
	}
}

// Engineers often have OPENAI_ORG_ID / OPENAI_PROJECT_ID set (the SDK sends them as headers).
// With another organisation's ID a live key would answer 401 mismatched_organization; the step
// must still see it live, and see it dead once revoked.
func TestOrganizationAndProjectFromTheEnvironmentDoNotFoolTheCheck(t *testing.T) {
	t.Setenv("OPENAI_ORG_ID", "org-someone-else")
	t.Setenv("OPENAI_PROJECT_ID", "proj_analytics")
	w := openaitest.Start(t, 11)
	secret := w.Sim.LeakedKeySecret()
	_, err := (&VerifyDead{Key: secret, Within: 20 * time.Millisecond, Every: 5 * time.Millisecond}).Run(t.Context(), w.Rec.Env)
	if !errors.Is(err, ErrStillLive) {
		t.Fatalf("live key: err = %v, want ErrStillLive", err)
	}
	c, err := openaikit.Client(w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteProjectKey(t.Context(), "proj_storefront", w.Sim.LeakedKeyID()); err != nil {
		t.Fatal(err)
	}
	out, err := (&VerifyDead{Key: secret}).Run(t.Context(), w.Rec.Env)
	if err != nil || out["code"] != openai.CodeInvalidAPIKey {
		t.Fatalf("revoked key: %v %v", out, err)
	}
}
