package slackserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/slackserver"
)

// BenchmarkSlashCommands sends rounds of 200 concurrent, correctly signed slash commands to the
// server over 127.0.0.1 and reports the acknowledgement latency (p50, p99, max) as a client sees
// it. Each command starts a run on a fake Runner, so what is measured is the server's own work:
// read, verify, dedupe, parse, authorise, answer. Every answer must be a 200.
//
//	go test -run '^$' -bench SlashCommands -benchtime 20x ./internal/slackserver/
func BenchmarkSlashCommands(b *testing.B) {
	const concurrent = 200
	secret := fakekey.Random().Hex(32)
	cfg, err := slackserver.ParseConfig("slack.yaml", []byte(configYAML))
	if err != nil {
		b.Fatal(err)
	}
	runner := &fakeRunner{}
	srv, err := slackserver.New(slackserver.Options{SigningSecret: secret, Config: cfg, Runner: runner})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: concurrent, MaxIdleConnsPerHost: concurrent}}
	defer client.CloseIdleConnections()

	var (
		mu  sync.Mutex
		lat []time.Duration
		bad []string
	)
	round := 0
	for b.Loop() {
		round++
		reqs := make([]*http.Request, concurrent)
		for i := range reqs {
			body := url.Values{"command": {"/respond"}, "text": {"run exec-example ticket=INC-" + strconv.Itoa(i)},
				"user_id": {alice}, "user_name": {"alice"}, "channel_id": {incidents},
				"trigger_id": {fmt.Sprintf("t.%d.%d", round, i)}}.Encode()
			ts := time.Now().Unix()
			r, _ := http.NewRequest(http.MethodPost, hs.URL+"/slack/commands", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
			r.Header.Set("X-Slack-Signature", sign(secret, ts, body))
			reqs[i] = r
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, r := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				t0 := time.Now()
				resp, err := client.Do(r)
				var status int
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				d := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				lat = append(lat, d)
				if err != nil || status != http.StatusOK {
					bad = append(bad, fmt.Sprintf("status %d, %v", status, err))
				}
			}()
		}
		close(start)
		wg.Wait()
		srv.WaitBackground()
	}
	b.StopTimer()
	if len(bad) > 0 {
		b.Fatalf("%d of %d commands not acknowledged with 200, e.g. %s", len(bad), len(lat), bad[0])
	}
	if got, want := len(runner.started()), len(lat); got != want {
		b.Fatalf("%d runs started for %d commands", got, want)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(lat)), "commands")
}
