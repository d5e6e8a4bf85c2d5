package outbox_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

var benchDelivery = flag.Bool("bench-delivery", false, "run the delivery benchmark (make bench-delivery)")

// latencyReceiver answers 200 at once and records event→receiver latency
// from the X-Sent header (unix nanoseconds at Enqueue).
type latencyReceiver struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	lat  []time.Duration
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newLatencyReceiver(t *testing.T) *latencyReceiver {
	lr := &latencyReceiver{}
	lr.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ns, err := strconv.ParseInt(r.Header.Get("X-Sent"), 10, 64); err == nil {
			d := time.Since(time.Unix(0, ns))
			lr.mu.Lock()
			lr.lat = append(lr.lat, d)
			lr.mu.Unlock()
		}
		if lr.n.Add(1) == lr.want {
			close(lr.done)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go lr.srv.Serve(ln)
	t.Cleanup(func() { lr.srv.Close() })
	lr.url = "http://" + ln.Addr().String() + "/hook"
	return lr
}

func (lr *latencyReceiver) reset(want int) {
	lr.mu.Lock()
	lr.lat = lr.lat[:0]
	lr.mu.Unlock()
	lr.n.Store(0)
	lr.want = int64(want)
	lr.done = make(chan struct{})
}

func (lr *latencyReceiver) percentiles() (p50, p99 time.Duration) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	s := slices.Clone(lr.lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0
	}
	return s[len(s)/2], s[len(s)*99/100]
}

var runID int

type enqueuer func(ctx context.Context, r delivery.Request) error

