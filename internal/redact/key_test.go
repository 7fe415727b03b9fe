package redact_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/internal/redact"
)

// useKey installs a fresh random key for one test (tests never depend on a particular key).
func useKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	redact.SetKey(k)
	t.Cleanup(func() { redact.SetKey(make([]byte, 32)) })
	return k
}

func TestFingerprintIsHMACUnderTheInstallationKey(t *testing.T) {
	secret := fakekey.New(5).Hex(6) // six hex digits: an unkeyed hash of it is inverted in a second
	k1 := useKey(t)
	fp1 := redact.Fingerprint(secret)
	mac := hmac.New(sha256.New, k1)
	mac.Write([]byte(secret))
	if want := hex.EncodeToString(mac.Sum(nil))[:6]; fp1 != want {
		t.Fatalf("Fingerprint = %s, want HMAC-SHA256 prefix %s", fp1, want)
	}
	sum := sha256.Sum256([]byte(secret))
	if fp1 == hex.EncodeToString(sum[:3]) {
		t.Error("fingerprint equals the unkeyed SHA-256 prefix")
	}
	s := redact.New()
	s.Add(secret + "-long-enough")
	before := s.String("x " + secret + "-long-enough")

	useKey(t)
	if redact.Fingerprint(secret) == fp1 {
		t.Error("a different key gave the same fingerprint")
	}
	if after := s.String("x " + secret + "-long-enough"); after == before {
		t.Errorf("a Set kept masks made with the old key: %q", after)
	}
	redact.SetKey(k1)
	if redact.Fingerprint(secret) != fp1 {
		t.Error("the same key gave a different fingerprint")
	}
}

func TestLoadKeyCreatesOnceAndKeeps(t *testing.T) {
	dir := t.TempDir()
	k1, err := redact.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := redact.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Fatalf("key changed between loads or has %d bytes", len(k1))
	}
	fi, err := os.Stat(filepath.Join(dir, redact.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	other, err := redact.LoadKey(t.TempDir())
	if err != nil || bytes.Equal(other, k1) {
		t.Fatalf("another installation got the same key (err %v)", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestLoadKeyRefusesUnsafeFiles(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir, path string)
		want  string
	}{
		{"readable by others", func(t *testing.T, dir, path string) {
			if _, err := redact.LoadKey(dir); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, 0o644)
		}, "chmod 600"},
		{"symlink", func(t *testing.T, dir, path string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			os.WriteFile(target, []byte(strings.Repeat("ab", 32)), 0o600)
			os.Symlink(target, path)
		}, "not a symlink"},
		{"corrupt", func(t *testing.T, dir, path string) {
			os.WriteFile(path, []byte("not hex"), 0o600)
		}, "corrupt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, redact.KeyFile)
			tc.setup(t, dir, path)
			_, err := redact.LoadKey(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadKey = %v, want an error naming %s and saying %q", err, path, tc.want)
			}
		})
	}
}
