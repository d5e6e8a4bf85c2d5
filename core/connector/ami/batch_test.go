package ami

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
)

// batchRecorder is a signal.BatchHandler; on its first batch it sends a
// Ping, whose answer the server writes after all its events, so by the
// time the batch returns every event is queued in the session.
type batchRecorder struct {
	mu      sync.Mutex
	c       *Connector
	sizes   []int
	legs    []string
	pinged  bool
	pingErr error
	// handled is how many signals had reached the handler, the pinging
	// batch included, when the Ping was answered.
	handled int
	done    chan struct{}
	want    int
}

func (b *batchRecorder) HandleSignal(_ context.Context, s signal.Signal) error {
	return b.take([]signal.Signal{s})
}

func (b *batchRecorder) HandleSignals(ctx context.Context, ss []signal.Signal) error {
	b.mu.Lock()
	first := !b.pinged
	b.pinged = true
	b.mu.Unlock()
	if first {
		_, err := b.c.Action(ctx, "Ping")
		b.mu.Lock()
		b.pingErr = err
		b.handled = len(b.legs) + len(ss)
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.sizes = append(b.sizes, len(ss))
	b.mu.Unlock()
	return b.take(ss)
}

func (b *batchRecorder) take(ss []signal.Signal) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range ss {
		if s.Kind == signal.LegAppeared {
			b.legs = append(b.legs, s.Leg.ID)
			if len(b.legs) == b.want {
				close(b.done)
			}
		}
	}
	return nil
}

// TestBatchHandler: a handler that takes batches gets the signals already
// queued together (at most backlog.MaxBatch at a time), every one once, in order.
func TestBatchHandler(t *testing.T) {
	const n = 100
	var events strings.Builder
	for i := range n {
		events.WriteString(strings.ReplaceAll(newchannel, "1795482057.0", "1795482057."+strconv.Itoa(i)))
	}
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		_ = sc.write(events.String())
		sc.serveActions(nil)
	})
	b := &batchRecorder{done: make(chan struct{}), want: n}
	c, err := New(testConfig(ts.addr))
	if err != nil {
		t.Fatal(err)
	}
	b.c = c
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, b) }()
	select {
	case <-b.done:
	case err := <-errc:
		t.Fatalf("Run ended: %v", err)
	case <-t.Context().Done():
		t.Fatal("test ended first")
	}
	cancel()
	<-errc

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pingErr != nil {
		t.Fatalf("Ping from the handler: %v", b.pingErr)
	}
	for i, id := range b.legs {
		if want := "1795482057." + strconv.Itoa(i); id != want {
			t.Fatalf("leg %d is %s, want %s (in order, once each)", i, id, want)
		}
	}
	biggest := 0
	for _, s := range b.sizes {
		if s > backlog.MaxBatch {
			t.Errorf("a batch of %d signals, more than %d", s, backlog.MaxBatch)
		}
		biggest = max(biggest, s)
	}
	// Signals the reader queued one at a time before the handler fell
	// behind came singly; once the Ping was answered every remaining event
	// was queued, so the next batch took as many as it may.
	if rest := n - b.handled; rest > 1 && biggest < min(backlog.MaxBatch, rest) {
		t.Errorf("batches %v (%d signals handled when the Ping was answered): queued signals were not handed over together", b.sizes, b.handled)
	}
}
