package delivery_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

// rawServer is a TCP server on port 0 that reads HTTP/1.1 requests and
// lets each test answer them byte by byte.
type rawServer struct {
	t       testing.TB
	ln      net.Listener
	accepts atomic.Int32
	reqs    chan rawRequest
	// answer writes the response to the n-th request (1-based, all
	// connections together) and says whether to keep the connection.
	answer func(c net.Conn, req rawRequest, n int) bool
	n      atomic.Int32
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

type rawRequest struct {
	head string // request line and fields, CRLFs included, up to the blank line
	body []byte
	conn int // 1-based number of the connection it came on
}

func newRawServer(t testing.TB, answer func(c net.Conn, req rawRequest, n int) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{t: t, ln: ln, answer: answer, reqs: make(chan rawRequest, 64)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) URL() string { return "http://" + s.ln.Addr().String() }

func (s *rawServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		id := int(s.accepts.Add(1))
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				req, err := readRawRequest(br)
				if err != nil {
					return
				}
				req.conn = id
				if s.reqs != nil {
					s.reqs <- req
				}
				if !s.answer(c, req, int(s.n.Add(1))) {
					return
				}
			}
		}()
	}
}

func (s *rawServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// request returns the next request the server read, failing the test if
// none comes within a few seconds.
func (s *rawServer) request() rawRequest {
	s.t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-time.After(5 * time.Second):
		s.t.Fatal("timed out waiting for the server to read a request")
		return rawRequest{}
	}
}

func readRawRequest(br *bufio.Reader) (rawRequest, error) {
	var head strings.Builder
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return rawRequest{}, err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		return rawRequest{}, err
	}
	return rawRequest{head: head.String(), body: body}, nil
}

// ok200 answers "ok" and keeps the connection.
func ok200(c net.Conn, _ rawRequest, _ int) bool {
	_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	return err == nil
}

func TestWireReusesConnection(t *testing.T) {
	srv := newRawServer(t, ok200)
	s := delivery.NewSender()
	if !s.UsesWire(srv.URL()) {
		t.Fatal("a plain http URL does not take the wire")
	}
	const n = 20
	for i := range n {
		res := s.Send(context.Background(), delivery.Request{URL: srv.URL() + "/hook", Body: []byte(strconv.Itoa(i))})
		if res.Err != nil || res.Status != 200 || string(res.Body) != "ok" {
			t.Fatalf("request %d: %+v", i, res)
		}
		if got := srv.request(); string(got.body) != strconv.Itoa(i) || got.conn != 1 {
			t.Fatalf("request %d arrived as %q on connection %d", i, got.body, got.conn)
		}
	}
	if a := srv.accepts.Load(); a != 1 {
		t.Errorf("%d sequential requests took %d connections, want 1", n, a)
	}
}

