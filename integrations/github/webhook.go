package github

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v62/github"
)

// Webhook headers GitHub sends with every delivery.
const (
	HeaderEvent     = gh.EventTypeHeader       // X-GitHub-Event
	HeaderDelivery  = gh.DeliveryIDHeader      // X-GitHub-Delivery
	HeaderSignature = gh.SHA256SignatureHeader // X-Hub-Signature-256
)

// EventSecretScanningAlert is the X-GitHub-Event of secret-scanning alert deliveries.
const EventSecretScanningAlert = "secret_scanning_alert"

// ErrBadSignature means a webhook delivery is unsigned or its signature does not verify.
var ErrBadSignature = errors.New("webhook signature missing or wrong")

// AlertEvent is a secret_scanning_alert delivery. The webhook's alert never carries the secret:
// fetch it with GetAlert.
type AlertEvent struct {
	Action     string // created, reopened, resolved, validated, ...
	Repo       string // owner/name
	Org        string // the organization, when the repository belongs to one
	Number     int64
	SecretType string
	HTMLURL    string
}

// VerifyWebhook checks a delivery's X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the
// webhook secret, compared in constant time by go-github) and returns the JSON payload. Only the
// SHA-256 signature is accepted: the SHA-1 one GitHub also sends is kept for old receivers.
func VerifyWebhook(h http.Header, body, secret []byte) ([]byte, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("verify webhook: no webhook secret configured: %w", ErrBadSignature)
	}
	sig := h.Get(HeaderSignature)
	if !strings.HasPrefix(sig, "sha256=") {
		return nil, fmt.Errorf("verify webhook: no %s header: %w", HeaderSignature, ErrBadSignature)
	}
	ct, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("verify webhook: Content-Type: %v", err)
	}
	payload, err := gh.ValidatePayloadFromBody(ct, bytes.NewReader(body), sig, secret)
	if err != nil {
		return nil, fmt.Errorf("verify webhook: %v: %w", err, ErrBadSignature)
	}
	return payload, nil
}

// ParseAlertEvent decodes a verified secret_scanning_alert payload.
func ParseAlertEvent(payload []byte) (AlertEvent, error) {
	v, err := gh.ParseWebHook(EventSecretScanningAlert, payload)
	if err != nil {
		return AlertEvent{}, fmt.Errorf("parse %s payload: %w", EventSecretScanningAlert, err)
	}
	e, ok := v.(*gh.SecretScanningAlertEvent)
	if !ok || e.Alert == nil || e.Alert.GetNumber() <= 0 || e.Repo.GetFullName() == "" {
		return AlertEvent{}, fmt.Errorf("parse %s payload: no alert number or repository", EventSecretScanningAlert)
	}
	return AlertEvent{
		Action:     e.GetAction(),
		Repo:       e.Repo.GetFullName(),
		Org:        e.Organization.GetLogin(),
		Number:     int64(e.Alert.GetNumber()),
		SecretType: e.Alert.GetSecretType(),
		HTMLURL:    e.Alert.GetHTMLURL(),
	}, nil
}
