package openaisim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// errorBody is OpenAI's error envelope: {"error":{"message","type","param","code"}}.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"error":{"message":"simulator encode error","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	writeJSON(w, status, errorBody{Error: errorObject{Message: msg, Type: typ, Param: strPtr(param), Code: strPtr(code)}})
}

func badRequest(w http.ResponseWriter, param, format string, a ...any) {
	writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", param, fmt.Sprintf(format, a...))
}

// decodeBody reads a JSON request body strictly enough to catch typos in tests.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		badRequest(w, "", "could not read body")
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, "", "We could not parse the JSON body of your request: %v", err)
		return false
	}
	return true
}

// listEnvelope is the cursor list object of the admin API.
type listEnvelope[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

// cursorPage applies limit/after paging to items in their listing order.
func cursorPage[T any](w http.ResponseWriter, r *http.Request, items []T, id func(T) string, defLimit, maxLimit int) (listEnvelope[T], bool) {
	q := r.URL.Query()
	limit := defLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			badRequest(w, "limit", "Invalid 'limit': expected an integer between 1 and %d, got %q.", maxLimit, v)
			return listEnvelope[T]{}, false
		}
		limit = n
	}
	start := 0
	if after := q.Get("after"); after != "" {
		start = -1
		for i, it := range items {
			if id(it) == after {
				start = i + 1
				break
			}
		}
		if start < 0 {
			badRequest(w, "after", "Invalid 'after': no object with ID %s in this list.", after)
			return listEnvelope[T]{}, false
		}
	}
	end := min(start+limit, len(items))
	out := listEnvelope[T]{Object: "list", Data: items[start:end], HasMore: end < len(items)}
	if out.Data == nil {
		out.Data = []T{}
	}
	if len(out.Data) > 0 {
		out.FirstID = strPtr(id(out.Data[0]))
		out.LastID = strPtr(id(out.Data[len(out.Data)-1]))
	}
	return out, true
}

// arrayParam reads a query array in either the SDK's bracket form (group_by[]=a&group_by[]=b)
// or the repeated plain form.
func arrayParam(q url.Values, name string) []string {
	out := append([]string(nil), q[name+"[]"]...)
	return append(out, q[name]...)
}

func unixOrNull(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}
