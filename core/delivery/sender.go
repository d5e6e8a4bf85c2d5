package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Defaults for a Sender.
const (
	DefaultTimeout        = 10 * time.Second // total, per attempt
	DefaultConnectTimeout = 5 * time.Second
	DefaultUserAgent      = "callhook"
	maxResponseBody       = 4 << 10
)

// Sender makes single delivery attempts over one reused http.Client, so
// connections to a receiver are kept alive across webhooks. It is safe for
// concurrent use; the zero value is not usable, call NewSender.
type Sender struct {
	client         *http.Client // for receivers allowed on private addresses
	guarded        *http.Client // refuses private, loopback and link-local addresses
	timeout        time.Duration
	connectTimeout time.Duration
	userAgent      string
	log            *slog.Logger
	transport      http.RoundTripper // set by option; else built in NewSender
	guard          bool              // refuse private addresses unless Request.AllowPrivate
}

// WithSenderGuard makes the Sender refuse receivers on private, loopback,
// link-local and other internal addresses (ErrForbiddenAddress) unless a
// Request has AllowPrivate. The engine always turns it on; the .ini key
// allow_private lifts it per receiver.
func WithSenderGuard() SenderOption {
	return func(s *Sender) { s.guard = true }
}

// SenderOption configures a Sender.
type SenderOption func(*Sender)

// WithSenderTimeout bounds each attempt from connect to the end of the
// response body (default DefaultTimeout). A Request's own Timeout wins.
func WithSenderTimeout(d time.Duration) SenderOption {
	return func(s *Sender) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithSenderConnectTimeout bounds establishing the TCP (and TLS) connection
// (default DefaultConnectTimeout), so an unreachable receiver fails fast.
func WithSenderConnectTimeout(d time.Duration) SenderOption {
	return func(s *Sender) {
		if d > 0 {
			s.connectTimeout = d
		}
	}
}

// WithSenderLogger logs each attempt at Debug and failures at Warn
// (default: discard).
func WithSenderLogger(l *slog.Logger) SenderOption {
	return func(s *Sender) {
		if l != nil {
			s.log = l
		}
	}
}

// WithSenderUserAgent sets the User-Agent sent when a Request has none.
func WithSenderUserAgent(ua string) SenderOption {
	return func(s *Sender) { s.userAgent = ua }
}

// WithSenderTransport replaces the HTTP transport (for custom TLS roots or
// proxies); the connect timeout is then the transport's business.
func WithSenderTransport(rt http.RoundTripper) SenderOption {
	return func(s *Sender) { s.transport = rt }
}

// NewSender returns a Sender with the defaults above, changed by opts.
func NewSender(opts ...SenderOption) *Sender {
	s := &Sender{
		timeout:        DefaultTimeout,
		connectTimeout: DefaultConnectTimeout,
		userAgent:      DefaultUserAgent,
		log:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	rt, guarded := s.transport, s.transport
	if rt == nil {
		rt = s.newTransport(nil)
		guarded = rt
		if s.guard {
			guarded = s.newTransport(guardControl)
		}
	}
	// A webhook is not a browser navigation: following a redirect would
	// turn a POST into a GET and hide a misconfigured URL, so a 3xx is
	// reported as the receiver's answer.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &http.Client{Transport: rt, CheckRedirect: noRedirect}
	s.guarded = &http.Client{Transport: guarded, CheckRedirect: noRedirect}
	s.log = s.log.With("component", "delivery")
	return s
}

func (s *Sender) newTransport(control func(network, address string, c syscall.RawConn) error) *http.Transport {
	dialer := &net.Dialer{Timeout: s.connectTimeout, KeepAlive: 30 * time.Second, Control: control}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   s.connectTimeout,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// Send makes one attempt. A 2xx answer is success; anything else gives a
// Result whose Err is a *SendError naming the method, the URL without
// credentials, and the status or network error. ctx cancels the attempt.
func (s *Sender) Send(ctx context.Context, r Request) Result {
	res := Result{Request: r, Attempts: 1}
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	fail := func(status int, err error) Result {
		res.Status = status
		res.Err = &SendError{Method: method, URL: redactURL(r.URL), Status: status, Err: err}
		s.log.Warn("webhook attempt failed", "id", r.ID, "receiver", r.Receiver, "error", res.Err)
		return res
	}

	timeout := s.timeout
	if r.Timeout > 0 {
		timeout = r.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return fail(0, unwrapURLError(err))
	}
	if len(r.Header) > 0 {
		req.Header = r.Header.Clone() // one allocation for all values; r stays the caller's
	}
	if req.Header.Get("User-Agent") == "" && s.userAgent != "" {
		req.Header.Set("User-Agent", s.userAgent)
	}
	res.Sent = req.Header

	client := s.client
	if s.guard && !r.AllowPrivate {
		client = s.guarded
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		err = unwrapURLError(err)
		if isTimeout(err) {
			err = fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		return fail(0, err)
	}
	res.Header = resp.Header
	res.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Drain a little more so the connection can be reused, then close.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	res.Latency = time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(resp.StatusCode, nil)
	}
	if err != nil {
		// The receiver said 2xx; a broken body after that does not undo it.
		s.log.Debug("read response body", "id", r.ID, "error", err)
	}
	res.Status = resp.StatusCode
	s.log.Debug("webhook delivered", "id", r.ID, "receiver", r.Receiver, "status", res.Status, "latency", res.Latency)
	return res
}

// unwrapURLError drops net/http's *url.Error wrapper, whose message repeats
// the URL (with any credentials); SendError names the URL itself.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
