package githubsim

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// FaultKind is what an injected fault does to a request.
type FaultKind string

// The fault kinds. The three rate-limit flavours are the ones github.com sends and go-github
// reports differently: a primary limit is 403 with X-RateLimit-Remaining 0 (RateLimitError), a
// secondary limit is 403 pointing at the secondary-rate-limits documentation with Retry-After
// (AbuseRateLimitError), and 429 is a plain ErrorResponse.
const (
	FaultPrimaryRateLimit   FaultKind = "primary-rate-limit"
	FaultSecondaryRateLimit FaultKind = "secondary-rate-limit"
	FaultTooManyRequests    FaultKind = "429"
	FaultServerError        FaultKind = "500"
	FaultLatency            FaultKind = "latency"
	FaultDrop               FaultKind = "drop"
)

// Fault injects failures into matching requests. Faults are checked in order; latency faults
// add up and let the request go on, the first other fault that fires answers the request.
// Which requests fire is deterministic for a given Options.Seed and request order.
type Fault struct {
	// Route is a Route* constant; empty means every route.
	Route string    `yaml:"route" json:"route,omitempty"`
	Kind  FaultKind `yaml:"kind" json:"kind"`
	// Rate is the probability that a matching request fires (0 means 1).
	Rate float64 `yaml:"rate" json:"rate,omitempty"`
	// Skip lets the first Skip matching requests through (e.g. fail on page 2).
	Skip int `yaml:"skip" json:"skip,omitempty"`
	// Times stops the fault after it fired this many times; 0 means no limit.
	Times int `yaml:"times" json:"times,omitempty"`
	// RetryAfter is the wait the server asks for (rate limits); 1s when zero. Rounded up to
	// whole seconds on the wire.
	RetryAfter time.Duration `yaml:"retry_after" json:"retry_after,omitempty"`
	// Latency is the delay a latency fault adds.
	Latency time.Duration `yaml:"latency" json:"latency,omitempty"`
	// Status is the status code of a server-error fault (500 when zero).
	Status int `yaml:"status" json:"status,omitempty"`
}

type faultState struct {
	Fault
	seen, fired int
}

// AddFaults appends faults to the active set.
func (s *Server) AddFaults(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range f {
		s.faults = append(s.faults, &faultState{Fault: x})
	}
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FaultsFired returns how many times each fault fired, in the order they were added.
func (s *Server) FaultsFired() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.faults))
	for i, f := range s.faults {
		out[i] = f.fired
	}
	return out
}

// injectFault answers the request with a fault and reports true, or applies latency and
// reports false so the route serves it.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, route string) bool {
	var delay time.Duration
	var fire *Fault
	s.mu.Lock()
	for _, f := range s.faults {
		if f.Route != "" && f.Route != route {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		if f.Rate > 0 && f.Rate < 1 && s.rng.Float64() >= f.Rate {
			continue
		}
		f.fired++
		if f.Kind == FaultLatency {
			delay += f.Latency
			continue
		}
		x := f.Fault
		fire = &x
		break
	}
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if fire == nil {
		return false
	}
	retry := fire.RetryAfter
	if retry <= 0 {
		retry = time.Second
	}
	secs := int64(math.Ceil(retry.Seconds()))
	h := w.Header()
	switch fire.Kind {
	case FaultPrimaryRateLimit:
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", "5000")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(s.now().Unix()+secs, 10))
		h.Set("X-RateLimit-Resource", "core")
		writeErrorDoc(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.",
			"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting")
	case FaultSecondaryRateLimit:
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		writeErrorDoc(w, http.StatusForbidden,
			"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits")
	case FaultTooManyRequests:
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		writeErrorDoc(w, http.StatusTooManyRequests, "Too Many Requests", "https://docs.github.com/rest")
	case FaultServerError:
		status := fire.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		body, _ := json.Marshal(map[string]string{"message": "Server Error"})
		h.Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	case FaultDrop:
		// The server closes the connection without answering; ErrAbortHandler does that
		// for HTTP/1 and HTTP/2 alike and is not logged.
		panic(http.ErrAbortHandler)
	default:
		s.writeError(w, http.StatusInternalServerError, "unknown fault kind "+string(fire.Kind))
	}
	return true
}

// FaultsInjected counts the requests answered with an injected error or a dropped connection
// (latency faults are not counted), as the other simulators count theirs.
func (s *Server) FaultsInjected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		if f.Kind != FaultLatency {
			n += f.fired
		}
	}
	return n
}
