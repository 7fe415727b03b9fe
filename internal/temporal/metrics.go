package temporal

import (
	"expvar"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
)

// metricsVar holds the SDK's metrics (task latencies, failures, polls, sticky cache) as expvar
// values, one per name and tag set: `respond worker --metrics ADDR` serves them at /debug/vars
// for whatever scrapes JSON, without adding a metrics library.
var metricsVar = expvar.NewMap("temporal")

// metrics is the SDK's metrics handler over metricsVar.
type metrics struct{ tags map[string]string }

func newMetrics() client.MetricsHandler { return metrics{} }

func (m metrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(m.tags)+len(tags))
	for k, v := range m.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return metrics{tags: merged}
}

// key is the metric's name with its tags, sorted: "name{k=v,…}".
func (m metrics) key(name string) string {
	if len(m.tags) == 0 {
		return name
	}
	parts := make([]string, 0, len(m.tags))
	for k, v := range m.tags {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func (m metrics) Counter(name string) client.MetricsCounter {
	k := m.key(name)
	return counterFunc(func(d int64) { metricsVar.Add(k, d) })
}

func (m metrics) Gauge(name string) client.MetricsGauge {
	k := m.key(name)
	return gaugeFunc(func(v float64) {
		f := new(expvar.Float)
		f.Set(v)
		metricsVar.Set(k, f)
	})
}

// Timer records a count and a total in milliseconds (name_count, name_ms): their ratio is the
// mean, their rates over a scrape interval what a dashboard needs.
func (m metrics) Timer(name string) client.MetricsTimer {
	count, total := m.key(name+"_count"), m.key(name+"_ms")
	return timerFunc(func(d time.Duration) {
		metricsVar.Add(count, 1)
		metricsVar.AddFloat(total, float64(d)/float64(time.Millisecond))
	})
}

type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(d int64)          { f(d) }
func (f gaugeFunc) Update(v float64)       { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }
