// Package respond_test holds repository-wide checks.
package respond_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/respond-sec/respond/"

// rules are the forbidden dependency edges of the layout in docs/ARCHITECTURE.md: integrations stay reusable
// outside respond; the engine knows step kinds only through the steps contract.
var rules = []struct {
	from   func(pkg string) bool
	to     func(dep string) bool
	reason string
}{
	{under("integrations/"), oneOf(under("steps"), under("internal/engine"), under("internal/cli")),
		"integrations never import steps, the engine or the CLI"},
	{under("internal/engine"), oneOf(under("integrations/"), stepKind),
		"the engine never imports integrations or a step kind"},
	{oneOf(under("steps"), under("integrations/")), under("internal/cli"),
		"only cmd/respond imports the CLI"},
}

func under(prefix string) func(string) bool {
	return func(p string) bool {
		rel, ok := strings.CutPrefix(p, module)
		return ok && (rel == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(rel, strings.TrimSuffix(prefix, "/")+"/"))
	}
}

func oneOf(fs ...func(string) bool) func(string) bool {
	return func(p string) bool {
		for _, f := range fs {
			if f(p) {
				return true
			}
		}
		return false
	}
}

// stepKind is any package under steps/ other than the contract itself.
func stepKind(p string) bool {
	rel, ok := strings.CutPrefix(p, module+"steps/")
	return ok && rel != ""
}

func TestDependencyDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		for _, r := range rules {
			if !r.from(pkg) {
				continue
			}
			checked++
			for _, d := range deps {
				if r.to(d) {
					t.Errorf("%s depends on %s: %s", strings.TrimPrefix(pkg, module), strings.TrimPrefix(d, module), r.reason)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package matched any rule: the module path or layout changed")
	}
}

func TestRulesCatchForbiddenEdges(t *testing.T) {
	cases := []struct{ pkg, dep string }{
		{module + "integrations/openai", module + "steps"},
		{module + "integrations/openai/openaisim", module + "internal/engine"},
		{module + "internal/engine", module + "integrations/slack"},
		{module + "internal/engine", module + "steps/exec"},
	}
	for _, c := range cases {
		hit := false
		for _, r := range rules {
			if r.from(c.pkg) && r.to(c.dep) {
				hit = true
			}
		}
		if !hit {
			t.Errorf("no rule forbids %s -> %s", c.pkg, c.dep)
		}
	}
	if rules[1].to(module + "steps") {
		t.Error("the engine must be allowed to import the steps contract")
	}
}
