package playbook

import (
	"reflect"
	"strings"
	"time"

	"github.com/respond-sec/respond/steps"
)

// SchemaDraft is the JSON Schema dialect of Schema.
const SchemaDraft = "https://json-schema.org/draft/2020-12/schema"

// Schema is a JSON Schema (draft 2020-12) of the playbook format, for editors
// (yaml-language-server) and CI. The part under with: is derived from each kind's parameter struct
// through the same yamlFields the loader decodes with, so the schema and the loader cannot drift.
// It is deliberately a little looser than the loader, never stricter: anything a template may stand
// for accepts a "{{ … }}" string, and rules that need the whole playbook (references to inputs and
// earlier steps, a kind's own Validate) stay with `respond validate`.
//
// A library generator (e.g. invopop/jsonschema) would reflect the same structs but not the loader's
// rules: templates in place of any scalar or list, durations as Go duration strings, yaml tags with
// inline structs. Deriving from yamlFields keeps one source of truth.
func Schema(kinds []steps.Kind) map[string]any {
	defs := commonDefs()
	names, byKind := kindDefs(kinds, defs)
	defs["step"] = stepSchema(names, byKind)
	return map[string]any{
		"$schema":              SchemaDraft,
		"title":                "respond playbook",
		"description":          "A playbook respond runs: inputs, an optional Slack channel and an ordered list of steps. `respond validate` checks what a schema cannot (references, each kind's own rules).",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []any{"name", "steps"},
		"properties": map[string]any{
			"name":        map[string]any{"type": "string", "pattern": nameRe.String()},
			"description": map[string]any{"type": "string"},
			"inputs": map[string]any{"type": "object", "propertyNames": map[string]any{"pattern": identRe.String()},
				"additionalProperties": ref("input")},
			"notify": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"slack": map[string]any{"type": "object", "additionalProperties": false, "required": []any{"channel"},
					"properties": map[string]any{"channel": map[string]any{"type": "string", "minLength": 1}}},
			}},
			"steps": map[string]any{"type": "array", "minItems": 1, "items": ref("step")},
		},
		"$defs": defs,
	}
}

// commonDefs are the definitions every playbook shares: templates, durations, inputs, retry and
// approval.
func commonDefs() map[string]any {
	return map[string]any{
		"template": map[string]any{"type": "string", "pattern": `\{\{`,
			"description": "a Go template, e.g. {{ .inputs.key }} or {{ .steps.identify.outputs.key_id }}"},
		"duration": map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
			"description": "a Go duration such as 30s, 5m or 1h30m"},
		"input": map[string]any{
			"type": "object", "additionalProperties": false,
			"properties": map[string]any{
				"description": map[string]any{"type": "string"},
				"type":        map[string]any{"enum": []any{"string", "list", "bool", "number"}, "default": "string"},
				"secret":      map[string]any{"type": "boolean", "description": "masked everywhere; never from argv, never with a default"},
				"required":    map[string]any{"type": "boolean"},
				"default":     map[string]any{},
			},
		},
		"retry": map[string]any{
			"type": "object", "additionalProperties": false,
			"properties": map[string]any{
				"attempts":  map[string]any{"type": "integer", "minimum": 1, "maximum": 100},
				"backoff":   map[string]any{"enum": []any{"constant", "exponential"}},
				"delay":     ref("duration"),
				"max_delay": ref("duration"),
			},
		},
		"approval": map[string]any{"anyOf": []any{
			map[string]any{"type": "boolean"},
			map[string]any{
				"type": "object", "additionalProperties": false,
				"properties": map[string]any{
					"required":   map[string]any{"type": "boolean"},
					"approvers":  map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
					"message":    map[string]any{"type": "string"},
					"timeout":    ref("duration"),
					"two_person": map[string]any{"type": "boolean"},
				},
			},
		}},
	}
}

// kindDefs adds each kind's with: schema to defs and returns the kind names and the if/then
// rules that pick a step's with: schema by its uses:.
func kindDefs(kinds []steps.Kind, defs map[string]any) (names, byKind []any) {
	names = make([]any, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
		def := "with." + k.Name
		withSchema := typeSchema(reflect.TypeOf(k.New()))
		if m, ok := withSchema.(map[string]any); ok && k.Summary != "" {
			m["description"] = k.Summary
		}
		defs[def] = withSchema
		byKind = append(byKind, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"uses": map[string]any{"const": k.Name}}, "required": []any{"uses"}},
			"then": map[string]any{"properties": map[string]any{"with": ref(def)}},
		})
	}
	return names, byKind
}

func stepSchema(names, byKind []any) map[string]any {
	step := map[string]any{
		"type": "object", "additionalProperties": false, "required": []any{"id", "uses"},
		"properties": map[string]any{
			"id":         map[string]any{"type": "string", "pattern": identRe.String(), "description": "letters, digits and _; templates read .steps.ID"},
			"uses":       map[string]any{"enum": names, "description": "the step kind (respond playbooks kinds)"},
			"with":       map[string]any{"type": "object"},
			"if":         map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, map[string]any{"enum": []any{"true", "false"}}, ref("template")}},
			"retry":      ref("retry"),
			"timeout":    ref("duration"),
			"on_failure": map[string]any{"enum": []any{"abort", "continue"}, "default": "abort"},
			"approval":   ref("approval"),
		},
	}
	if len(byKind) > 0 {
		step["allOf"] = byKind
	}
	return step
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

func orTemplate(s map[string]any) map[string]any {
	return map[string]any{"anyOf": []any{s, ref("template")}}
}

// typeSchema follows checkValue's walk of a parameter type.
func typeSchema(t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeOf(time.Time{}):
		return orTemplate(map[string]any{"type": "string", "format": "date-time"})
	case reflect.TypeOf(time.Duration(0)):
		return orTemplate(ref("duration"))
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for name, f := range yamlFields(t) {
			props[name] = typeSchema(f.Type)
			if strings.Contains(f.Tag.Get("respond"), "no-secret") {
				props[name].(map[string]any)["description"] = "never a secret input: visible to every user of the machine"
			}
		}
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"}
		}
		return orTemplate(map[string]any{"type": []any{"array", "null"}, "items": typeSchema(t.Elem())})
	case reflect.Map:
		return orTemplate(map[string]any{"type": []any{"object", "null"}, "additionalProperties": typeSchema(t.Elem())})
	case reflect.Interface:
		return map[string]any{}
	case reflect.Bool:
		return orTemplate(map[string]any{"type": "boolean"})
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return orTemplate(map[string]any{"type": "integer"})
	case reflect.Float32, reflect.Float64:
		return orTemplate(map[string]any{"type": "number"})
	}
	return map[string]any{"type": "string"}
}
