package playbook

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"gopkg.in/yaml.v3"
)

// Funcs are the functions templates may call, beyond text/template's built-ins.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"join": func(sep string, v any) string {
			switch v := v.(type) {
			case []string:
				return strings.Join(v, sep)
			case []any:
				parts := make([]string, len(v))
				for i, x := range v {
					parts[i] = fmt.Sprint(x)
				}
				return strings.Join(parts, sep)
			default:
				return fmt.Sprint(v)
			}
		},
		"default": func(def, v any) any {
			if v == nil || v == "" {
				return def
			}
			if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0 {
				return def
			}
			return v
		},
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"trim":     strings.TrimSpace,
		"contains": strings.Contains,
		"empty": func(v any) bool {
			if v == nil || v == "" {
				return true
			}
			rv := reflect.ValueOf(v)
			return (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0
		},
	}
}

// parseTemplate parses text as a template named for its position.
func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(Funcs()).Option("missingkey=error").Parse(text)
}

// checkTemplate parses a template and checks every field chain it reads from the root:
// .inputs.NAME must be declared; .steps.ID must be an earlier step and .steps.ID.outputs.NAME one
// of its kind's declared outputs; .run.* must be a run field.
func (l *loader) checkTemplate(text string, at *yaml.Node) {
	t, err := parseTemplate("t", text)
	if err != nil {
		l.c.add(at.Line, at.Column, "template: %s", templateErrorText(err))
		return
	}
	for _, tr := range t.Templates() {
		if tr.Tree == nil {
			continue
		}
		walkParse(tr.Tree.Root, false, func(idents []string) { l.checkRef(idents, at) })
	}
}

// checkIfBoolean refuses an if template that can never render exactly true or false: text around
// the action, or a list or number input on its own.
func (l *loader) checkIfBoolean(text string, at *yaml.Node) {
	t, err := parseTemplate("t", text)
	if err != nil || t.Tree == nil {
		return // checkTemplate has said why
	}
	var actions []*parse.ActionNode
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			if strings.TrimSpace(string(n.Text)) != "" {
				l.c.add(at.Line, at.Column, "if: the text %q around the template means it can never render exactly true or false; keep only the {{ … }}", strings.TrimSpace(string(n.Text)))
				return
			}
		case *parse.ActionNode:
			actions = append(actions, n)
		}
	}
	if len(actions) != 1 || len(actions[0].Pipe.Cmds) != 1 || len(actions[0].Pipe.Cmds[0].Args) != 1 {
		return
	}
	f, ok := actions[0].Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 2 || f.Ident[0] != "inputs" {
		return
	}
	in, ok := l.inputs[f.Ident[1]]
	if !ok {
		return
	}
	example := map[string]string{"list": "{{ gt (len .inputs.%s) 0 }}", "number": "{{ gt .inputs.%s 0 }}"}[in.Type]
	if example != "" {
		l.c.add(at.Line, at.Column, "if: .inputs.%s is a %s input, which never renders true or false; compare it, e.g. %s",
			f.Ident[1], in.Type, fmt.Sprintf(example, f.Ident[1]))
	}
}

// checkNoSecret refuses a secret input in a parameter that others can read (a program's argv is
// visible to every user of the machine through ps).
func (l *loader) checkNoSecret(text string, at *yaml.Node, path string) {
	t, err := parseTemplate("t", text)
	if err != nil {
		return
	}
	for _, tr := range t.Templates() {
		if tr.Tree == nil {
			continue
		}
		walkParse(tr.Tree.Root, false, func(idents []string) {
			if len(idents) < 2 || idents[0] != "inputs" {
				return
			}
			if in, ok := l.inputs[idents[1]]; ok && in.Secret {
				l.c.add(at.Line, at.Column, "%s: the secret input %q would be visible to every user of the machine (ps); pass it in env: or stdin: instead", path, idents[1])
			}
		})
	}
}

var templateLineRe = regexp.MustCompile(`^template: t:(\d+): `)

// templateErrorText turns text/template's parse error into words for a playbook author: no
// internal template name, and a hint for the usual mistakes.
func templateErrorText(err error) string {
	msg := err.Error()
	line := ""
	if m := templateLineRe.FindStringSubmatch(msg); m != nil {
		msg = msg[len(m[0]):]
		if m[1] != "1" {
			line = " (line " + m[1] + " of the template)"
		}
	}
	msg = regexp.MustCompile(` started at t:\d+`).ReplaceAllString(msg, "")
	switch {
	case strings.Contains(msg, `unexpected "=" in operand`), strings.Contains(msg, `unexpected "!" in operand`):
		msg += ": templates compare with functions, not operators: {{ eq .inputs.a \"x\" }} for ==, {{ ne .inputs.a \"x\" }} for !="
	case strings.Contains(msg, "unclosed action"):
		msg += ": a {{ without its }}"
	case strings.Contains(msg, "not defined") && strings.HasPrefix(msg, "function"):
		names := make([]string, 0)
		for name := range Funcs() {
			names = append(names, name)
		}
		sort.Strings(names)
		msg += " (available: " + strings.Join(names, ", ") + ", and text/template's own: eq, ne, lt, le, gt, ge, and, or, not, len, index, printf)"
	}
	return msg + line
}

