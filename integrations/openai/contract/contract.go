// Package contract checks HTTP exchanges with the OpenAI admin API against OpenAI's published
// OpenAPI document (testdata/openapi.json, August 2026; provenance in testdata/README.md), with
// kin-openapi's openapi3filter. Tests wrap the simulator in Handler, so every request the
// integration sends and every answer the simulator gives is validated: the simulator can no
// longer drift from the published contract, and the integration cannot send what the real API
// would not understand.
//
// Beyond the schemas, objects are checked strictly: a field the document does not name is a
// violation (the document rarely forbids extra fields, but a field the real API does not know is
// silently ignored, which is how an expiry or a scope gets lost). Where the document and
// openai-go v3.98.0 disagree, the SDK is newer and wins: each such case is one entry of
// Divergences, named and explained, and nothing else is let through.
package contract

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

//go:embed testdata/openapi.json
var document []byte

// DocumentSHA256 is the checksum of testdata/openapi.json as copied from the shared specs.
const DocumentSHA256 = "6599b05d66b44c06ec00794cdb3482e832fef6b05d0c7c108c0026649cd03488"

// Document returns the embedded document's bytes.
func Document() []byte { return bytes.Clone(document) }

// Divergence is a place where the document and openai-go v3.98.0 disagree; the contract follows
// the SDK there. A violation is let through only when an entry matches it.
type Divergence struct {
	// Name identifies the divergence in reports.
	Name string
	// Operation is the document's operationId, or "METHOD /path/{template}" for an operation the
	// document lacks.
	Operation string
	// Kind is the kind of violation it excuses (see the Kind constants).
	Kind string
	// Field is the JSON path of the field (".expires_at", ".data[].expires_at"); for
	// KindResponseSchema, text the validator's message must contain. Empty matches any.
	Field string
	// Why says what each side says, with sources.
	Why string
}

// Kinds of violation.
const (
	KindNoOperation    = "no operation"    // the document has no such method and path
	KindRequestSchema  = "request schema"  // a parameter or body the document rejects
	KindRequestField   = "request field"   // a body field the document does not name
	KindResponseSchema = "response schema" // an answer the document rejects
	KindResponseField  = "response field"  // a field the document does not name
	KindErrorEnvelope  = "error envelope"  // an error answer that is not ErrorResponse
	KindTransport      = "transport"       // the exchange could not be read
	// KindRewritten marks a divergence handled by rewriting the exchange before the check; it
	// excuses no violation.
	KindRewritten = "rewritten before the check"
)

// Divergences is the complete, explicit allow-list.
var Divergences = []Divergence{
	{
		Name: "array query parameters in brackets", Kind: KindRewritten,
		Why: "the SDK sends group_by[]=a&group_by[]=b (openai-go apiquery ArrayQueryFormatBrackets); the document " +
			"declares form-style arrays (group_by=a). The check rewrites name[] to name before validating.",
	},
	{
		Name: "service-account key expiry", Operation: "CreateanAPIkeyforaserviceaccount", Kind: KindRequestField, Field: ".expires_in_seconds",
		Why: "openai-go v3.98.0 AdminOrganizationProjectServiceAccountAPIKeyNewParams has ExpiresInSeconds; the " +
			"document's CreateProjectServiceAccountApiKeyBody does not. The step checks expires_at in the answer.",
	},
	{
		Name: "service-account key expires_at", Operation: "CreateanAPIkeyforaserviceaccount", Kind: KindResponseField, Field: ".expires_at",
		Why: "openai-go v3.98.0 AdminOrganizationProjectServiceAccountAPIKeyNewResponse has ExpiresAt; the document's " +
			"ServiceAccountApiKeyBody does not.",
	},
	{
		Name: "project key expires_at (list)", Operation: "list-project-api-keys", Kind: KindResponseField, Field: ".data[].expires_at",
		Why: "openai-go v3.98.0 ProjectAPIKey has ExpiresAt (nullable); the document's ProjectApiKey does not.",
	},
	{
		Name: "project key expires_at (get)", Operation: "retrieve-project-api-key", Kind: KindResponseField, Field: ".expires_at",
		Why: "as for the list: openai-go v3.98.0 ProjectAPIKey.ExpiresAt.",
	},
	{
		Name: "update a project key", Operation: "POST /organization/projects/{project_id}/api_keys/{api_key_id}", Kind: KindNoOperation,
		Why: "openai-go v3.98.0 AdminOrganizationProjectAPIKeyService.Update (scopes, expires_in_seconds); not in the " +
			"August 2026 document. The integration does not call it; the simulator serves it.",
	},
	{
		Name: "unset spend limit answered 200", Operation: "Getprojectspendlimit", Kind: KindResponseSchema, Field: "threshold_amount",
		Why: "the document requires threshold_amount and says nothing about a project without a limit; the API is " +
			"known to answer 404 or 200 without an amount (README, Verified against). The simulator can do either.",
	},
	{
		Name: "unset organization spend limit answered 200", Operation: "Getorganizationspendlimit", Kind: KindResponseSchema, Field: "threshold_amount",
		Why: "as for projects: the document requires threshold_amount and does not say what an organization without " +
			"a limit answers; the client reads 404 and 200 without an amount as no limit, and the simulator can do either.",
	},
}

