//go:build !unix

package gitrepo

import (
	"os"

	"github.com/go-git/go-git/v5/plumbing/format/index"
)

func statIDs(os.FileInfo, *index.Entry) {}

// processAlive reports whether process pid exists; where that cannot be checked cheaply, a
// process that can be opened counts as alive.
func processAlive(pid int) bool {
	_, err := os.FindProcess(pid)
	return err == nil
}
