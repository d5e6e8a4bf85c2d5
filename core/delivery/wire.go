package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The wire is the Sender's own HTTP/1.1 client. A webhook is one small
// request answered by one small response, yet net/http spends two
// goroutines per connection (read and write loops), a channel hand-off per
// request, a context, a parsed *url.URL, a cloned header and a *Request on
// it. The wire does the exchange on the caller's goroutine: one write of the
// whole request from a reused buffer, then a read of the response through
// the connection's reader. Whatever it does not handle goes to net/http (see
// Sender.Send and wire.target).

// Limits of the wire, net/http's where it has them.
const (
	maxIdleConns        = 1024 // all receivers together
	maxIdleConnsPerHost = 256
	idleConnTimeout     = 90 * time.Second
	keepAlivePeriod     = 30 * time.Second
	drainLimit          = 64 << 10 // read past maxResponseBody to keep a connection
	maxHeaderBytes      = 1 << 20  // all response heads of one exchange (1xx included)
)

// aLongTimeAgo is a deadline in the past: setting it makes a blocked read
// or write on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// wire holds the idle connections of one Sender.
type wire struct {
	open           *net.Dialer // for receivers allowed on private addresses
	guarded        *net.Dialer // refuses private addresses (guardControl)
	tlsBase        *tls.Config // nil: system roots
	connectTimeout time.Duration
	proxyEnv       bool // a proxy variable is set: ask http.ProxyFromEnvironment per URL

	mu        sync.Mutex
	pools     map[poolKey]*hostPool
	idleCount int // idle connections in all pools

	// targets remembers what target made of a URL without its query (a
	// receiver's URL is the same for every webhook but for a query some
	// dialects fill per event), so a URL is parsed once rather than per
	// request.
	targets  sync.Map // raw URL up to "?" → cachedTarget
	ntargets atomic.Int32
}

// maxTargets bounds the URL cache; it is emptied when full.
const maxTargets = 4096

type cachedTarget struct {
	t  wireTarget
	ok bool
}

// poolKey names the connections one request may reuse. A connection dialled
// without the guard may lead to a private address, so guarded requests have
// their own.
type poolKey struct {
	addr    string // host:port as dialled
	tls     bool
	guarded bool
}

type hostPool struct {
	key      poolKey
	tls      *tls.Config // https: the base config for this server name
	idle     []*wireConn // oldest first; wire.mu guards it
	sweeping bool        // a timer will close expired idle connections
}

func newWire(connectTimeout time.Duration, tlsBase *tls.Config) *wire {
	dialer := func(control func(network, address string, c syscall.RawConn) error) *net.Dialer {
		return &net.Dialer{Timeout: connectTimeout, KeepAlive: keepAlivePeriod, Control: control}
	}
	w := &wire{
		open:           dialer(nil),
		guarded:        dialer(guardControl),
		tlsBase:        tlsBase,
		connectTimeout: connectTimeout,
		pools:          map[poolKey]*hostPool{},
	}
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		if os.Getenv(k) != "" {
			w.proxyEnv = true
		}
	}
	return w
}

// wireTarget is a request URL as the wire uses it.
type wireTarget struct {
	key  poolKey
	host string // Host header: the URL's host as written
	name string // TLS server name
	uri  string // request target, as net/http writes it
}

// target reports whether the wire can send to raw and how. It declines
// (false) whatever net/http does more with than a plain request, and bad
// URLs, so that net/http gives its usual answer or error for them.
func (w *wire) target(raw string, guarded bool) (wireTarget, bool) {
	if strings.IndexByte(raw, '#') >= 0 {
		// Rare, and url.Parse checks a fragment's escapes: parse it all.
		t, ok := w.parseTarget(raw)
		t.key.guarded = guarded
		return t, ok
	}
	// url.Parse cuts the query off first and keeps it as written, so the
	// rest parses the same without it.
	prefix, query, hasQuery := strings.Cut(raw, "?")
	var t wireTarget
	var ok bool
	if v, hit := w.targets.Load(prefix); hit {
		c := v.(cachedTarget)
		t, ok = c.t, c.ok
	} else {
		t, ok = w.parseTarget(prefix)
		if w.ntargets.Add(1) > maxTargets {
			w.targets.Clear()
			w.ntargets.Store(1)
		}
		w.targets.Store(prefix, cachedTarget{t, ok})
	}
	if !ok || !plainTarget(query) {
		return wireTarget{}, false
	}
	if hasQuery {
		t.uri += "?" + query
	}
	t.key.guarded = guarded
	return t, true
}

