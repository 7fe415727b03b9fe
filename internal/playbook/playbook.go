// Package playbook loads playbooks: strict YAML decoding from *yaml.Node, so every problem is
// reported as file:line:col with a source snippet before anything runs, including references in
// templates to undeclared inputs or to outputs of later or unknown steps.
package playbook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/steps"
)

// Playbook is a loaded, validated playbook.
type Playbook struct {
	Name        string
	Description string
	Inputs      []*Input
	Notify      Notify
	Steps       []*Step
	File        string
	Source      []byte
}

// Input is a declared input.
type Input struct {
	Name        string
	Description string
	Type        string // TypeString (default), TypeList, TypeBool, TypeNumber
	// Default is already of the type's Go type (see Coerce); nil when there is none.
	Secret   bool
	Required bool
	Default  any
	Line     int
}

// Notify says where a run reports progress.
type Notify struct {
	SlackChannel string
}

// Step is one step of a playbook.
type Step struct {
	ID        string
	Uses      string
	Kind      steps.Kind
	With      *yaml.Node // nil when absent
	If        string
	Retry     Retry
	Timeout   time.Duration
	OnFailure string // abort | continue
	Approval  *Approval
	Line, Col int
	// IfPos is where the `if` template starts (for runtime error messages).
	IfLine, IfCol int
}

// Retry is a step's retry policy. Only errors the step marks transient are retried.
type Retry struct {
	Attempts int
	Backoff  string // constant | exponential
	Delay    time.Duration
	MaxDelay time.Duration
}

// Approval gates a step on a person's decision.
type Approval struct {
	Required  bool
	Approvers []string
	Message   string
	Timeout   time.Duration
	TwoPerson bool
}

// Lookup finds a step kind by its `uses` name.
type Lookup func(uses string) (steps.Kind, bool)

// KindNames may be set to list the known kinds, for "did you mean" hints.
var KindNames func() []string

var (
	identRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	nameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// DefaultRetry is used when a step has no retry block: one attempt.
var DefaultRetry = Retry{Attempts: 1, Backoff: "exponential", Delay: time.Second, MaxDelay: 30 * time.Second}

// Load parses and validates a playbook. On failure the error is Errors, each entry positioned.
func Load(file string, src []byte, lookup Lookup) (*Playbook, error) {
	c := &collector{file: file, src: src}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		c.add(1, 1, "empty playbook: expected a mapping with name and steps")
		return nil, c.err()
	} else if err != nil {
		line, msg := yamlErrorLine(err)
		c.add(line, 1, "invalid YAML: %s", msg)
		return nil, c.err()
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		line, msg := yamlErrorLine(err)
		c.add(line, 1, "invalid YAML in a second document: %s (a playbook file holds one YAML document)", msg)
		return nil, c.err()
	case len(extra.Content) > 0:
		c.add(extra.Line, extra.Column, "a playbook file holds one YAML document; found a second one: split them into two files")
		return nil, c.err()
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
		c.add(1, 1, "empty playbook: expected a mapping with name and steps")
		return nil, c.err()
	}
	root := doc.Content[0]
	pb := &Playbook{File: file, Source: src}
	l := &loader{c: c, lookup: lookup, pb: pb}
	l.root(root)
	if err := c.err(); err != nil {
		return nil, err
	}
	return pb, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 1, strings.TrimPrefix(msg, "yaml: ")
}

type loader struct {
	c       *collector
	lookup  Lookup
	pb      *Playbook
	inputs  map[string]*Input
	seen    map[string]*Step // steps declared so far, in order
	current string           // the step being loaded
	all     map[string]int   // every step ID with its line, to tell "later" from "unknown"
}

// fields walks a mapping, calling fn for each known key and reporting unknown and duplicate keys.
func (l *loader) fields(n *yaml.Node, what string, known map[string]func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		l.c.add(n.Line, n.Column, "%s must be a mapping, got %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			l.c.add(k.Line, k.Column, "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		fn, ok := known[k.Value]
		if !ok {
			l.unknownKey(k, what, slices.Collect(maps.Keys(known)))
			continue
		}
		fn(k, v)
	}
}

