package playbook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps/catalog"
)

// The schema committed for editors is the one the code generates (regenerate with -update).
func TestSchemaFileIsCurrent(t *testing.T) {
	b, err := json.MarshalIndent(playbook.Schema(catalog.Kinds), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("..", "..", "docs", "playbook.schema.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b) {
		t.Errorf("%s is stale: run go test ./internal/playbook -run TestSchemaFileIsCurrent -update", path)
	}
}

// An independent validator (not our loader) accepts every playbook the repository ships and
// refuses the structural mistakes of the bad corpus.
func TestPlaybooksValidateAgainstSchema(t *testing.T) {
	sch := compileSchema(t)
	good, _ := filepath.Glob(filepath.Join("..", "..", "playbooks", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "playbooks", "good", "*.yaml"))
	good = append(good, more...)
	if len(good) < 5 {
		t.Fatalf("found only %d playbooks", len(good))
	}
	for _, file := range good {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := sch.Validate(yamlInstance(t, file)); err != nil {
				t.Errorf("%s does not validate against the schema:\n%v", file, err)
			}
		})
	}
	// Structural mistakes a schema can see.
	for _, name := range []string{"unknown-top-key", "unknown-step-key", "with-unknown-key", "on-failure-invalid", "unknown-uses",
		"approval-unknown-key", "input-type-unknown", "notify-unknown-key", "retry-backoff-unknown", "retry-unknown-key"} {
		file := filepath.Join("..", "..", "testdata", "playbooks", "bad", name+".yaml")
		t.Run("bad/"+name, func(t *testing.T) {
			if err := sch.Validate(yamlInstance(t, file)); err == nil {
				t.Errorf("%s validates against the schema", file)
			}
		})
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, _ := json.Marshal(playbook.Schema(catalog.Kinds))
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("playbook.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("playbook.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile as draft 2020-12: %v", err)
	}
	return sch
}

func yamlInstance(t *testing.T, file string) any {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}
