package outbox_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

// TestEnqueueBatch: a batch is stored before EnqueueBatch returns (all of
// it is in the stream of an outbox that never started delivering), the
// same batch enqueued again is stored once, and once delivered every call's
// requests arrived in batch order.
func TestEnqueueBatch(t *testing.T) {
	dir := t.TempDir()
	rc := newReceiver(t)
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}
	const calls, events = 20, 6
	ob := open(t, dir, pol)
	ctx := context.Background()
	var batches [][]delivery.Request
	for k := 0; k < events; k += 3 {
		var b []delivery.Request
		for c := range calls {
			for j := k; j < k+3; j++ {
				b = append(b, req(rc, "crm", c, j))
			}
		}
		batches = append(batches, b)
	}
	for _, b := range batches {
		if err := ob.EnqueueBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.EnqueueBatch(ctx, batches[0]); err != nil { // a repeat after a restart
		t.Fatal(err)
	}
	if err := ob.EnqueueBatch(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	if n, _ := ob.Pending(ctx); n != calls*events {
		t.Fatalf("pending = %d, want %d", n, calls*events)
	}
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	// Delivered records are written in batches; every one reaches the log.
	waitFor(t, 5*time.Second, fmt.Sprintf("the log to list %d delivered webhooks", calls*events), func() (bool, string) {
		list, err := ob.List(ctx, outbox.Filter{Receiver: "crm", Status: "delivered", Limit: 1000})
		if err != nil {
			return false, "list: " + err.Error()
		}
		return len(list) == calls*events, fmt.Sprintf("%d listed", len(list))
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.count != calls*events {
		t.Fatalf("delivered %d, want %d", rc.count, calls*events)
	}
	for c := range calls {
		got := rc.calls["c"+strconv.Itoa(c)]
		for k := range events {
			if want := fmt.Sprintf("crm-c%d-%d", c, k); k >= len(got) || got[k] != want {
				t.Fatalf("call c%d arrived as %v", c, got)
			}
		}
	}
}

// TestEnqueueBatchCancelled: a batch whose context ends before the store
// answers reports the error (the signal is not handled).
func TestEnqueueBatchCancelled(t *testing.T) {
	rc := newReceiver(t)
	ob := open(t, t.TempDir(), map[string]delivery.Policy{"crm": {AllowPrivate: true}})
	defer ob.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ob.EnqueueBatch(ctx, []delivery.Request{req(rc, "crm", 0, 0), req(rc, "crm", 0, 1)}); err == nil {
		t.Fatal("EnqueueBatch with a cancelled context: nil error")
	}
}
