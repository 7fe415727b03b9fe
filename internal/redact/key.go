package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
)

// KeyFile is the installation's fingerprint key, in the state directory.
const KeyFile = "fingerprint.key"

// keySize is the HMAC key's length in bytes.
const keySize = 32

type fpKey struct {
	key []byte
	gen uint64
}

// current is the key every fingerprint of this process is computed with. Until SetKey is called
// it is a random key of this process alone, so no fingerprint is ever an unkeyed hash: a short
// secret could be recovered from one by trying every value.
var current atomic.Pointer[fpKey]

func init() {
	k := make([]byte, keySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported platforms
	current.Store(&fpKey{key: k, gen: 1})
}

func keyGen() uint64 { return current.Load().gen }

// SetKey makes key the one fingerprints are computed with from now on (the installation's key,
// from LoadKey). Sets re-mask with it the next time they are used.
func SetKey(key []byte) {
	for {
		old := current.Load()
		if current.CompareAndSwap(old, &fpKey{key: append([]byte(nil), key...), gen: old.gen + 1}) {
			return
		}
	}
}

// Fingerprint is the first 6 hex digits of the HMAC-SHA256 of value under the installation's
// key: stable across runs of one installation, and worthless to someone who tries candidate
// values without the key.
func Fingerprint(value string) string {
	mac := hmac.New(sha256.New, current.Load().key)
	mac.Write([]byte(value))
	return hex.EncodeToString(mac.Sum(nil)[:3])
}

// LoadKey returns the installation's fingerprint key from dir/fingerprint.key, creating it
// (random, mode 0600, never through a symlink) on first use. A key file that others can read
// or that someone else owns is refused: with it, fingerprints could be brute-forced.
func LoadKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFile)
	for range 3 {
		key, err := readKey(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return key, err
		}
		if err := createKey(dir, path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create fingerprint key %s: %w", path, err)
		}
	}
	return nil, fmt.Errorf("fingerprint key %s keeps disappearing", path)
}

func readKey(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open fingerprint key %s (it must be a regular file, not a symlink): %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("fingerprint key %s: %w", path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("fingerprint key %s is owned by uid %d, not by you (uid %d): remove it, or run respond as its owner", path, st.Uid, os.Geteuid())
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("fingerprint key %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("fingerprint key %s is open to other users (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4*keySize))
	if err != nil {
		return nil, fmt.Errorf("read fingerprint key %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != keySize {
		return nil, fmt.Errorf("fingerprint key %s is corrupt (want %d hex digits); removing it makes a new key, "+
			"and fingerprints recorded before will no longer match", path, 2*keySize)
	}
	return key, nil
}

// createKey writes a new key to a temporary file and links it into place, so a concurrent
// reader sees either no key or a whole one, and two processes creating it at once agree on one.
func createKey(dir, path string) error {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := filepath.Join(dir, "."+KeyFile+".tmp-"+hex.EncodeToString(suffix[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	_, err = io.WriteString(f, hex.EncodeToString(key)+"\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
