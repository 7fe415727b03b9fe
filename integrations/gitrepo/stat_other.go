//go:build !unix

package gitrepo

import (
	"os"

	"github.com/go-git/go-git/v5/plumbing/format/index"
)

func statIDs(os.FileInfo, *index.Entry) {}
