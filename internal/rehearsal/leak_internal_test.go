package rehearsal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/fakekey"
)

// The leak check never counts what it could not read as clean.
func TestLeakKeysFailOnReadErrors(t *testing.T) {
	src := fakekey.New(41)
	leaked, fresh := src.OpenAIProjectKey(), src.OpenAIServiceAccountKey()
	dir := t.TempDir()
	delivered := filepath.Join(dir, "delivered")
	os.WriteFile(delivered, []byte(fresh+"\n"), 0o600)
	deliver := []event.Event{{Kind: event.StepIntent, Step: "replace", Message: "deliver"}}
	tests := []struct {
		name       string
		file       string
		evs        []event.Event
		wantKeys   int
		wantUnread string
	}{
		{"delivered key read", delivered, deliver, 2, ""},
		{"no key was ever to be delivered", filepath.Join(dir, "none"), nil, 1, ""},
		{"delivered key missing", filepath.Join(dir, "none"), deliver, 1, "the new key"},
		{"delivered key unreadable", dir, deliver, 1, "the new key"}, // a directory: read fails
	}
	for _, tc := range tests {
		keys, unread := leakKeys(leaked, tc.file, tc.evs)
		if len(keys) != tc.wantKeys || keys[0] != leaked || (tc.wantKeys == 2 && keys[1] != fresh) {
			t.Errorf("%s: %d keys", tc.name, len(keys))
		}
		if got := strings.Join(unread, ";"); tc.wantUnread == "" && got != "" || !strings.Contains(got, tc.wantUnread) {
			t.Errorf("%s: unread = %q, want %q", tc.name, got, tc.wantUnread)
		}
	}
}

func TestCountLeaksCountsEncodedForms(t *testing.T) {
	key := fakekey.New(42).OpenAIProjectKey()
	text := "ok " + key[len(key)-10:] + " and hex " + strings.ToUpper(toHex(key)) + " and json " + key
	if n := CountLeaks(text, key); n < 2 {
		t.Errorf("CountLeaks = %d, want the raw key and its hex form", n)
	}
	if n := CountLeaks("nothing here", key); n != 0 {
		t.Errorf("CountLeaks of clean text = %d", n)
	}
}

func toHex(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}
