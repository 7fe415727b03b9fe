package playbook

import (
	"fmt"
	"strconv"
	"strings"
)

// Input types and the one Go type each value has, wherever it came from (a default, a flag, the
// environment, a file, Slack): string → string, list → []any, bool → bool, number → float64.
const (
	TypeString = "string"
	TypeList   = "list"
	TypeBool   = "bool"
	TypeNumber = "number"
)

// Zero is the value of an input nobody gave and that has no default.
func (in *Input) Zero() any {
	switch in.Type {
	case TypeList:
		return []any{}
	case TypeBool:
		return false
	case TypeNumber:
		return float64(0)
	}
	return ""
}

// Value is the value of an input nobody gave: its default, or its type's zero.
func (in *Input) Value() any {
	if in.Default != nil {
		return in.Default
	}
	return in.Zero()
}

// Coerce turns a raw value into the input's declared type: a string (from argv, the environment,
// a file or Slack) is parsed, a YAML value (an input file, a default) is checked. from says where
// the value came from, for the error.
func (in *Input) Coerce(v any, from string) (any, error) {
	s, isString := v.(string)
	switch in.Type {
	case TypeList:
		if isString {
			return splitList(s), nil
		}
		if l, ok := v.([]any); ok {
			return l, nil
		}
		return nil, fmt.Errorf("expected a list (comma-separated from %s), got %v", from, v)
	case TypeBool:
		if isString {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, fmt.Errorf("expected true or false, got %q", s)
			}
			return b, nil
		}
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("expected true or false, got %v", v)
	case TypeNumber:
		return number(v)
	default:
		if isString {
			return s, nil
		}
		switch v.(type) {
		case int, float64, bool:
			return fmt.Sprint(v), nil
		}
		return nil, fmt.Errorf("expected a string, got %v", v)
	}
}

func splitList(s string) []any {
	out := []any{}
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func number(v any) (any, error) {
	switch n := v.(type) {
	case string:
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a number, got %q", n)
		}
		return f, nil
	case int:
		return float64(n), nil
	case float64:
		return n, nil
	}
	return nil, fmt.Errorf("expected a number, got %v", v)
}

// Bind gives every declared input its value, in one place for every way a run starts: a given
// value is coerced to the input's type (from names where it came from, for the error), an absent
// one takes its default. Absent required inputs bind nothing and are listed in missing, in the
// order they are declared; a caller says how to give them.
func (pb *Playbook) Bind(given map[string]any, from func(name string) string) (values map[string]any, missing []string, err error) {
	values = map[string]any{}
	for _, in := range pb.Inputs {
		v, ok := given[in.Name]
		if !ok {
			if in.Required {
				missing = append(missing, in.Name)
			} else {
				values[in.Name] = in.Value()
			}
			continue
		}
		cv, err := in.Coerce(v, from(in.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("input %s: %w", in.Name, err)
		}
		values[in.Name] = cv
	}
	return values, missing, nil
}
