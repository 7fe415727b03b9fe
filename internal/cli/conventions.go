package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is the hidden flag urfave/cli appends for shell completion; it must stay last.
const completionFlag = "--generate-bash-completion"

// interspersed moves each command's flags in front of its positional arguments, so
// `respond rehearse openai-key-leak --seed 7` means what it says. urfave/cli v2 stops parsing flags at
// the first positional argument and would silently ignore --seed (Go flag semantics); kubectl, gh and git
// all accept flags on either side. Tokens after "--" stay positional, and an unknown flag is left for
// urfave/cli to refuse with its own message.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	rest := args[1:]
	var tail []string
	if rest[len(rest)-1] == completionFlag {
		rest, tail = rest[:len(rest)-1], []string{completionFlag}
	}
	out := []string{args[0]}
	flags, commands := app.Flags, app.Commands
	leaf := len(commands) == 0
	// Flags stay at the level of the command path they stand at; below the last command, every
	// flag (with its value) goes first and the positional arguments follow in their order.
	var positional []string
	for len(rest) > 0 {
		tok := rest[0]
		switch {
		case tok == "--":
			positional = append(positional, rest...)
			rest = nil
		case isFlagToken(tok):
			n := flagSpan(flags, rest)
			out, rest = append(out, rest[:n]...), rest[n:]
		case leaf:
			positional, rest = append(positional, tok), rest[1:]
		default:
			cmd := findCommand(commands, tok)
			if cmd == nil {
				// Not a command of this level: leave the rest as typed, for unknownCommand to refuse.
				return append(append(out, rest...), tail...)
			}
			out, rest = append(out, tok), rest[1:]
			flags, commands = cmd.Flags, cmd.Subcommands
			leaf = len(commands) == 0
		}
	}
	if i := indexOf(positional, "--"); i > 0 {
		// Everything after "--" is positional even when it looks like a flag; with the flags moved
		// in front, the terminator must stand before every positional argument to keep that meaning.
		positional = append([]string{"--"}, append(positional[:i:i], positional[i+1:]...)...)
	}
	out = append(out, positional...)
	return append(out, tail...)
}

func isFlagToken(s string) bool { return len(s) > 1 && s[0] == '-' }

func indexOf(ss []string, v string) int {
	for i, s := range ss {
		if s == v {
			return i
		}
	}
	return -1
}

// flagSpan is how many tokens the flag at rest[0] occupies: 2 when it takes a value given as the
// next token, else 1.
func flagSpan(flags []cli.Flag, rest []string) int {
	name := strings.TrimLeft(rest[0], "-")
	if strings.Contains(name, "=") || len(rest) < 2 {
		return 1
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if dg, ok := f.(cli.DocGenerationFlag); ok && dg.TakesValue() {
				return 2
			}
			return 1
		}
	}
	return 1
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// unknownCommand is the Action of the app and of every command that only groups subcommands: with
// no argument it shows help, with one it refuses it with a did-you-mean (urfave/cli's default answers
// "No help topic" with exit status 3, which respond reserves for a denied approval).
func unknownCommand(c *cli.Context) error {
	sub := !isRoot(c)
	if c.NArg() == 0 {
		if sub {
			return cli.ShowSubcommandHelp(c)
		}
		return cli.ShowAppHelp(c)
	}
	name := c.Args().First()
	cmds := c.App.Commands
	where := commandPath(c)
	if sub {
		cmds = c.Command.Subcommands
	}
	hint := ""
	if cli.SuggestCommand != nil {
		if s := cli.SuggestCommand(visible(cmds), name); s != "" {
			hint = " " + s
		}
	}
	return usageErr("unknown command %q for %s.%s (see `%s --help`)", name, where, hint, where)
}

func visible(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

// isRoot tells the app's own context from a command's: urfave/cli v2 gives the root a command named
// after the app.
func isRoot(c *cli.Context) bool {
	return c.Command == nil || c.Command.Name == "" || c.Command.Name == c.App.Name
}

// commandPath is how a person types the command of c, e.g. "respond runs show".
func commandPath(c *cli.Context) string {
	var names []string
	for _, l := range c.Lineage() {
		if l.Command != nil && !isRoot(l) {
			names = append([]string{l.Command.Name}, names...)
		}
	}
	return strings.Join(append([]string{"respond"}, names...), " ")
}

var undefinedFlag = regexp.MustCompile(`flag provided but not defined: -+(\S+)`)

// flagHint adds a did-you-mean to urfave/cli's "flag provided but not defined".
func flagHint(c *cli.Context, err error) string {
	m := undefinedFlag.FindStringSubmatch(err.Error())
	if m == nil || cli.SuggestFlag == nil {
		return ""
	}
	flags := c.App.Flags
	if !isRoot(c) {
		flags = c.Command.Flags
	}
	if s := cli.SuggestFlag(flags, m[1], true); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}
