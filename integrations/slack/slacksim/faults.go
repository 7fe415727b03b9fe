package slacksim

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Fault is how the sim misbehaves on one call. A faulted call changes no state.
type Fault struct {
	// Status is the HTTP status to answer with instead of handling the call (429, 500, 503…).
	Status int
	// RetryAfter is sent as Retry-After (whole seconds, rounded up) on a 429. Zero omits the
	// header, which slack-go then reports as a plain StatusCodeError instead of RateLimitedError.
	RetryAfter time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Latency delays the answer (a faulted one or, with no Status or Drop, the normal one). The
	// wait ends early when the client gives up.
	Latency time.Duration
}

type rateFault struct {
	rate  float64
	fault Fault
}

type faults struct {
	mu      sync.Mutex
	rnd     *rand.Rand
	next    map[string][]Fault
	rates   map[string][]rateFault
	latency map[string]time.Duration
}

func newFaults(seed uint64) *faults {
	return &faults{
		rnd:     rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)),
		next:    map[string][]Fault{},
		rates:   map[string][]rateFault{},
		latency: map[string]time.Duration{},
	}
}

// FailNext makes the next n calls of method (a Method… constant or AnyMethod) answer with f.
// Queued faults for the same method add up.
func (s *Sim) FailNext(method string, n int, f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for range n {
		s.faults.next[method] = append(s.faults.next[method], f)
	}
}

// FailRate makes each call of method fail with f with probability rate (0..1), drawn from the
// Config.Seed random source. Rates for the same method add up, each drawn in the order given
// (10% 429s and 5% 500s are two calls); rate 0 removes every rate of the method.
func (s *Sim) FailRate(method string, rate float64, f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if rate <= 0 {
		delete(s.faults.rates, method)
		return
	}
	s.faults.rates[method] = append(s.faults.rates[method], rateFault{rate: rate, fault: f})
}

// SetLatency delays every answer to method by d (0 removes it).
func (s *Sim) SetLatency(method string, d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if d <= 0 {
		delete(s.faults.latency, method)
		return
	}
	s.faults.latency[method] = d
}

// ClearFaults removes every queued fault, rate and latency.
func (s *Sim) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	clear(s.faults.next)
	clear(s.faults.rates)
	clear(s.faults.latency)
}

// pick returns the fault for one call of method: a queued one first (the method's, then
// AnyMethod's), then a rate draw; latency settings are added to whatever it returns.
func (f *faults) pick(method string) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out Fault
	picked := false
	for _, m := range []string{method, AnyMethod} {
		if q := f.next[m]; len(q) > 0 {
			out, f.next[m], picked = q[0], q[1:], true
			break
		}
	}
	if !picked {
	draw:
		for _, m := range []string{method, AnyMethod} {
			for _, r := range f.rates[m] {
				if f.rnd.Float64() < r.rate {
					out = r.fault
					break draw
				}
			}
		}
	}
	out.Latency += f.latency[method]
	if method != AnyMethod {
		out.Latency += f.latency[AnyMethod]
	}
	return out
}

// FaultsInjected counts the calls answered with an injected error or a dropped connection
// (latency alone is not counted), as the other simulators count theirs.
func (s *Sim) FaultsInjected() int {
	n := 0
	for _, c := range s.Calls() {
		if c.Fault {
			n++
		}
	}
	return n
}