// unknownKey reports key k, not one of known in where: with the nearest known key when one is
// close, else with the whole list.
func (l *loader) unknownKey(k *yaml.Node, where string, known []string) {
	slices.Sort(known)
	if hint := didYouMean(k.Value, known); hint != "" {
		l.c.add(k.Line, k.Column, "unknown key %q in %s%s", k.Value, where, hint)
		return
	}
	l.c.add(k.Line, k.Column, "unknown key %q in %s (known: %s)", k.Value, where, strings.Join(known, ", "))
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
}

func (l *loader) str(v *yaml.Node, what string, dst *string) bool {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		l.c.add(v.Line, v.Column, "%s must be a string, got %s", what, kindName(v))
		return false
	}
	*dst = v.Value
	return true
}

func (l *loader) boolean(v *yaml.Node, what string, dst *bool) {
	if v.Kind != yaml.ScalarNode || v.Decode(dst) != nil || v.Tag != "!!bool" {
		l.c.add(v.Line, v.Column, "%s must be true or false, got %s", what, kindName(v))
	}
}

func (l *loader) duration(v *yaml.Node, what string, dst *time.Duration) {
	var s string
	if !l.str(v, what, &s) {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.c.add(v.Line, v.Column, "%s: %q is not a positive duration (write e.g. 30s, 5m, 1h30m)", what, s)
		return
	}
	*dst = d
}

