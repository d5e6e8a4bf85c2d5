package ami

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/waitfor"
)

const newchannel = "Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1795482057.322272\r\n" +
	"Channel: PJSIP/trunk-00000000\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\n" +
	"CallerIDNum: 2125559876\r\nCallerIDName: John Smith\r\nConnectedLineNum: <unknown>\r\n" +
	"ConnectedLineName: <unknown>\r\nContext: from-trunk\r\nExten: 2125550100\r\n" +
	"Uniqueid: 1795482057.0\r\nLinkedid: 1795482057.0\r\n\r\n"

const hangup = "Event: Hangup\r\nTimestamp: 1795482068.352090\r\nChannel: PJSIP/trunk-00000000\r\n" +
	"ChannelState: 6\r\nUniqueid: 1795482057.0\r\nLinkedid: 1795482057.0\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"

func TestNewValidatesConfig(t *testing.T) {
	good := testConfig("127.0.0.1:5038")
	for _, tc := range []struct {
		name   string
		change func(*Config)
		fields []string // every field the error must name
	}{
		{"empty address", func(c *Config) { c.Addr = "" }, []string{"Addr"}},
		{"address without port", func(c *Config) { c.Addr = "pbx.example" }, []string{"Addr"}},
		{"no credentials", func(c *Config) { c.Username, c.Secret = "", "" }, []string{"Username", "Secret"}},
		{"line break in username", func(c *Config) { c.Username = "a\r\nAction: Originate" }, []string{"Username"}},
		{"negative durations", func(c *Config) { c.KeepAlive, c.DialTimeout = -1, -1 }, []string{"KeepAlive", "DialTimeout"}},
		{"backoff bounds swapped", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }, []string{"MinBackoff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			_, err := New(cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f+":") {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
	c, err := New(Config{Addr: "127.0.0.1:5038", Username: "u", Secret: "s"})
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	if c.cfg.KeepAlive != DefaultKeepAlive || c.cfg.DialTimeout != DefaultDialTimeout ||
		c.cfg.MinBackoff != DefaultMinBackoff || c.cfg.MaxBackoff != DefaultMaxBackoff || c.cfg.Location != time.Local {
		t.Errorf("defaults not applied: %+v", c.cfg)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg := testConfig("127.0.0.1:5038")
	cfg.Secret = "hunter2"
	var buf bytes.Buffer
	text := slog.New(slog.NewTextHandler(&buf, nil))
	jsonl := slog.New(slog.NewJSONHandler(&buf, nil))
	text.Info("cfg", "config", cfg, "secret", cfg.Secret)
	jsonl.Info("cfg", "config", cfg, "secret", cfg.Secret)
	fmt.Fprintf(&buf, "%v %+v %#v %s", cfg, cfg, cfg, cfg.Secret)
	j, _ := json.Marshal(cfg)
	buf.Write(j)
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatalf("secret leaked: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "callhook") {
		t.Fatalf("config not logged at all: %s", buf.String())
	}
}

func TestAuthFailureIsPermanent(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		sc.login(banner, loginFailed)
	})
	rec := newRecorder()
	err := runResult(t, testConfig(ts.addr), rec)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Run: %v, want ErrAuth", err)
	}
	for _, want := range []string{ts.addr, `"callhook"`, "Authentication failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if n := ts.accepted(); n != 1 {
		t.Errorf("server saw %d connections, want 1 (no retry with bad credentials)", n)
	}
	if len(rec.ch) != 0 {
		t.Errorf("handler got signals: %s", show(<-rec.ch))
	}
}

func TestNonAMIBanner(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		_ = sc.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
		_, _ = sc.readAction() // hold the connection until the client leaves
	})
	err := runResult(t, testConfig(ts.addr), newRecorder())
	if !errors.Is(err, ErrNotAMI) || !strings.Contains(err.Error(), "SSH-2.0") || !strings.Contains(err.Error(), ts.addr) {
		t.Fatalf("Run: %v, want ErrNotAMI naming the banner and address", err)
	}
}

