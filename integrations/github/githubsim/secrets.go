package githubsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/nacl/box"
)

type keypair struct {
	id        string
	pub, priv *[32]byte
}

// keysLocked returns (creating on first use) the keypair of a secret scope, generated from the
// seeded stream so a rehearsal is reproducible.
func (s *Server) keysLocked(slot **keypair) (*keypair, error) {
	if *slot != nil {
		return *slot, nil
	}
	pub, priv, err := box.GenerateKey(s.keyRand)
	if err != nil {
		return nil, fmt.Errorf("generate actions key: %w", err)
	}
	// github.com key IDs are long decimal strings.
	id := strconv.FormatUint(s.rng.Uint64()>>1, 10)
	*slot = &keypair{id: id, pub: pub, priv: priv}
	return *slot, nil
}

// SecretRef names a secret scope: a repository (owner/name), a repository environment, or an
// organization.
type SecretRef struct {
	Repo        string
	Environment string
	Org         string
}

// secretScope is the key slot and secret map a request addresses.
type secretScope struct {
	keys    **keypair
	secrets map[string]*secret
	org     bool
}

// scopeOr404Locked is the secret scope the path names, or nil after answering 404.
func (s *Server) scopeOr404Locked(w http.ResponseWriter, r *http.Request) *secretScope {
	sc := s.scopeLocked(r)
	if sc == nil {
		s.writeError(w, http.StatusNotFound, "Not Found")
	}
	return sc
}

func (s *Server) scopeLocked(r *http.Request) *secretScope {
	switch {
	case r.PathValue("org") != "":
		o := s.orgs[strings.ToLower(r.PathValue("org"))]
		if o == nil {
			return nil
		}
		return &secretScope{keys: &o.keys, secrets: o.secrets, org: true}
	case r.PathValue("repo_id") != "":
		id, err := strconv.ParseInt(r.PathValue("repo_id"), 10, 64)
		if err != nil {
			return nil
		}
		rp := s.repoByID[id]
		if rp == nil {
			return nil
		}
		env := rp.envs[strings.ToLower(r.PathValue("env"))]
		if env == nil {
			return nil
		}
		return &secretScope{keys: &env.keys, secrets: env.secrets}
	default:
		rp := s.repoLocked(r.PathValue("owner"), r.PathValue("repo"))
		if rp == nil {
			return nil
		}
		return &secretScope{keys: &rp.keys, secrets: rp.secrets}
	}
}

func (s *Server) refScopeLocked(ref SecretRef) (*secretScope, error) {
	switch {
	case ref.Org != "":
		o := s.orgs[strings.ToLower(ref.Org)]
		if o == nil {
			return nil, fmt.Errorf("org %s: not seeded", ref.Org)
		}
		return &secretScope{keys: &o.keys, secrets: o.secrets, org: true}, nil
	default:
		rp, err := s.repoByNameLocked(ref.Repo)
		if err != nil {
			return nil, err
		}
		if ref.Environment == "" {
			return &secretScope{keys: &rp.keys, secrets: rp.secrets}, nil
		}
		env := rp.envs[strings.ToLower(ref.Environment)]
		if env == nil {
			return nil, fmt.Errorf("environment %s of %s: not seeded", ref.Environment, ref.Repo)
		}
		return &secretScope{keys: &env.keys, secrets: env.secrets}, nil
	}
}

func (s *Server) handlePublicKey(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopeOr404Locked(w, r)
	if sc == nil {
		return
	}
	kp, err := s.keysLocked(sc.keys)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"key_id": kp.id, "key": base64.StdEncoding.EncodeToString(kp.pub[:]),
	})
}

// Secret names: letters, digits and underscores, not starting with a digit or GITHUB_.
var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validSecretName(name string) bool {
	return secretNameRE.MatchString(name) && !strings.HasPrefix(strings.ToUpper(name), "GITHUB_")
}

func (s *Server) secretJSON(r *http.Request, sec *secret, org bool) map[string]any {
	m := map[string]any{"name": sec.name, "created_at": ts(sec.created), "updated_at": ts(sec.updated)}
	if org {
		m["visibility"] = sec.visibility
		if sec.visibility == "selected" {
			m["selected_repositories_url"] = apiBase(r) + r.URL.EscapedPath() + "/repositories"
		}
	}
	return m
}

