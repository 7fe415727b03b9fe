package cli_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/internal/rehearsal"
)

// Exit codes of respond audit for cron and CI: 1 when a finding reaches --fail-on, 0 when none
// does and everything was read, 2 for a bad --fail-on; the JSON is the report.
func TestAuditExitCodes(t *testing.T) {
	w := rehearsal.MessyOpenAI()
	sim := openaisim.New(w, openaisim.Options{Seed: 11})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	env := map[string]string{"OPENAI_ADMIN_KEY": sim.AdminKey(), "RESPOND_OPENAI_BASE_URL": srv.URL + "/v1"}
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"audit", "--output", "json"}, 1},
		{[]string{"audit", "--output", "json", "--fail-on", "critical"}, 0},
		{[]string{"audit", "--fail-on", "urgent"}, 2},
	}
	for _, tt := range tests {
		r := respond(t, env, "", tt.args...)
		if r.code != tt.code {
			t.Errorf("%v: exit %d, want %d\nstderr: %s", tt.args, r.code, tt.code, r.stderr)
			continue
		}
		if tt.code == 2 {
			if !strings.Contains(r.stderr, "--fail-on") {
				t.Errorf("%v: stderr %q does not name the flag", tt.args, r.stderr)
			}
			continue
		}
		var rep struct {
			Findings []struct{ Check, Severity string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Findings) == 0 {
			t.Errorf("%v: stdout is not a report with findings (%v):\n%s", tt.args, err, r.stdout)
		}
	}
}