// Violation is one disagreement between an exchange and the document.
type Violation struct {
	Method, Path string // as sent
	Operation    string // operationId, or "" when none matched
	Status       int
	Kind         string
	Field        string
	Detail       string
}

func (v Violation) String() string {
	s := fmt.Sprintf("%s %s (%s) → %d: %s", v.Method, v.Path, v.Operation, v.Status, v.Kind)
	if v.Field != "" {
		s += " " + v.Field
	}
	if v.Detail != "" {
		s += ": " + v.Detail
	}
	return s
}

func (d Divergence) matches(v Violation) bool {
	if d.Kind != v.Kind || (d.Operation != "" && d.Operation != v.Operation) {
		return false
	}
	switch d.Kind {
	case KindResponseSchema, KindRequestSchema:
		return strings.Contains(v.Detail, d.Field)
	}
	return d.Field == "" || d.Field == v.Field
}

// Validator checks exchanges against the embedded document. Safe for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	errEnv *openapi3.Schema

	mu   sync.Mutex
	used map[string]int // divergence name -> exchanges it excused
}

var (
	loadOnce sync.Once
	loaded   *Validator
	loadErr  error
)

// Load parses the document once per process and returns a Validator sharing it.
func Load() (*Validator, error) {
	loadOnce.Do(func() {
		l := openapi3.NewLoader()
		doc, err := l.LoadFromData(document)
		if err != nil {
			loadErr = fmt.Errorf("load the OpenAI document: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			loadErr = fmt.Errorf("the OpenAI document is not valid OpenAPI: %w", err)
			return
		}
		r, err := legacy.NewRouter(doc)
		if err != nil {
			loadErr = fmt.Errorf("route the OpenAI document: %w", err)
			return
		}
		env := doc.Components.Schemas["ErrorResponse"]
		if env == nil || env.Value == nil {
			loadErr = errors.New("the OpenAI document has no ErrorResponse schema")
			return
		}
		loaded = &Validator{doc: doc, router: r, errEnv: env.Value}
	})
	if loadErr != nil {
		return nil, loadErr
	}
	return &Validator{doc: loaded.doc, router: loaded.router, errEnv: loaded.errEnv, used: map[string]int{}}, nil
}

// Exchange is one request and its answer, with both bodies read.
type Exchange struct {
	Request      *http.Request // URL path as sent, e.g. /v1/organization/projects
	RequestBody  []byte
	Status       int // 0: no answer (the connection was dropped)
	Header       http.Header
	ResponseBody []byte
}

// server is the document's server URL; the simulator is mounted at /v1 like it.
const server = "https://api.openai.com/v1"

// Check returns the exchange's violations that no Divergence excuses. Request violations count
// only when the answer was not a 4xx: a request the simulator refused is one both sides agree is
// wrong (tests send such requests on purpose).
func (v *Validator) Check(ctx context.Context, ex Exchange) []Violation {
	base := Violation{Method: ex.Request.Method, Path: ex.Request.URL.Path, Status: ex.Status}
	var out []Violation
	add := func(kind, field, detail string) {
		vi := base
		vi.Kind, vi.Field, vi.Detail = kind, field, detail
		out = append(out, vi)
	}
	path, ok := strings.CutPrefix(ex.Request.URL.Path, "/v1/")
	if !ok {
		add(KindNoOperation, "", "not under /v1")
		return v.excuse(out)
	}
	// Bracketed array parameters are the SDK's encoding (see Divergences).
	q := url.Values{}
	for k, vals := range ex.Request.URL.Query() {
		q[strings.TrimSuffix(k, "[]")] = append(q[strings.TrimSuffix(k, "[]")], vals...)
	}
	u, _ := url.Parse(server + "/" + path)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, ex.Request.Method, u.String(), bytes.NewReader(ex.RequestBody))
	if err != nil {
		add(KindTransport, "", err.Error())
		return out
	}
	req.Header = ex.Request.Header.Clone()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		base.Operation = ex.Request.Method + " /" + templateOf(path)
		if ex.Status >= 400 && ex.Status < 500 {
			// Refused: the simulator and the document agree there is no such operation.
			v.checkErrorEnvelope(ex, add)
			return v.excuse(out)
		}
		add(KindNoOperation, "", err.Error())
		return v.excuse(out)
	}
	base.Operation = route.Operation.OperationID
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if ex.Status < 400 || ex.Status >= 500 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			add(KindRequestSchema, "", flatten(err))
		}
		if rb := route.Operation.RequestBody; rb != nil && rb.Value != nil && len(bytes.TrimSpace(ex.RequestBody)) > 0 {
			if mt := rb.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
				for _, f := range unknownFields(mt.Schema.Value, decode(ex.RequestBody), "") {
					add(KindRequestField, f, "not in the document's request schema")
				}
			}
		}
	}
	if ex.Status == 0 {
		return v.excuse(out)
	}
	resp := route.Operation.Responses.Status(ex.Status)
	if resp == nil && ex.Status >= 400 {
		// Undocumented error statuses (404, 401, 429, 500...) still use the error envelope.
		v.checkErrorEnvelope(ex, add)
		return v.excuse(out)
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.Status, Header: ex.Header, Options: opts}
	rin.SetBodyBytes(ex.ResponseBody)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		add(KindResponseSchema, "", flatten(err))
	}
	if resp != nil && resp.Value != nil {
		if mt := resp.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			for _, f := range unknownFields(mt.Schema.Value, decode(ex.ResponseBody), "") {
				add(KindResponseField, f, "not in the document's response schema")
			}
		}
	}
	return v.excuse(out)
}

