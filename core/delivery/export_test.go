package delivery

import (
	"crypto/tls"
	"time"
)

// WithSenderWireTLS gives the Sender's own HTTP/1.1 client a TLS
// configuration (a test server's roots); there is no such option outside
// tests.
func WithSenderWireTLS(c *tls.Config) SenderOption {
	return func(s *Sender) { s.wireTLS = c }
}

// WithSenderNetHTTP sends every request through net/http, to compare the
// two paths.
func WithSenderNetHTTP() SenderOption {
	return func(s *Sender) { s.noWire = true }
}

// UsesWire reports whether Send would take the wire for a request to url.
func (s *Sender) UsesWire(url string) bool {
	if s.wire == nil {
		return false
	}
	_, ok := s.wire.target(url, false)
	return ok
}

// WithReceiversClock sets the clock the breaker reads.
func WithReceiversClock(now func() time.Time) ReceiversOption {
	return func(rs *Receivers) { rs.now = now }
}