func TestRunStopsCleanly(t *testing.T) {
	logoff := make(chan struct{})
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		sc.serveActions(nil)
		close(logoff)
	})
	rec := newRecorder()
	c, stop := startRun(t, testConfig(ts.addr), rec)
	rec.expectKind(t, signal.Connected)
	if err := c.Run(context.Background(), rec); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	select {
	case <-logoff:
	case <-time.After(waitFor):
		t.Fatal("server never got Logoff")
	}
	if _, err := c.Action(context.Background(), "Ping"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Action after Run: %v, want ErrNotConnected", err)
	}
}

func TestHandlerErrorStopsRun(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		_ = sc.write(newchannel)
		sc.serveActions(nil)
	})
	boom := errors.New("store full")
	h := signal.HandlerFunc(func(_ context.Context, s signal.Signal) error {
		if s.Kind == signal.LegAppeared {
			return boom
		}
		return nil
	})
	err := runResult(t, testConfig(ts.addr), h)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "LegAppeared") {
		t.Fatalf("Run: %v, want the handler's error naming the signal", err)
	}
}

// TestReconnect drops the first connection mid-stream: the client reports
// the event read before the drop, then Disconnected, then logs in again and
// goes on with the second connection's events.
func TestReconnect(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		if sc.n == 1 {
			// A whole event, then half of the next one, then the drop.
			_ = sc.write(newchannel + hangup[:40])
			return
		}
		_ = sc.write(hangup)
		sc.serveActions(nil)
	})
	rec := newRecorder()
	cfg := testConfig(ts.addr)
	_, stop := startRun(t, cfg, rec)
	rec.expectKind(t, signal.Connected)
	if s := rec.expectKind(t, signal.LegAppeared); s.Leg.ID != "1795482057.0" {
		t.Errorf("LegCreated for %q", s.Leg.ID)
	}
	d := rec.expectKind(t, signal.Disconnected)
	if d.Err == nil || d.Time.IsZero() {
		t.Errorf("Disconnected without reason or time: %+v", d)
	}
	rec.expectKind(t, signal.Connected)
	if s := rec.expectKind(t, signal.LegGone); s.Cause != 16 {
		t.Errorf("Hangup cause %d", s.Cause)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := ts.accepted(); n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
}

// TestReconnectBacksOff refuses connections for a while: the client keeps
// trying with growing waits, sends no Disconnected for failed attempts, and
// gets through once the server is back.
func TestReconnectBacksOff(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		if sc.n <= 3 {
			return // close at once, before the banner
		}
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		sc.serveActions(nil)
	})
	rec := newRecorder()
	cfg := testConfig(ts.addr)
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 40*time.Millisecond
	start := time.Now()
	_, stop := startRun(t, cfg, rec)
	rec.expectKind(t, signal.Connected)
	// Waits of at least 20, 40, 40 ms before attempts 2, 3 and 4.
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("4 attempts took %s, want at least 100ms of backoff", el)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(rec.ch) != 0 {
		t.Errorf("unexpected signal %s", show(<-rec.ch))
	}
}