func (l *loader) root(n *yaml.Node) {
	l.inputs = map[string]*Input{}
	var stepsNode, nameNode *yaml.Node
	l.fields(n, "the playbook", map[string]func(k, v *yaml.Node){
		"name": func(k, v *yaml.Node) {
			nameNode = v
			if l.str(v, "name", &l.pb.Name) && !nameRe.MatchString(l.pb.Name) {
				l.c.add(v.Line, v.Column, "name %q must be lowercase letters, digits and dashes, e.g. openai-key-leak", l.pb.Name)
			}
		},
		"description": func(k, v *yaml.Node) { l.str(v, "description", &l.pb.Description) },
		"inputs":      func(k, v *yaml.Node) { l.inputsNode(v) },
		"notify":      func(k, v *yaml.Node) { l.notify(v) },
		"steps":       func(k, v *yaml.Node) { stepsNode = v },
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if nameNode == nil {
		l.c.add(n.Line, n.Column, "the playbook has no name: add name: my-playbook (lowercase letters, digits and dashes)")
	}
	if stepsNode == nil {
		l.c.add(n.Line, n.Column, "the playbook has no steps: add a steps list")
		return
	}
	l.stepsNode(stepsNode)
}

func (l *loader) inputsNode(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.c.add(n.Line, n.Column, "inputs must be a mapping of input names, got %s", kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if !identRe.MatchString(name) {
			l.c.add(k.Line, k.Column, "input name %q must start with a letter and hold only letters, digits and _", name)
			continue
		}
		if _, dup := l.inputs[name]; dup {
			l.c.add(k.Line, k.Column, "duplicate input %q", name)
			continue
		}
		in := &Input{Name: name, Type: "string", Line: k.Line}
		var def *yaml.Node
		l.fields(v, "input "+name, map[string]func(k, v *yaml.Node){
			"description": func(k, v *yaml.Node) { l.str(v, "description", &in.Description) },
			"secret":      func(k, v *yaml.Node) { l.boolean(v, "secret", &in.Secret) },
			"required":    func(k, v *yaml.Node) { l.boolean(v, "required", &in.Required) },
			"type": func(k, v *yaml.Node) {
				if l.str(v, "type", &in.Type) {
					switch in.Type {
					case "string", "list", "bool", "number":
					default:
						l.c.add(v.Line, v.Column, "input type %q is not one of string, list, bool, number", in.Type)
					}
				}
			},
			"default": func(k, v *yaml.Node) { def = v },
		})
		if def != nil {
			var val any
			if err := def.Decode(&val); err != nil {
				l.c.add(def.Line, def.Column, "default of %s: %v", name, err)
			} else if val != nil {
				// Coerced here, so a default has the same Go type as a value given at run time.
				if cv, err := in.Coerce(val, "the playbook"); err != nil {
					l.c.add(def.Line, def.Column, "default of %s: %v", name, err)
				} else {
					in.Default = cv
				}
			}
			if in.Secret {
				l.c.add(def.Line, def.Column, "secret input %s cannot have a default: a secret never lives in a playbook", name)
			}
		}
		l.inputs[name] = in
		l.pb.Inputs = append(l.pb.Inputs, in)
	}
}

func (l *loader) notify(n *yaml.Node) {
	l.fields(n, "notify", map[string]func(k, v *yaml.Node){
		"slack": func(k, v *yaml.Node) {
			if v.Kind == yaml.MappingNode && !hasKey(v, "channel") {
				l.c.add(v.Line, v.Column, "notify.slack needs a channel, e.g. slack: {channel: \"#security-incidents\"}")
			}
			l.fields(v, "notify.slack", map[string]func(k, v *yaml.Node){
				"channel": func(k, v *yaml.Node) {
					if l.str(v, "notify.slack.channel", &l.pb.Notify.SlackChannel) && strings.TrimSpace(l.pb.Notify.SlackChannel) == "" {
						l.c.add(v.Line, v.Column, "notify.slack.channel is empty")
					}
				},
			})
		},
	})
}

func (l *loader) stepsNode(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		l.c.add(n.Line, n.Column, "steps must be a list, got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		l.c.add(n.Line, n.Column, "steps is empty")
		return
	}
	// First pass: every ID, so a reference to a later step is told apart from an unknown one.
	l.all = map[string]int{}
	for _, sn := range n.Content {
		if sn.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(sn.Content); i += 2 {
			if sn.Content[i].Value == "id" {
				if _, dup := l.all[sn.Content[i+1].Value]; !dup {
					l.all[sn.Content[i+1].Value] = sn.Content[i+1].Line
				}
			}
		}
	}
	l.seen = map[string]*Step{}
	for _, sn := range n.Content {
		l.step(sn)
	}
}

func (l *loader) step(n *yaml.Node) {
	s := &Step{Line: n.Line, Col: n.Column, Retry: DefaultRetry, OnFailure: "abort"}
	var withNode, ifNode, idNode *yaml.Node
	l.fields(n, "a step", map[string]func(k, v *yaml.Node){
		"id": func(k, v *yaml.Node) {
			idNode = v
			if l.str(v, "id", &s.ID) && !identRe.MatchString(s.ID) {
				hint := ""
				if strings.Contains(s.ID, "-") {
					hint = fmt.Sprintf(": templates would read .steps.%s as a subtraction; use %s", s.ID, strings.ReplaceAll(s.ID, "-", "_"))
				}
				l.c.add(v.Line, v.Column, "step id %q must start with a letter and hold only letters, digits and _%s", s.ID, hint)
			}
		},
		"uses": func(k, v *yaml.Node) {
			if !l.str(v, "uses", &s.Uses) {
				return
			}
			kind, ok := l.lookup(s.Uses)
			if !ok {
				l.c.add(v.Line, v.Column, "unknown step kind %q%s (see respond playbooks kinds)", s.Uses, didYouMean(s.Uses, l.kindNames()))
				return
			}
			s.Kind = kind
		},
		"with": func(k, v *yaml.Node) { withNode = v },
		"if": func(k, v *yaml.Node) {
			ifNode = v
			l.str(v, "if", &s.If)
			s.IfLine, s.IfCol = v.Line, v.Column
		},
		"retry":      func(k, v *yaml.Node) { l.retry(v, &s.Retry) },
		"timeout":    func(k, v *yaml.Node) { l.duration(v, "timeout", &s.Timeout) },
		"on_failure": func(k, v *yaml.Node) { l.onFailure(v, &s.OnFailure) },
		"approval":   func(k, v *yaml.Node) { s.Approval = l.approval(v) },
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if idNode == nil {
		l.c.add(n.Line, n.Column, "step has no id: add id: NAME (letters, digits and _)")
	}
	if s.Uses == "" && !hasKey(n, "uses") {
		who := "step"
		if s.ID != "" {
			who = "step " + s.ID
		}
		l.c.add(n.Line, n.Column, "%s has no uses: add uses: KIND (see respond playbooks kinds)", who)
	}
	if s.ID != "" {
		if _, dup := l.seen[s.ID]; dup {
			l.c.add(idNode.Line, idNode.Column, "duplicate step id %q (first at line %d)", s.ID, l.all[s.ID])
		}
	}
	l.current = s.ID
	if ifNode != nil && ifNode.Kind == yaml.ScalarNode {
		if strings.Contains(s.If, "{{") {
			l.checkTemplate(s.If, ifNode)
			l.checkIfBoolean(s.If, ifNode)
		} else if t := strings.TrimSpace(s.If); t != "true" && t != "false" {
			l.c.add(ifNode.Line, ifNode.Column, "if must be true, false or a template that renders one, e.g. if: '{{ .inputs.purge }}'; got %q", s.If)
		}
	}
	if withNode != nil {
		s.With = withNode
		if s.Kind.New != nil {
			l.checkWith(s, withNode)
		}
	}
	if s.ID != "" {
		if _, dup := l.seen[s.ID]; !dup {
			l.seen[s.ID] = s
			l.pb.Steps = append(l.pb.Steps, s)
		}
	}
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (l *loader) onFailure(v *yaml.Node, dst *string) {
	var s string
	if !l.str(v, "on_failure", &s) {
		return
	}
	if s != "abort" && s != "continue" {
		l.c.add(v.Line, v.Column, "on_failure must be abort or continue, got %q", s)
		return
	}
	*dst = s
}

func (l *loader) retry(n *yaml.Node, r *Retry) {
	var attemptsNode *yaml.Node
	l.fields(n, "retry", map[string]func(k, v *yaml.Node){
		"attempts": func(k, v *yaml.Node) {
			attemptsNode = v
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Decode(&r.Attempts) != nil {
				l.c.add(v.Line, v.Column, "retry.attempts must be a whole number, got %s", kindName(v))
				return
			}
			if r.Attempts < 1 || r.Attempts > 100 {
				l.c.add(v.Line, v.Column, "retry.attempts must be between 1 and 100, got %d", r.Attempts)
			}
		},
		"backoff": func(k, v *yaml.Node) {
			if l.str(v, "retry.backoff", &r.Backoff) && r.Backoff != "constant" && r.Backoff != "exponential" {
				l.c.add(v.Line, v.Column, "retry.backoff must be constant or exponential, got %q", r.Backoff)
			}
		},
		"delay":     func(k, v *yaml.Node) { l.duration(v, "retry.delay", &r.Delay) },
		"max_delay": func(k, v *yaml.Node) { l.duration(v, "retry.max_delay", &r.MaxDelay) },
	})
	if n.Kind == yaml.MappingNode && attemptsNode == nil {
		l.c.add(n.Line, n.Column, "retry needs attempts (total tries, e.g. attempts: 3)")
	}
	if r.MaxDelay < r.Delay {
		if hasKey(n, "max_delay") {
			l.c.add(n.Line, n.Column, "retry.max_delay (%s) is shorter than retry.delay (%s)", r.MaxDelay, r.Delay)
		} else {
			l.c.add(n.Line, n.Column, "retry.delay (%s) is longer than the default max_delay (%s): set max_delay too", r.Delay, r.MaxDelay)
		}
	}
}

// approval reads `approval: true|false` or a mapping. A mapping means required unless it says
// required: false: someone who lists approvers expects a gate.
func (l *loader) approval(n *yaml.Node) *Approval {
	a := &Approval{}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!bool" {
			l.c.add(n.Line, n.Column, "approval must be true, false or a mapping {required, approvers, message, timeout, two_person}, got %s", kindName(n))
			return a
		}
		l.boolean(n, "approval", &a.Required)
		return a
	case yaml.MappingNode:
		a.Required = true
	default:
		l.c.add(n.Line, n.Column, "approval must be true, false or a mapping {required, approvers, message, timeout, two_person}, got %s", kindName(n))
		return a
	}
	l.fields(n, "approval", map[string]func(k, v *yaml.Node){
		"required": func(k, v *yaml.Node) { l.boolean(v, "approval.required", &a.Required) },
		"approvers": func(k, v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				l.c.add(v.Line, v.Column, "approval.approvers must be a list, got %s", kindName(v))
				return
			}
			for _, e := range v.Content {
				var s string
				if l.str(e, "an approver", &s) {
					a.Approvers = append(a.Approvers, s)
				}
			}
		},
		"message":    func(k, v *yaml.Node) { l.str(v, "approval.message", &a.Message) },
		"timeout":    func(k, v *yaml.Node) { l.duration(v, "approval.timeout", &a.Timeout) },
		"two_person": func(k, v *yaml.Node) { l.boolean(v, "approval.two_person", &a.TwoPerson) },
	})
	return a
}

// checkWith validates `with:` against the step kind's parameter struct: unknown keys, wrong
// types (for values without templates), template references, and the kind's own Validate.
func (l *loader) checkWith(s *Step, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.c.add(n.Line, n.Column, "with must be a mapping, got %s", kindName(n))
		return
	}
	step := s.Kind.New()
	t := reflect.TypeOf(step).Elem()
	before := len(l.c.errs)
	l.checkValue(n, t, "with", func(tmpl string, at *yaml.Node) { l.checkTemplate(tmpl, at) })
	if len(l.c.errs) > before {
		return
	}
	// Decode what has no template and let the kind check its own rules.
	literal := StripTemplates(n, t)
	if err := literal.Decode(step); err != nil {
		l.c.add(n.Line, n.Column, "with: %v", err)
		return
	}
	// The kind checks its own rules on what is literal. A templated parameter is absent from that
	// decode, so an error about it is left to run time (a placeholder would fail format checks such
	// as RFC 3339 times); an error about any other parameter is real now. Kinds name the parameter
	// first in their errors ("argv: …", "key_id is required").
	if v, ok := step.(steps.Validator); ok {
		if err := v.Validate(); err != nil && !templated(n)[leadingWord(err.Error())] {
			l.c.add(n.Line, n.Column, "with: %v", err)
		}
	}
}

// templated lists the top-level keys of a with mapping whose value holds a template.
func templated(n *yaml.Node) map[string]bool {
	out := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if hasTemplate(n.Content[i+1]) {
			out[n.Content[i].Value] = true
		}
	}
	return out
}

var leadingWordRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

func leadingWord(s string) string { return leadingWordRe.FindString(s) }

// checkValue walks a node against a Go type.
func (l *loader) checkValue(n *yaml.Node, t reflect.Type, path string, tmpl func(string, *yaml.Node)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "{{") {
		tmpl(n.Value, n)
		return
	}
	if n.Kind == yaml.AliasNode {
		l.c.add(n.Line, n.Column, "%s: YAML aliases are not supported in with", path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			break
		}
		if n.Kind != yaml.MappingNode {
			l.c.add(n.Line, n.Column, "%s must be a mapping, got %s", path, kindName(n))
			return
		}
		l.checkStruct(n, t, path, tmpl)
		return
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			break
		}
		if n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			l.c.add(n.Line, n.Column, "%s must be a list, got %s", path, kindName(n))
			return
		}
		for i, e := range n.Content {
			l.checkValue(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), tmpl)
		}
		return
	case reflect.Map:
		if n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.MappingNode {
			l.c.add(n.Line, n.Column, "%s must be a mapping, got %s", path, kindName(n))
			return
		}
		l.checkMap(n, t, path, tmpl)
		return
	case reflect.Interface:
		walkTemplates(n, tmpl)
		return
	}
	// A scalar: decode it into a value of the type to get yaml's own type error.
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		l.c.add(n.Line, n.Column, "%s: %s", path, typeErrorText(err, n, t))
		return
	}
	if t == reflect.TypeOf(time.Duration(0)) && n.Tag == "!!int" {
		l.c.add(n.Line, n.Column, "%s: %s has no unit (write e.g. 30s, 5m)", path, n.Value)
	}
}

