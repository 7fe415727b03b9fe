package audit_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/internal/audit"
)

// BenchmarkAuditWaves reads 50 projects × 20 keys from a simulator that adds a latency to every
// call; the bar is at most 3 sequential waves of calls. "waves@100ms" is the time with
// 100 ms added, in units of that latency: it includes the simulator's and the client's own CPU
// time for 1,000-odd calls, which a loaded machine stretches. "waves" is the slope between the
// same read with 100 ms and with 300 ms added: time that does not depend on the latency (CPU)
// cancels out, and what is left is how many latencies stand one after the other.
//
//	go test ./internal/audit -run '^$' -bench AuditWaves -benchtime 3x
func BenchmarkAuditWaves(b *testing.B) {
	const low, high = 100 * time.Millisecond, 300 * time.Millisecond
	w := benchWorld()
	var atLow, atHigh time.Duration
	for range b.N {
		atLow += collectOnce(b, w, low)
		atHigh += collectOnce(b, w, high)
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((atLow / n).Milliseconds()), "ms@100ms")
	b.ReportMetric(float64(atLow/n)/float64(low), "waves@100ms")
	b.ReportMetric(float64(atHigh/n-atLow/n)/float64(high-low), "waves")
}

// benchWorld is an organization of 50 projects with 20 service-account keys each.
func benchWorld() openaisim.World {
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
	return w
}

// collectOnce reads the world once with latency added to every call and returns how long it took.
func collectOnce(b *testing.B, w openaisim.World, latency time.Duration) time.Duration {
	sim := openaisim.New(w, openaisim.Options{Seed: 1})
	sim.SetFaults(openaisim.FaultConfig{Rules: []openaisim.FaultRule{{Latency: latency}}})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", MaxRetries: 0})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	inv, err := audit.Collect(b.Context(), audit.Sources{OpenAI: c, Now: sim.Now})
	took := time.Since(start)
	if err != nil || len(inv.Projects) != 50 || len(inv.Projects[49].Keys) != 20 {
		b.Fatalf("collect: %v", err)
	}
	return took
}