// TestKeepAlive: the first server reads the client's Pings but never answers
// them; the client must take the connection as lost and reconnect. The
// second server answers, and the session stays up across several Pings.
func TestKeepAlive(t *testing.T) {
	var mu sync.Mutex
	pings := map[int]int{}
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		if sc.n == 1 {
			for {
				m, err := sc.readAction()
				if err != nil {
					return
				}
				if m.Get("Action") == "Ping" && m.Get("ActionID") != "" {
					mu.Lock()
					pings[sc.n]++
					mu.Unlock()
				}
			}
		}
		sc.serveActions(func(m Message) string {
			if m.Get("Action") == "Ping" {
				mu.Lock()
				pings[sc.n]++
				mu.Unlock()
			}
			return ""
		})
	})
	rec := newRecorder()
	cfg := testConfig(ts.addr)
	cfg.KeepAlive = 100 * time.Millisecond
	_, stop := startRun(t, cfg, rec)
	rec.expectKind(t, signal.Connected)
	d := rec.expectKind(t, signal.Disconnected)
	if !errors.Is(d.Err, ErrPingTimeout) {
		t.Errorf("Disconnected.Err = %v, want ErrPingTimeout", d.Err)
	}
	rec.expectKind(t, signal.Connected)
	waitfor.Condition(t, waitFor, "a Ping on the first connection and three on the second", func() string {
		mu.Lock()
		defer mu.Unlock()
		if pings[1] >= 1 && pings[2] >= 3 {
			return ""
		}
		return fmt.Sprintf("pings seen: first connection %d, second %d", pings[1], pings[2])
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(rec.ch) != 0 {
		t.Errorf("answered Pings still lost the session: %s", show(<-rec.ch))
	}
}

// TestActionCorrelation sends two actions at once. The server answers them
// in reverse order with events in between, one as an event list; each
// Action gets its own response and the events still become signals.
func TestActionCorrelation(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		var got []Message
		for len(got) < 2 {
			m, err := sc.readAction()
			if err != nil {
				return
			}
			if m.Get("Action") != "Ping" {
				got = append(got, m)
			}
		}
		byName := map[string]string{}
		for _, m := range got {
			byName[m.Get("Action")] = m.Get("ActionID")
			if m.Get("Action") == "QueueStatus" && m.Get("Queue") != "800" {
				sc.t.Errorf("QueueStatus fields %v", m)
			}
		}
		qs, orig := byName["QueueStatus"], byName["Originate"]
		_ = sc.write(
			"Response: Success\r\nActionID: " + qs + "\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n" +
				newchannel +
				"Event: QueueParams\r\nQueue: 800\r\nActionID: " + qs + "\r\n\r\n" +
				"Response: Success\r\nActionID: someone-else-1\r\nMessage: not ours\r\n\r\n" +
				"Event: QueueMember\r\nQueue: 800\r\nName: Alice 101\r\nActionID: " + qs + "\r\n\r\n" +
				"Response: Error\r\nActionID: " + orig + "\r\nMessage: Extension does not exist.\r\n\r\n" +
				"Event: QueueStatusComplete\r\nActionID: " + qs + "\r\nEventList: Complete\r\nListItems: 2\r\n\r\n" +
				hangup)
		sc.serveActions(nil)
	})
	rec := newRecorder()
	c, stop := startRun(t, testConfig(ts.addr), rec)
	rec.expectKind(t, signal.Connected)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	type result struct {
		resp Response
		err  error
	}
	qsc, origc := make(chan result, 1), make(chan result, 1)
	go func() {
		r, err := c.Action(ctx, "QueueStatus", Field{"Queue", "800"})
		qsc <- result{r, err}
	}()
	go func() {
		r, err := c.Action(ctx, "Originate", Field{"Channel", "PJSIP/101"}, Field{"Exten", "999"})
		origc <- result{r, err}
	}()
	q, o := <-qsc, <-origc

	if q.err != nil || q.resp.Status() != "Success" || q.resp.Get("Message") != "Queue status will follow" {
		t.Errorf("QueueStatus: %v %v", q.resp, q.err)
	}
	var names []string
	for _, e := range q.resp.Events {
		names = append(names, e.Get("Event"))
	}
	if strings.Join(names, ",") != "QueueParams,QueueMember,QueueStatusComplete" {
		t.Errorf("QueueStatus events %v", names)
	}
	var ae *ActionError
	if !errors.As(o.err, &ae) || !errors.Is(o.err, ErrActionFailed) || ae.Message != "Extension does not exist." ||
		o.resp.Status() != "Error" {
		t.Errorf("Originate: %v %v, want an ActionError with the response", o.resp, o.err)
	}
	rec.expectKind(t, signal.LegAppeared)
	rec.expectKind(t, signal.LegGone)

	if _, err := c.Action(ctx, "Originate", Field{"Channel", "PJSIP/101\r\nAction: Hangup"}); !errors.Is(err, ErrInvalidField) {
		t.Errorf("field with a line break: %v, want ErrInvalidField", err)
	}
	if _, err := c.Action(ctx, "Ping", Field{"ActionID", "mine"}); !errors.Is(err, ErrInvalidField) {
		t.Errorf("own ActionID: %v, want ErrInvalidField", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestActionNotConnected(t *testing.T) {
	c, err := New(testConfig("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Action(context.Background(), "Ping"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Action: %v, want ErrNotConnected", err)
	}
}

// TestActionSessionLost: the PBX drops the connection while an action
// waits; the action fails with ErrSessionLost instead of hanging.
func TestActionSessionLost(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		if sc.n == 1 {
			for {
				// The resync's actions, then the test's, never answered.
				if m, err := sc.readAction(); err != nil || m.Get("Action") == "QueueSummary" {
					return
				}
			}
		}
		sc.serveActions(nil)
	})
	rec := newRecorder()
	c, _ := startRun(t, testConfig(ts.addr), rec)
	rec.expectKind(t, signal.Connected)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Action(ctx, "QueueSummary"); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Action: %v, want ErrSessionLost", err)
	}
	rec.expectKind(t, signal.Disconnected)
}

