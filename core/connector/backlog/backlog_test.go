package backlog_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/waitfor"
)

type one struct{ got []string }

func (h *one) HandleSignal(_ context.Context, s signal.Signal) error {
	h.got = append(h.got, s.Leg.ID)
	return nil
}

type batches struct {
	one
	sizes []int
	fail  error
}

func (h *batches) HandleSignals(_ context.Context, ss []signal.Signal) error {
	if h.fail != nil {
		return h.fail
	}
	h.sizes = append(h.sizes, len(ss))
	for _, s := range ss {
		h.got = append(h.got, s.Leg.ID)
	}
	return nil
}

func legs(n int) []signal.Signal {
	ss := make([]signal.Signal, n)
	for i := range ss {
		ss[i] = signal.Signal{Kind: signal.LegAppeared, Leg: signal.Leg{ID: strconv.Itoa(i)}}
	}
	return ss
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// What the reader queued before it stopped is handled, in order, in
// batches of at most MaxBatch; a plain handler gets one at a time.
func TestHandleDrainsInOrder(t *testing.T) {
	n := 3*backlog.MaxBatch + 5
	for _, h := range []interface {
		signal.Handler
		ids() []string
	}{&plain{}, &batched{}} {
		q := backlog.New()
		if err := q.Push(legs(n)...); err != nil {
			t.Fatal(err)
		}
		if err := q.Handle(context.Background(), h, closed()); err != nil {
			t.Fatalf("%T: %v", h, err)
		}
		got := h.ids()
		if len(got) != n {
			t.Fatalf("%T handled %d signals, want %d", h, len(got), n)
		}
		for i, id := range got {
			if id != strconv.Itoa(i) {
				t.Fatalf("%T: signal %d is leg %s: out of order", h, i, id)
			}
		}
	}
}

type plain struct{ one }

func (p *plain) ids() []string { return p.got }

type batched struct{ batches }

func (b *batched) ids() []string {
	for _, s := range b.sizes {
		if s > backlog.MaxBatch {
			panic(fmt.Sprintf("batch of %d", s))
		}
	}
	return b.got
}

func TestHandlerErrorAndFull(t *testing.T) {
	q := backlog.New()
	q.Push(legs(3)...)
	boom := errors.New("disk full")
	err := q.Handle(context.Background(), &batches{fail: boom}, make(chan struct{}))
	var he *backlog.HandlerError
	if !errors.As(err, &he) || !errors.Is(err, boom) || he.N != 3 {
		t.Fatalf("Handle = %v, want a HandlerError for 3 signals wrapping %v", err, boom)
	}
	if err := backlog.New().Push(legs(backlog.Max + 1)...); !errors.Is(err, backlog.ErrFull) {
		t.Errorf("Push past Max = %v, want ErrFull", err)
	}
}

// Handle waits for signals pushed later and stops when ctx ends.
func TestHandleWaitsAndStops(t *testing.T) {
	q := backlog.New()
	h := &plain{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Handle(ctx, h, make(chan struct{})) }()
	q.Push(legs(1)...)
	waitfor.True(t, 10*time.Second, "the pushed signal taken by Handle", func() bool { return q.Len() == 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Handle = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Handle did not return within 10 s of ctx's end")
	}
}

// Pushes and pops of every size, across the queue's internal blocks, keep
// the order and the count.
func TestPushPopKeepOrder(t *testing.T) {
	q := backlog.New()
	next, want := 0, 0
	var buf []signal.Signal
	for round := range 400 {
		ss := make([]signal.Signal, round%37+1)
		for i := range ss {
			ss[i].Leg.ID = strconv.Itoa(next)
			next++
		}
		if err := q.Push(ss...); err != nil {
			t.Fatal(err)
		}
		buf = q.Pop(buf[:0], round%53)
		for _, s := range buf {
			if s.Leg.ID != strconv.Itoa(want) {
				t.Fatalf("round %d: popped %s, want %d", round, s.Leg.ID, want)
			}
			want++
		}
		if got := q.Len(); got != next-want {
			t.Fatalf("round %d: Len %d, want %d", round, got, next-want)
		}
	}
	for q.Len() > 0 {
		for _, s := range q.Pop(buf[:0], 1000) {
			if s.Leg.ID != strconv.Itoa(want) {
				t.Fatalf("drain: popped %s, want %d", s.Leg.ID, want)
			}
			want++
		}
	}
	if want != next {
		t.Fatalf("popped %d of %d", want, next)
	}
}
