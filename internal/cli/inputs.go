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
	declared := map[string]*playbook.Input{}
	for _, in := range pb.Inputs {
		declared[in.Name] = in
	}
	raw := map[string]any{}
	from := map[string]string{}

	for _, file := range src.files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usageErr("--input-file: %v", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, usageErr("--input-file %s: not a YAML mapping of input names to values: %v", file, err)
		}
		for k, v := range m {
			if _, ok := declared[k]; !ok {
				return nil, usageErr("--input-file %s: playbook %s has no input %q (it has: %s)", file, pb.Name, k, inputNames(pb))
			}
			raw[k], from[k] = v, "file"
		}
	}
	stdinUsed := false
	for _, a := range src.args {
		name, val, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, usageErr("--input %q: write NAME=VALUE, NAME=@FILE or NAME=- (stdin)", redact.Mask(a))
		}
		in, known := declared[name]
		if !known {
			return nil, usageErr("--input %s: playbook %s has no input %q (it has: %s)", name, pb.Name, name, inputNames(pb))
		}
		switch {
		case val == "-" && in.Secret && src.prompt != nil:
			v, err := src.readPrompted(in)
			if err != nil {
				return nil, err
			}
			raw[name], from[name] = v, "terminal"
		case val == "-":
			if stdinUsed {
				return nil, usageErr("--input %s=-: only one input can come from stdin", name)
			}
			stdinUsed = true
			b, err := io.ReadAll(src.stdin)
			if err != nil {
				return nil, usageErr("--input %s=-: read stdin: %v", name, err)
			}
			raw[name], from[name] = strings.TrimRight(string(b), "\r\n"), "stdin"
		case strings.HasPrefix(val, "@"):
			b, err := os.ReadFile(val[1:])
			if err != nil {
				return nil, usageErr("--input %s=@…: %v", name, err)
			}
			raw[name], from[name] = strings.TrimRight(string(b), "\r\n"), "file"
			// Only a regular file that held a value is worth deleting (never /dev/stdin or a pipe).
			if fi, err := os.Stat(val[1:]); in.Secret && src.remind != nil && err == nil && fi.Mode().IsRegular() && strings.TrimSpace(string(b)) != "" {
				src.remind("%s holds the secret input %s: delete it when the response is over (shred -u %s)", val[1:], name, val[1:])
			}
		default:
			if in.Secret && !openai.IsKeyID(val) && !claimsRef(val) { // a key's ID, or where the key lives, is not a secret
				secrets.Add(val)
				return nil, usageErr("input %q is secret and was given on the command line, where every user "+
					"of this machine can read it (ps, shell history). Pass it as %s=@FILE, %s=- (stdin), "+
					"in --input-file, or in the environment as RESPOND_INPUT_%s. If it is a live key, treat "+
					"it as exposed on this machine too.", name, name, name, strings.ToUpper(name))
			}
			raw[name], from[name] = val, "arg"
		}
	}
	for _, in := range pb.Inputs {
		if _, ok := raw[in.Name]; ok {
			continue
		}
		if v := src.getenv("RESPOND_INPUT_" + strings.ToUpper(in.Name)); v != "" {
			raw[in.Name], from[in.Name] = v, "env"
		} else if in.Secret && in.Required && src.prompt != nil {
			v, err := src.readPrompted(in)
			if err != nil {
				return nil, err
			}
			raw[in.Name], from[in.Name] = v, "terminal"
		}
	}

	out, missing, err := pb.Bind(raw, func(name string) string { return from[name] })
	if err != nil {
		return nil, usageErr("%v", err)
	}
	for _, in := range pb.Inputs {
		if _, given := raw[in.Name]; !given || !in.Secret {
			continue
		}
		if v, ok := out[in.Name].(string); ok {
			if !cleanSecret(in, v, out, src, secrets) {
				missing = append(missing, in.Name)
			}
		}
	}
	slices.SortStableFunc(missing, func(a, b string) int {
		return slices.IndexFunc(pb.Inputs, func(in *playbook.Input) bool { return in.Name == a }) -
			slices.IndexFunc(pb.Inputs, func(in *playbook.Input) bool { return in.Name == b })
	})
	if len(missing) > 0 {
		var lines []string
		for _, m := range missing {
			in := declared[m]
			hint := fmt.Sprintf("--input %s=VALUE", m)
			if in.Secret {
				hint = fmt.Sprintf("--input %s=@FILE, --input %s=- or RESPOND_INPUT_%s", m, m, strings.ToUpper(m))
			}
			lines = append(lines, fmt.Sprintf("  %s: %s (%s)", m, in.Description, hint))
		}
		return nil, usageErr("missing required %s:\n%s", pluralWord(len(missing), "input"), strings.Join(lines, "\n"))
	}
	return out, nil
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
