package cli_test

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

// BenchmarkTimeToRevoke runs the built-in openai-key-leak playbook with only the leaked secret
// against a simulator that adds 100 ms to every call, and measures how long after the run's
// first API call the DELETE of the key arrives. waves is that time in units of the latency: 2
// means the DELETE came right after listing the projects and, in parallel, all their keys.
//
//	go test ./internal/cli -run '^$' -bench TimeToRevoke -benchtime 3x
func BenchmarkTimeToRevoke(b *testing.B) {
	const latency = 100 * time.Millisecond
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("projects=%d", n), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				sim := openaisim.New(openaisim.SyntheticWorld(n), openaisim.Options{Seed: uint64(n)})
				sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{{Latency: latency}}})
				srv := httptest.NewServer(sim)
				dir := b.TempDir()
				env := map[string]string{"RESPOND_STATE_DIR": dir, "OPENAI_ADMIN_KEY": sim.AdminKey(),
					"RESPOND_OPENAI_BASE_URL": srv.URL + "/v1"}
				keyFile := filepath.Join(dir, "leaked")
				writeBenchFile(b, keyFile, sim.LeakedKeySecret())
				r := respondB(b, env, "run", "--input", "key=@"+keyFile, "--input", "secret_file="+filepath.Join(dir, "new"), "openai-key-leak")
				srv.Close()
				if r.code != 0 {
					b.Fatalf("exit %d\n%s", r.code, r.stderr)
				}
				var first, del time.Time
				for _, rec := range sim.RequestLog() {
					if first.IsZero() || rec.Time.Before(first) {
						first = rec.Time
					}
					if rec.Route == openaisim.RouteDeleteProjectKey && del.IsZero() {
						del = rec.Time
					}
				}
				total += del.Sub(first)
			}
			avg := total / time.Duration(b.N)
			b.ReportMetric(float64(avg.Milliseconds()), "ms-to-revoke")
			b.ReportMetric(float64(avg)/float64(latency), "waves")
		})
	}
}
