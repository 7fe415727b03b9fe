package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// expand turns files, directories and globs into the list of regular files to scan, each once.
// Symlinks to files are followed; symlinks to directories are not (they could loop). Special
// files (FIFOs, devices) are never opened: reading one could block forever.
func expand(paths []string) ([]string, []error) {
	var (
		files []string
		errs  []error
		seen  = map[string]bool{}
	)
	addFile := func(p string) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			files = append(files, p)
		}
	}
	walk := func(root string) {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmt.Errorf("scan logs %s: %w", p, err))
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if regular(p, d) {
				addFile(p)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("scan logs %s: %w", root, err))
		}
	}
	addPath := func(p string, explicit bool) {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("scan logs %s: %w", p, err))
		case fi.IsDir():
			walk(p)
		case fi.Mode().IsRegular():
			addFile(p)
		case explicit:
			errs = append(errs, fmt.Errorf("scan logs %s: not a regular file", p))
		}
	}
	for _, p := range paths {
		if !hasMeta(p) {
			addPath(p, true)
			continue
		}
		matches, err := glob(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("scan logs %s: %w", p, err))
			continue
		}
		if len(matches) == 0 {
			errs = append(errs, fmt.Errorf("scan logs %s: no file matches", p))
			continue
		}
		for _, m := range matches {
			addPath(m, false)
		}
	}
	return files, errs
}

func regular(p string, d fs.DirEntry) bool {
	if d.Type().IsRegular() {
		return true
	}
	if d.Type()&fs.ModeSymlink != 0 {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular()
	}
	return false
}

func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// glob is filepath.Glob plus "**" for any number of directories.
func glob(pattern string) ([]string, error) {
	if !strings.Contains(pattern, "**") {
		return filepath.Glob(pattern)
	}
	sep := string(filepath.Separator)
	segs := strings.Split(filepath.Clean(pattern), sep)
	i := slices.IndexFunc(segs, hasMeta)
	root := strings.Join(segs[:i], sep)
	switch {
	case root == "" && strings.HasPrefix(pattern, sep):
		root = sep
	case root == "":
		root = "."
	}
	rest := segs[i:]
	for _, s := range rest {
		if s != "**" && strings.Contains(s, "**") {
			return nil, fmt.Errorf("%w: ** must be a whole path element", filepath.ErrBadPattern)
		}
		if _, err := filepath.Match(s, ""); err != nil {
			return nil, err
		}
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // unreadable subdirectory: skipped like Glob skips what it cannot read
		}
		if d.IsDir() || !regular(p, d) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		if matchSegs(rest, strings.Split(rel, sep)) {
			out = append(out, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return out, err
}

func matchSegs(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegs(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	if ok, _ := filepath.Match(pat[0], name[0]); !ok {
		return false
	}
	return matchSegs(pat[1:], name[1:])
}