// TestWireKeepAliveHTTPTest: the same against net/http's server, counting
// new connections with its ConnState hook.
func TestWireKeepAliveHTTPTest(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", string(b))
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s := delivery.NewSender()
	for i := range 10 {
		res := s.Send(context.Background(), delivery.Request{URL: srv.URL, Body: []byte(fmt.Sprint("b", i))})
		if res.Err != nil || res.Status != 202 || res.Header.Get("X-Echo") != fmt.Sprint("b", i) {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("10 requests took %d connections, want 1", n)
	}
}

// TestWireResponses: how the wire reads what a receiver may answer, and
// whether it keeps the connection for the next request.
func TestWireResponses(t *testing.T) {
	big := strings.Repeat("x", 10<<10)
	huge := strings.Repeat("y", 200<<10)
	chunk := func(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }
	tests := []struct {
		name     string
		method   string
		response string // to the first request; the second gets ok200
		status   int
		body     string
		header   map[string]string // expected response fields ("" = absent)
		conns    int32             // connections used by the two requests
		wantErr  string            // of the first request
	}{
		{name: "content-length", response: "HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello",
			status: 201, body: "hello", header: map[string]string{"X-A": "1", "Content-Length": "5"}, conns: 1},
		{name: "chunked with extension and trailer",
			response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hel") + "2;ext=1\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n",
			status:   200, body: "hello", header: map[string]string{"Transfer-Encoding": "", "X-Trailer": ""}, conns: 1},
		{name: "chunked beats content-length",
			response: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("abc") + "0\r\n\r\n",
			status:   200, body: "abc", header: map[string]string{"Content-Length": ""}, conns: 1},
		{name: "connection close", response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok", header: map[string]string{"Connection": "close"}, conns: 2},
		{name: "HTTP/1.0 without keep-alive", response: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok", conns: 2},
		{name: "HTTP/1.0 keep-alive", response: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok", conns: 1},
		{name: "body until close", response: "HTTP/1.1 200 OK\r\n\r\nall of it",
			status: 200, body: "all of it", conns: 2},
		{name: "1xx skipped", response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
			status: 200, body: "done", header: map[string]string{"Link": ""}, conns: 1},
		{name: "204 has no body", response: "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
			status: 204, body: "", conns: 1},
		{name: "HEAD has no body", method: "HEAD", response: "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
			status: 200, body: "", conns: 1},
		{name: "body above the kept size is drained", response: "HTTP/1.1 200 OK\r\nContent-Length: 10240\r\n\r\n" + big,
			status: 200, body: big[:4<<10], conns: 1},
		{name: "chunked body above the kept size is drained",
			response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(big[:3000]) + chunk(big[:7000]) + "0\r\n\r\n",
			status:   200, body: big[:4<<10], conns: 1},
		{name: "body beyond the drain limit closes", response: "HTTP/1.1 200 OK\r\nContent-Length: 204800\r\n\r\n" + huge,
			status: 200, body: huge[:4<<10], conns: 2},
		{name: "chunked beyond the drain limit closes",
			response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(huge) + "0\r\n\r\n",
			status:   200, body: huge[:4<<10], conns: 2},
		{name: "error status keeps its body", response: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy",
			status: 503, body: "busy", header: map[string]string{"Retry-After": "1"}, conns: 1, wantErr: "receiver answered 503 Service Unavailable"},
		{name: "redirect is the answer", response: "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
			status: 302, header: map[string]string{"Location": "/elsewhere"}, conns: 1, wantErr: "receiver answered 302 Found"},
		{name: "folded field", response: "HTTP/1.1 200 OK\r\nX-Fold: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
			status: 200, header: map[string]string{"X-Fold": "a b"}, conns: 1},
		{name: "bare LF", response: "HTTP/1.1 200 OK\nx-lower: v \nContent-Length: 1\n\n!",
			status: 200, body: "!", header: map[string]string{"X-Lower": "v"}, conns: 1},
		{name: "malformed status line", response: "HTTP/1.1 OK\r\n\r\n", conns: 2, wantErr: "malformed status line"},
		{name: "conflicting content-lengths", response: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
			conns: 2, wantErr: "several Content-Length values"},
		{name: "unknown transfer encoding", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
			conns: 2, wantErr: "unsupported transfer encoding"},
		{name: "truncated body", response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
			status: 200, body: "short", conns: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, req rawRequest, n int) bool {
				if n > 1 {
					return ok200(c, req, n)
				}
				io.WriteString(c, tt.response)
				// The cases that end their body with the connection, or
				// cut it short, need the close.
				return !strings.Contains(tt.name, "until close") && !strings.Contains(tt.name, "truncated")
			})
			s := delivery.NewSender()
			res := s.Send(context.Background(), delivery.Request{Method: tt.method, URL: srv.URL()})
			if tt.wantErr != "" {
				if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
					t.Fatalf("Err = %v, want %q", res.Err, tt.wantErr)
				}
			} else if res.Err != nil {
				t.Fatalf("Err = %v", res.Err)
			}
			if res.Status != tt.status || string(res.Body) != tt.body {
				t.Fatalf("status %d body %.40q (%d bytes), want %d %.40q (%d bytes)", res.Status, res.Body, len(res.Body), tt.status, tt.body, len(tt.body))
			}
			for k, v := range tt.header {
				if got := res.Header.Get(k); got != v {
					t.Errorf("response field %s = %q, want %q", k, got, v)
				}
			}
			srv.request()
			if res := s.Send(context.Background(), delivery.Request{URL: srv.URL()}); res.Err != nil {
				t.Fatalf("second request: %v", res.Err)
			}
			if got := srv.request(); got.conn != int(tt.conns) || srv.accepts.Load() != tt.conns {
				t.Errorf("second request came on connection %d of %d, want %d", got.conn, srv.accepts.Load(), tt.conns)
			}
		})
	}
}

