package openai_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

// BenchmarkFindAndRevoke measures the time-to-revoke path against worlds of 1, 10 and 50
// projects: find the leaked key by its value (all projects' keys listed concurrently, matched on
// redacted_value), delete it, confirm it is dead. Reports the simulator's request count too.
func BenchmarkFindAndRevoke(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("projects=%d", n), func(b *testing.B) {
			w := openaisim.SyntheticWorld(n)
			var requests int
			for b.Loop() {
				b.StopTimer()
				sim := openaisim.New(w, openaisim.Options{Seed: 1, Now: func() time.Time { return epoch }})
				srv := httptest.NewServer(sim)
				c, err := openai.New(openai.Config{AdminKey: sim.AdminKey(), BaseURL: srv.URL + "/v1", HTTPClient: srv.Client(), MaxRetries: 0})
				if err != nil {
					b.Fatal(err)
				}
				secret := sim.LeakedKeySecret()
				b.StartTimer()

				ctx := b.Context()
				projects, err := c.ListProjects(ctx)
				if err != nil {
					b.Fatal(err)
				}
				var (
					mu    sync.Mutex
					match []openai.ProjectKey
					wg    sync.WaitGroup
					sem   = make(chan struct{}, 8)
				)
				for _, p := range projects {
					wg.Go(func() {
						sem <- struct{}{}
						defer func() { <-sem }()
						keys, err := c.ListProjectKeys(ctx, p.ID)
						if err != nil {
							b.Error(err)
							return
						}
						for _, k := range keys {
							pre, suf, ok := strings.Cut(k.RedactedValue, "...")
							if ok && strings.HasPrefix(secret, pre) && strings.HasSuffix(secret, suf) {
								mu.Lock()
								match = append(match, k)
								mu.Unlock()
							}
						}
					})
				}
				wg.Wait()
				if len(match) != 1 {
					b.Fatalf("matched %d keys, want 1", len(match))
				}
				if _, err := c.DeleteProjectKey(ctx, match[0].ProjectID, match[0].ID); err != nil {
					b.Fatal(err)
				}
				if st, err := c.CheckKey(ctx, secret); !st.Dead() || err != nil {
					b.Fatalf("CheckKey = %v, %v", st, err)
				}

				b.StopTimer()
				for _, v := range sim.RequestCounts() {
					requests += v
				}
				srv.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		})
	}
}
