package ami

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Server
	clock *clock
	logs  *syncBuffer
}

// startServer runs a server on 127.0.0.1:0 with the user admin/secret,
// timestamped events and no delay after a failed login; edit adjusts cfg.
func startServer(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	clk := &clock{t: time.Unix(1795482050, 0).UTC()}
	logs := &syncBuffer{}
	cfg := DefaultConfig()
	cfg.AuthFailureDelay = 0
	cfg.Now = clk.Now
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &testServer{Server: s, clock: clk, logs: logs}
}

// sessionCount is how many sessions the server holds.
func (s *Server) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dial connects and checks the banner.
func dial(t *testing.T, addr string) *client {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	banner, err := c.r.ReadString('\n')
	if err != nil || banner != Banner {
		t.Fatalf("banner = %q, %v; want %q", banner, err, Banner)
	}
	return c
}

// send writes one action from "Key: Value" lines.
func (c *client) send(lines ...string) {
	c.t.Helper()
	c.write(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// packet reads one packet's raw bytes, up to and with its blank line.
func (c *client) packet() string {
	c.t.Helper()
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read packet (so far %q): %v", b.String(), err)
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

func (c *client) msg() Message {
	c.t.Helper()
	p := c.packet()
	m, err := ReadMessage(bufio.NewReader(strings.NewReader(p)))
	if err != nil {
		c.t.Fatalf("parse %q: %v", p, err)
	}
	return m
}

// expect reads one packet and compares its bytes.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.packet(); got != want {
		c.t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// expectEOF checks the server closed the connection with nothing more.
func (c *client) expectEOF() {
	c.t.Helper()
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("got %q, want the connection closed", string(b)+string(rest))
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		c.t.Fatalf("read: %v, want EOF", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// login logs in as admin and reads the response, FullyBooted and
// SuccessfulAuth.
func (c *client) login(extra ...string) {
	c.t.Helper()
	c.send(append([]string{"Action: Login", "ActionID: gt-1", "Username: admin", "Secret: secret"}, extra...)...)
	c.expect("Response: Success\r\nActionID: gt-1\r\nMessage: Authentication accepted\r\n\r\n")
	if m := c.msg(); m.Get("Event") != "FullyBooted" {
		c.t.Fatalf("after login got %v, want FullyBooted", m)
	}
	if m := c.msg(); m.Get("Event") != "SuccessfulAuth" {
		c.t.Fatalf("after FullyBooted got %v, want SuccessfulAuth", m)
	}
}

// ping sends Ping and waits for its response: every packet queued before
// it has been read by then.
func (c *client) ping(id string) {
	c.t.Helper()
	c.send("Action: Ping", "ActionID: "+id)
	m := c.msg()
	if m.Get("Response") != "Success" || m.Get("ActionID") != id || m.Get("Ping") != "Pong" {
		c.t.Fatalf("got %v, want the Pong of %s", m, id)
	}
}