// checkErrorEnvelope checks an error answer against the document's ErrorResponse.
func (v *Validator) checkErrorEnvelope(ex Exchange, add func(kind, field, detail string)) {
	var body any
	if err := json.Unmarshal(ex.ResponseBody, &body); err != nil {
		add(KindErrorEnvelope, "", "not JSON: "+err.Error())
		return
	}
	if err := v.errEnv.VisitJSON(body, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		add(KindErrorEnvelope, "", flatten(err))
		return
	}
	for _, f := range unknownFields(v.errEnv, body, "") {
		add(KindResponseField, f, "not in ErrorResponse")
	}
}

// excuse drops the violations a Divergence names, counting each use.
func (v *Validator) excuse(vs []Violation) []Violation {
	var out []Violation
	for _, vi := range vs {
		i := slices.IndexFunc(Divergences, func(d Divergence) bool { return d.matches(vi) })
		if i < 0 {
			out = append(out, vi)
			continue
		}
		v.mu.Lock()
		v.used[Divergences[i].Name]++
		v.mu.Unlock()
	}
	return out
}

// Used returns how many exchanges each divergence excused.
func (v *Validator) Used() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]int{}
	for k, n := range v.used {
		out[k] = n
	}
	return out
}

// templateOf turns a concrete path into the document's template for the operations it lacks
// (only the project-key update today), so a Divergence can name it.
func templateOf(path string) string {
	parts := strings.Split(path, "/")
	if len(parts) == 5 && parts[0] == "organization" && parts[1] == "projects" && parts[3] == "api_keys" {
		return "organization/projects/{project_id}/api_keys/{api_key_id}"
	}
	return path
}

