package openai

import "slices"

// Usage kinds: the last path segment of each usage endpoint, /v1/organization/usage/<kind>.
const (
	KindCompletions             = "completions"
	KindEmbeddings              = "embeddings"
	KindImages                  = "images"
	KindModerations             = "moderations"
	KindAudioSpeeches           = "audio_speeches"
	KindAudioTranscriptions     = "audio_transcriptions"
	KindWebSearchCalls          = "web_search_calls"
	KindFileSearchCalls         = "file_search_calls"
	KindVectorStores            = "vector_stores"
	KindCodeInterpreterSessions = "code_interpreter_sessions"
)

// Scope identifiers of restricted keys.
//
// Sources: api.model.request (document, CreateProjectServiceAccountApiKeyBody and admin key
// examples), api.responses.write (document, example of
// POST .../service_accounts/{id}/api_keys), api.all.read and api.files.read (openai-go v3.98.0
// adminorganizationprojectapikey.go). The others follow the dashboard's permission names for
// restricted keys (platform.openai.com, "API key permissions"): api.model.read (List models),
// api.vector_stores.read/write and api.assistants.write. Those four are NOT in the document or
// the SDK: they are the best reading available and are marked as such in the README's
// "verified against" table.
const (
	ScopeModelRead         = "api.model.read"
	ScopeModelRequest      = "api.model.request"
	ScopeResponsesWrite    = "api.responses.write"
	ScopeVectorStoresRead  = "api.vector_stores.read"
	ScopeVectorStoresWrite = "api.vector_stores.write"
	ScopeAssistantsWrite   = "api.assistants.write"
	ScopeAllRead           = "api.all.read"
)

// UsageEndpoint is one usage endpoint of the published document (paths
// /organization/usage/{kind}, 10 of them in the August 2026 document) with what a key needs to
// produce such usage. It is the one endpoint→scope table of the project: the usage review reads
// every endpoint listed here, and the replacement key's [auto] scopes are derived from it.
type UsageEndpoint struct {
	Kind string
	// PerKey: the endpoint can be filtered and grouped by api_key_id (document parameters
	// api_key_ids and group_by). Vector store storage and code interpreter sessions are
	// reported per project only, so their use cannot be pinned on one key.
	PerKey bool
	// ByModel: the endpoint has a models filter and a model grouping.
	ByModel bool
	// Scopes a key needs for this usage, besides ScopeModelRead, which every replacement gets
	// (clients list models before they call, and respond proves a new key with GET /v1/models).
	Scopes []string
}

// UsageEndpoints is the endpoint→scope table. Model endpoints (chat completions, embeddings,
// images, audio, moderations) are the dashboard's "Model capabilities" permission,
// api.model.request. Completions usage also counts the Responses API, so it needs
// api.responses.write too. Web and file search and code interpreter are tools called from the
// Responses or Assistants APIs; file search and vector store storage need the vector stores.
var UsageEndpoints = []UsageEndpoint{
	{Kind: KindCompletions, PerKey: true, ByModel: true, Scopes: []string{ScopeModelRequest, ScopeResponsesWrite}},
	{Kind: KindEmbeddings, PerKey: true, ByModel: true, Scopes: []string{ScopeModelRequest}},
	{Kind: KindImages, PerKey: true, ByModel: true, Scopes: []string{ScopeModelRequest}},
	{Kind: KindModerations, PerKey: true, ByModel: true, Scopes: []string{ScopeModelRequest}},
	{Kind: KindAudioSpeeches, PerKey: true, ByModel: true, Scopes: []string{ScopeModelRequest}},
	{Kind: KindAudioTranscriptions, PerKey: true, ByModel: true, Scopes: []string{ScopeModelRequest}},
	{Kind: KindWebSearchCalls, PerKey: true, ByModel: true, Scopes: []string{ScopeModelRequest, ScopeResponsesWrite}},
	{Kind: KindFileSearchCalls, PerKey: true, Scopes: []string{ScopeResponsesWrite, ScopeVectorStoresRead}},
	{Kind: KindVectorStores, Scopes: []string{ScopeVectorStoresRead, ScopeVectorStoresWrite}},
	{Kind: KindCodeInterpreterSessions, Scopes: []string{ScopeResponsesWrite, ScopeAssistantsWrite}},
}

// DefaultScopes are the replacement key's scopes when the old key's usage shows nothing to
// derive from: list models and make model requests, the least a working OpenAI client needs.
var DefaultScopes = []string{ScopeModelRead, ScopeModelRequest}

func usageEndpoint(kind string) (UsageEndpoint, bool) {
	i := slices.IndexFunc(UsageEndpoints, func(e UsageEndpoint) bool { return e.Kind == kind })
	if i < 0 {
		return UsageEndpoint{}, false
	}
	return UsageEndpoints[i], true
}

// ScopesFor returns the scopes the usage kinds need, with ScopeModelRead, sorted and without
// duplicates; unknown kinds add nothing.
func ScopesFor(kinds []string) []string {
	out := []string{ScopeModelRead}
	for _, k := range kinds {
		e, _ := usageEndpoint(k)
		out = append(out, e.Scopes...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