// plainTarget reports whether s has no control bytes and no spaces, which
// would break the request line; net/http is left to deal with those.
func plainTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (w *wire) parseTarget(raw string) (wireTarget, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return wireTarget{}, false
	}
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return wireTarget{}, false
	}
	if !plainHost(u.Host) {
		return wireTarget{}, false // IDN, IPv6 zone or odd bytes: net/http rewrites or drops them
	}
	if w.proxyEnv {
		if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); p != nil || err != nil {
			return wireTarget{}, false
		}
	}
	name := u.Hostname()
	if p := u.Port(); p != "" {
		port = p
	}
	uri := u.RequestURI()
	if !plainTarget(uri) {
		return wireTarget{}, false
	}
	return wireTarget{
		key:  poolKey{addr: net.JoinHostPort(name, port), tls: u.Scheme == "https"},
		host: u.Host,
		name: name,
		uri:  uri,
	}, true
}

// plainHost reports whether a URL's host is ASCII letters, digits and the
// punctuation of names, ports and IPv6 literals, which net/http would send
// unchanged in the Host header.
func plainHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// wireConn is one keep-alive connection.
type wireConn struct {
	conn   net.Conn // the TLS connection for https
	raw    net.Conn // the TCP connection beneath
	br     *bufio.Reader
	hdr    []byte // response head lines, then a body's first bytes
	cancel func() // unblocks conn when the attempt's ctx ends
	probe  idleProbe
	// The ctx whose end cancels the exchange on this connection, by its
	// Done channel: it stays registered while requests under the same
	// ctx (a Dispatcher's) follow one another, sparing a registration
	// per request.
	ctxDone <-chan struct{}
	ctxStop func() bool
	idleAt  time.Time
	used    bool // has carried an exchange: it may have been closed while idle
}

func (c *wireConn) close() {
	c.unbind()
	_ = c.conn.Close()
}

// bind makes the end of ctx cancel exchanges on c. It reports false when
// c is unusable: the ctx it was bound to before ended, and the cancel
// may be about to hit the next exchange.
func (c *wireConn) bind(ctx context.Context) bool {
	done := ctx.Done()
	if done == c.ctxDone {
		return true
	}
	if !c.unbind() {
		return false
	}
	if done != nil {
		c.ctxDone, c.ctxStop = done, context.AfterFunc(ctx, c.cancel)
	}
	return true
}

// unbind undoes bind; false means the cancel ran or is running.
func (c *wireConn) unbind() bool {
	stop := c.ctxStop
	c.ctxDone, c.ctxStop = nil, nil
	return stop == nil || stop()
}

// pool returns the pool for t's key, making it on first use.
func (w *wire) pool(t *wireTarget) *hostPool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pools[t.key]
	if p == nil {
		p = &hostPool{key: t.key}
		if t.key.tls {
			cfg := &tls.Config{}
			if w.tlsBase != nil {
				cfg = w.tlsBase.Clone()
			}
			cfg.ServerName = t.name
			cfg.NextProtos = []string{"http/1.1"}
			p.tls = cfg
		}
		w.pools[t.key] = p
	}
	return p
}

