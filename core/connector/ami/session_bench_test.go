package ami_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/outbox/crashtest"
	"github.com/callhook/callhook/core/signal"
)

// syncHandler takes signals in batches, as the engine does, and closes
// done at the sync event whose token is want.
type syncHandler struct {
	want string
	done chan struct{}
}

func (h *syncHandler) HandleSignal(ctx context.Context, s signal.Signal) error {
	return h.HandleSignals(ctx, []signal.Signal{s})
}

func (h *syncHandler) HandleSignals(_ context.Context, ss []signal.Signal) error {
	for _, s := range ss {
		if s.Kind == signal.Sync && s.Token == h.want {
			close(h.done)
		}
	}
	return nil
}

// BenchmarkSessionCalls is the connector's share of the pipeline: calls
// shaped like the real capture of an answered inbound call, filtered as
// Asterisk filters the session the connector asked it to, read over TCP
// and translated into signals for a handler that only takes them. One op
// is one call (three webhooks' worth).
func BenchmarkSessionCalls(b *testing.B) {
	all, err := crashtest.Calls(filepath.Join("..", "..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"), b.N)
	if err != nil {
		b.Fatal(err)
	}
	src, err := crashtest.NewSource()
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	c, err := ami.New(ami.Config{Addr: src.Addr(), Username: "admin", Secret: ami.Secret("secret"), Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	h := &syncHandler{want: "bench-done", done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() { defer close(ran); _ = c.Run(ctx, h) }()
	defer func() { cancel(); <-ran }()
	gen, err := src.Session(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	stream, err := src.Filter(gen, bytes.Join(all, nil))
	if err != nil {
		b.Fatal(err)
	}
	stream = append(stream, crashtest.SyncEvent(h.want)...)
	b.SetBytes(int64(len(stream) / b.N))
	b.ReportAllocs()
	b.ResetTimer()
	// In slices, as a PBX writes: the connector drops a session whose
	// handler falls too far behind.
	for len(stream) > 0 {
		n := min(len(stream), 64<<10)
		if err := src.SendFiltered(gen, stream[:n]); err != nil {
			b.Fatal(err)
		}
		stream = stream[n:]
	}
	select {
	case <-h.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("waited 5 minutes for the connector to reach the sync event after %d calls", b.N)
	}
}