func (s *Server) handleGetSecret(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopeOr404Locked(w, r)
	if sc == nil {
		return
	}
	sec := sc.secrets[strings.ToUpper(r.PathValue("name"))]
	if sec == nil {
		s.writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.secretJSON(r, sec, sc.org))
}

// handlePutSecret opens the sealed box with the scope's private key: a value sealed for the
// wrong key, or not sealed at all, is refused, and the plaintext is kept for verification.
func (s *Server) handlePutSecret(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EncryptedValue        string  `json:"encrypted_value"`
		KeyID                 string  `json:"key_id"`
		Visibility            string  `json:"visibility"`
		SelectedRepositoryIDs []int64 `json:"selected_repository_ids"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		s.writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	name := r.PathValue("name")
	if !validSecretName(name) {
		s.validationFailed(w, "secret_name", "invalid",
			"Secret names can only contain alphanumeric characters or underscores, must not start with a number or GITHUB_")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopeOr404Locked(w, r)
	if sc == nil {
		return
	}
	if sc.org {
		switch body.Visibility {
		case "all", "private", "selected":
		default:
			s.validationFailed(w, "visibility", "invalid", "visibility must be all, private or selected")
			return
		}
		for _, id := range body.SelectedRepositoryIDs {
			if s.repoByID[id] == nil {
				s.validationFailed(w, "selected_repository_ids", "invalid", "unknown repository id "+itoa(id))
				return
			}
		}
	}
	kp, err := s.keysLocked(sc.keys)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if body.KeyID == "" || body.KeyID != kp.id {
		s.validationFailed(w, "key_id", "invalid", "Bad key_id")
		return
	}
	sealed, err := base64.StdEncoding.DecodeString(body.EncryptedValue)
	if err != nil || len(sealed) == 0 {
		s.validationFailed(w, "encrypted_value", "invalid", "encrypted_value is not valid base64")
		return
	}
	plain, ok := box.OpenAnonymous(nil, sealed, kp.pub, kp.priv)
	if !ok {
		s.validationFailed(w, "encrypted_value", "invalid", "encrypted_value could not be decrypted")
		return
	}
	now := s.now()
	key := strings.ToUpper(name)
	sec := sc.secrets[key]
	status := http.StatusNoContent
	if sec == nil {
		sec = &secret{name: key, created: now}
		sc.secrets[key] = sec
		status = http.StatusCreated
	}
	sec.value, sec.updated = plain, now
	sec.visibility, sec.selected = body.Visibility, slices.Clone(body.SelectedRepositoryIDs)
	s.rateHeaders(w, r)
	if status == http.StatusCreated {
		s.writeJSON(w, r, status, map[string]any{})
		return
	}
	w.WriteHeader(status)
}

func (s *Server) handleDeleteSecret(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopeOr404Locked(w, r)
	if sc == nil {
		return
	}
	key := strings.ToUpper(r.PathValue("name"))
	if sc.secrets[key] == nil {
		s.writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	delete(sc.secrets, key)
	s.rateHeaders(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// SecretValue is a stored Actions secret as the simulator decrypted it.
type SecretValue struct {
	Value                 []byte
	Visibility            string
	SelectedRepositoryIDs []int64
	CreatedAt, UpdatedAt  time.Time
}

// ActionsSecret returns the decrypted value of a secret, for tests and rehearsal verification.
func (s *Server) ActionsSecret(ref SecretRef, name string) (SecretValue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, err := s.refScopeLocked(ref)
	if err != nil {
		return SecretValue{}, false
	}
	sec := sc.secrets[strings.ToUpper(name)]
	if sec == nil {
		return SecretValue{}, false
	}
	return SecretValue{
		Value: slices.Clone(sec.value), Visibility: sec.visibility,
		SelectedRepositoryIDs: slices.Clone(sec.selected), CreatedAt: sec.created, UpdatedAt: sec.updated,
	}, true
}

// RotateKey replaces the public key of a scope, so a test can prove a client fetches the key
// instead of caching a stale one.
func (s *Server) RotateKey(ref SecretRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, err := s.refScopeLocked(ref)
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	*sc.keys = nil
	_, err = s.keysLocked(sc.keys)
	return err
}
