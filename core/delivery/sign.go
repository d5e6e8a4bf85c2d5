package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
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

// ErrSecret: a signing secret is not "whsec_" + base64 of 16 to 64 bytes
// (the Standard Webhooks specification, "Symmetric" secrets, asks for at
// least 24; 16 stays accepted for secrets configured before).
var ErrSecret = errors.New("invalid signing secret")

// Signer signs requests the Standard Webhooks way: each signature is
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + content)),
// where content is the body, or for a request without a body its request
// target (see SignedContent). A request with a body is verified by any of
// the specification's libraries unchanged. During a secret rotation a Signer
// holds two keys and signs with both (space-separated, as the specification
// allows), so a receiver holding either one accepts the request. Its
// String and LogValue never show the keys.
type Signer struct {
	keys [][]byte // current first, then previous ones
}

// NewSigner parses a "whsec_…" secret and any previous secrets that stay
// valid while receivers switch to the new one. A secret without the prefix
// is taken as base64 too, as the reference libraries do.
func NewSigner(secret string, previous ...string) (*Signer, error) {
	s := &Signer{}
	for i, sec := range append([]string{secret}, previous...) {
		key, err := parseSecret(sec)
		if err != nil {
			what := "signing secret"
			if i > 0 {
				what = "previous signing secret"
			}
			return nil, fmt.Errorf("parse %s: %w", what, err)
		}
		s.keys = append(s.keys, key)
	}
	return s, nil
}

func parseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64 after %q", ErrSecret, secretPrefix)
	}
	if len(key) < 16 || len(key) > 64 {
		return nil, fmt.Errorf("%w: key is %d bytes, want 16 to 64", ErrSecret, len(key))
	}
	return key, nil
}

// RequestTarget returns the request target net/http writes on the wire for
// rawURL: the escaped path and "?" raw query (URL.RequestURI of the URL
// http.NewRequest parses), never the scheme, host or fragment. A path is
// re-escaped on the way ("/a b" goes out as "/a%20b"), so a signature over
// the URL string as written would not match what the receiver sees.
func RequestTarget(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The URL itself may hold credentials; the cause names the fault.
		return "", fmt.Errorf("request target of the webhook URL: %w", errors.Unwrap(err))
	}
	return u.RequestURI(), nil
}

// SignedContent is what follows "id.timestamp." in the signed message: the
// body, or for a request without a body (a 3cx GET) the request target, so
// the query the receiver acts on is covered. A target always begins with
// "/" and no dialect's body does, so a signature cannot be moved from one
// kind of request to the other.
func SignedContent(target string, body []byte) []byte {
	if len(body) > 0 {
		return body
	}
	return []byte(target)
}

// Signature returns the webhook-signature value for id, ts and content (see
// SignedContent): one "v1,…" signature per key, space-separated.
func (s *Signer) Signature(id string, ts time.Time, content []byte) string {
	var b strings.Builder
	for i, key := range s.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac(key, id, ts, content)))
	}
	return b.String()
}

func mac(key []byte, id string, ts time.Time, content []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	m.Write([]byte{'.'})
	m.Write(content)
	return m.Sum(nil)
}

// Sign sets the three Standard Webhooks headers on h for one attempt of a
// request with this target (see RequestTarget; used only when body is
// empty) and body. The id stays the same on every retry; the timestamp and
// signature are fresh, so a receiver's replay window (typically five
// minutes) accepts a retry.
func (s *Signer) Sign(h http.Header, id string, ts time.Time, target string, body []byte) {
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, s.Signature(id, ts, SignedContent(target, body)))
}

// Verify checks a request's Standard Webhooks headers against its target
// (the raw request target as received, r.RequestURI in a Go handler) and
// body, with a timestamp no further than tolerance from now. Receivers in
// tests use it. It accepts the request when any of the space-separated
// signatures matches any of the Signer's keys, as the specification allows
// during key rotation.
func (s *Signer) Verify(h http.Header, target string, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsv, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || tsv == "" || sigs == "" {
		return errors.New("verify webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	}
	secs, err := strconv.ParseInt(tsv, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook %s: timestamp %q: %w", id, tsv, err)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > tolerance || -d > tolerance {
		return fmt.Errorf("verify webhook %s: timestamp %s is more than %s from now", id, ts.UTC().Format(time.RFC3339), tolerance)
	}
	content := SignedContent(target, body)
	for _, key := range s.keys {
		want := "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts, content))
		for sig := range strings.FieldsSeq(sigs) {
			if hmac.Equal([]byte(sig), []byte(want)) {
				return nil
			}
		}
	}
	return fmt.Errorf("verify webhook %s: no signature matches", id)
}

// String redacts the keys.
func (s *Signer) String() string { return "whsec_[REDACTED]" }

// LogValue redacts the keys in slog output.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.String()) }