// take returns the most recently used idle connection of p that still
// looks alive, or nil.
func (w *wire) take(p *hostPool, now time.Time) *wireConn {
	for {
		w.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			w.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		w.idleCount--
		var expired []*wireConn
		if now.Sub(c.idleAt) > idleConnTimeout {
			// The rest are older still.
			expired = append(p.idle, c)
			p.idle = nil
			w.idleCount -= n - 1
		}
		w.mu.Unlock()
		if expired != nil {
			for _, e := range expired {
				e.close()
			}
			return nil
		}
		// Without a reader goroutine nothing has watched c while idle: look
		// whether the server closed it or said something unasked (a 408)
		// before trusting it with a request.
		if c.br.Buffered() == 0 && c.raw.SetReadDeadline(time.Time{}) == nil && !c.idleClosed() {
			return c
		}
		c.close()
	}
}

// put keeps c for the next request to p, or closes it when the pools are
// full.
func (w *wire) put(p *hostPool, c *wireConn, now time.Time) {
	c.idleAt, c.used = now, true
	w.mu.Lock()
	if len(p.idle) >= maxIdleConnsPerHost || w.idleCount >= maxIdleConns {
		w.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	w.idleCount++
	if !p.sweeping {
		p.sweeping = true
		time.AfterFunc(idleConnTimeout, func() { w.sweep(p) })
	}
	w.mu.Unlock()
}

// sweep closes p's connections idle for longer than idleConnTimeout, so a
// receiver that is no longer sent to does not keep sockets open.
func (w *wire) sweep(p *hostPool) {
	now := time.Now()
	w.mu.Lock()
	cut := 0
	for cut < len(p.idle) && now.Sub(p.idle[cut].idleAt) > idleConnTimeout {
		cut++
	}
	expired := slices.Clone(p.idle[:cut])
	p.idle = slices.Delete(p.idle, 0, cut)
	w.idleCount -= cut
	if len(p.idle) > 0 {
		time.AfterFunc(p.idle[0].idleAt.Add(idleConnTimeout).Sub(now)+time.Millisecond, func() { w.sweep(p) })
	} else {
		p.sweeping = false
	}
	w.mu.Unlock()
	for _, c := range expired {
		c.close()
	}
}

// dropIdle closes all of p's idle connections: one of them was found
// closed by the server, and those idle longer are likely closed too.
func (w *wire) dropIdle(p *hostPool) {
	w.mu.Lock()
	idle := p.idle
	p.idle = nil
	w.idleCount -= len(idle)
	w.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// dial opens a connection to p's server within the attempt's deadline, the
// TCP connect and the TLS handshake each also within the connect timeout,
// as net/http's Transport bounds them.
func (w *wire) dial(ctx context.Context, p *hostPool, deadline time.Time) (*wireConn, error) {
	d := w.open
	if p.key.guarded {
		d = w.guarded
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", p.key.addr)
	if err != nil {
		return nil, err
	}
	c := &wireConn{conn: nc, raw: nc}
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		hctx, hcancel := context.WithTimeout(ctx, w.connectTimeout)
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", p.key.addr, err)
		}
		c.conn = tc
	}
	c.br = bufio.NewReaderSize(c.conn, 4<<10)
	c.cancel = func() { _ = c.conn.SetDeadline(aLongTimeAgo) }
	c.probe.init(c.raw, p.tls != nil)
	return c, nil
}

// wireResponse is what an exchange brings back.
type wireResponse struct {
	status  int
	header  http.Header
	body    []byte
	bodyErr error // reading the kept part of the body failed
	reuse   bool  // the connection may carry the next request
}

// roundTrip makes one attempt: the request in req (head and body) goes out
// on an idle connection or a new one, and the response is read back, all
// before deadline and unless ctx ends. A reused connection that turns out
// closed by the server before any byte of the response arrived is replaced
// by a new one once, when the request may be repeated (replayable).
func (w *wire) roundTrip(ctx context.Context, t *wireTarget, req []byte, method string, replayable, reqClose bool, deadline time.Time) (wireResponse, error) {
	p := w.pool(t)
	c := w.take(p, time.Now())
	if c != nil && !c.bind(ctx) {
		c.close()
		c = nil
	}
	for retried := false; ; retried = true {
		if c == nil {
			var err error
			if c, err = w.dial(ctx, p, deadline); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return wireResponse{}, cerr
				}
				return wireResponse{}, err // names the address, as net/http's does
			}
			c.bind(ctx) // a new connection has no binding to undo
		}
		resp, answered, err := c.exchange(ctx, req, method, deadline)
		if err == nil {
			if resp.reuse && !reqClose {
				w.put(p, c, time.Now())
			} else {
				c.close()
			}
			return resp, nil
		}
		c.close()
		if c.used && !answered && !retried && replayable && staleConnErr(err) && ctx.Err() == nil {
			w.dropIdle(p)
			c = nil
			continue
		}
		return resp, attemptErr(ctx, err)
	}
}

