package audit_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/internal/audit"
)

// BenchmarkAuditWaves reads 50 projects × 20 keys from a simulator that adds 100 ms to every
// call, and reports the time in units of that latency: the bar is at most 3 waves. With
// AUDIT_BENCH_NO_LATENCY set no latency is added, which measures the simulator's and client's
// own CPU time for the same calls (to subtract on a loaded machine).
//
//	go test ./internal/audit -run '^$' -bench AuditWaves -benchtime 3x
func BenchmarkAuditWaves(b *testing.B) {
	const latency = 100 * time.Millisecond
	zero := os.Getenv("AUDIT_BENCH_NO_LATENCY") != ""
	w := openaisim.World{Organization: "org-bench"}
	for i := range 50 {
		p := openaisim.ProjectSpec{ID: fmt.Sprintf("proj_b%02d", i), Name: "bench", CreatedDaysAgo: 100,
			ServiceAccounts: []openaisim.ServiceAccountSpec{{ID: fmt.Sprintf("svc_acct_b%02d", i), Name: "sa", CreatedDaysAgo: 50}}}
		for j := range 20 {
			p.Keys = append(p.Keys, openaisim.KeySpec{ID: fmt.Sprintf("key_b%02d_%02d", i, j), Name: "k", CreatedDaysAgo: 10,
				ServiceAccount: fmt.Sprintf("svc_acct_b%02d", i)})
		}
		w.Projects = append(w.Projects, p)
	}
	var total time.Duration
	for range b.N {
		sim := openaisim.New(w, openaisim.Options{Seed: 1})
		if !zero {
			sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{{Latency: latency}}})
		}
		srv := httptest.NewServer(sim)
		c, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", MaxRetries: 0})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		inv, err := audit.Collect(b.Context(), audit.Sources{OpenAI: c, Now: sim.Now})
		total += time.Since(start)
		srv.Close()
		if err != nil || len(inv.Projects) != 50 || len(inv.Projects[49].Keys) != 20 {
			b.Fatalf("collect: %v", err)
		}
	}
	avg := total / time.Duration(b.N)
	b.ReportMetric(float64(avg.Milliseconds()), "ms")
	b.ReportMetric(float64(avg)/float64(latency), "waves")
}
