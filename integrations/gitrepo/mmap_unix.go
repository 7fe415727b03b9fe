//go:build unix

package gitrepo

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a pack read-only: packs are immutable once written, and mapping lets every worker
// read any entry without a file descriptor or a seek of its own.
func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return nil, func() error { return nil }, nil
	}
	if int64(int(fi.Size())) != fi.Size() {
		return nil, nil, fmt.Errorf("map %s: file too large", path)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some filesystems refuse mappings; reading the file is slower but equivalent.
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		return data, func() error { return nil }, nil
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