func decode(b []byte) any {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v
}

// flatten makes a validator error one readable line per problem.
func flatten(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var parts []string
		for _, e := range me {
			parts = append(parts, flatten(e))
		}
		return strings.Join(parts, "; ")
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// unknownFields lists the JSON paths of object fields the schema does not name, where it names
// its fields and does not declare additionalProperties. anyOf/oneOf follow the first branch
// the value satisfies; allOf unites its branches.
func unknownFields(s *openapi3.Schema, v any, path string) []string {
	if s == nil || v == nil {
		return nil
	}
	if branches := append(slices.Clone(s.AnyOf), s.OneOf...); len(branches) > 0 {
		if b := pick(branches, v); b != nil {
			return unknownFields(b, v, path)
		}
		return nil // the schema check reports the mismatch
	}
	switch v := v.(type) {
	case map[string]any:
		props := map[string]*openapi3.Schema{}
		collect(s, props)
		if len(props) == 0 || s.AdditionalProperties.Has != nil || s.AdditionalProperties.Schema != nil {
			return nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			p, ok := props[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, unknownFields(p, v[k], path+"."+k)...)
		}
		return out
	case []any:
		if s.Items == nil {
			return nil
		}
		var out []string
		for _, e := range v {
			out = append(out, unknownFields(s.Items.Value, e, path+"[]")...)
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	return nil
}

// pick chooses the anyOf/oneOf branch an object or array belongs to, cheaply (the schema check
// itself already ran): the branch whose "object" constant matches, else the one naming the most
// of the object's fields; arrays take the first branch with items. Scalars need no branch.
func pick(branches openapi3.SchemaRefs, v any) *openapi3.Schema {
	switch v := v.(type) {
	case map[string]any:
		var best *openapi3.Schema
		bestN := -1
		for _, b := range branches {
			if b.Value == nil {
				continue
			}
			props := map[string]*openapi3.Schema{}
			collect(b.Value, props)
			if len(props) == 0 {
				continue
			}
			if o, ok := props["object"]; ok && o != nil && len(o.Enum) > 0 {
				if slices.Contains(o.Enum, v["object"]) {
					return b.Value
				}
				continue
			}
			n := 0
			for k := range v {
				if _, ok := props[k]; ok {
					n++
				}
			}
			if n > bestN {
				best, bestN = b.Value, n
			}
		}
		return best
	case []any:
		for _, b := range branches {
			if b.Value != nil && b.Value.Items != nil {
				return b.Value
			}
		}
	}
	return nil
}

func collect(s *openapi3.Schema, props map[string]*openapi3.Schema) {
	for k, p := range s.Properties {
		if p != nil {
			props[k] = p.Value
		}
	}
	for _, a := range s.AllOf {
		if a.Value != nil {
			collect(a.Value, props)
		}
	}
}

// readAll reads and restores a body.
func readAll(rc io.ReadCloser) ([]byte, io.ReadCloser) {
	if rc == nil {
		return nil, http.NoBody
	}
	b, _ := io.ReadAll(rc)
	_ = rc.Close()
	return b, io.NopCloser(bytes.NewReader(b))
}