// TestWireStaleConnection: a pooled connection the server closed while
// idle is replaced, whether the wire sees the close before sending (the
// server closed it a while ago) or only when the exchange fails (the
// server closed it as the request went out).
func TestWireStaleConnection(t *testing.T) {
	tests := []struct {
		name    string
		req     delivery.Request
		drop    bool // the server reads the second request and closes without an answer
		wantErr bool
		conns   int32
	}{
		// Whether the wire sees the close before it sends (see
		// TestIdleProbe) or when the exchange fails, a webhook goes out.
		{name: "closed while idle", req: delivery.Request{Header: http.Header{delivery.HeaderWebhookID: {"w1"}}, Body: []byte("p")}, conns: 2},
		{name: "dropped GET is sent again", req: delivery.Request{Method: "GET"}, drop: true, conns: 2},
		{name: "dropped webhook with an id is sent again", req: delivery.Request{Header: http.Header{delivery.HeaderWebhookID: {"w1"}}, Body: []byte("p")}, drop: true, conns: 2},
		{name: "dropped POST without a key is not", req: delivery.Request{Body: []byte("p")}, drop: true, wantErr: true, conns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := make(chan struct{})
			srv := newRawServer(t, func(c net.Conn, req rawRequest, n int) bool {
				switch {
				case n == 1 && !tt.drop:
					ok200(c, req, n)
					c.Close()
					close(closed)
					return false
				case n == 2 && tt.drop:
					return false // read it, then close without a word
				}
				return ok200(c, req, n)
			})
			s := delivery.NewSender()
			r := tt.req
			r.URL = srv.URL()
			if res := s.Send(context.Background(), r); res.Err != nil {
				t.Fatalf("first request: %v", res.Err)
			}
			srv.request()
			if !tt.drop {
				<-closed // the server has closed the connection the wire keeps
			}
			res := s.Send(context.Background(), r)
			if tt.wantErr {
				if res.Err == nil || res.Status != 0 {
					t.Fatalf("result %+v, want the error of a dropped connection", res)
				}
			} else if res.Err != nil || res.Status != 200 {
				t.Fatalf("second request: %+v", res)
			}
			if a := srv.accepts.Load(); a != tt.conns {
				t.Errorf("%d connections, want %d", a, tt.conns)
			}
		})
	}
}

// TestWireTimeout: a receiver that never answers costs the attempt's
// timeout and no more, and a cancelled ctx ends the attempt at once.
func TestWireTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newRawServer(t, func(net.Conn, rawRequest, int) bool {
		<-release // never answers; released at the end of the test
		return false
	})
	defer close(release)
	s := delivery.NewSender(delivery.WithSenderTimeout(10 * time.Second))

	start := time.Now()
	res := s.Send(context.Background(), delivery.Request{URL: srv.URL(), Timeout: 150 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > 3*time.Second || elapsed < 150*time.Millisecond {
		t.Errorf("timed out after %v, want about 150ms", elapsed)
	}
	if !errors.Is(res.Err, delivery.ErrTimeout) || !strings.Contains(res.Err.Error(), "no answer within 150ms") || !delivery.Retryable(res) {
		t.Fatalf("Err = %v, want a retryable timeout", res.Err)
	}
	srv.request()

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	res = s.Send(ctx, delivery.Request{URL: srv.URL()})
	if !errors.Is(res.Err, delivery.ErrTimeout) {
		t.Fatalf("ctx deadline: Err = %v", res.Err)
	}
	srv.request()

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan delivery.Result, 1)
	go func() { done <- s.Send(ctx, delivery.Request{URL: srv.URL()}) }()
	srv.request() // the request is out and waits for an answer
	start = time.Now()
	cancel()
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for the cancelled Send to return")
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("cancelled Send returned after %v", elapsed)
	}
	if !errors.Is(res.Err, context.Canceled) || delivery.Retryable(res) {
		t.Errorf("Err = %v, want context.Canceled", res.Err)
	}
}

