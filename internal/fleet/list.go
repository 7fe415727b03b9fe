// Package fleet owns scanning many repositories for a leaked value: reading a list of them or an
// organization's listing, mirroring clone URLs into a cache, scanning with bounded concurrency,
// recording each finished repository in a progress file so that an interrupted fleet resumes
// where it stopped, and combining the results into one report.
package fleet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/respond-sec/respond/integrations/github"
)

// Target is one repository of a fleet: a local repository scanned in place (Path), or a clone
// URL mirrored into the cache and scanned there (URL).
type Target struct {
	Name string `json:"name"` // how reports call it: the line as listed, or owner/name
	Path string `json:"path,omitempty"`
	URL  string `json:"url,omitempty"`
}

// IsURL reports whether a repository given by a person is a clone URL rather than a path.
func IsURL(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@")
}

// NewTarget makes a target of a path or URL as a person wrote it; relative paths are taken from
// dir.
func NewTarget(s, dir string) (Target, error) {
	if !IsURL(s) {
		p := s
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		return Target{Name: s, Path: p}, nil
	}
	if strings.HasPrefix(s, "git@") {
		return Target{Name: s, URL: s}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("not a clone URL: %v", err)
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git", "file":
	default:
		return Target{}, fmt.Errorf("clone URL scheme %q: want https, ssh, git or file", u.Scheme)
	}
	if u.User != nil {
		// Whatever is in the URL ends up in the mirror's config and in messages.
		return Target{}, fmt.Errorf("%s carries credentials: remove them and set GITHUB_TOKEN", redactURL(s))
	}
	return Target{Name: s, URL: s}, nil
}

// ReadList reads a list file: one local path or clone URL per line; blank lines and lines
// starting with # are ignored, as is anything after " #". Relative paths are relative to the
// file. An error names the file and line.
func ReadList(path string) ([]Target, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read repository list: %w", err)
	}
	defer f.Close()
	return ParseList(path, filepath.Dir(path), f)
}

// ParseList is ReadList on an open file; name is used in errors, dir resolves relative paths.
func ParseList(name, dir string, r io.Reader) ([]Target, error) {
	var out []Target
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%s:%d: one path or clone URL per line, got %q", name, n, line)
		}
		t, err := NewTarget(line, dir)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		key := t.URL + "\x00" + t.Path
		if prev, ok := seen[key]; ok {
			return nil, fmt.Errorf("%s:%d: %s is listed already on line %d", name, n, t.Name, prev)
		}
		seen[key] = n
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no repositories listed", name)
	}
	return out, nil
}

// Lister lists an organization's repositories (github.Client does).
type Lister interface {
	OrgRepos(ctx context.Context, org string) ([]github.OrgRepo, error)
}

var _ Lister = (*github.Client)(nil)

// OrgFilter says which of an organization's repositories to leave out. By default none is:
// an archived repository or a fork still serves its history, and may hold the value.
type OrgFilter struct {
	SkipArchived bool
	SkipForks    bool
}

// OrgTargets lists the organization's repositories as targets named owner/name, and the names
// the filter left out.
func OrgTargets(ctx context.Context, l Lister, org string, f OrgFilter) (targets []Target, skipped []string, err error) {
	repos, err := l.OrgRepos(ctx, org)
	if err != nil {
		return nil, nil, fmt.Errorf("list the repositories of %s: %w", org, err)
	}
	for _, r := range repos {
		if (f.SkipArchived && r.Archived) || (f.SkipForks && r.Fork) {
			skipped = append(skipped, r.FullName)
			continue
		}
		if r.CloneURL == "" {
			return nil, nil, fmt.Errorf("list the repositories of %s: %s has no clone URL", org, r.FullName)
		}
		targets = append(targets, Target{Name: r.FullName, URL: r.CloneURL})
	}
	return targets, skipped, nil
}

// redactURL drops userinfo from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return strings.Replace(u.String(), "://", "://***@", 1)
}
