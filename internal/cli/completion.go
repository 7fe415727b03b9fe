package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Shell completion asks the binary itself for candidates (urfave/cli's hidden
// --generate-bash-completion), so the scripts never go stale when commands or flags change. The
// bash and zsh scripts follow the ones urfave/cli ships in its autocomplete/ folder, which its Go
// package does not embed; fish's comes from the library.
const bashCompletion = `# respond completion for bash: source <(respond completion bash)
_respond_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:$COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
}
complete -o bashdefault -o default -F _respond_complete respond
`

const zshCompletion = `#compdef respond
# respond completion for zsh: respond completion zsh > "${fpath[1]}/_respond"
_respond() {
  local -a opts
  local current=${words[CURRENT]}
  if [[ "$current" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} $current --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [ "$funcstack[1]" = "_respond" ]; then
  _respond "$@"
else
  compdef _respond respond
fi
`

func newCompletionCmd(f *Factory) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash:  source <(respond completion bash)   (or save it under /etc/bash_completion.d/)\n" +
			"zsh:   respond completion zsh > \"${fpath[1]}/_respond\"\n" +
			"fish:  respond completion fish > ~/.config/fish/completions/respond.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("completion takes one shell: bash, zsh or fish")
			}
			switch shell := c.Args().First(); shell {
			case "bash":
				fmt.Fprint(f.IO.Out, bashCompletion)
			case "zsh":
				fmt.Fprint(f.IO.Out, zshCompletion)
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("generate fish completion: %w", err)
				}
				fmt.Fprint(f.IO.Out, script)
			default:
				return usageErr("completion: unknown shell %q (bash, zsh or fish)", shell)
			}
			return nil
		},
	}
}
