package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// writeJSON writes v as indented JSON, masked like everything respond prints.
func writeJSON(w io.Writer, f *Factory, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, f.Secrets.String(string(b)))
}
