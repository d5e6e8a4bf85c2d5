package ami

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// goroutinesBack waits until the goroutine count is back to at most n.
func goroutinesBack(t *testing.T, n int) {
	t.Helper()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= n })
}

func TestCloseEndsEverySession(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startServer(t, nil)
	logged, idle := dial(t, s.Addr()), dial(t, s.Addr())
	logged.login()
	slow := dial(t, s.Addr())
	slow.login()
	eventually(t, "3 sessions", func() bool { return s.sessionCount() == 3 })
	// Read slow's login event first: Close is the hard stop and may drop
	// what is still queued for a session.
	if m := logged.msg(); m.Get("Event") != "SuccessfulAuth" { // slow's login
		t.Fatalf("got %v", m)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := s.sessionCount(); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
	logged.expectEOF()
	// idle has its banner only; slow has unread packets: both see the end.
	idle.expectEOF()
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(t.Context()); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Close = %v, want ErrServerClosed", err)
	}
	for _, c := range []*client{logged, idle, slow} {
		_ = c.conn.Close()
	}
	goroutinesBack(t, before)
}

func TestShutdownSendsShutdownAndDrains(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.login()
	for i := range 100 {
		s.PBXEvent(testEvent("DeviceStateChange", i))
	}
	s.clock.Set(time.Unix(1795482099, 123456000))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	for i := range 100 { // queued before Shutdown: all delivered
		if m := c.msg(); m.Get("Seq") != fmt.Sprint(i) {
			t.Fatalf("event %d: got %v", i, m)
		}
	}
	c.expect("Event: Shutdown\r\nPrivilege: system,all\r\nTimestamp: 1795482099.123456\r\n" +
		"Shutdown: Cleanly\r\nRestart: False\r\n\r\n")
	c.expectEOF()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_ = c.conn.Close()
	goroutinesBack(t, before)
}

func TestShutdownGivesUpWithContext(t *testing.T) {
	s := startServer(t, func(c *Config) { c.QueueLen = 1 << 16 })
	c := dial(t, s.Addr())
	c.login()
	// The client reads nothing: its writer cannot drain, so Shutdown waits
	// for its context and then closes hard.
	e := testEvent("UserEvent", 0)
	e.Fields = append(e.Fields, pbx.Field{Key: "Body", Value: string(make([]byte, 1<<20))})
	for range 32 {
		s.PBXEvent(e)
	}
	ctx, cancel := context.WithCancel(t.Context())
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	cancel()
	select {
	case err := <-shut:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after its context ended")
	}
	if n := s.sessionCount(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

func TestStartContextCancelCloses(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := NewServer(Config{Users: map[string]string{"admin": "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	c := dial(t, s.Addr())
	c.login()
	cancel()
	c.expectEOF()
	_ = c.conn.Close()
	goroutinesBack(t, before)
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative queue":  {QueueLen: -1},
		"negative delay":  {AuthFailureDelay: -time.Second},
		"empty username":  {Users: map[string]string{"": "x"}},
		"override logoff": {Actions: map[string]Action{"logoff": func(Message) []Message { return nil }}},
		"nil action":      {Actions: map[string]Action{"Foo": nil}},
	} {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" {
		t.Errorf("Addr before Start = %q", s.Addr())
	}
	if err := s.Close(); err != nil { // Close before Start is harmless
		t.Errorf("Close before Start: %v", err)
	}
}
