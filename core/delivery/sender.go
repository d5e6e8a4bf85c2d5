package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Defaults for a Sender.
const (
	DefaultTimeout        = 10 * time.Second // total, per attempt
	DefaultConnectTimeout = 5 * time.Second
	DefaultUserAgent      = "callhook"
	maxResponseBody       = 4 << 10
)

// Sender makes single delivery attempts, keeping connections to a receiver
// alive across webhooks. Plain HTTP/1.1 requests go over its own lean
// client (wire.go); anything else (a transport given by option, a proxy,
// credentials in the URL) over one reused http.Client. It is safe for
// concurrent use; the zero value is not usable, call NewSender.
type Sender struct {
	client         *http.Client // for receivers allowed on private addresses
	guarded        *http.Client // refuses private, loopback and link-local addresses
	wire           *wire        // nil: every request goes through net/http
	wireTLS        *tls.Config  // the wire's TLS roots and such; nil: the system's (tests set it)
	noWire         bool         // tests compare with net/http
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
	if s.transport == nil && !s.noWire {
		s.wire = newWire(s.connectTimeout, s.wireTLS)
	}
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
	timeout := s.timeout
	if r.Timeout > 0 {
		timeout = r.Timeout
	}
	guarded := s.guard && !r.AllowPrivate
	if s.wire != nil && ctx.Err() == nil && wireMethod(method) && !expectsContinue(r.Header) {
		if t, ok := s.wire.target(r.URL, guarded); ok {
			return s.sendWire(ctx, res, method, timeout, &t)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return s.failed(res, method, 0, unwrapURLError(err))
	}
	if len(r.Header) > 0 {
		req.Header = r.Header.Clone() // one allocation for all values; r stays the caller's
	}
	if req.Header.Get("User-Agent") == "" && s.userAgent != "" {
		req.Header.Set("User-Agent", s.userAgent)
	}
	res.Sent = req.Header

	client := s.client
	if guarded {
		client = s.guarded
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		return s.failed(res, method, 0, s.timeoutErr(unwrapURLError(err), timeout))
	}
	res.Header = resp.Header
	res.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Drain a little more so the connection can be reused, then close.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	resp.Body.Close()
	res.Latency = time.Since(start)
	return s.answered(res, method, resp.StatusCode, err)
}

// sendWire is Send over the wire.
func (s *Sender) sendWire(ctx context.Context, res Result, method string, timeout time.Duration, t *wireTarget) Result {
	r := res.Request
	sent := r.Header
	ua := sent.Get("User-Agent")
	if ua == "" && s.userAgent != "" {
		// As the net/http path sends it; r stays the caller's.
		sent = make(http.Header, len(r.Header)+1)
		for k, v := range r.Header {
			sent[k] = v
		}
		sent.Set("User-Agent", s.userAgent)
		ua = s.userAgent
	} else if _, ok := sent["User-Agent"]; !ok {
		ua = defaultGoUserAgent // what net/http sends when no one chose one
	}
	if sent == nil {
		sent = http.Header{}
	}
	res.Sent = sent

	wb := wireBufs.Get().(*wireBuf)
	defer putWireBuf(wb)
	if err := wb.appendRequest(method, t, ua, sent, r.Body); err != nil {
		return s.failed(res, method, 0, err)
	}
	start := time.Now()
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	reqClose := httpguts.HeaderValuesContainsToken(sent["Connection"], "close")
	resp, err := s.wire.roundTrip(ctx, t, wb.b, method, replayable(method, sent), reqClose, deadline)
	res.Latency = time.Since(start)
	if err != nil {
		return s.failed(res, method, 0, s.timeoutErr(err, timeout))
	}
	res.Header, res.Body = resp.header, resp.body
	return s.answered(res, method, resp.status, resp.bodyErr)
}

// defaultGoUserAgent is net/http's User-Agent for a request without one.
const defaultGoUserAgent = "Go-http-client/1.1"

// wireMethod reports whether method is a token the wire may write; other
// methods go to net/http, which names the fault.
func wireMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return m != "CONNECT"
}

// expectsContinue reports whether a request asks for 100-continue, which
// net/http handles by waiting before it sends the body.
func expectsContinue(h http.Header) bool {
	_, ok := h["Expect"]
	return ok
}

func (s *Sender) timeoutErr(err error, timeout time.Duration) error {
	if isTimeout(err) {
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return err
}

// failed completes res as a failed attempt.
func (s *Sender) failed(res Result, method string, status int, err error) Result {
	r := res.Request
	res.Status = status
	res.Err = &SendError{Method: method, URL: redactURL(r.URL), Status: status, Err: err}
	s.log.Warn("webhook attempt failed", "id", r.ID, "receiver", r.Receiver, "error", res.Err)
	return res
}

// answered completes res with the receiver's status; bodyErr is a failure
// to read the body's kept part.
func (s *Sender) answered(res Result, method string, status int, bodyErr error) Result {
	if status < 200 || status > 299 {
		return s.failed(res, method, status, nil)
	}
	r := res.Request
	if bodyErr != nil {
		// The receiver said 2xx; a broken body after that does not undo it.
		s.log.Debug("read response body", "id", r.ID, "error", bodyErr)
	}
	res.Status = status
	if s.log.Enabled(context.Background(), slog.LevelDebug) { // spare boxing the attributes per webhook
		s.log.Debug("webhook delivered", "id", r.ID, "receiver", r.Receiver, "status", res.Status, "latency", res.Latency)
	}
	return res
}

// setUserAgent gives h the Sender's User-Agent unless it has one, as Send
// would, so Send need not copy a header its caller made for it.
func (s *Sender) setUserAgent(h http.Header) {
	if s.userAgent != "" && h.Get("User-Agent") == "" {
		h.Set("User-Agent", s.userAgent)
	}
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