// runLoad enqueues n webhooks (calls of 4 events) at rate per second (0:
// as fast as possible) and waits for all to arrive; producers > 1 splits
// the calls over that many goroutines (several connectors or nodes).
func runLoad(t *testing.T, lr *latencyReceiver, enq enqueuer, n, rate int, producers ...int) (perSec float64, p50, p99 time.Duration) {
	lr.reset(n)
	runID++
	np := 1
	if len(producers) > 0 && producers[0] > 1 {
		np = producers[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range np {
		wg.Go(func() {
			for i := w * 4; i < n; i += 4 * np {
				for j := i; j < min(i+4, n); j++ {
					if rate > 0 {
						if d := time.Until(start.Add(time.Duration(j) * time.Second / time.Duration(rate))); d > 0 {
							time.Sleep(d)
						}
					}
					r := delivery.Request{
						ID: "r" + strconv.Itoa(runID) + "-w" + strconv.Itoa(j), Receiver: "crm", CallKey: "c" + strconv.Itoa(j/4), Method: "POST", URL: lr.url,
						Header: http.Header{"X-Sent": {strconv.FormatInt(time.Now().UnixNano(), 10)}}, Body: []byte(`{"event":"ringing"}`),
					}
					if err := enq(ctx, r); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-lr.done:
	case <-ctx.Done():
		t.Fatalf("only %d of %d webhooks arrived", lr.n.Load(), n)
	}
	el := time.Since(start)
	p50, p99 = lr.percentiles()
	return float64(n) / el.Seconds(), p50, p99
}

// TestBenchDelivery compares the durable outbox (embedded JetStream, file
// store) with a no-durability fan-out (the same Receivers and Dispatcher,
// requests handed over in memory) in one run: throughput at full speed and
// event→receiver latency at 1,000 events/s.
func TestBenchDelivery(t *testing.T) {
	if !*benchDelivery {
		t.Skip("run with -bench-delivery (make bench-delivery)")
	}
	const n, paced = 50_000, 5_000
	lr := newLatencyReceiver(t)
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}

	// Baseline: no outbox.
	base := delivery.NewDispatcher(delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), pol).Send,
		delivery.WithDispatcherConcurrency(64))
	defer base.Close()
	baseEnq := func(_ context.Context, r delivery.Request) error { return base.Enqueue(r) }
	runLoad(t, lr, baseEnq, 5000, 0) // warm up connections
	bRate, _, _ := runLoad(t, lr, baseEnq, n, 0)
	t.Logf("baseline: %.0f webhooks/s", bRate)
	_, b50, b99 := runLoad(t, lr, baseEnq, paced, 1000)

	// Durable: the outbox on disk.
	var ob *outbox.Outbox
	recv := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), pol,
		delivery.WithReceiversAttempt(func(a delivery.Attempt) { ob.RecordAttempt(a) }))
	ob, err := outbox.Open(context.Background(), outbox.Config{Dir: t.TempDir(), Node: "bench", Concurrency: 64}, recv)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if err := ob.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	runLoad(t, lr, ob.Enqueue, 5000, 0)
	dRate, _, _ := runLoad(t, lr, ob.Enqueue, n, 0)
	t.Logf("durable: %.0f webhooks/s", dRate)
	d4Rate, _, _ := runLoad(t, lr, ob.Enqueue, n, 0, 4)
	b4Rate, _, _ := runLoad(t, lr, baseEnq, n, 0, 4)
	_, d50, d99 := runLoad(t, lr, ob.Enqueue, paced, 1000)

	// The same two paths with an in-memory receiver (an http.RoundTripper
	// answering 200 without a socket): what the durable layer itself costs
	// once HTTP is out of the picture.
	mem := &memReceiver{lr: lr}
	memSender := delivery.NewSender(delivery.WithSenderTransport(mem))
	mbase := delivery.NewDispatcher(delivery.NewReceivers(memSender, pol).Send, delivery.WithDispatcherConcurrency(64))
	defer mbase.Close()
	mbRate, _, _ := runLoad(t, lr, func(_ context.Context, r delivery.Request) error { return mbase.Enqueue(r) }, 2*n, 0)
	var mob *outbox.Outbox
	mrecv := delivery.NewReceivers(memSender, pol, delivery.WithReceiversAttempt(func(a delivery.Attempt) { mob.RecordAttempt(a) }))
	mob, err = outbox.Open(context.Background(), outbox.Config{Dir: t.TempDir(), Node: "bench-mem", Concurrency: 64}, mrecv)
	if err != nil {
		t.Fatal(err)
	}
	defer mob.Close()
	if err := mob.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mdRate, _, _ := runLoad(t, lr, mob.Enqueue, 2*n, 0)

	fmt.Printf("\ndelivery benchmark: %d webhooks, one producer (as the engine), loopback receiver\n", n)
	fmt.Printf("  %-28s %10s %10s %10s\n", "", "webhooks/s", "p50", "p99")
	fmt.Printf("  %-28s %10.0f %10s %10s\n", "baseline (no durability)", bRate, b50.Round(time.Microsecond), b99.Round(time.Microsecond))
	fmt.Printf("  %-28s %10.0f %10s %10s\n", "durable outbox (JetStream)", dRate, d50.Round(time.Microsecond), d99.Round(time.Microsecond))
	fmt.Printf("  ratio durable/baseline: %.2f   (latency measured at 1,000 events/s)\n", dRate/bRate)
	fmt.Printf("  4 producers: baseline %.0f/s, durable %.0f/s, ratio %.2f\n", b4Rate, d4Rate, d4Rate/b4Rate)
	fmt.Printf("  in-memory receiver, %d webhooks: baseline %.0f/s, durable %.0f/s, ratio %.2f\n\n", 2*n, mbRate, mdRate, mdRate/mbRate)
}

// memReceiver answers every request 200 in memory and counts it like the
// HTTP receiver does.
type memReceiver struct{ lr *latencyReceiver }

func (m *memReceiver) RoundTrip(r *http.Request) (*http.Response, error) {
	if ns, err := strconv.ParseInt(r.Header.Get("X-Sent"), 10, 64); err == nil {
		d := time.Since(time.Unix(0, ns))
		m.lr.mu.Lock()
		m.lr.lat = append(m.lr.lat, d)
		m.lr.mu.Unlock()
	}
	if m.lr.n.Add(1) == m.lr.want {
		close(m.lr.done)
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}
