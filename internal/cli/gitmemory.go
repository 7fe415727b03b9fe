package cli

import (
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/internal/journal"
)

// gitCacheFlag bounds what a history scan or purge keeps in memory.
var gitCacheFlag = &cli.StringFlag{Name: "git-cache", Usage: "`SIZE` of memory for what grows with the history (trees, commits, " +
	"indexes, a purge's maps), e.g. 256MiB (default 64MiB for a scan, 16MiB for a purge); the rest goes to temporary files under the state dir"}

// gitMemory reads --git-cache, else RESPOND_GIT_CACHE, and puts spill files in the state dir's
// tmp/ when the state dir exists (a read-only scan does not create it: the system's temporary
// directory serves then).
func gitMemory(f *Factory, c *cli.Context) (gitrepo.Memory, error) {
	var m gitrepo.Memory
	v, name := c.String("git-cache"), "--git-cache"
	if v == "" {
		v, name = f.Getenv(gitrepo.CacheEnv), gitrepo.CacheEnv
	}
	if v != "" {
		n, err := gitrepo.ParseSize(v)
		if err != nil {
			return m, usageErr("%s: %v", name, err)
		}
		m.CacheBytes = n
	}
	if dir, err := journal.DefaultDir(f.Getenv); err == nil {
		if _, err := os.Stat(dir); err == nil {
			tmp := filepath.Join(dir, "tmp")
			if os.MkdirAll(tmp, 0o700) == nil {
				m.TempDir = tmp
			}
		}
	}
	return m, nil
}