// exchange writes req on c and reads the response. answered reports
// whether any byte of a response arrived.
func (c *wireConn) exchange(ctx context.Context, req []byte, method string, deadline time.Time) (resp wireResponse, answered bool, err error) {
	if err := c.conn.SetDeadline(deadline); err != nil {
		return resp, false, err
	}
	if _, err = c.conn.Write(req); err != nil {
		err = fmt.Errorf("write request: %w", err)
	} else {
		resp, answered, err = c.readResponse(method)
	}
	if ctx.Err() != nil {
		// The cancel has set, or is about to set, a past deadline.
		resp.reuse = false
	}
	if cap(c.hdr) > 64<<10 {
		c.hdr = nil // a rare huge head: do not keep its buffer with the connection
	}
	return resp, answered, err
}

// attemptErr says why an attempt failed: ctx's error when it ended (as
// net/http reports it), a deadline exceeded when the connection's deadline
// passed, else err.
func attemptErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// staleConnErr reports whether err is how a connection the server closed
// while idle fails the next exchange.
func staleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// replayable reports whether a request may be sent again after a reused
// connection failed before any answer, as net/http's Request.isReplayable
// decides, with the Standard Webhooks id (which every webhook of the
// engine carries) counted as an idempotency key like Idempotency-Key.
func replayable(method string, h http.Header) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	for _, k := range [...]string{"Idempotency-Key", "X-Idempotency-Key", HeaderWebhookID} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// wireExcluded are the header fields the wire writes itself (or, like
// net/http, not at all) instead of copying them from Request.Header.
func wireExcluded(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// wireBuf is a request being written; pooled so that a webhook's bytes go
// out of a buffer that is already there.
type wireBuf struct {
	b    []byte
	keys []string
}

var wireBufs = sync.Pool{New: func() any { return &wireBuf{b: make([]byte, 0, 2<<10)} }}

func putWireBuf(wb *wireBuf) {
	if cap(wb.b) > 64<<10 {
		return // a rare large body: do not keep its buffer
	}
	clear(wb.keys)
	wb.b, wb.keys = wb.b[:0], wb.keys[:0]
	wireBufs.Put(wb)
}

// appendRequest writes the request as net/http's Request.write does for
// the same request: request line, Host, User-Agent, Content-Length, the
// other fields sorted by name with their values trimmed, the blank line and
// the body. ua is the User-Agent line's value, "" for none. A field name or
// value that could end the head early (CR, LF, other control bytes) is an
// error rather than something to send: it would smuggle a field or a second
// request past the receiver.
func (wb *wireBuf) appendRequest(method string, t *wireTarget, ua string, h http.Header, body []byte) error {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				// The value may be a secret: name only the field.
				return fmt.Errorf("invalid header field value for %q: control character (CR, LF, ...) not allowed", k)
			}
		}
		if !wireExcluded(k) {
			wb.keys = append(wb.keys, k)
		}
	}
	slices.Sort(wb.keys)
	b := wb.b
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, t.uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\n"...)
	if ua != "" {
		b = append(b, "User-Agent: "...)
		b = append(b, trimOWS(ua)...)
		b = append(b, "\r\n"...)
	}
	// net/http's transferWriter.shouldSendContentLength for a body held
	// in memory.
	if len(body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	for _, k := range wb.keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, trimOWS(v)...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	wb.b = b
	return nil
}

// trimOWS drops leading and trailing spaces and tabs.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
