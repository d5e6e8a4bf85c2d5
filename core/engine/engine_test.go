package engine_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect/threecx"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/webhooktest"
)

// replay is a connector that reports recorded signals, then a sync event.
type replay struct{ sigs []signal.Signal }

func (r replay) Run(ctx context.Context, h signal.Handler) error {
	all := append([]signal.Signal{{Kind: signal.Connected}}, r.sigs...)
	all = append(all, signal.Signal{Kind: signal.Sync, Token: "t1"})
	for _, s := range all {
		if err := h.HandleSignal(ctx, s); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

type flusher struct{ d *delivery.Dispatcher }

func (f flusher) Enqueue(_ context.Context, r delivery.Request) error { return f.d.Enqueue(r) }
func (f flusher) Flush(ctx context.Context) error                     { return f.d.Wait(ctx) }

func TestCaptureToReceiver(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := ami.Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	recv := webhooktest.NewServer()
	defer recv.Close()
	u, _ := url.Parse(recv.URL() + "/hook")
	disp := delivery.NewDispatcher(delivery.NewSender().Retrying(delivery.RetryPolicy{Attempts: 1}))
	defer disp.Close()
	e := engine.New(replay{sigs}, []engine.Receiver{{Name: "crm", Renderer: threecx.New("crm", u, threecx.WithLocation(time.UTC))}}, flusher{disp})

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-e.Connected():
	case <-ctx.Done():
		t.Fatal("never connected")
	}
	if err := e.WaitSync(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	got := recv.Requests()
	// The capture's call reached the PBX at 1795482057 (2026-11-24
	// 01:00:57 UTC) with Linkedid 1795482057.0.
	want := []string{
		"event=ringing&callerid=2125559876&user=101&usertype=ext&did=2125550100&id=261124010057_0-0",
		"callerid=2125559876&event=hangupincoming&user=101&did=2125550100&trtype=NotDef&id=261124010057_0-1",
	}
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests after sync, want 3", len(got))
	}
	for i, w := range want {
		if got[i].RawQuery != w {
			t.Errorf("request %d:\n got %s\nwant %s", i, got[i].RawQuery, w)
		}
	}
	if q := got[2].Query; q.Get("event") != "incoming" || q.Get("finishtype") != "Ok" || q.Get("duration") != "8" || q.Get("id") != "261124010057_0-1" {
		t.Errorf("call ended: %s", got[2].RawQuery)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

// stage records what the engine shows a stage.
type stage struct {
	mu           sync.Mutex
	seen, events int
	recorded     int // the link a recording started on, -1 before
	committed    int // Committed calls
	pending      int // signals processed since the last Committed
	uncommitted  bool
}

func (st *stage) Process(s signal.Signal, evs []callmodel.Event, calls engine.Calls) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seen++
	st.pending++
	st.events += len(evs)
	if s.Kind == signal.RecordingStarted {
		if id, ok := calls.CallOf(s.Leg.ID); ok {
			st.recorded = id.Link
		}
	}
}

func (st *stage) Committed(context.Context) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.pending == 0 {
		st.uncommitted = true // told twice with nothing in between
	}
	st.pending = 0
	st.committed++
}

// TestStage: a stage sees every signal after the model, with the events it
// caused, can ask the model which call a leg belongs to, and is told once
// what it processed is accepted by delivery.
func TestStage(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := ami.Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	disp := delivery.NewDispatcher(delivery.NewSender().Retrying(delivery.RetryPolicy{Attempts: 1}))
	defer disp.Close()
	st := &stage{recorded: -1}
	e := engine.New(replay{sigs}, nil, flusher{disp}, engine.WithStage(st))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	if err := e.WaitSync(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	// Connected, the capture, the sync signal: Process runs before the
	// sync is released, so all of them were seen.
	if st.seen != len(sigs)+2 || st.events < 4 || st.recorded != 1 {
		t.Errorf("stage saw %d signals (want %d), %d events, recorded link %d", st.seen, len(sigs)+2, st.events, st.recorded)
	}
	if st.committed == 0 || st.uncommitted || st.pending != 0 {
		t.Errorf("committed %d times, %d signals left uncommitted, told with nothing new: %v", st.committed, st.pending, st.uncommitted)
	}
}
