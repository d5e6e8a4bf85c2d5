package download

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A token is accepted in exactly one spelling: changing its last character,
// whose low bits are only padding in unpadded base64, must not verify.
func TestTokenHasOneSpelling(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef0123456789abcdef"), "https://127.0.0.1:5001/webapi/recording/", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	name := "210701165649_698-1-1.mp3"
	tok := s.Token(name, now.Add(time.Hour))
	if err := s.Verify(name, tok, now); err != nil {
		t.Fatalf("fresh token rejected: %v", err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := tok[len(tok)-1]
	for _, c := range []byte(alphabet) {
		if c == last {
			continue
		}
		alt := tok[:len(tok)-1] + string(c)
		if err := s.Verify(name, alt, now); !errors.Is(err, ErrBadToken) {
			t.Errorf("token with last character %q: %v, want ErrBadToken", c, err)
		}
	}
	if err := s.Verify(name, strings.Replace(tok, ".", "", 1), now); !errors.Is(err, ErrBadToken) {
		t.Errorf("token without separator: %v", err)
	}
}