// TestMalformedPacketSkipped: a bad packet between good ones costs only
// itself, with a warning that quotes the line; the session stays up.
func TestMalformedPacketSkipped(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		_ = sc.write(newchannel + "Event: Newstate\r\nUniqueid: 1.1\r\n<garbage without colon>\r\n\r\n" + hangup)
		sc.serveActions(nil)
	})
	var logs syncBuffer
	cfg := testConfig(ts.addr)
	cfg.Logger = bufferLogger(&logs)
	rec := newRecorder()
	_, stop := startRun(t, cfg, rec)
	rec.expectKind(t, signal.Connected)
	rec.expectKind(t, signal.LegAppeared)
	rec.expectKind(t, signal.LegGone) // the Newstate was dropped, nothing else
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "garbage without colon") {
		t.Errorf("no warning naming the line in logs:\n%s", l)
	}
}

// TestTinyWrites sends a login response and events one byte per TCP write,
// with LF-only line ends in the events.
func TestTinyWrites(t *testing.T) {
	ts := newTestServer(t, func(sc *serverConn) {
		if err := sc.writeChunks([]byte(banner), func() int { return 1 }); err != nil {
			return
		}
		m, err := sc.readAction()
		if err != nil {
			return
		}
		resp := fmt.Sprintf(loginOK, m.Get("ActionID"))
		events := strings.ReplaceAll(newchannel+hangup, "\r\n", "\n")
		if err := sc.writeChunks([]byte(resp+events), func() int { return 1 }); err != nil {
			return
		}
		sc.serveActions(nil)
	})
	rec := newRecorder()
	_, stop := startRun(t, testConfig(ts.addr), rec)
	rec.expectKind(t, signal.Connected)
	s := rec.expectKind(t, signal.LegAppeared)
	if s.Leg.CallerName != "John Smith" || s.Leg.Endpoint != "trunk" || s.Time.Unix() != 1795482057 {
		t.Errorf("LegCreated %+v", s)
	}
	rec.expectKind(t, signal.LegGone)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDialFailuresRetry: nothing listens at first; Run keeps retrying and
// only returns when its context ends, with nil.
func TestDialFailuresRetry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the port now refuses connections
	var logs syncBuffer
	cfg := testConfig(addr)
	cfg.Logger = bufferLogger(&logs)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, newRecorder()) }()
	waitfor.Condition(t, waitFor, "three failed connection attempts in the log", func() string {
		if strings.Count(logs.String(), "ami connect failed") >= 3 {
			return ""
		}
		return "logs:\n" + logs.String()
	})
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v, want nil after cancel", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not return")
	}
}
