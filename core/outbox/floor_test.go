package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

// TestFinishedLeaveWhileEarlierWaits: in one partition, a call whose
// receiver does not answer yet does not keep the calls behind it in the
// outbox once they are delivered; everything leaves once it answers, and a
// graceful shutdown leaves nothing to deliver again.
func TestFinishedLeaveWhileEarlierWaits(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("call") == "slow" {
			<-release
		}
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}
	ctx := context.Background()
	dir := t.TempDir()
	mk := func(call string, k int) delivery.Request {
		return delivery.Request{ID: call + "-" + strconv.Itoa(k), Receiver: "crm", CallKey: call, Method: "POST",
			URL: srv.URL + "/hook?call=" + call, Body: []byte(`{}`)}
	}
	openOne := func() *outbox.Outbox {
		ob, err := outbox.Open(ctx, outbox.Config{Dir: dir, Node: "n1", Partitions: 1},
			delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), pol))
		if err != nil {
			t.Fatal(err)
		}
		return ob
	}
	ob := openOne()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rs := []delivery.Request{mk("slow", 0)}
	for c := range 30 {
		rs = append(rs, mk("c"+strconv.Itoa(c), 0), mk("c"+strconv.Itoa(c), 1))
	}
	for _, r := range rs {
		if err := ob.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitPending := func(want uint64) {
		t.Helper()
		waitFor(t, 5*time.Second, fmt.Sprintf("%d pending", want), func() (bool, string) {
			n, err := ob.Pending(ctx)
			if err != nil {
				return false, "pending: " + err.Error()
			}
			return n == want, fmt.Sprintf("%d pending", n)
		})
	}
	waitPending(1) // only the slow call's request is left
	close(release)
	waitPending(0)
	// Delivered just before a graceful shutdown: removed by the shutdown.
	more := []delivery.Request{mk("late", 0), mk("late", 1), mk("late", 2)}
	if err := ob.EnqueueBatch(ctx, more); err != nil {
		t.Fatal(err)
	}
	rs = append(rs, more...)
	waitFor(t, 5*time.Second, "late-2 delivered", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return got["late-2"] > 0, fmt.Sprintf("late-0 delivered %d times, late-1 %d, late-2 %d", got["late-0"], got["late-1"], got["late-2"])
	})
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ob.Shutdown(sctx); err != nil {
		t.Fatalf("shut the outbox down: %v", err)
	}
	ob = openOne()
	defer ob.Close()
	if n, err := ob.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("pending after restart = %d, %v; want 0", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range rs {
		if got[r.ID] != 1 {
			t.Errorf("%s delivered %d times, want 1", r.ID, got[r.ID])
		}
	}
}
