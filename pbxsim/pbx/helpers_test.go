package pbx_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// recorder keeps every event the PBX emits.
type recorder struct {
	mu     sync.Mutex
	events []pbx.Event
	more   chan struct{}
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{})} }

func (r *recorder) PBXEvent(e pbx.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	close(r.more)
	r.more = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) all() []pbx.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pbx.Event(nil), r.events...)
}

// waitFor blocks until pred holds for the events so far.
func (r *recorder) waitFor(t *testing.T, what string, pred func([]pbx.Event) bool) []pbx.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		evs := append([]pbx.Event(nil), r.events...)
		more := r.more
		r.mu.Unlock()
		if pred(evs) {
			return evs
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; %d events", what, len(evs))
		}
	}
}

// countEvents counts events named name whose Fields have key=value (any
// when key is empty).
func countEvents(evs []pbx.Event, name, key, value string) int {
	n := 0
	for _, e := range evs {
		if e.Name != name {
			continue
		}
		if key == "" {
			n++
			continue
		}
		for _, f := range e.Fields {
			if f.Key == key && f.Value == value {
				n++
				break
			}
		}
	}
	return n
}

type env struct {
	pbx *pbx.PBX
	rec *recorder
	ctx context.Context
}

func start(t *testing.T, mod func(*pbx.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cfg := pbx.DefaultTopology()
	rec := newRecorder()
	cfg.Observer = rec
	cfg.Logger = testLogger()
	if mod != nil {
		mod(&cfg)
	}
	p, err := pbx.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &env{pbx: p, rec: rec, ctx: ctx}
}

// extPhone starts and registers extension ext (password "secret<ext>").
func (e *env) extPhone(t *testing.T, ext, name, transport string) *phone.Phone {
	t.Helper()
	ph, err := phone.New(e.ctx, phone.Config{User: ext, DisplayName: name, Password: "secret" + ext, Server: e.pbx.Addr(), Transport: transport, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ph.Close() })
	if err := ph.Register(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.WaitRegistered(e.ctx, ext); err != nil {
		t.Fatal(err)
	}
	return ph
}

// carrier starts the capture's caller, 2125559876 "John Smith", which does
// not authenticate.
func (e *env) carrier(t *testing.T, transport string) *phone.Phone {
	t.Helper()
	ph, err := phone.New(e.ctx, phone.Config{User: "2125559876", DisplayName: "John Smith", Server: e.pbx.Addr(), Transport: transport, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ph.Close() })
	return ph
}

func wait(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// testLogger logs to stderr when PBXSIM_DEBUG is set.
func testLogger() *slog.Logger {
	if os.Getenv("PBXSIM_DEBUG") == "" {
		return nil
	}
	lvl := slog.LevelDebug
	if os.Getenv("PBXSIM_DEBUG") == "info" {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// eventually polls cond every 10 ms until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
