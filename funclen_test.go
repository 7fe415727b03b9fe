package respond_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxFuncLines is the length past which a function should be split: past it a reader can no
// longer hold the whole function in view. maxLongFuncs is how many may still exceed it (outside
// the simulators, whose handlers mirror long published payloads, and outside tests).
const (
	maxFuncLines = 80
	maxLongFuncs = 5
)

func TestFewLongFunctions(t *testing.T) {
	long, err := longFunctions(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(long) <= maxLongFuncs {
		t.Logf("%d functions exceed %d lines:\n  %s", len(long), maxFuncLines, strings.Join(long, "\n  "))
		return
	}
	t.Errorf("%d functions exceed %d lines (at most %d may); split the longest:\n  %s",
		len(long), maxFuncLines, maxLongFuncs, strings.Join(long, "\n  "))
}

// longFunctions lists "path:line name (N lines)" for every non-test function outside the
// simulators longer than maxFuncLines, longest first.
func longFunctions(root string) ([]string, error) {
	type fn struct {
		where string
		lines int
	}
	var found []fn
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || strings.HasSuffix(name, "sim")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		// A function literal counts as part of the declaration it sits in.
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			start, end := fset.Position(fd.Body.Lbrace), fset.Position(fd.Body.Rbrace)
			if lines := end.Line - start.Line - 1; lines > maxFuncLines {
				found = append(found, fn{fmt.Sprintf("%s:%d %s (%d lines)", path, start.Line, fd.Name.Name, lines), lines})
			}
		}
		return nil
	})
	sort.Slice(found, func(i, j int) bool { return found[i].lines > found[j].lines })
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.where
	}
	return out, err
}
