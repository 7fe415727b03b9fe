package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/internal/redact"
	"github.com/respond-sec/respond/internal/secretref"
)

// inputSources are the places inputs come from, highest precedence first: --input, then
// --input-file, then RESPOND_INPUT_<NAME>, then the playbook's default.
type inputSources struct {
	args   []string // k=v, k=@file, k=-
	files  []string
	getenv func(string) string
	stdin  io.Reader
	// prompt reads a secret typed on a terminal without echo; nil when there is no terminal.
	prompt func() (string, error)
	// note tells the person something about their input (stderr); remind queues a line for the end.
	note   func(format string, args ...any)
	remind func(format string, args ...any)
}

// inputSources builds the input sources of a command from its flags and the Factory.
func (f *Factory) inputSources(args, files []string) inputSources {
	return inputSources{args: args, files: files, getenv: f.Getenv, stdin: f.IO.In, prompt: f.secretReader(),
		note: func(format string, a ...any) { fmt.Fprintf(f.IO.Err, format+"\n", a...) }, remind: f.remind}
}

func (src inputSources) notef(format string, args ...any) {
	if src.note != nil {
		src.note(format, args...)
	}
}

// readPrompted asks for a secret on the terminal: no echo, Enter submits.
func (src inputSources) readPrompted(in *playbook.Input) (string, error) {
	src.notef("%s (%s) — paste it and press Enter; it is not shown:", in.Name, in.Description)
	v, err := src.prompt()
	if err != nil {
		return "", usageErr("read %s from the terminal: %v", in.Name, err)
	}
	return v, nil
}

// resolveInputs returns every input's value, registering secret ones for redaction. It refuses a
// secret passed as a plain argument (argv is visible to every user through ps) and names every
// missing required input.
func resolveInputs(pb *playbook.Playbook, src inputSources, secrets *redact.Set) (map[string]any, error) {
	g := gathered{pb: pb, src: src, declared: map[string]*playbook.Input{}, raw: map[string]any{}, from: map[string]string{}}
	for _, in := range pb.Inputs {
		g.declared[in.Name] = in
	}
	if err := g.files(); err != nil {
		return nil, err
	}
	if err := g.args(secrets); err != nil {
		return nil, err
	}
	if err := g.envAndPrompt(); err != nil {
		return nil, err
	}

	out, missing, err := pb.Bind(g.raw, func(name string) string { return g.from[name] })
	if err != nil {
		return nil, usageErr("%v", err)
	}
	for _, in := range pb.Inputs {
		if _, given := g.raw[in.Name]; !given || !in.Secret {
			continue
		}
		if v, ok := out[in.Name].(string); ok {
			if !cleanSecret(in, v, out, src, secrets) {
				missing = append(missing, in.Name)
			}
		}
	}
	if len(missing) > 0 {
		return nil, g.missingError(missing)
	}
	return out, nil
}

// gathered are the raw input values found so far, and where each came from (journaled, so a
// reader knows a value was typed, read from a file or the environment).
type gathered struct {
	pb       *playbook.Playbook
	src      inputSources
	declared map[string]*playbook.Input
	raw      map[string]any
	from     map[string]string
}

