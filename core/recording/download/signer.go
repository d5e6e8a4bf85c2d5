// Package download serves recording files over HTTPS behind signed,
// expiring links, as the 3CX module's https download links
// (https://3CXFQDN:5001/webapi/recording/<file>.mp3) do, with an HMAC
// token added so a link cannot be guessed or kept forever.
package download

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors of the download links and server.
var (
	// ErrBadToken: the token is missing, malformed, or its MAC does not
	// match the file name and expiry (wrong key or tampered link).
	ErrBadToken = errors.New("bad download token")
	// ErrExpired: the token's expiry has passed.
	ErrExpired = errors.New("download link expired")
	// ErrBadName: not a name the server hands out (one path segment,
	// letters, digits, '_', '-', '.', ending in .mp3, no "..").
	ErrBadName = errors.New("bad recording file name")
	// ErrKey: the signing key is shorter than 16 bytes.
	ErrKey = errors.New("download signing key too short")
)

// TokenParam is the query parameter carrying the token.
const TokenParam = "token"

// DefaultPrefix is the path under which files are served, as in the 3CX
// document's example link.
const DefaultPrefix = "/webapi/recording/"

// Signer makes and checks download links. A token is
// "<expiry unix seconds>.<base64url HMAC-SHA256(key, name + "\n" + expiry)>":
// the expiry travels in the clear and is covered by the MAC, so changing
// either the name or the expiry breaks the token. Its String and
// LogValue never show the key.
type Signer struct {
	key  []byte
	base *url.URL // scheme://host[:port]/prefix/
	ttl  time.Duration
	now  func() time.Time
}

// SignerOption configures a Signer.
type SignerOption func(*Signer)

// WithSignerClock sets the clock links are dated by (tests).
func WithSignerClock(now func() time.Time) SignerOption { return func(s *Signer) { s.now = now } }

// NewSigner returns a signer for links under base (e.g.
// "https://pbx.example.com:5001/webapi/recording/"), valid for ttl. A nil
// key draws a random one: links then die with the process.
func NewSigner(key []byte, base string, ttl time.Duration, opts ...SignerOption) (*Signer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make download key: %w", err)
		}
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("new signer: %w: %d bytes", ErrKey, len(key))
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("new signer: bad base url %q", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	s := &Signer{key: append([]byte(nil), key...), base: u, ttl: ttl, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Prefix is the URL path files are served under.
func (s *Signer) Prefix() string { return s.base.Path }

// URL returns the signed download link for the file name, valid for the
// signer's ttl from now.
func (s *Signer) URL(name string) string {
	return s.URLUntil(name, s.now().Add(s.ttl))
}

// URLUntil returns the signed link for name valid until exp.
func (s *Signer) URLUntil(name string, exp time.Time) string {
	u := *s.base
	u.Path += name
	u.RawQuery = url.Values{TokenParam: {s.Token(name, exp)}}.Encode()
	return u.String()
}

// Token returns the token for name valid until exp.
func (s *Signer) Token(name string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + base64.RawURLEncoding.EncodeToString(s.mac(name, e))
}

func (s *Signer) mac(name, exp string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(name))
	m.Write([]byte{'\n'})
	m.Write([]byte(exp))
	return m.Sum(nil)
}

// Verify checks token for name at now.
func (s *Signer) Verify(name, token string, now time.Time) error {
	e, sig, ok := strings.Cut(token, ".")
	if !ok || e == "" {
		return fmt.Errorf("verify %s: %w: malformed", name, ErrBadToken)
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return fmt.Errorf("verify %s: %w: expiry %q", name, ErrBadToken, e)
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(name, e)) {
		return fmt.Errorf("verify %s: %w", name, ErrBadToken)
	}
	if !now.Before(time.Unix(exp, 0)) {
		return fmt.Errorf("verify %s: %w at %s", name, ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// String hides the key.
func (s *Signer) String() string { return "download.Signer{" + s.base.String() + "}" }

// LogValue hides the key.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ValidName reports whether name is one the server may serve: a single
// path segment of letters, digits, '_', '-' and '.', ending in ".mp3",
// not starting with '.', and without "..".
func ValidName(name string) error {
	if len(name) < 5 || len(name) > 200 || !strings.HasSuffix(name, ".mp3") || name[0] == '.' || strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return nil
}