// TestWireRequestBytes: the wire writes what net/http writes for the same
// request, apart from net/http's Accept-Encoding: gzip.
func TestWireRequestBytes(t *testing.T) {
	srv := newRawServer(t, ok200)
	wire, nethttp := delivery.NewSender(), delivery.NewSender(delivery.WithSenderNetHTTP())
	h := http.Header{
		"Content-Type":  {"application/json"},
		"X-Multi":       {"a", " b "},
		"Authorization": {delivery.BasicAuth("u", "p")},
		"Host":          {"ignored.example"},
	}
	tests := []delivery.Request{
		{URL: srv.URL() + "/hook?x=1", Header: h, Body: []byte(`{"a":1}`)},
		{Method: "GET", URL: srv.URL() + "/a b/ça?event=ringing&x=%2B1"},
		{Method: "POST", URL: srv.URL()},
		{Method: "PUT", URL: srv.URL() + "/x", Body: []byte{}},
		{Method: "DELETE", URL: srv.URL() + "/x"},
		{Method: "PATCH", URL: srv.URL() + "/x?", Header: http.Header{"User-Agent": {"mine/1"}}, Body: []byte("p")},
	}
	for _, r := range tests {
		t.Run(r.Method+" "+r.URL, func(t *testing.T) {
			if res := wire.Send(context.Background(), r); res.Err != nil {
				t.Fatal(res.Err)
			}
			got := srv.request()
			if res := nethttp.Send(context.Background(), r); res.Err != nil {
				t.Fatal(res.Err)
			}
			want := srv.request()
			want.head = strings.Replace(want.head, "Accept-Encoding: gzip\r\n", "", 1)
			if got.head != want.head || string(got.body) != string(want.body) {
				t.Errorf("wire wrote\n%q %q\nnet/http wrote\n%q %q", got.head, got.body, want.head, want.body)
			}
		})
	}
}

// TestWireRejectsCRLF: a header value with CR or LF would end the head
// early and smuggle a field or a request; neither path sends it.
func TestWireRejectsCRLF(t *testing.T) {
	srv := newRawServer(t, ok200)
	for _, s := range []*delivery.Sender{delivery.NewSender(), delivery.NewSender(delivery.WithSenderNetHTTP())} {
		for _, v := range []string{"a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b"} {
			res := s.Send(context.Background(), delivery.Request{URL: srv.URL(), Header: http.Header{"X-Evil": {v}}})
			if res.Err == nil || !strings.Contains(res.Err.Error(), `"X-Evil"`) || strings.Contains(res.Err.Error(), "Injected") {
				t.Errorf("value %q: Err = %v, want a refusal naming the field but not its value", v, res.Err)
			}
		}
		res := s.Send(context.Background(), delivery.Request{URL: srv.URL(), Header: http.Header{"X Bad": {"v"}}})
		if res.Err == nil {
			t.Error("a field name with a space was sent")
		}
	}
	if a := srv.accepts.Load(); a != 0 {
		t.Errorf("the server was reached %d times", a)
	}
}

// TestWireGuard: the guard refuses loopback on the wire too, also to a
// receiver the Sender already holds an open connection to for a request
// that allowed it.
func TestWireGuard(t *testing.T) {
	srv := newRawServer(t, ok200)
	s := delivery.NewSender(delivery.WithSenderGuard())
	if res := s.Send(context.Background(), delivery.Request{URL: srv.URL(), AllowPrivate: true}); res.Err != nil {
		t.Fatalf("allowed: %v", res.Err)
	}
	srv.request()
	res := s.Send(context.Background(), delivery.Request{URL: srv.URL()})
	if !errors.Is(res.Err, delivery.ErrForbiddenAddress) || !strings.Contains(res.Err.Error(), "allow_private = true") {
		t.Fatalf("Err = %v, want ErrForbiddenAddress naming allow_private", res.Err)
	}
	if a := srv.accepts.Load(); a != 1 {
		t.Errorf("%d connections, want only the allowed one", a)
	}
}

