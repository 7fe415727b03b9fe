package catalog

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Code outside steps/ and playbooks/ asks a kind what it does (steps.Traits, its outputs'
// abilities, catalog.Revokes), never compares its name: a kind renamed or added must not need a
// change anywhere else. Tests may name kinds; they build playbooks.
func TestNoCodeOutsideStepsNamesAKind(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "steps" || rel == "playbooks" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, hit := range kindLiterals(path, src) {
			t.Errorf("%s names step kind %s: ask the kind (steps.Traits) instead", hit.at, hit.kind)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKindLiterals(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"interpreted", `package x; var a = "openai.revoke-key"`, []string{"openai.revoke-key"}},
		{"raw", "package x; var a = `exec`", []string{"exec"}},
		{"comment and prose", `package x // openai.revoke-key
var a = "exec step(s) would run"`, nil},
		{"not a kind", `package x; var a = "openai.revoke"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, h := range kindLiterals("x.go", []byte(tt.src)) {
				got = append(got, h.kind)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
		})
	}
}

type kindHit struct{ at, kind string }

// kindLiterals lists the string literals in src that are exactly a catalog kind's name.
func kindLiterals(file string, src []byte) []kindHit {
	names := Names()
	fset := token.NewFileSet()
	var s scanner.Scanner
	s.Init(fset.AddFile(file, -1, len(src)), src, nil, 0)
	var hits []kindHit
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return hits
		}
		if tok != token.STRING {
			continue
		}
		if v, err := strconv.Unquote(lit); err == nil && slices.Contains(names, v) {
			hits = append(hits, kindHit{at: fset.Position(pos).String(), kind: v})
		}
	}
}
