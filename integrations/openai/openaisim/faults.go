package openaisim

import (
	"net/http"
	"strings"
	"time"
)

// FaultConfig is a set of fault rules. Decisions are deterministic: the n-th request matching
// rule i gets the same outcome for the same Seed, whatever other routes are doing.
type FaultConfig struct {
	Seed  uint64
	Rules []FaultRule
}

// FaultRule injects latency and errors into matching requests. Rates are probabilities in
// [0, 1]; one draw per matching request picks at most one error, in the order 429, 500, drop,
// apply-then-drop. The first rule whose draw yields an error wins; latency of every matching
// rule is added.
//
// 429, 500 and Drop are decided before the request reaches the state, so they never apply a
// mutation. ApplyThenDrop (POST and DELETE only; ignored for reads) models a lost response: the
// request is applied in full, then the connection is closed without an answer.
type FaultRule struct {
	// Route is "" for every request, a method ("GET", "POST", "DELETE") for every request with
	// that method, or one of the Route constants.
	Route string

	Latency time.Duration // added to every matching request
	Jitter  time.Duration // plus a deterministic extra in [0, Jitter)

	TooManyRequests float64       // rate of 429 rate_limit_exceeded
	RetryAfter      time.Duration // sent with 429 as Retry-After (seconds, rounded up) and Retry-After-Ms
	ServerError     float64       // rate of 500 server_error
	Drop            float64       // rate of connection closed before anything is applied
	ApplyThenDrop   float64       // rate of connection closed after the mutation was applied

	// MaxFaults stops this rule injecting errors after that many (0 = no limit); latency goes on.
	MaxFaults int
}

type faultKind int

const (
	faultNone faultKind = iota
	faultTooMany
	faultServerError
	faultDrop
	faultApplyThenDrop
)

type faultDecision struct {
	kind       faultKind
	delay      time.Duration
	retryAfter time.Duration
}

type faultState struct {
	cfg     FaultConfig
	seen    []uint64 // matching requests per rule
	emitted []int    // errors injected per rule
}

// SetFaults replaces the fault rules and resets their counters. The zero FaultConfig turns
// faults off.
func (s *Server) SetFaults(cfg FaultConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg.Rules = append([]FaultRule(nil), cfg.Rules...)
	s.faults = faultState{cfg: cfg, seen: make([]uint64, len(cfg.Rules)), emitted: make([]int, len(cfg.Rules))}
}

// InjectedFaults is how many errors each rule (by index) has injected so far.
func (s *Server) InjectedFaults() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.faults.emitted...)
}

// FaultsInjected counts the errors injected by every rule (latency is not counted), as the
// other simulators count theirs.
func (s *Server) FaultsInjected() int {
	n := 0
	for _, c := range s.InjectedFaults() {
		n += c
	}
	return n
}

func (r FaultRule) matches(route, method string) bool {
	switch {
	case r.Route == "":
		return true
	case !strings.Contains(r.Route, " "):
		return strings.EqualFold(r.Route, method)
	}
	return r.Route == route
}

// pick is called with s.mu held.
func (f *faultState) pick(route, method string) faultDecision {
	var d faultDecision
	for i, rule := range f.cfg.Rules {
		if !rule.matches(route, method) {
			continue
		}
		n := f.seen[i]
		f.seen[i]++
		d.delay += rule.Latency
		if rule.Jitter > 0 {
			d.delay += time.Duration(unitFloat(f.cfg.Seed, uint64(i), n, 1) * float64(rule.Jitter))
		}
		if d.kind != faultNone || (rule.MaxFaults > 0 && f.emitted[i] >= rule.MaxFaults) {
			continue
		}
		u := unitFloat(f.cfg.Seed, uint64(i), n, 0)
		mutating := method != http.MethodGet && method != http.MethodHead
		switch {
		case u < rule.TooManyRequests:
			d.kind, d.retryAfter = faultTooMany, rule.RetryAfter
		case u < rule.TooManyRequests+rule.ServerError:
			d.kind = faultServerError
		case u < rule.TooManyRequests+rule.ServerError+rule.Drop:
			d.kind = faultDrop
		case mutating && u < rule.TooManyRequests+rule.ServerError+rule.Drop+rule.ApplyThenDrop:
			d.kind = faultApplyThenDrop
		}
		if d.kind != faultNone {
			f.emitted[i]++
		}
	}
	return d
}

// splitmix64 finaliser: a fast, well-mixed hash for deterministic draws.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unitFloat returns a deterministic value in [0, 1) for the given coordinates.
func unitFloat(seed uint64, a, b, c uint64) float64 {
	h := mix(seed ^ mix(a^mix(b^mix(c))))
	return float64(h>>11) / float64(1<<53)
}
