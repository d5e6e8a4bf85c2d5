package esl_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/esl"
	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/waitfor"
)

// script is a switch on 127.0.0.1 that plays fixed bytes: for protocol
// corner cases the simulator never produces.
type script struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
}

// serve answers each connection with greet, then reads commands and
// answers each with answer(n, command) (n counts connections).
func serve(t *testing.T, greet string, answer func(n int, cmd string) string) *script {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &script{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			n := s.conns
			s.mu.Unlock()
			go func() {
				defer c.Close()
				fmt.Fprint(c, greet)
				r := bufio.NewReader(c)
				for {
					var cmd string
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if line = strings.TrimRight(line, "\r\n"); line == "" {
							if cmd != "" {
								break
							}
							continue
						}
						if cmd == "" {
							cmd = line
						}
					}
					out := answer(n, cmd)
					if out == "close" {
						return
					}
					fmt.Fprint(c, out)
				}
			}()
		}
	}()
	return s
}

func (s *script) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

const (
	greeting = "Content-Type: auth/request\n\n"
	ok       = "Content-Type: command/reply\nReply-Text: +OK\n\n"
)

func plainEvent(body string) string {
	return fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-plain\n\n%s", len(body), body)
}

func apiResponse(body string) string {
	return fmt.Sprintf("Content-Type: api/response\nContent-Length: %d\n\n%s", len(body), body)
}

// collector records what a connector reports.
type collector struct {
	mu   sync.Mutex
	sigs []signal.Signal
}

func (c *collector) HandleSignal(_ context.Context, s signal.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sigs = append(c.sigs, s)
	return nil
}

func (c *collector) find(f func(signal.Signal) bool) (signal.Signal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sigs {
		if f(s) {
			return s, true
		}
	}
	return signal.Signal{}, false
}

func newConnector(t *testing.T, addr, password string) *esl.Connector {
	t.Helper()
	c, err := esl.New(esl.Config{Addr: addr, Password: esl.Secret(password), MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c *esl.Connector, h signal.Handler) <-chan error {
	ctx, cancel := context.WithCancel(t.Context())
	done, result := make(chan error, 1), make(chan error, 1)
	go func() {
		err := c.Run(ctx, h)
		done <- err
		result <- err
	}()
	t.Cleanup(func() { cancel(); <-done })
	return result
}

func TestWrongPasswordStopsRun(t *testing.T) {
	s := serve(t, greeting, func(_ int, cmd string) string {
		if cmd == "auth right" {
			return "Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
		}
		return "Content-Type: command/reply\nReply-Text: -ERR invalid\n\n"
	})
	done := run(t, newConnector(t, s.ln.Addr().String(), "wrong"), &collector{})
	select {
	case err := <-done:
		if !errors.Is(err, esl.ErrAuth) || !strings.Contains(err.Error(), "-ERR invalid") {
			t.Fatalf("Run: %v, want ErrAuth naming the reply", err)
		}
	case <-time.After(within):
		t.Fatal("Run goes on with a wrong password")
	}
}

func TestACLRejectionStopsRun(t *testing.T) {
	// mod_event_socket.c: apply-inbound-acl refusing the client's address.
	msg := "Access Denied, go away.\n"
	s := serve(t, fmt.Sprintf("Content-Type: text/rude-rejection\nContent-Length: %d\n\n%s", len(msg), msg), nil)
	done := run(t, newConnector(t, s.ln.Addr().String(), "pw"), &collector{})
	select {
	case err := <-done:
		if !errors.Is(err, esl.ErrDenied) || !strings.Contains(err.Error(), "Access Denied") {
			t.Fatalf("Run: %v, want ErrDenied", err)
		}
	case <-time.After(within):
		t.Fatal("Run goes on after an ACL rejection")
	}
}

func TestNotAnEventSocketStopsRun(t *testing.T) {
	s := serve(t, "SSH-2.0-OpenSSH_9.6\r\n", nil)
	done := run(t, newConnector(t, s.ln.Addr().String(), "pw"), &collector{})
	select {
	case err := <-done:
		if !errors.Is(err, esl.ErrNotESL) || !strings.Contains(err.Error(), "SSH-2.0") {
			t.Fatalf("Run: %v, want ErrNotESL naming the line", err)
		}
	case <-time.After(within):
		t.Fatal("Run goes on against something that is no event socket")
	}
}

// A malformed event inside a well-framed frame costs that event only; a
// frame that cannot be framed costs the session, which is announced and
// re-established.
func TestMalformedInput(t *testing.T) {
	sync1 := plainEvent("Event-Name: CUSTOM\nEvent-Subclass: callhook%3A%3Async\nToken: one\n\n")
	sync2 := plainEvent("Event-Name: CUSTOM\nEvent-Subclass: callhook%3A%3Async\nToken: two\n\n")
	s := serve(t, greeting, func(n int, cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "auth "):
			return "Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
		case strings.HasPrefix(cmd, "event plain"):
			return "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"
		case cmd == "api strmicroepoch":
			return apiResponse("1796228924000000")
		case cmd == "api show calls as json":
			out := apiResponse("{\"row_count\": 0}\n")
			if n == 1 {
				// A broken event, then a good one, then bytes that are
				// no frame at all.
				out += plainEvent("Event-Name: CHANNEL_CREATE\nthis line has no colon\n\n") + sync1 + "garbage without a colon\n\n"
			} else {
				out += sync2
			}
			return out
		}
		return ok
	})
	col := &collector{}
	run(t, newConnector(t, s.ln.Addr().String(), "pw"), col)
	waitfor.True(t, within, "the good event after the malformed one", func() bool {
		_, ok := col.find(func(s signal.Signal) bool { return s.Kind == signal.Sync && s.Token == "one" })
		return ok
	})
	var d signal.Signal
	waitfor.True(t, within, "the session lost to the unframeable bytes", func() bool {
		var found bool
		d, found = col.find(func(s signal.Signal) bool { return s.Kind == signal.Disconnected })
		return found
	})
	if !errors.Is(d.Err, esl.ErrMalformed) || !strings.Contains(d.Err.Error(), "garbage without a colon") {
		t.Errorf("Disconnected: %v, want ErrMalformed naming the line", d.Err)
	}
	waitfor.True(t, within, "the second session's event", func() bool {
		_, ok := col.find(func(s signal.Signal) bool { return s.Kind == signal.Sync && s.Token == "two" })
		return ok
	})
}