// files reads --input-file mappings; a name the playbook does not declare is an error.
func (g *gathered) files() error {
	for _, file := range g.src.files {
		b, err := os.ReadFile(file)
		if err != nil {
			return usageErr("--input-file: %v", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return usageErr("--input-file %s: not a YAML mapping of input names to values: %v", file, err)
		}
		for k, v := range m {
			if _, ok := g.declared[k]; !ok {
				return usageErr("--input-file %s: playbook %s has no input %q (it has: %s)", file, g.pb.Name, k, inputNames(g.pb))
			}
			g.raw[k], g.from[k] = v, "file"
		}
	}
	return nil
}

// args reads --input NAME=VALUE, NAME=@FILE and NAME=- (stdin, or the terminal for a secret).
func (g *gathered) args(secrets *redact.Set) error {
	stdinUsed := false
	for _, a := range g.src.args {
		name, val, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return usageErr("--input %q: write NAME=VALUE, NAME=@FILE or NAME=- (stdin)", redact.Mask(a))
		}
		in, known := g.declared[name]
		if !known {
			return usageErr("--input %s: playbook %s has no input %q (it has: %s)", name, g.pb.Name, name, inputNames(g.pb))
		}
		var err error
		switch {
		case val == "-" && in.Secret && g.src.prompt != nil:
			g.raw[name], err = g.src.readPrompted(in)
			g.from[name] = "terminal"
		case val == "-":
			if stdinUsed {
				return usageErr("--input %s=-: only one input can come from stdin", name)
			}
			stdinUsed = true
			g.raw[name], err = g.stdin(name)
			g.from[name] = "stdin"
		case strings.HasPrefix(val, "@"):
			g.raw[name], err = g.file(in, val[1:])
			g.from[name] = "file"
		default:
			if in.Secret && !openai.IsKeyID(val) && !claimsRef(val) { // a key's ID, or where the key lives, is not a secret
				secrets.Add(val)
				return usageErr("input %q is secret and was given on the command line, where every user "+
					"of this machine can read it (ps, shell history). Pass it as %s=@FILE, %s=- (stdin), "+
					"in --input-file, or in the environment as RESPOND_INPUT_%s. If it is a live key, treat "+
					"it as exposed on this machine too.", name, name, name, strings.ToUpper(name))
			}
			g.raw[name], g.from[name] = val, "arg"
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (g *gathered) stdin(name string) (string, error) {
	b, err := io.ReadAll(g.src.stdin)
	if err != nil {
		return "", usageErr("--input %s=-: read stdin: %v", name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// file reads NAME=@PATH; a secret left in a regular file earns a reminder to delete it.
func (g *gathered) file(in *playbook.Input, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageErr("--input %s=@…: %v", in.Name, err)
	}
	// Only a regular file that held a value is worth deleting (never /dev/stdin or a pipe).
	if fi, err := os.Stat(path); in.Secret && g.src.remind != nil && err == nil && fi.Mode().IsRegular() && strings.TrimSpace(string(b)) != "" {
		g.src.remind("%s holds the secret input %s: delete it when the response is over (shred -u %s)", path, in.Name, path)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// envAndPrompt fills what --input and --input-file left from RESPOND_INPUT_<NAME>, then asks on
// the terminal for a required secret.
func (g *gathered) envAndPrompt() error {
	for _, in := range g.pb.Inputs {
		if _, ok := g.raw[in.Name]; ok {
			continue
		}
		if v := g.src.getenv("RESPOND_INPUT_" + strings.ToUpper(in.Name)); v != "" {
			g.raw[in.Name], g.from[in.Name] = v, "env"
		} else if in.Secret && in.Required && g.src.prompt != nil {
			v, err := g.src.readPrompted(in)
			if err != nil {
				return err
			}
			g.raw[in.Name], g.from[in.Name] = v, "terminal"
		}
	}
	return nil
}

// missingError names every missing required input, in the playbook's order, with how to give it.
func (g *gathered) missingError(missing []string) error {
	order := func(name string) int {
		return slices.IndexFunc(g.pb.Inputs, func(in *playbook.Input) bool { return in.Name == name })
	}
	slices.SortStableFunc(missing, func(a, b string) int { return order(a) - order(b) })
	var lines []string
	for _, m := range missing {
		in := g.declared[m]
		hint := fmt.Sprintf("--input %s=VALUE", m)
		if in.Secret {
			hint = fmt.Sprintf("--input %s=@FILE, --input %s=- or RESPOND_INPUT_%s", m, m, strings.ToUpper(m))
		}
		lines = append(lines, fmt.Sprintf("  %s: %s (%s)", m, in.Description, hint))
	}
	return usageErr("missing required %s:\n%s", pluralWord(len(missing), "input"), strings.Join(lines, "\n"))
}

// cleanSecret normalizes a given secret input (a pasted KEY="sk-…" is unwrapped) into out and
// registers it, and the value as given, for redaction. A key's ID is not a secret: it is shown
// and journaled as it is, so the people working the incident can match it with the dashboard and
// the audit log. Nor is a reference to where the key lives: the run resolves it
// (resolveSecretRefs). It reports false when nothing is left of the value.
func cleanSecret(in *playbook.Input, s string, out map[string]any, src inputSources, secrets *redact.Set) bool {
	clean, notes := normalizeSecret(s)
	if clean == "" {
		delete(out, in.Name)
		return false
	}
	if openai.IsKeyID(clean) || claimsRef(clean) {
		out[in.Name] = clean
		return true
	}
	secrets.Add(strings.TrimSpace(s))
	secrets.Add(clean)
	if len(notes) > 0 {
		src.notef("input %s: %s (the pasted value was wrapped)", in.Name, strings.Join(notes, ", "))
	}
	if what := describeForeign(clean); what != "" {
		src.notef("input %s: this looks like %s, not an OpenAI API key; check what was pasted", in.Name, what)
	}
	out[in.Name] = clean
	return true
}

func pluralWord(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

func inputNames(pb *playbook.Playbook) string {
	var names []string
	for _, in := range pb.Inputs {
		names = append(names, in.Name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// claimsRef reports whether v is meant as a secret reference (github-alert:…, an alert's URL),
// well-formed or not: resolveSecretRefs says what is wrong with a malformed one. No secret
// starts like one.
func claimsRef(v string) bool {
	_, err := secretref.Parse(v)
	return !errors.Is(err, secretref.ErrNotRef)
}