// checkStruct checks a mapping against a parameter struct: known keys only (with a did-you-mean),
// no duplicates, no secret into a no-secret parameter, each value against its field's type.
func (l *loader) checkStruct(n *yaml.Node, t reflect.Type, path string, tmpl func(string, *yaml.Node)) {
	fields := yamlFields(t)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			l.c.add(k.Line, k.Column, "duplicate key %q in %s", k.Value, path)
			continue
		}
		seen[k.Value] = true
		f, ok := fields[k.Value]
		if !ok {
			l.unknownKey(k, path, slices.Collect(maps.Keys(fields)))
			continue
		}
		if f.Tag.Get("respond") == "no-secret" {
			walkTemplates(v, func(text string, at *yaml.Node) { l.checkNoSecret(text, at, path+"."+k.Value) })
		}
		l.checkValue(v, f.Type, path+"."+k.Value, tmpl)
	}
}

func (l *loader) checkMap(n *yaml.Node, t reflect.Type, path string, tmpl func(string, *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if first, dup := seen[k.Value]; dup {
			l.c.add(k.Line, k.Column, "duplicate key %q in %s (first at line %d)", k.Value, path, first)
			continue
		}
		seen[k.Value] = k.Line
		l.checkValue(n.Content[i+1], t.Elem(), path+"."+k.Value, tmpl)
	}
}

