package engine_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
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

// TestSignalHook: the hook sees every signal after the model, with the
// events it caused, and can ask the model which call a leg belongs to.
func TestSignalHook(t *testing.T) {
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
	var mu sync.Mutex
	var seen, events int
	var recordedLink = -1
	hook := func(_ context.Context, s signal.Signal, m *callmodel.Model, evs []callmodel.Event) error {
		mu.Lock()
		defer mu.Unlock()
		seen++
		events += len(evs)
		if s.Kind == signal.RecordingStarted {
			if id, ok := m.CallOf(s.Leg.ID); ok {
				recordedLink = id.Link
			}
		}
		return nil
	}
	e := engine.New(replay{sigs}, nil, flusher{disp}, engine.WithSignalHook(hook))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	if err := e.WaitSync(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	// The sync signal's own hook call may still be running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := seen
		mu.Unlock()
		if n == len(sigs)+2 || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	mu.Lock()
	defer mu.Unlock()
	if seen != len(sigs)+2 || events < 4 || recordedLink != 1 {
		t.Errorf("hook saw %d signals (want %d), %d events, recorded link %d", seen, len(sigs)+2, events, recordedLink)
	}
}
