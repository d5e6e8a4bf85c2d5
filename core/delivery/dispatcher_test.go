package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/webhooktest"
)

// TestDispatcherOrderPerCall sends many calls' events through a receiver
// that answers after random delays, and checks that every call's events
// arrived (and were reported) in order while calls overlapped.
func TestDispatcherOrderPerCall(t *testing.T) {
	const calls, events = 40, 8
	var (
		mu          sync.Mutex
		arrived     = map[string][]int{}
		inFlight    = map[string]int{} // per call
		total, peak int
		overlap     []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, k := r.URL.Query().Get("call"), r.URL.Query().Get("k")
		n, _ := strconv.Atoi(k)
		mu.Lock()
		arrived[call] = append(arrived[call], n)
		inFlight[call]++
		if inFlight[call] > 1 {
			overlap = append(overlap, call)
		}
		total++
		peak = max(peak, total)
		mu.Unlock()

		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // receiver latency
		status := http.StatusOK
		if rand.IntN(10) == 0 {
			status = http.StatusInternalServerError // makes the sender retry
		}
		mu.Lock()
		inFlight[call]--
		total--
		mu.Unlock()
		w.WriteHeader(status)
	}))
	defer srv.Close()

	var rmu sync.Mutex
	reported := map[string][]int{}
	var failed []delivery.Result
	d := delivery.NewDispatcher(
		delivery.NewSender().Retrying(delivery.RetryPolicy{Attempts: 10, Min: time.Millisecond, Max: 2 * time.Millisecond}),
		delivery.WithDispatcherConcurrency(16),
		delivery.WithDispatcherResult(func(res delivery.Result) {
			rmu.Lock()
			defer rmu.Unlock()
			if res.Err != nil {
				failed = append(failed, res)
			}
			k, _ := strconv.Atoi(res.Request.ID[strings.LastIndexByte(res.Request.ID, '-')+1:])
			reported[res.Request.CallKey] = append(reported[res.Request.CallKey], k)
		}))

	// Interleave the calls' events the way a PBX would produce them.
	for k := range events {
		for c := range calls {
			call := fmt.Sprintf("call%d", c)
			err := d.Enqueue(delivery.Request{
				ID: fmt.Sprintf("%s-%d", call, k), Receiver: "crm", CallKey: call,
				URL: fmt.Sprintf("%s/?call=%s&k=%d", srv.URL, call, k),
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	if len(failed) > 0 {
		t.Fatalf("%d requests failed, first: %v", len(failed), failed[0].Err)
	}
	if len(overlap) > 0 {
		t.Errorf("requests of one call were in flight together: %v", overlap[:min(5, len(overlap))])
	}
	if peak < 2 {
		t.Errorf("peak concurrency %d: different calls were not sent in parallel", peak)
	}
	if peak > 16 {
		t.Errorf("peak concurrency %d exceeds the limit 16", peak)
	}
	for c := range calls {
		call := fmt.Sprintf("call%d", c)
		if got := reported[call]; !inOrder(got, events) {
			t.Errorf("%s reported as %v, want 0..%d in order", call, got, events-1)
		}
		if got := dedupe(arrived[call]); !inOrder(got, events) {
			t.Errorf("%s arrived as %v, want 0..%d in order", call, arrived[call], events-1)
		}
	}
}

// dedupe drops consecutive repeats (retries of the same event).
func dedupe(xs []int) []int {
	var out []int
	for _, x := range xs {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}

func inOrder(xs []int, n int) bool {
	if len(xs) != n {
		return false
	}
	for i, x := range xs {
		if x != i {
			return false
		}
	}
	return true
}

func TestDispatcherReportsEveryRequest(t *testing.T) {
	rcv := webhooktest.NewServer()
	defer rcv.Close()
	rcv.SetStatusSequence(200, 404)

	results := make(chan delivery.Result, 10)
	d := delivery.NewDispatcher(delivery.NewSender().Retrying(fast),
		delivery.WithDispatcherResult(func(r delivery.Result) { results <- r }))
	defer d.Close()

	for i, key := range []string{"a", "a", ""} {
		if err := d.Enqueue(delivery.Request{ID: strconv.Itoa(i), Receiver: "crm", CallKey: key, URL: rcv.URL()}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatalf("wait for the dispatcher to finish every request: %v", err)
	}
	close(results)
	var ok, notFound int
	for r := range results {
		switch {
		case r.Err == nil:
			ok++
		case r.Status == 404:
			notFound++
		default:
			t.Errorf("unexpected result %+v", r)
		}
	}
	if ok != 2 || notFound != 1 {
		t.Errorf("ok %d, 404 %d; want 2 and 1", ok, notFound)
	}
}

func TestDispatcherClose(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	var mu sync.Mutex
	var results []delivery.Result
	d := delivery.NewDispatcher(delivery.NewSender().Retrying(fast),
		delivery.WithDispatcherResult(func(r delivery.Result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}))
	for i := range 3 {
		if err := d.Enqueue(delivery.Request{ID: strconv.Itoa(i), CallKey: "c", URL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	<-started // the first is in flight, the others wait behind it

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	if err := d.Enqueue(delivery.Request{URL: srv.URL}); !errors.Is(err, delivery.ErrClosed) {
		t.Errorf("Enqueue after Shutdown = %v, want ErrClosed", err)
	}
	d.Close() // idempotent

	if len(results) != 3 {
		t.Fatalf("%d results, want 3", len(results))
	}
	if !errors.Is(results[0].Err, context.Canceled) {
		t.Errorf("in-flight result: %v, want canceled", results[0].Err)
	}
	for _, r := range results[1:] {
		if !errors.Is(r.Err, delivery.ErrClosed) || !strings.Contains(r.Err.Error(), "send POST "+srv.URL) {
			t.Errorf("queued result: %v, want ErrClosed naming the request", r.Err)
		}
	}
}