// TestWireTLS: https goes over the wire as HTTP/1.1 with the server name
// checked, and the connection is kept.
func TestWireTLS(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 1 {
			t.Errorf("request over %s, TLS %v", r.Proto, r.TLS != nil)
		}
		w.Write([]byte(r.Host))
	}))
	srv.EnableHTTP2 = true                           // the wire must still choose HTTP/1.1
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	s := delivery.NewSender(delivery.WithSenderWireTLS(&tls.Config{RootCAs: roots}))
	// httptest's certificate is for example.com and 127.0.0.1.
	for i := range 3 {
		res := s.Send(context.Background(), delivery.Request{URL: srv.URL})
		if res.Err != nil || string(res.Body) != strings.TrimPrefix(srv.URL, "https://") {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 requests took %d connections, want 1", n)
	}
	res := delivery.NewSender().Send(context.Background(), delivery.Request{URL: srv.URL})
	var uerr x509.UnknownAuthorityError
	if !errors.As(res.Err, &uerr) {
		t.Errorf("without the test roots: Err = %v, want an unknown authority", res.Err)
	}
}

// TestWireDeclines: what the wire leaves to net/http.
func TestWireDeclines(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		t.Setenv(k, "") // a proxy sends every URL to net/http
	}
	s := delivery.NewSender()
	for url, want := range map[string]bool{
		"http://127.0.0.1:8080/hook?x=1": true,
		"https://example.com/hook":       true,
		"http://[::1]:8080/":             true,
		"http://user:pw@example.com/":    false,
		"ftp://example.com/":             false,
		"http://bücher.example/":         false,
		"http://[fe80::1%25eth0]:80/":    false,
		"http:///nohost":                 false,
		"http://%zz/":                    false,
		"http://example.com/p?a b":       false,
		"http://example.com/p?a=1&b=%2B": true,
		"http://example.com/p?x#frag":    true,
		"http://example.com/p#%zz":       false,
		"http://u:p@example.com/p?x=1":   false,
	} {
		if got := s.UsesWire(url); got != want {
			t.Errorf("UsesWire(%q) = %v, want %v", url, got, want)
		}
	}
	if delivery.NewSender(delivery.WithSenderTransport(http.DefaultTransport)).UsesWire("http://example.com/") {
		t.Error("a Sender with its own transport uses the wire")
	}
}

// TestWireContextBinding: requests under one long-lived ctx (a
// Dispatcher's) share a connection; when that ctx ends while the
// connection is idle, a request under another ctx is not cancelled by it.
func TestWireContextBinding(t *testing.T) {
	srv := newRawServer(t, ok200)
	s := delivery.NewSender()
	ctxA, cancelA := context.WithCancel(context.Background())
	for i := range 5 {
		if res := s.Send(ctxA, delivery.Request{URL: srv.URL()}); res.Err != nil {
			t.Fatalf("request %d under ctx A: %v", i, res.Err)
		}
		srv.request()
	}
	if a := srv.accepts.Load(); a != 1 {
		t.Fatalf("5 requests under one ctx took %d connections, want 1", a)
	}
	cancelA()
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	for i := range 3 {
		if res := s.Send(ctxB, delivery.Request{URL: srv.URL()}); res.Err != nil {
			t.Fatalf("request %d under ctx B after ctx A ended: %v", i, res.Err)
		}
		srv.request()
	}
	// The connection ctx A's end may have hit is not reused.
	if a := srv.accepts.Load(); a != 2 {
		t.Errorf("%d connections, want 2", a)
	}
	if res := s.Send(context.Background(), delivery.Request{URL: srv.URL()}); res.Err != nil {
		t.Fatalf("request without a ctx to end: %v", res.Err)
	}
}

// TestWireConcurrent: parallel webhooks to one receiver each get a
// connection of their own or a free one, and every answer reaches its
// request.
func TestWireConcurrent(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, req rawRequest, _ int) bool {
		_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.body), req.body)
		return err == nil
	})
	srv.reqs = nil
	s := delivery.NewSender()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf("w%d-%d", w, i)
				res := s.Send(context.Background(), delivery.Request{URL: srv.URL(), Body: []byte(body)})
				if res.Err != nil || string(res.Body) != body {
					errs <- fmt.Errorf("%s: answer %q, %v", body, res.Body, res.Err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if a := srv.accepts.Load(); a > workers {
		t.Errorf("%d connections for %d workers", a, workers)
	}
}
