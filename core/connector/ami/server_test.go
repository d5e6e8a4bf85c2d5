package ami

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// waitFor bounds every wait of these tests; a hang fails instead of
// stalling the run.
const waitFor = 5 * time.Second

// testServer is a real AMI peer on 127.0.0.1: each accepted connection runs
// script in its own goroutine. It parses what the client sends with its own
// minimal reader, independent of the code under test.
type testServer struct {
	t      *testing.T
	ln     net.Listener
	addr   string
	script func(sc *serverConn)

	mu    sync.Mutex
	conns []*serverConn
	wg    sync.WaitGroup
}

func newTestServer(t *testing.T, script func(sc *serverConn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts := &testServer{t: t, ln: ln, addr: ln.Addr().String(), script: script}
	ts.wg.Add(1)
	go ts.accept()
	t.Cleanup(func() {
		ln.Close()
		ts.mu.Lock()
		for _, sc := range ts.conns {
			sc.conn.Close()
		}
		ts.mu.Unlock()
		ts.wg.Wait()
	})
	return ts
}

func (ts *testServer) accept() {
	defer ts.wg.Done()
	for {
		conn, err := ts.ln.Accept()
		if err != nil {
			return
		}
		ts.mu.Lock()
		sc := &serverConn{t: ts.t, n: len(ts.conns) + 1, conn: conn, br: bufio.NewReader(conn)}
		ts.conns = append(ts.conns, sc)
		ts.mu.Unlock()
		ts.wg.Add(1)
		go func() {
			defer ts.wg.Done()
			defer conn.Close()
			ts.script(sc)
		}()
	}
}

// accepted returns how many connections the server accepted.
func (ts *testServer) accepted() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.conns)
}

// serverConn is the server side of one connection.
type serverConn struct {
	t    *testing.T
	n    int // 1 for the first connection
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
}

func (sc *serverConn) write(s string) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_, err := io.WriteString(sc.conn, s)
	return err
}