var runFields = map[string]bool{"id": true, "dry_run": true, "mode": true, "started": true, "playbook": true}

func (l *loader) checkRef(idents []string, at *yaml.Node) {
	ref := "." + strings.Join(idents, ".")
	switch idents[0] {
	case "inputs":
		if len(idents) < 2 {
			return
		}
		if _, ok := l.inputs[idents[1]]; !ok {
			l.c.add(at.Line, at.Column, "%s: no input named %q is declared%s", ref, idents[1], didYouMean(idents[1], slices.Collect(maps.Keys(l.inputs))))
		}
	case "steps":
		if len(idents) < 2 {
			return
		}
		id := idents[1]
		prev, ok := l.seen[id]
		if id == l.current {
			l.c.add(at.Line, at.Column, "%s: a step cannot read its own outputs; only steps before it", ref)
			return
		}
		if !ok {
			if line, later := l.all[id]; later {
				l.c.add(at.Line, at.Column, "%s: step %q runs later (line %d); a step can only read earlier steps", ref, id, line)
			} else {
				l.c.add(at.Line, at.Column, "%s: no step with id %q%s", ref, id, didYouMean(id, slices.Collect(maps.Keys(l.seen))))
			}
			return
		}
		if len(idents) < 3 {
			return
		}
		switch idents[2] {
		case "status":
		case "outputs":
			if len(idents) < 4 || prev.Kind.New == nil {
				return
			}
			names := prev.Kind.OutputNames()
			if slices.Contains(names, idents[3]) {
				return
			}
			l.c.add(at.Line, at.Column, "%s: step %q (%s) has no output %q (it has: %s)", ref, id, prev.Uses, idents[3], strings.Join(names, ", "))
		default:
			l.c.add(at.Line, at.Column, "%s: a step has outputs and status, not %q", ref, idents[2])
		}
	case "run":
		if len(idents) >= 2 && !runFields[idents[1]] {
			l.c.add(at.Line, at.Column, "%s: the run has no field %q", ref, idents[1])
		}
	default:
		l.c.add(at.Line, at.Column, "%s: templates read .inputs, .steps and .run, not .%s", ref, idents[0])
	}
}

// walkParse calls fn with the identifiers of every field chain read from the root data. Inside
// range/with the dot moves, so chains there are not checked.
func walkParse(n parse.Node, moved bool, fn func([]string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkParse(c, moved, fn)
		}
	case *parse.ActionNode:
		walkParse(n.Pipe, moved, fn)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkParse(c, moved, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkParse(a, moved, fn)
		}
	case *parse.FieldNode:
		if !moved {
			fn(n.Ident)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			fn(n.Ident[1:])
		}
	case *parse.ChainNode:
		walkParse(n.Node, moved, fn)
	case *parse.IfNode:
		walkParse(n.Pipe, moved, fn)
		walkParse(n.List, moved, fn)
		walkParse(n.ElseList, moved, fn)
	case *parse.RangeNode:
		walkParse(n.Pipe, moved, fn)
		walkParse(n.List, true, fn)
		walkParse(n.ElseList, moved, fn)
	case *parse.WithNode:
		walkParse(n.Pipe, moved, fn)
		walkParse(n.List, true, fn)
		walkParse(n.ElseList, moved, fn)
	}
}

// Data is what templates see.
type Data struct {
	Inputs map[string]any
	Steps  map[string]StepData
	Run    RunData
}

// StepData is an earlier step as templates see it.
type StepData struct {
	Status  string
	Outputs map[string]any
}

// RunData describes the run to templates.
type RunData struct {
	ID       string
	Playbook string
	Mode     string
	DryRun   bool
	Started  time.Time
}

func (d Data) tree() map[string]any {
	stepsMap := map[string]any{}
	for id, s := range d.Steps {
		out := s.Outputs
		if out == nil {
			out = map[string]any{}
		}
		stepsMap[id] = map[string]any{"status": s.Status, "outputs": out}
	}
	return map[string]any{
		"inputs": d.Inputs,
		"steps":  stepsMap,
		"run": map[string]any{"id": d.Run.ID, "playbook": d.Run.Playbook, "mode": d.Run.Mode,
			"dry_run": d.Run.DryRun, "started": d.Run.Started},
	}
}

