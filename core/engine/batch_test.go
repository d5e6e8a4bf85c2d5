package engine_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect/threecx"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/signal"
)

// batcher is a Deliverer that takes batches: it records each batch the
// engine hands over and fails when told to.
type batcher struct {
	mu      sync.Mutex
	batches [][]delivery.Request
	singles []delivery.Request
	fail    error
}

func (b *batcher) Enqueue(_ context.Context, r delivery.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.singles = append(b.singles, r)
	return b.fail
}

func (b *batcher) EnqueueBatch(_ context.Context, rs []delivery.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, append([]delivery.Request(nil), rs...))
	return b.fail
}

func (b *batcher) Flush(context.Context) error { return nil }

func captureSignals(t *testing.T) []signal.Signal {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := ami.Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return sigs
}

// TestEnqueueBatchPerSignal: with two receivers every event renders two
// requests, and a Deliverer that takes batches gets all of a signal's
// requests in one EnqueueBatch, in event then receiver order; a signal with
// a single request goes through Enqueue.
func TestEnqueueBatchPerSignal(t *testing.T) {
	u1, _ := url.Parse("http://127.0.0.1:1/a")
	u2, _ := url.Parse("http://127.0.0.1:1/b")
	receivers := []engine.Receiver{
		{Name: "a", Renderer: threecx.New("a", u1, threecx.WithLocation(time.UTC))},
		{Name: "b", Renderer: threecx.New("b", u2, threecx.WithLocation(time.UTC))},
	}
	out := &batcher{}
	e := engine.New(nil, receivers, out)
	ctx := t.Context()
	for _, s := range captureSignals(t) {
		if err := e.HandleSignal(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.singles) != 0 {
		t.Errorf("%d requests went through Enqueue, want all in batches", len(out.singles))
	}
	var n int
	for i, b := range out.batches {
		if len(b)%2 != 0 {
			t.Fatalf("batch %d has %d requests, want a pair per event", i, len(b))
		}
		for k := 0; k < len(b); k += 2 {
			if b[k].Receiver != "a" || b[k+1].Receiver != "b" {
				t.Errorf("batch %d: receivers %s, %s; want a, b", i, b[k].Receiver, b[k+1].Receiver)
			}
			if strings.TrimPrefix(b[k].ID, "a-") != strings.TrimPrefix(b[k+1].ID, "b-") {
				t.Errorf("batch %d: one event, two ids %s and %s", i, b[k].ID, b[k+1].ID)
			}
		}
		n += len(b)
	}
	// The capture is one answered inbound call: three 3CX events.
	if n != 6 {
		t.Errorf("got %d requests in %d batches, want 6", n, len(out.batches))
	}

	// A failed batch fails the signal, so the connector does not move on.
	out2 := &batcher{fail: errors.New("store down")}
	e2 := engine.New(nil, receivers, out2)
	var failed error
	for _, s := range captureSignals(t) {
		if failed = e2.HandleSignal(ctx, s); failed != nil {
			break
		}
	}
	if !errors.Is(failed, out2.fail) {
		t.Errorf("HandleSignal with a failing batch: %v, want the store's error", failed)
	}
}

// TestGroupCommit: signals handed over together (already received by the
// connector) give one EnqueueBatch with the same requests, in the same
// order, as handling them one by one; a sync event among them is released
// only once that batch is stored, and a failed batch fails them all.
func TestGroupCommit(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1/a")
	receivers := []engine.Receiver{{Name: "a", Renderer: threecx.New("a", u, threecx.WithLocation(time.UTC))}}
	sigs := captureSignals(t)

	one := &batcher{}
	e1 := engine.New(nil, receivers, one)
	for _, s := range sigs {
		if err := e1.HandleSignal(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, r := range one.singles {
		want = append(want, r.ID+" "+r.URL)
	}

	sync := signal.Signal{Kind: signal.Sync, Token: "t1"}
	all := append(append([]signal.Signal(nil), sigs...), sync)
	out := &batcher{}
	e := engine.New(nil, receivers, out)
	released := make(chan struct{})
	go func() {
		_ = e.WaitSync(t.Context(), "t1")
		out.mu.Lock()
		defer out.mu.Unlock()
		if len(out.batches) == 0 {
			t.Error("sync released before the batch was stored")
		}
		close(released)
	}()
	if err := e.HandleSignals(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	<-released
	if len(out.batches) != 1 || len(out.singles) != 0 {
		t.Fatalf("%d batches and %d single requests, want one batch", len(out.batches), len(out.singles))
	}
	var got []string
	for _, r := range out.batches[0] {
		got = append(got, r.ID+" "+r.URL)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("batch:\n%s\nsignal by signal:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	bad := &batcher{fail: errors.New("store down")}
	if err := engine.New(nil, receivers, bad).HandleSignals(t.Context(), sigs); !errors.Is(err, bad.fail) {
		t.Errorf("HandleSignals with a failing store: %v, want its error", err)
	}
}