// The switch announcing a disconnect (mod_event_socket's send_disconnect)
// ends the session with a reason naming it.
func TestDisconnectNotice(t *testing.T) {
	msg := "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
	s := serve(t, greeting, func(n int, cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "auth "):
			return "Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
		case strings.HasPrefix(cmd, "event "):
			return "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"
		case cmd == "api strmicroepoch" && n == 1:
			return fmt.Sprintf("Content-Type: text/disconnect-notice\nContent-Length: %d\n\n%s", len(msg), msg)
		case cmd == "api strmicroepoch":
			return apiResponse("1796228924000000")
		case cmd == "api show calls as json":
			return apiResponse("{\"row_count\": 0}\n")
		}
		return ok
	})
	col := &collector{}
	run(t, newConnector(t, s.ln.Addr().String(), "pw"), col)
	var d signal.Signal
	waitfor.True(t, within, "the disconnect notice", func() bool {
		var found bool
		d, found = col.find(func(s signal.Signal) bool { return s.Kind == signal.Disconnected })
		return found
	})
	if !errors.Is(d.Err, esl.ErrSessionLost) || !strings.Contains(d.Err.Error(), "disconnect notice") {
		t.Errorf("Disconnected: %v", d.Err)
	}
	waitfor.True(t, within, "a second session", func() bool { return s.connections() >= 2 })
}

func TestConfigProblemsAllReported(t *testing.T) {
	_, err := esl.New(esl.Config{Addr: "nohost", Password: "a\nb", Format: "xml", KeepAlive: -1})
	if !errors.Is(err, esl.ErrConfig) {
		t.Fatalf("New: %v, want ErrConfig", err)
	}
	for _, field := range []string{"Addr", "Password", "Format", "KeepAlive"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	if s := fmt.Sprint(esl.Secret("ClueCon")); strings.Contains(s, "ClueCon") {
		t.Errorf("a secret prints as %q", s)
	}
}