func walkTemplates(n *yaml.Node, tmpl func(string, *yaml.Node)) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "{{") {
		tmpl(n.Value, n)
	}
	for _, c := range n.Content {
		walkTemplates(c, tmpl)
	}
}

func typeErrorText(err error, n *yaml.Node, t reflect.Type) string {
	want := t.Kind().String()
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		want = "a whole number"
		if t == reflect.TypeOf(time.Duration(0)) {
			want = "a duration such as 30s"
		}
	case reflect.Bool:
		want = "true or false"
	case reflect.String:
		want = "a string"
	case reflect.Float64:
		want = "a number"
	}
	_ = err
	return fmt.Sprintf("expected %s, got %s", want, kindName(n))
}

// yamlFields maps yaml key names to struct fields, following inline structs.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

func hasTemplate(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return strings.Contains(n.Value, "{{")
	}
	for _, c := range n.Content {
		if hasTemplate(c) {
			return true
		}
	}
	return false
}

// StripTemplates returns a copy of n without the entries whose value is (or holds) a template,
// so the rest can be decoded and checked before run time.
func StripTemplates(n *yaml.Node, t reflect.Type) *yaml.Node {
	cp := *n
	cp.Content = nil
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if hasTemplate(n.Content[i+1]) {
				continue
			}
			cp.Content = append(cp.Content, n.Content[i], n.Content[i+1])
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if !hasTemplate(e) {
				cp.Content = append(cp.Content, e)
			}
		}
	default:
		return n
	}
	return &cp
}

func (l *loader) kindNames() []string {
	if KindNames == nil {
		return nil
	}
	return KindNames()
}
