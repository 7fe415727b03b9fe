package gitrepo

import (
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// go-git's default "file" transport runs the git-upload-pack / git-receive-pack binaries. This
// package must work without git installed, so local-path remotes (clone from a path, push to a
// bare rehearsal remote) are served in process by go-git's own server instead. It is installed
// in init, before any goroutine can be reading go-git's protocol table.
//
// go-git's in-process receive-pack has no "atomic" capability and does not compare a command's
// old value with the ref before updating it; Push therefore checks every lease itself against the
// advertisement of the same session (RequireRemoteRefs) before anything is sent.
func init() {
	client.InstallProtocol("file", server.NewClient(server.DefaultLoader))
}
