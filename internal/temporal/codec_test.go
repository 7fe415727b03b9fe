package temporal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func randomKey(t *testing.T) (*Key, []byte) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	k, err := ParseKey(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k, b
}

func TestParseKey(t *testing.T) {
	_, raw := randomKey(t)
	tests := []struct {
		name, text string
		ok         bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(raw), true},
		{"base64 without padding", base64.RawStdEncoding.EncodeToString(raw), true},
		{"base64 URL alphabet", base64.URLEncoding.EncodeToString(raw), true},
		{"hex", hex.EncodeToString(raw), true},
		{"too short", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"a passphrase", "correct horse battery staple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKey(tt.text)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseKey: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), tt.text) {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
	if _, err := KeyFromEnv(func(string) string { return "" }); err != ErrNoKey {
		t.Errorf("no key: %v", err)
	}
}

// Payloads leave the process sealed and come back whole; another key cannot open them.
func TestCodecSealsPayloads(t *testing.T) {
	k, _ := randomKey(t)
	other, _ := randomKey(t)
	secret := "a value no server should see"
	dc := DataConverter(k)
	p, err := dc.ToPayload(map[string]string{"v": secret})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Marshal()
	if bytes.Contains(b, []byte(secret)) || string(p.Metadata[metaEncoding]) != encEncrypted {
		t.Fatalf("payload not sealed: %q", b)
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["v"] != secret {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if err := DataConverter(other).FromPayload(p, &back); err == nil || !strings.Contains(err.Error(), k.ID()) {
		t.Errorf("another key opened it, or did not say which key sealed it: %v", err)
	}
	tampered := &commonpb.Payload{Metadata: p.Metadata, Data: append([]byte{}, p.Data...)}
	tampered.Data[len(tampered.Data)-1] ^= 1
	if err := dc.FromPayload(tampered, &back); err == nil {
		t.Error("a tampered payload was accepted")
	}
	plain, _ := converter.GetDefaultDataConverter().ToPayload("not ours")
	var s string
	if err := dc.FromPayload(plain, &s); err != nil || s != "not ours" {
		t.Errorf("an unsealed payload: %q %v", s, err)
	}
}

func TestSealedInputsOpenOnlyForTheirRunAndName(t *testing.T) {
	k, _ := randomKey(t)
	other, _ := randomKey(t)
	sealed := k.Seal("run-1", "key", "the value")
	if strings.Contains(sealed, "the value") {
		t.Fatal("sealed in clear")
	}
	tests := []struct {
		name        string
		key         *Key
		run, input  string
		wantOpening bool
	}{
		{"its run and input", k, "run-1", "key", true},
		{"another run", k, "run-2", "key", false},
		{"another input", k, "run-1", "token", false},
		{"another key", other, "run-1", "key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.key.Open(tt.run, tt.input, sealed)
			if got := err == nil && v == "the value"; got != tt.wantOpening {
				t.Errorf("Open = %q, %v", v, err)
			}
		})
	}
}
