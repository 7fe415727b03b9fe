package verifydead

import (
	"errors"
	"testing"
	"time"

	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/admin"
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
	c, err := admin.Client(w.Rec.Env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteProjectKey(t.Context(), "proj_storefront", w.Sim.LeakedKeyID()); err != nil {
		t.Fatal(err)
	}
	out, err := (&VerifyDead{Key: secret}).Run(t.Context(), w.Rec.Env)
	if err != nil || out["dead"] != true || out["status"] != 401 {
		t.Fatalf("%v %v", out, err)
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
