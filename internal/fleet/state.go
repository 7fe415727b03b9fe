package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// The progress file records every repository scanned to the end, with its result, so that a
// fleet interrupted (Ctrl-C, a crash, a lost laptop lid) resumes with the others and still
// reports on all. It is rewritten whole for each repository (a temporary file, fsync, rename):
// whenever the process stops, the file is the previous version or the next, never a mix.
// Failed repositories are not recorded: the next run tries them again.

const stateVersion = 1

type stateFile struct {
	Version  int               `json:"version"`
	SecretID string            `json:"secret_fingerprint"`
	Done     map[string]Result `json:"done"`
}

type state struct {
	path string
	mu   sync.Mutex
	f    stateFile
}

func stateKey(t Target) string {
	if t.URL != "" {
		return "url " + t.URL
	}
	return "path " + t.Path
}

func openState(path, secretID string) (*state, error) {
	st := &state{path: path, f: stateFile{Version: stateVersion, SecretID: secretID, Done: map[string]Result{}}}
	if path == "" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read fleet progress file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != stateVersion || f.Done == nil {
		return nil, fmt.Errorf("fleet progress file %s is not one this version wrote (%v): remove it to start over", path, err)
	}
	if f.SecretID != secretID {
		return nil, fmt.Errorf("fleet progress file %s records a scan for another value: remove it to start over", path)
	}
	st.f = f
	return st, nil
}

// finished returns the recorded result of t, if it was scanned to the end.
func (s *state) finished(t Target) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.f.Done[stateKey(t)]
	if !ok || r.Scan == nil {
		return Result{}, false
	}
	r.Target.Name = t.Name // the list may name it differently this time
	return r, true
}

func (s *state) record(r Result) error {
	if s.path == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Done[stateKey(r.Target)] = r
	b, err := json.Marshal(s.f)
	if err != nil {
		return fmt.Errorf("record %s in the fleet progress file: %w", r.Target.Name, err)
	}
	if err := writeAtomic(s.path, b); err != nil {
		return fmt.Errorf("record %s in the fleet progress file: %w", r.Target.Name, err)
	}
	return nil
}

// remove drops the file once the whole fleet is done: the next run starts afresh.
func (s *state) remove() error {
	if s.path == "" {
		return nil
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the fleet progress file: %w", err)
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Forget removes a fleet's progress file: the next scan of it starts over.
func Forget(path string) error {
	return (&state{path: path}).remove()
}