// writeChunks writes data in pieces of the sizes size yields, so the client
// sees packets split across many TCP reads.
func (sc *serverConn) writeChunks(data []byte, size func() int) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	for len(data) > 0 {
		n := min(size(), len(data))
		if _, err := sc.conn.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// readAction reads one packet the client sent: "Key: Value" lines up to a
// blank line.
func (sc *serverConn) readAction() (Message, error) {
	var m Message
	for {
		line, err := sc.br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(line, "\r\n") {
			return nil, fmt.Errorf("client line %q does not end in CRLF", line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			return m, nil
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("client line %q is not \"Key: Value\"", line)
		}
		m = append(m, Field{Key: k, Value: v})
	}
}

// login writes the banner, reads the client's Login, checks it and returns
// its ActionID. answer is written back with %s replaced by the ActionID.
func (sc *serverConn) login(banner, answer string) (string, bool) {
	if err := sc.write(banner); err != nil {
		return "", false
	}
	m, err := sc.readAction()
	if err != nil {
		return "", false
	}
	want := Message{{"Action", "Login"}, {"Username", "callhook"}, {"Secret", "s3cret"}, {"Events", "on"}}
	for _, f := range want {
		if got, ok := m.Lookup(f.Key); !ok || got != f.Value {
			sc.t.Errorf("connection %d: Login field %s = %q, want %q (packet %v)", sc.n, f.Key, got, f.Value, m)
		}
	}
	if m[0] != (Field{"Action", "Login"}) {
		sc.t.Errorf("connection %d: first field %v, want Action: Login", sc.n, m[0])
	}
	id := m.Get("ActionID")
	if id == "" {
		sc.t.Errorf("connection %d: Login without ActionID", sc.n)
	}
	if err := sc.write(fmt.Sprintf(answer, id)); err != nil {
		return "", false
	}
	return id, true
}

const (
	banner      = "Asterisk Call Manager/11.0.0\r\n"
	loginOK     = "Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n"
	loginFailed = "Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n"
)

// serveActions answers the client's actions until the connection ends or
// the client logs off: Ping with Pong, Logoff with Goodbye, others through
// answer (which may return "" to stay silent).
func (sc *serverConn) serveActions(answer func(m Message) string) {
	for {
		m, err := sc.readAction()
		if err != nil {
			return
		}
		id := m.Get("ActionID")
		switch m.Get("Action") {
		case "Ping":
			if answer != nil {
				if a := answer(m); a != "" {
					_ = sc.write(a)
					continue
				}
			}
			_ = sc.write("Response: Success\r\nActionID: " + id + "\r\nPing: Pong\r\nTimestamp: 1795482070.000000\r\n\r\n")
		case "Logoff":
			_ = sc.write("Response: Goodbye\r\nActionID: " + id + "\r\nMessage: Thanks for all the fish.\r\n\r\n")
			return
		default:
			if answer != nil {
				if a := answer(m); a != "" {
					_ = sc.write(a)
				}
			}
		}
	}
}

// recorder is a signal.Handler that hands each signal to the test.
type recorder struct {
	ch chan signal.Signal
}

func newRecorder() *recorder { return &recorder{ch: make(chan signal.Signal, 1024)} }

func (r *recorder) HandleSignal(ctx context.Context, s signal.Signal) error {
	select {
	case r.ch <- s:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *recorder) next(t *testing.T) signal.Signal {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(waitFor):
		t.Fatalf("no signal within %s", waitFor)
		return signal.Signal{}
	}
}

// expectKind reads the next signal and fails unless it is of kind k.
func (r *recorder) expectKind(t *testing.T, k signal.Kind) signal.Signal {
	t.Helper()
	s := r.next(t)
	if s.Kind != k {
		t.Fatalf("got signal %s, want %s", show(s), k)
	}
	return s
}

// testConfig points at addr with short backoffs for fast reconnects. The
// scripted servers answer no Filter action, so event filters are off
// (filter_test.go has them on).
func testConfig(addr string) Config {
	return Config{
		Addr:          addr,
		Username:      "callhook",
		Secret:        "s3cret",
		KeepAlive:     time.Minute,
		MinBackoff:    5 * time.Millisecond,
		MaxBackoff:    20 * time.Millisecond,
		Location:      time.UTC,
		NoEventFilter: true,
	}
}

// startRun runs a connector for cfg in the background. The returned
// function cancels it and returns Run's result; cleanup does the same.
func startRun(t *testing.T, cfg Config, h signal.Handler) (*Connector, func() error) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, h) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-errc:
			case <-time.After(waitFor):
				result = errors.New("Run did not return after cancel")
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return c, stop
}

// runResult runs a connector to completion and returns Run's error.
func runResult(t *testing.T, cfg Config, h signal.Handler) error {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err = c.Run(ctx, h)
	if ctx.Err() != nil {
		t.Fatalf("Run did not return within %s", waitFor)
	}
	return err
}

// show renders a signal compactly for comparisons.
func show(s signal.Signal) string {
	at := ""
	if !s.Time.IsZero() {
		at = fmt.Sprintf(" @%d.%06d", s.Time.Unix(), s.Time.Nanosecond()/1000)
	}
	switch s.Kind {
	case signal.LegAppeared, signal.LegAlerting, signal.LegAnswered:
		return fmt.Sprintf("%s %s %s %s", s.Kind, s.Leg.ID, s.Leg.Endpoint, s.Leg.State) + at
	case signal.Dialling:
		return fmt.Sprintf("%s %s>%s %s %s", s.Kind, s.Leg.ID, s.Peer.ID, s.Peer.Endpoint, s.Number) + at
	case signal.DialEnded:
		return fmt.Sprintf("%s %s>%s %s %s", s.Kind, s.Leg.ID, s.Peer.ID, s.Peer.Endpoint, s.Outcome) + at
	case signal.Joined, signal.Left:
		return fmt.Sprintf("%s %s %s %s", s.Kind, s.Leg.ID, s.Leg.Endpoint, s.Bridge) + at
	case signal.LegGone:
		return fmt.Sprintf("%s %s %s %d", s.Kind, s.Leg.ID, s.Leg.Endpoint, s.Cause) + at
	}
	return s.Kind.String()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func bufferLogger(b *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
