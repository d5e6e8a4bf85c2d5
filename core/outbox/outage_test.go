package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

// flaky is a receiver whose port refuses connections while it is down.
type flaky struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
	h    http.Handler
}

func (f *flaky) up(t *testing.T) {
	t.Helper()
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	waitFor(t, 5*time.Second, "listening on "+addr+" (the port is being released)", func() (bool, string) {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil, fmt.Sprint(err)
	})
	f.addr = ln.Addr().String()
	f.mu.Lock()
	f.srv = &http.Server{Handler: f.h}
	f.mu.Unlock()
	go f.srv.Serve(ln)
}

func (f *flaky) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
}

// TestOutage: one receiver refuses connections for a while, one answers
// 410, one is healthy. The healthy one gets everything while the other two
// are failing; the 410 one is disabled and its webhooks dead-lettered;
// the refusing one gets everything, in order per call, once it is back.
func TestOutage(t *testing.T) {
	const calls, events = 20, 5
	type got struct {
		mu    sync.Mutex
		calls map[string][]string
		n     int
	}
	record := func(g *got) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			g.mu.Lock()
			c := r.URL.Query().Get("call")
			g.calls[c] = append(g.calls[c], r.Header.Get("webhook-id"))
			g.n++
			g.mu.Unlock()
		}
	}
	flakyGot, steadyGot := &got{calls: map[string][]string{}}, &got{calls: map[string][]string{}}
	fl := &flaky{h: record(flakyGot)}
	fl.up(t)
	fl.down() // the port is known; the receiver is down from the start
	defer fl.down()
	steady := newReceiver(t)
	steady.Config.Handler = record(steadyGot)
	var goneHits atomic.Int32
	gone := newReceiver(t)
	gone.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goneHits.Add(1)
		w.WriteHeader(http.StatusGone)
	})

	var failedAttempts atomic.Int32
	var ob *outbox.Outbox
	long := delivery.RetryPolicy{Attempts: 1000, Min: 2 * time.Millisecond, Max: 20 * time.Millisecond}
	recv := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), map[string]delivery.Policy{
		"flaky": {AllowPrivate: true, Retry: long}, "steady": {AllowPrivate: true, Retry: long}, "gone": {AllowPrivate: true, Retry: long},
	},
		delivery.WithReceiversBreaker(delivery.Breaker{Failures: 5, Cooldown: 20 * time.Millisecond}),
		delivery.WithReceiversAttempt(func(a delivery.Attempt) {
			if a.Receiver == "flaky" && a.Err != "" {
				failedAttempts.Add(1)
			}
			ob.RecordAttempt(a)
		}),
		delivery.WithReceiversDisable(func(n, why string) { ob.SaveDisabled(n, why) }))
	var dead sync.Map
	ob, err := outbox.Open(context.Background(), outbox.Config{Node: "t", Partitions: 4}, recv,
		outbox.WithResult(func(r delivery.Result) {
			if !r.OK() {
				dead.Store(r.Request.ID, r.Err)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{"flaky": "http://" + fl.addr, "steady": steady.URL, "gone": gone.URL}
	for k := range events {
		for c := range calls {
			for _, name := range []string{"flaky", "gone", "steady"} {
				r := delivery.Request{ID: fmt.Sprintf("%s-c%d-%d", name, c, k), Receiver: name, CallKey: "c" + strconv.Itoa(c),
					URL: urls[name] + "/hook?call=c" + strconv.Itoa(c)}
				if err := ob.Enqueue(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// The healthy receiver gets everything while flaky is down.
	waitFor(t, 10*time.Second, "the steady receiver to get everything while flaky is down", func() (bool, string) {
		steadyGot.mu.Lock()
		defer steadyGot.mu.Unlock()
		return steadyGot.n == calls*events, fmt.Sprintf("steady got %d of %d", steadyGot.n, calls*events)
	})
	flakyGot.mu.Lock()
	if flakyGot.n != 0 {
		t.Fatalf("flaky got %d while down", flakyGot.n)
	}
	flakyGot.mu.Unlock()
	waitFor(t, 10*time.Second, "50 failed attempts at the flaky receiver", func() (bool, string) {
		n := failedAttempts.Load()
		return n >= 50, fmt.Sprintf("%d failed attempts", n)
	})
	fl.up(t) // recovers on the same port
	if err := ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*got{"flaky": flakyGot, "steady": steadyGot} {
		g.mu.Lock()
		for c := range calls {
			ids := g.calls["c"+strconv.Itoa(c)]
			if len(ids) != events {
				t.Errorf("%s call c%d got %v", name, c, ids)
				continue
			}
			for k, id := range ids {
				if want := fmt.Sprintf("%s-c%d-%d", name, c, k); id != want {
					t.Errorf("%s call c%d arrived as %v", name, c, ids)
					break
				}
			}
		}
		g.mu.Unlock()
	}
	if recv.Disabled("gone") == "" {
		t.Fatal("the 410 receiver is not disabled")
	}
	nDead := 0
	dead.Range(func(k, v any) bool {
		nDead++
		if id := k.(string); id[:4] != "gone" {
			t.Errorf("webhook %s dead: %v", id, v)
		} else if err := v.(error); goneHits.Load() > 0 && !errors.Is(err, delivery.ErrDisabled) && !errors.Is(err, delivery.ErrStatus) {
			t.Errorf("webhook %s dead with %v", id, err)
		}
		return true
	})
	if nDead != calls*events || goneHits.Load() > calls {
		t.Fatalf("dead letters %d (want %d), 410 receiver hit %d times", nDead, calls*events, goneHits.Load())
	}
	t.Logf("flaky receiver: %d failed attempts before it came back; 410 receiver hit %d times", failedAttempts.Load(), goneHits.Load())
}
