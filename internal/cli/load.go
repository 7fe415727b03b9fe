package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/playbooks"
	"github.com/respond-sec/respond/steps/catalog"
)

// loadPlaybook resolves PLAYBOOK as a file path, then ./playbooks/NAME.yaml, then a built-in
// name, and loads it strictly.
func loadPlaybook(arg string) (*playbook.Playbook, error) {
	file, src, err := readPlaybook(arg)
	if err != nil {
		return nil, err
	}
	return playbook.Load(file, src, catalog.Lookup)
}

func init() { playbook.KindNames = catalog.Names }

func readPlaybook(arg string) (string, []byte, error) {
	if arg == "" {
		return "", nil, usageErr("name a playbook (a file, or one of: %s)", strings.Join(playbooks.Names(), ", "))
	}
	if strings.ContainsAny(arg, "/\\") || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		src, err := os.ReadFile(arg)
		if err != nil {
			return "", nil, usageErr("read playbook: %v", err)
		}
		return arg, src, nil
	}
	local := filepath.Join("playbooks", arg+".yaml")
	if src, err := os.ReadFile(local); err == nil {
		return local, src, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", nil, usageErr("read playbook: %v", err)
	}
	if src, ok := playbooks.Source(arg); ok {
		return "builtin:" + arg + ".yaml", src, nil
	}
	return "", nil, usageErr("no playbook %q: not a file, not in ./playbooks, and not built in (built in: %s)",
		arg, strings.Join(playbooks.Names(), ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
