//go:build unix

package gitrepo

import (
	"os"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// statIDs fills the index fields git compares to decide that a file is unchanged without
// reading it.
func statIDs(st os.FileInfo, e *index.Entry) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		e.Dev, e.Inode, e.UID, e.GID = uint32(s.Dev), uint32(s.Ino), s.Uid, s.Gid
	}
}

// processAlive reports whether process pid exists (signal 0 checks without sending).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
