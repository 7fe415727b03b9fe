package catalog

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// A reader tells a step kind from a helper by its directory alone: a kind lives in
// steps/<area>/<kind name without its dash> (openai.revoke-key in steps/openai/revokekey), a
// helper shared by an area's kinds ends in "kit", a test fixture in "test".
func TestStepPackagesAreNamedAfterTheirKind(t *testing.T) {
	want := map[string]string{} // directory → kind
	for _, k := range Kinds {
		area, name, ok := strings.Cut(k.Name, ".")
		dir := area
		if ok {
			dir = filepath.Join(area, strings.ReplaceAll(name, "-", ""))
		}
		want[dir] = k.Name
	}
	root := ".."
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if !hasGo(path) {
			return nil
		}
		base := filepath.Base(rel)
		switch {
		case rel == "catalog":
		case strings.HasSuffix(base, "kit"), strings.HasSuffix(base, "test"):
			if _, isKind := want[rel]; isKind {
				t.Errorf("steps/%s is a kind but is named like a helper", rel)
			}
		case want[rel] != "":
			seen[rel] = true
		default:
			t.Errorf("steps/%s is neither a step kind's package (steps/<area>/<kind without dashes>) nor a helper (…kit) or fixture (…test)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, kind := range want {
		if !seen[dir] {
			t.Errorf("kind %s has no package steps/%s", kind, dir)
		}
	}
}

func hasGo(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}
