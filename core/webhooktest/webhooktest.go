// Package webhooktest provides a capturing webhook receiver: a real HTTP
// server on 127.0.0.1 that records every request it gets, for tests and for
// examples that need somewhere to deliver to, the way net/http/httptest
// provides servers for handler tests.
//
// It does not import net/http/httptest, so programs (not only tests) can use
// it without gaining httptest's command-line flag.
package webhooktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Sentinel errors.
var (
	// ErrClosed is returned by Wait when the server was closed before enough
	// requests arrived.
	ErrClosed = errors.New("webhooktest: server closed")
)

// maxBody bounds how much of one request body is kept; webhooks are small.
const maxBody = 8 << 20

// Captured is one request as the receiver saw it.
type Captured struct {
	Method string
	Path   string
	Query  url.Values
	// RawQuery is the query as sent, so parameter order can be checked.
	RawQuery string
	Header   http.Header
	Body     []byte
	Time     time.Time // when the request was read completely
	Status   int       // the status the receiver answered with
}

// Server is a running capturing receiver. Its methods are safe for
// concurrent use.
type Server struct {
	url string
	srv *http.Server
	ln  net.Listener
	// served is closed when the Serve goroutine returns.
	served chan struct{}

	mu       sync.Mutex
	reqs     []Captured
	status   int
	queue    []int         // statuses to answer with first, in order
	arrived  chan struct{} // closed and replaced whenever a request is captured
	closed   bool
	closedCh chan struct{}
}

// NewServer starts a receiver on 127.0.0.1 on a free port that answers 200
// to every request. It panics if it cannot listen, as httptest.NewServer
// does, because a test cannot go on without it.
func NewServer() *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("webhooktest: listen on 127.0.0.1:0: %v", err))
	}
	s := &Server{
		url:      "http://" + ln.Addr().String(),
		ln:       ln,
		served:   make(chan struct{}),
		status:   http.StatusOK,
		arrived:  make(chan struct{}),
		closedCh: make(chan struct{}),
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s
}

// URL is the receiver's base URL, http://127.0.0.1:PORT, without a trailing
// slash; any path below it is accepted.
func (s *Server) URL() string { return s.url }

// SetStatus sets the status code answered from now on (200 by default).
func (s *Server) SetStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

// SetStatusSequence makes the next len(codes) requests get these statuses in
// order, after which the SetStatus code applies again; it scripts a receiver
// that fails a few times and then recovers.
func (s *Server) SetStatusSequence(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = slices.Clone(codes)
}

// Requests returns a copy of what was captured so far, in arrival order.
func (s *Server) Requests() []Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Reset forgets the captured requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

// Wait blocks until at least n requests were captured and returns all
// captured so far. If ctx ends or the server is closed first, it returns
// what arrived with an error saying how many were missing.
func (s *Server) Wait(ctx context.Context, n int) ([]Captured, error) {
	for {
		s.mu.Lock()
		got, arrived, closed := len(s.reqs), s.arrived, s.closed
		if got >= n {
			reqs := slices.Clone(s.reqs)
			s.mu.Unlock()
			return reqs, nil
		}
		s.mu.Unlock()
		if closed {
			return s.Requests(), fmt.Errorf("wait for %d requests: got %d: %w", n, got, ErrClosed)
		}
		select {
		case <-arrived:
		case <-s.closedCh:
		case <-ctx.Done():
			reqs := s.Requests()
			return reqs, fmt.Errorf("wait for %d requests: got %d: %w", n, len(reqs), ctx.Err())
		}
	}
}

// Close stops the server, waiting for requests in progress to finish. It is
// safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closedCh)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.served
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	c := Captured{
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.Query(),
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     body,
		Time:     time.Now(),
	}
	s.mu.Lock()
	c.Status = s.status
	if len(s.queue) > 0 {
		c.Status, s.queue = s.queue[0], s.queue[1:]
	}
	s.reqs = append(s.reqs, c)
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	w.WriteHeader(c.Status)
}
