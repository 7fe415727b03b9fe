package strictjson

import (
	"strings"
	"testing"
)

type item struct {
	ID string `json:"id"`
}

type answer struct {
	OK    bool   `json:"ok"`
	Items []item `json:"items"`
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name, body        string
		required, allowed []string
		wantErr           string
	}{
		{"exact", `{"ok":true,"items":[{"id":"a"}]}`, []string{"ok", "items[].id"}, nil, ""},
		{"unknown field", `{"ok":true,"extra":1}`, nil, nil, "unknown field"},
		{"unknown nested field, allowed", `{"ok":true,"items":[{"id":"a","score":1}]}`, nil, []string{"items[].score"}, ""},
		{"every key allowed", `{"ok":true,"items":[{"id":"a","x":1,"y":2}]}`, nil, []string{"items[].*"}, ""},
		{"required missing", `{"items":[{"id":"a"}]}`, []string{"ok"}, nil, "required field ok"},
		{"required null in one item", `{"ok":true,"items":[{"id":"a"},{"id":null}]}`, []string{"items[].id"}, nil, "required field items[].id"},
		{"not JSON", `{`, nil, nil, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.body), new(answer), tt.required, tt.allowed)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
