// Package strictjson checks an API answer against the Go type a client decodes it into, the way
// the contract tests of the GitHub and Slack simulators need: every field the answer carries must
// exist in the type (except named fields the real service sends and the type lacks), and named
// fields must be present and not null. Paths are dotted ("a.b"); "items[]" iterates an array and
// "*" stands for every key of an object.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Check decodes body strictly into into after dropping the allowed paths, and checks that the
// required paths are present.
func Check(body []byte, into any, required, allowed []string) error {
	var generic any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	for _, p := range required {
		if !present(generic, strings.Split(p, ".")) {
			return fmt.Errorf("required field %s is missing or null", p)
		}
	}
	for _, p := range allowed {
		drop(generic, strings.Split(p, "."))
	}
	stripped, err := json.Marshal(generic)
	if err != nil {
		return err
	}
	strict := json.NewDecoder(bytes.NewReader(stripped))
	strict.DisallowUnknownFields()
	if err := strict.Decode(into); err != nil {
		return fmt.Errorf("strict decode: %w", err)
	}
	return nil
}

// step splits a path segment "name[]" into the key and whether it iterates an array.
func step(seg string) (string, bool) {
	if k, ok := strings.CutSuffix(seg, "[]"); ok {
		return k, true
	}
	return seg, false
}

func present(v any, path []string) bool {
	if len(path) == 0 {
		return v != nil
	}
	key, each := step(path[0])
	if key != "" {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = m[key]
	}
	if !each {
		return present(v, path[1:])
	}
	arr, ok := v.([]any)
	if !ok {
		return false
	}
	for _, x := range arr {
		if !present(x, path[1:]) {
			return false
		}
	}
	return true
}

func drop(v any, path []string) {
	key, each := step(path[0])
	if len(path) == 1 && !each {
		if m, ok := v.(map[string]any); ok {
			if key == "*" {
				clear(m)
			} else {
				delete(m, key)
			}
		}
		return
	}
	var next []any
	if m, ok := v.(map[string]any); ok && key != "" {
		if key == "*" {
			for _, x := range m {
				next = append(next, x)
			}
		} else {
			next = append(next, m[key])
		}
	} else if key == "" {
		next = append(next, v)
	}
	for _, n := range next {
		if each {
			arr, _ := n.([]any)
			for _, x := range arr {
				if len(path) > 1 {
					drop(x, path[1:])
				}
			}
		} else if len(path) > 1 {
			drop(n, path[1:])
		}
	}
}
