package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com,
// "Signature scheme": webhook-id, webhook-timestamp, webhook-signature).
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
)

// secretPrefix marks a Standard Webhooks symmetric secret: "whsec_" followed
// by the base64 of the key bytes.
const secretPrefix = "whsec_"

// ErrSecret: a signing secret is not "whsec_" + base64 of 24 to 64 bytes
// (the Standard Webhooks specification, "Symmetric" secrets).
var ErrSecret = errors.New("invalid signing secret")

// Signer signs requests the Standard Webhooks way: the signature is
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)). A
// receiver can check it with any of the specification's libraries. Its
// String and LogValue never show the key.
type Signer struct {
	key []byte
}

// NewSigner parses a "whsec_…" secret. A secret without the prefix is
// taken as base64 too, as the reference libraries do.
func NewSigner(secret string) (*Signer, error) {
	raw := strings.TrimPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("parse signing secret: %w: not base64 after %q", ErrSecret, secretPrefix)
	}
	if len(key) < 16 || len(key) > 64 {
		return nil, fmt.Errorf("parse signing secret: %w: key is %d bytes, want 16 to 64", ErrSecret, len(key))
	}
	return &Signer{key: key}, nil
}

// Signature returns the webhook-signature value for id, ts and body.
func (s *Signer) Signature(id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign sets the three Standard Webhooks headers on h for one attempt. The
// id stays the same on every retry; the timestamp and signature are fresh,
// so a receiver's replay window (typically five minutes) accepts a retry.
func (s *Signer) Sign(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, s.Signature(id, ts, body))
}

// Verify checks a request's Standard Webhooks headers against body, with a
// timestamp no further than tolerance from now. Receivers in tests use it;
// it accepts any of several space-separated signatures as the
// specification allows during key rotation.
func (s *Signer) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsv, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || tsv == "" || sigs == "" {
		return errors.New("verify webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	}
	secs, err := strconv.ParseInt(tsv, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: timestamp %q: %w", tsv, err)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > tolerance || -d > tolerance {
		return fmt.Errorf("verify webhook: timestamp %s is more than %s from now", ts.UTC().Format(time.RFC3339), tolerance)
	}
	want := s.Signature(id, ts, body)
	for sig := range strings.FieldsSeq(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("verify webhook: no signature matches")
}

// String redacts the key.
func (s *Signer) String() string { return "whsec_[REDACTED]" }

// LogValue redacts the key in slog output.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.String()) }
