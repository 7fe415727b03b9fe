package temporal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// EnvKey names the variable that holds the key every payload is encrypted with: 32 random bytes,
// in base64 or hex (`openssl rand -base64 32`). Workers, `respond run --temporal` and serve share
// it; without it nothing starts.
const EnvKey = "RESPOND_TEMPORAL_KEY"

// Metadata of an encrypted payload: its encoding and which key sealed it.
const (
	metaEncoding = "encoding"
	metaKeyID    = "encryption-key-id"
	encEncrypted = "binary/encrypted"
)

// ErrNoKey means EnvKey is unset: a worker or client refuses to start rather than put a run's
// history on the server in clear.
var ErrNoKey = errors.New(EnvKey + " is not set: it must hold 32 random bytes in base64 or hex (e.g. `openssl rand -base64 32`), the same on every worker and client")

// Key is the AES-256 key of a deployment's payloads.
type Key struct {
	aead cipher.AEAD
	id   string
}

// KeyFromEnv reads and checks EnvKey.
func KeyFromEnv(getenv func(string) string) (*Key, error) {
	raw := strings.TrimSpace(getenv(EnvKey))
	if raw == "" {
		return nil, ErrNoKey
	}
	return ParseKey(raw)
}

// ParseKey decodes a key written in base64 (standard or URL alphabet, padded or not) or hex.
func ParseKey(text string) (*Key, error) {
	var b []byte
	for _, dec := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString, base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString} {
		if d, err := dec(text); err == nil && len(d) == 32 {
			b = d
			break
		}
	}
	if b == nil {
		return nil, fmt.Errorf("%s: not 32 bytes in base64 or hex", EnvKey)
	}
	block, err := aes.NewCipher(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKey, err)
	}
	sum := sha256.Sum256(append([]byte("respond temporal key id\x00"), b...))
	return &Key{aead: aead, id: hex.EncodeToString(sum[:6])}, nil
}

// ID names the key without revealing it (payload metadata says which key sealed a payload).
func (k *Key) ID() string { return k.id }

// seal encrypts plain with additional data ad (random nonce first).
func (k *Key) seal(plain, ad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("respond: no randomness for a nonce: " + err.Error())
	}
	return k.aead.Seal(nonce, nonce, plain, ad)
}

func (k *Key) open(sealed, ad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, errors.New("sealed data is too short")
	}
	return k.aead.Open(nil, sealed[:n], sealed[n:], ad)
}

// codec encrypts every payload with AES-256-GCM: a workflow's inputs, results, activity
// arguments, update arguments, query answers and (with the failure converter) error messages
// reach the Temporal server only as ciphertext.
type codec struct{ key *Key }

var _ converter.PayloadCodec = codec{}

// Encode seals each payload whole (data and metadata), keyed by the key's ID.
func (c codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metaEncoding: []byte(encEncrypted), metaKeyID: []byte(c.key.id)},
			Data:     c.key.seal(plain, []byte(c.key.id)),
		}
	}
	return out, nil
}

// Decode opens payloads this codec sealed and passes others through (the server's own payloads,
// which never carry a run's data).
func (c codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metaEncoding]) != encEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[metaKeyID])
		if id != c.key.id {
			return nil, fmt.Errorf("decrypt payload: it was sealed with key %s, and %s holds key %s", id, EnvKey, c.key.id)
		}
		plain, err := c.key.open(p.GetData(), []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload sealed with key %s: %w", id, err)
		}
		var q commonpb.Payload
		if err := q.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("decrypt payload: %w", err)
		}
		out[i] = &q
	}
	return out, nil
}

// DataConverter encrypts every payload with key.
func DataConverter(key *Key) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec{key})
}

// FailureConverter encrypts error messages and stack traces too: an error can quote what a
// step saw.
func FailureConverter(key *Key) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter: DataConverter(key), EncodeCommonAttributes: true})
}

// Seal encrypts a secret input's value for one run and input name, so it can travel in a
// workflow's input sealed on its own (the codec seals the input again): only a worker holding
// the key opens it, and a sealed value cannot be replayed into another run or input.
func (k *Key) Seal(runID, input, value string) string {
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(k.seal([]byte(value), sealAD(runID, input)))
}

// Open reverses Seal.
func (k *Key) Open(runID, input, sealed string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil {
		return "", fmt.Errorf("input %s: sealed value is not base64: %w", input, err)
	}
	plain, err := k.open(b, sealAD(runID, input))
	if err != nil {
		return "", fmt.Errorf("input %s: cannot open the sealed value (another %s, or another run): %w", input, EnvKey, err)
	}
	return string(plain), nil
}

const sealedPrefix = "sealed:"

func sealAD(runID, input string) []byte {
	return []byte("respond sealed input\x00" + runID + "\x00" + input)
}
