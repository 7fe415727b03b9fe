package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// FileSink writes the value to a file readable by its owner only. The write is atomic (temporary
// file in the same directory, fsync, rename or link, fsync of the directory), so the path holds
// either nothing, the old content, or the whole new value: never a partial key.
type FileSink struct {
	Path string
	// Overwrite allows replacing an existing file; without it an existing file is an error
	// (ErrExists) and is left untouched.
	Overwrite bool
}

// Check refuses an existing file (unless Overwrite) and a directory that does not exist.
func (f *FileSink) Check(ctx context.Context) error {
	if !f.Overwrite {
		if _, err := os.Lstat(f.Path); err == nil {
			return fmt.Errorf("deliver to %s: %w (set overwrite to replace it)", f.Describe(), ErrExists)
		}
	}
	if st, err := os.Stat(filepath.Dir(f.Path)); err != nil || !st.IsDir() {
		return fmt.Errorf("deliver to %s: directory %s does not exist", f.Describe(), filepath.Dir(f.Path))
	}
	return nil
}

// Deliver writes value to Path.
func (f *FileSink) Deliver(ctx context.Context, value []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deliver to %s: %w", f.Describe(), err)
	}
	if !f.Overwrite {
		if _, err := os.Lstat(f.Path); err == nil {
			return fmt.Errorf("deliver to %s: %w (set overwrite to replace it)", f.Describe(), ErrExists)
		}
	}
	if err := f.write(value); err != nil {
		return fmt.Errorf("deliver to %s: %w", f.Describe(), err)
	}
	return nil
}

func (f *FileSink) write(value []byte) (err error) {
	dir, base := filepath.Split(f.Path)
	if dir == "" {
		dir = "."
	}
	// CreateTemp makes the file 0600 from the start: the value is never readable by others,
	// not even for a moment.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(value); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if f.Overwrite {
		if err = os.Rename(tmpName, f.Path); err != nil {
			return err
		}
	} else {
		// A hard link fails if the path appeared since the check: no window in which an
		// existing file could be replaced.
		err = os.Link(tmpName, f.Path)
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w (set overwrite to replace it)", ErrExists)
			return err
		}
		if err != nil && linkUnsupported(err) {
			if _, statErr := os.Lstat(f.Path); statErr == nil {
				err = fmt.Errorf("%w (set overwrite to replace it)", ErrExists)
				return err
			}
			err = os.Rename(tmpName, f.Path)
		}
		if err != nil {
			return err
		}
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			return rmErr
		}
	}
	return syncDir(dir)
}

// linkUnsupported: file systems without hard links (some network and FUSE mounts).
func linkUnsupported(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.ENOSYS)
}

// syncDir makes the rename durable. Directories cannot be synced on Windows.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// Describe names the file.
func (f *FileSink) Describe() string { return "file " + f.Path + " (mode 0600)" }

// Exists reports whether the file exists.
func (f *FileSink) Exists(context.Context) (bool, error) {
	_, err := os.Lstat(f.Path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("check %s: %w", f.Describe(), err)
	}
}

// Undo removes the file.
func (f *FileSink) Undo(context.Context) error {
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", f.Describe(), err)
	}
	return nil
}