// Render executes one template at a position of file.
func Render(file string, line, col int, text string, d Data) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	name := fmt.Sprintf("%s:%d:%d", file, line, col)
	t, err := parseTemplate(name, text)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, d.tree()); err != nil {
		return "", fmt.Errorf("%s: %w", name, cleanExecError(err))
	}
	return b.String(), nil
}

func cleanExecError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "executing "); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			msg = msg[i+j+2:]
		}
	}
	if strings.Contains(msg, "map has no entry for key") {
		msg += " (an earlier step was skipped or produced no such output)"
	}
	return fmt.Errorf("%s", msg)
}

// EvalIf renders a step's `if` and requires true or false.
func EvalIf(file string, s *Step, d Data) (bool, error) {
	out, err := Render(file, s.IfLine, s.IfCol, s.If, d)
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(out) {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, fmt.Errorf("%s:%d:%d: if must render true or false, got %q", file, s.IfLine, s.IfCol, strings.TrimSpace(out))
}

// Bind renders the step's `with:` against d and decodes it into dst (a step value). When
// onlyInputs is true, values whose templates read earlier steps are left out (preflight runs
// before any step has outputs).
func Bind(file string, s *Step, d Data, dst any, onlyInputs bool) error {
	if s.With == nil {
		return nil
	}
	t := reflect.TypeOf(dst).Elem()
	n, err := renderNode(file, s.With, t, d, onlyInputs)
	if err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil {
		return fmt.Errorf("%s:%d:%d: with: %v", file, s.With.Line, s.With.Column, err)
	}
	return nil
}

// renderNode renders the templates in n, typed by t (the parameter's Go type, nil when
// unknown): a string stays a string, a list or mapping may come whole from one template. With
// onlyInputs, a template that needs step outputs drops its node (it is bound later).
func renderNode(file string, n *yaml.Node, t reflect.Type, d Data, onlyInputs bool) (*yaml.Node, error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return renderScalar(file, n, t, d, onlyInputs)
	case yaml.MappingNode:
		return renderMapping(file, n, t, d, onlyInputs)
	case yaml.SequenceNode:
		cp := *n
		cp.Content = nil
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = t.Elem()
		}
		for _, e := range n.Content {
			v, err := renderNode(file, e, et, d, onlyInputs)
			if err != nil {
				return nil, err
			}
			if v != nil {
				cp.Content = append(cp.Content, v)
			}
		}
		return &cp, nil
	}
	return n, nil
}

func renderScalar(file string, n *yaml.Node, t reflect.Type, d Data, onlyInputs bool) (*yaml.Node, error) {
	if !strings.Contains(n.Value, "{{") {
		return n, nil
	}
	if onlyInputs && strings.Contains(n.Value, ".steps") {
		return nil, nil
	}
	out, err := Render(file, n.Line, n.Column, n.Value, d)
	if err != nil {
		return nil, err
	}
	cp := &yaml.Node{Kind: yaml.ScalarNode, Value: out, Line: n.Line, Column: n.Column}
	if t == nil {
		return cp, nil
	}
	switch t.Kind() {
	case reflect.String:
		cp.Tag = "!!str"
	case reflect.Slice, reflect.Map, reflect.Struct, reflect.Interface:
		// A whole list or mapping from a template (e.g. {{ json .steps.x.outputs.repos }}).
		trimmed := strings.TrimSpace(out)
		if trimmed == "" && t.Kind() != reflect.Interface {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}, nil
		}
		if strings.HasPrefix(trimmed, "[") || strings.HasPrefix(trimmed, "{") {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(trimmed), &doc); err == nil && len(doc.Content) == 1 {
				return doc.Content[0], nil
			}
		}
		if t.Kind() == reflect.Interface {
			cp.Tag = "!!str"
		}
	}
	return cp, nil
}

func renderMapping(file string, n *yaml.Node, t reflect.Type, d Data, onlyInputs bool) (*yaml.Node, error) {
	cp := *n
	cp.Content = nil
	fields := map[string]reflect.StructField{}
	if t != nil && t.Kind() == reflect.Struct {
		fields = yamlFields(t)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var et reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				if f, ok := fields[n.Content[i].Value]; ok {
					et = f.Type
				}
			case reflect.Map:
				et = t.Elem()
			}
		}
		v, err := renderNode(file, n.Content[i+1], et, d, onlyInputs)
		if err != nil {
			return nil, err
		}
		if v != nil {
			cp.Content = append(cp.Content, n.Content[i], v)
		}
	}
	return &cp, nil
}
