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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

// receiver records webhook ids per call in arrival order and answers with
// status(id).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	calls  map[string][]string
	count  int
	status func(id string) int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{calls: map[string][]string{}, status: func(string) int { return 200 }}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		st := rc.status(id)
		if st == 200 {
			rc.calls[r.URL.Query().Get("call")] = append(rc.calls[r.URL.Query().Get("call")], id)
			rc.count++
		}
		rc.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) total() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.count
}

func open(t *testing.T, dir string, policies map[string]delivery.Policy, opts ...outbox.Option) *outbox.Outbox {
	t.Helper()
	var ob *outbox.Outbox
	recv := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), policies,
		delivery.WithReceiversAttempt(func(a delivery.Attempt) { ob.RecordAttempt(a) }),
		delivery.WithReceiversDisable(func(n, why string) { ob.SaveDisabled(n, why) }))
	ob, err := outbox.Open(context.Background(), outbox.Config{Dir: dir, Node: "test", Partitions: 4}, recv, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

func req(rc *receiver, recvName string, call, k int) delivery.Request {
	return delivery.Request{
		ID: fmt.Sprintf("%s-c%d-%d", recvName, call, k), Receiver: recvName, CallKey: "c" + strconv.Itoa(call),
		Method: "POST", URL: rc.URL + "/hook?call=c" + strconv.Itoa(call), Body: []byte(`{}`),
	}
}

var fast = delivery.RetryPolicy{Attempts: 3, Min: time.Millisecond, Max: 5 * time.Millisecond}

// TestOutboxResumesInOrder: requests stored by one run are delivered by
// the next, every call's in the order enqueued, and none is delivered
// twice.
func TestOutboxResumesInOrder(t *testing.T) {
	dir := t.TempDir()
	rc := newReceiver(t)
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}
	const calls, events = 30, 5
	ob := open(t, dir, pol)
	ctx := context.Background()
	for k := range events {
		for c := range calls {
			if err := ob.Enqueue(ctx, req(rc, "crm", c, k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Enqueued again (an engine fed the same events after a restart): stored once.
	if err := ob.Enqueue(ctx, req(rc, "crm", 0, 0)); err != nil {
		t.Fatal(err)
	}
	ob.Close() // never started: everything is still in the stream

	ob = open(t, dir, pol)
	defer ob.Close()
	if n, _ := ob.Pending(ctx); n != calls*events {
		t.Fatalf("pending after reopen = %d, want %d", n, calls*events)
	}
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
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

// TestOutboxDeadLetterReplayAndLog: a request the receiver keeps failing is
// dead-lettered after its schedule, visible in the log with every attempt,
// and delivered by a replay with the same webhook id once the receiver is
// back. A 410 disables its receiver across a restart.
func TestOutboxDeadLetterReplayAndLog(t *testing.T) {
	dir := t.TempDir()
	rc := newReceiver(t)
	var mu sync.Mutex
	failing := true
	rc.status = func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		if id == "gone-c0-0" {
			return http.StatusGone
		}
		if failing {
			return http.StatusInternalServerError
		}
		return 200
	}
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}, "gone": {AllowPrivate: true, Retry: fast}}
	reg := prometheus.NewRegistry()
	var results []delivery.Result
	var rmu sync.Mutex
	ob := open(t, dir, pol, outbox.WithMetrics(outbox.NewMetrics(reg, nil)),
		outbox.WithResult(func(r delivery.Result) { rmu.Lock(); results = append(results, r); rmu.Unlock() }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ob.Enqueue(ctx, req(rc, "crm", 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := ob.Enqueue(ctx, req(rc, "gone", 0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(prometheusCounter(t, reg, "callhook_webhooks_dead_total")); got != 2 {
		t.Fatalf("dead letters metric = %v, want 2", got)
	}
	var recs []outbox.Record
	waitFor(t, 5*time.Second, "4 log records of crm-c1-0 (the log is written asynchronously)", func() (bool, string) {
		var err error
		recs, err = ob.Show(ctx, "crm-c1-0")
		return len(recs) == 4, fmt.Sprintf("%d records, %v", len(recs), err)
	})
	if recs[3].Kind != outbox.KindDead || recs[0].Status != 500 {
		t.Fatalf("log of crm-c1-0 = %+v, want 3 attempts and a dead record", recs)
	}
	dead, err := ob.List(ctx, outbox.Filter{Receiver: "crm", Status: "dead"})
	if err != nil || len(dead) != 1 || dead[0].ID != "crm-c1-0" || dead[0].Attempts != 3 {
		t.Fatalf("list dead = %+v, %v", dead, err)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	if _, err := ob.Replay(ctx, "crm-c1-0"); err != nil {
		t.Fatal(err)
	}
	if err := ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rc.total() != 1 {
		t.Fatalf("after replay the receiver has %d webhooks, want 1", rc.total())
	}
	ob.Close()

	ob = open(t, dir, pol)
	defer ob.Close()
	if why := ob.Receivers().Disabled("gone"); why == "" {
		t.Fatal("receiver gone is enabled again after a restart")
	}
	if err := ob.Enable(ctx, "gone"); err != nil || ob.Receivers().Disabled("gone") != "" {
		t.Fatalf("enable: %v", err)
	}
}

func prometheusCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	c.Add(sum)
	return c
}

// TestOutboxKeepsSameIDDifferentContent: deduplication drops only a true
// repeat; two requests that share an id but not their content both go out.
func TestOutboxKeepsSameIDDifferentContent(t *testing.T) {
	rc := newReceiver(t)
	ob := open(t, "", map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}})
	defer ob.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a := req(rc, "crm", 1, 0)
	b := a
	b.Body = []byte(`{"other":1}`)
	for _, r := range []delivery.Request{a, a, b} {
		if err := ob.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rc.total(); n != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the repeat dropped, the different one kept)", n)
	}
}

// TestOutboxSkipsWhatWasDelivered: after a restart, a webhook the log shows
// delivered (a crash left it in the stream, or the PBX's events were
// rendered again) is not sent again; the same id with other content is,
// and so is a replay.
func TestOutboxSkipsWhatWasDelivered(t *testing.T) {
	dir := t.TempDir()
	rc := newReceiver(t)
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(each func(ob *outbox.Outbox)) {
		t.Helper()
		ob := open(t, dir, pol)
		defer ob.Close()
		if err := ob.Start(ctx); err != nil {
			t.Fatal(err)
		}
		each(ob)
		if err := ob.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	enqueue := func(ob *outbox.Outbox, rs ...delivery.Request) {
		t.Helper()
		for _, r := range rs {
			if err := ob.Enqueue(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, b, c := req(rc, "crm", 1, 0), req(rc, "crm", 1, 1), req(rc, "crm", 1, 2)
	run(func(ob *outbox.Outbox) { enqueue(ob, a, b) })
	changed := a
	changed.Body = []byte(`{"changed":true}`)
	run(func(ob *outbox.Outbox) { enqueue(ob, a, b, changed, c) })
	run(func(ob *outbox.Outbox) {
		if _, err := ob.Replay(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	got := rc.calls["c1"]
	want := []string{a.ID, b.ID, changed.ID, c.ID, b.ID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("receiver got %v, want %v (the repeats of a and b after the restart skipped; a with other content, c and the replay of b sent)", got, want)
	}
}
