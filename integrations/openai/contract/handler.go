package contract

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Handler wraps next (the simulator) so that every exchange is checked against the document.
// Violations fail t when the test ends (all of them, in arrival order); Handler fails t at once
// if the document cannot be loaded.
func Handler(t testing.TB, next http.Handler) http.Handler {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	h := Wrap(v, next)
	t.Cleanup(func() {
		vs := h.Violations()
		if len(vs) == 0 {
			return
		}
		var b strings.Builder
		for _, vi := range vs {
			b.WriteString("\n  " + vi.String())
		}
		t.Errorf("contract: %d exchange(s) disagree with OpenAI's published document (integrations/openai/contract/testdata/openapi.json); "+
			"fix the simulator or the integration, or, where openai-go v3.98.0 says otherwise, add a named Divergence:%s", len(vs), b.String())
	})
	return h
}

// Checked is next behind the contract check.
type Checked struct {
	v    *Validator
	next http.Handler

	mu         sync.Mutex
	violations []Violation
}

// Wrap puts next behind the contract check; Violations tells what it found.
func Wrap(v *Validator, next http.Handler) *Checked { return &Checked{v: v, next: next} }

// Violations returns what the check found so far, in arrival order.
func (h *Checked) Violations() []Violation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Violation(nil), h.violations...)
}

// ServeHTTP passes the request on and checks the exchange.
func (h *Checked) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, rc := readAll(r.Body)
	r.Body = rc
	rec := &recorder{ResponseWriter: w}
	reqCopy := r.Clone(r.Context())
	h.next.ServeHTTP(rec, r)
	if rec.hijacked {
		return // a dropped connection answers nothing to check
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	vs := h.v.Check(r.Context(), Exchange{Request: reqCopy, RequestBody: body, Status: status,
		Header: rec.Header().Clone(), ResponseBody: rec.body.Bytes()})
	if len(vs) > 0 {
		h.mu.Lock()
		h.violations = append(h.violations, vs...)
		h.mu.Unlock()
	}
}

// recorder writes through and keeps a copy of the answer.
type recorder struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// Hijack lets the simulator drop the connection (its fault injection) through the wrapper.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("contract: the underlying ResponseWriter cannot be hijacked")
	}
	r.hijacked = true
	return hj.Hijack()
}
