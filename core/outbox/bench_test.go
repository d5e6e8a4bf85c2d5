package outbox_test

import (
	"bufio"
	"bytes"
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

// latencyReceiver is a minimal HTTP/1.1 receiver on loopback: it reads a
// request's head and body, answers a canned 200 on the same keep-alive
// connection, and records event→receiver latency from the X-Sent header
// (unix nanoseconds at Enqueue). It shares the cores with the engine, so it
// is kept as cheap as a receiver can be (no net/http server): the benchmark
// measures the sending side, the same receiver serving baseline and durable.
type latencyReceiver struct {
	url  string
	ln   net.Listener
	mu   sync.Mutex
	lat  []time.Duration
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newLatencyReceiver(t *testing.T) *latencyReceiver {
	lr := &latencyReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lr.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go lr.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	lr.url = "http://" + ln.Addr().String() + "/hook"
	return lr
}

var (
	okResponse    = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	contentLength = []byte("content-length:")
	xSent         = []byte("x-sent:")
)

func (lr *latencyReceiver) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8<<10)
	for {
		var cl int
		var sent int64
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			switch {
			case hasPrefixFold(line, contentLength):
				cl, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			case hasPrefixFold(line, xSent):
				sent, _ = strconv.ParseInt(string(bytes.TrimSpace(line[len(xSent):])), 10, 64)
			}
		}
		if _, err := br.Discard(cl); err != nil {
			return
		}
		if sent > 0 {
			d := time.Since(time.Unix(0, sent))
			lr.mu.Lock()
			lr.lat = append(lr.lat, d)
			lr.mu.Unlock()
		}
		if lr.n.Add(1) == lr.want {
			close(lr.done)
		}
		if _, err := c.Write(okResponse); err != nil {
			return
		}
	}
}

func hasPrefixFold(line, prefix []byte) bool {
	return len(line) >= len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix)
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

// enqueuer takes the requests of one PBX signal, as the engine hands them over.
type enqueuer func(ctx context.Context, rs []delivery.Request) error

// load is one benchmark run: n webhooks in calls of 4 events, each signal
// yielding perSignal of them (1: one receiver; more: several receivers or
// events from one signal, handed over together as the engine does), at rate
// per second (0: as fast as possible), from producers goroutines (several
// connectors or nodes).
type load struct {
	n, rate, perSignal, producers int
	// group > 1 hands over the requests of that many consecutive signals
	// at once, as the engine does with signals its connector has already
	// queued (group commit): at full speed every signal is queued.
	group int
}

// result is one run's throughput, latency percentiles and CPU time (of
// the whole process, receiver included) per webhook.
type result struct {
	perSec   float64
	p50, p99 time.Duration
	cpu      time.Duration
}

// runLoad runs l and waits for every webhook to arrive.
func runLoad(t *testing.T, lr *latencyReceiver, enq enqueuer, l load) result {
	lr.reset(l.n)
	runID++
	np, ps := max(l.producers, 1), max(l.perSignal, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := "r" + strconv.Itoa(runID) + "-w"
	body := []byte(`{"event":"ringing"}`)
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range np {
		wg.Go(func() {
			batch := make([]delivery.Request, 0, ps*max(l.group, 1))
			grouped := 0
			for i := w * 4; i < l.n; i += 4 * np {
				for j := i; j < min(i+4, l.n); j += ps {
					if l.rate > 0 {
						if d := time.Until(start.Add(time.Duration(j) * time.Second / time.Duration(l.rate))); d > 0 {
							time.Sleep(d)
						}
					}
					if grouped == 0 {
						batch = batch[:0]
					}
					sent := strconv.FormatInt(time.Now().UnixNano(), 10)
					for k := j; k < min(j+ps, i+4, l.n); k++ {
						batch = append(batch, delivery.Request{
							ID: prefix + strconv.Itoa(k), Receiver: "crm", CallKey: "c" + strconv.Itoa(k/4), Method: "POST", URL: lr.url,
							Header: http.Header{"X-Sent": {sent}}, Body: body,
						})
					}
					if grouped++; grouped < l.group {
						continue
					}
					grouped = 0
					if err := enq(ctx, batch); err != nil {
						t.Error(err)
						return
					}
				}
			}
			if grouped > 0 {
				if err := enq(ctx, batch); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-lr.done:
	case <-ctx.Done():
		t.Fatalf("only %d of %d webhooks arrived", lr.n.Load(), l.n)
	}
	el := time.Since(start)
	cpu := processCPU() - cpu0
	p50, p99 := lr.percentiles()
	return result{perSec: float64(l.n) / el.Seconds(), p50: p50, p99: p99, cpu: cpu / time.Duration(l.n)}
}

// each hands a signal's requests to a Dispatcher one by one.
func each(d *delivery.Dispatcher) enqueuer {
	return func(_ context.Context, rs []delivery.Request) error {
		for _, r := range rs {
			if err := d.Enqueue(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestBenchDelivery compares the durable outbox (embedded JetStream, file
// store) with a no-durability fan-out (the same Receivers and Dispatcher,
// requests handed over in memory) in one run: throughput at full speed and
// event→receiver latency at 1,000 events/s, against the same receiver.
func TestBenchDelivery(t *testing.T) {
	if !*benchDelivery {
		t.Skip("run with -bench-delivery (make bench-delivery)")
	}
	// Each throughput line runs in rounds, baseline and durable taking
	// turns, and keeps each side's best round: on a machine shared with
	// other work a burst of load then hits both sides alike instead of
	// deciding the ratio.
	const n, rounds, paced, conc = 20_000, 3, 5_000, 64
	lr := newLatencyReceiver(t)
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}

	// Baseline: no outbox.
	base := delivery.NewDispatcher(delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), pol).Send,
		delivery.WithDispatcherConcurrency(conc))
	defer base.Close()
	baseEnq := each(base)

	// Durable: the outbox on disk.
	var ob *outbox.Outbox
	recv := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), pol,
		delivery.WithReceiversAttempt(func(a delivery.Attempt) { ob.RecordAttempt(a) }))
	ob, err := outbox.Open(context.Background(), outbox.Config{Dir: t.TempDir(), Node: "bench", Concurrency: conc}, recv)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if err := ob.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	durEnq := ob.EnqueueBatch

	runLoad(t, lr, baseEnq, load{n: 5000}) // warm up connections
	runLoad(t, lr, durEnq, load{n: 5000})
	type line struct {
		name            string
		l               load
		base, dur       float64
		b50, b99        time.Duration
		d50, d99        time.Duration
		baseCPU, durCPU time.Duration // lowest per webhook over the rounds
		throughput      bool
	}
	lines := []*line{
		{name: "1 producer, 1 webhook/signal", l: load{n: n}, throughput: true},
		{name: "1 producer, 2 webhooks/signal", l: load{n: n, perSignal: 2}, throughput: true},
		{name: "4 producers, 1 webhook/signal", l: load{n: n, producers: 4}, throughput: true},
		{name: "1 producer, 1 webhook/signal, group commit", l: load{n: n, group: 64}, throughput: true},
		{name: "1,000 events/s, 1 webhook/signal", l: load{n: paced, rate: 1000}},
	}
	for _, ln := range lines {
		if !ln.throughput {
			b := runLoad(t, lr, baseEnq, ln.l)
			d := runLoad(t, lr, durEnq, ln.l)
			ln.base, ln.b50, ln.b99, ln.baseCPU = b.perSec, b.p50, b.p99, b.cpu
			ln.dur, ln.d50, ln.d99, ln.durCPU = d.perSec, d.p50, d.p99, d.cpu
			continue
		}
		for range rounds {
			b := runLoad(t, lr, baseEnq, ln.l)
			d := runLoad(t, lr, durEnq, ln.l)
			t.Logf("%s: baseline %.0f/s (%s CPU/webhook), durable %.0f/s (%s CPU/webhook), ratio %.2f",
				ln.name, b.perSec, us(b.cpu), d.perSec, us(d.cpu), d.perSec/b.perSec)
			ln.base, ln.dur = max(ln.base, b.perSec), max(ln.dur, d.perSec)
			ln.baseCPU, ln.durCPU = minPositive(ln.baseCPU, b.cpu), minPositive(ln.durCPU, d.cpu)
		}
	}

	// The same two paths with an in-memory receiver (an http.RoundTripper
	// answering 200 without a socket): what the durable layer itself costs
	// once HTTP is out of the picture.
	mem := &memReceiver{lr: lr}
	memSender := delivery.NewSender(delivery.WithSenderTransport(mem))
	mbase := delivery.NewDispatcher(delivery.NewReceivers(memSender, pol).Send, delivery.WithDispatcherConcurrency(conc))
	defer mbase.Close()
	mb := runLoad(t, lr, each(mbase), load{n: 5 * n})
	var mob *outbox.Outbox
	mrecv := delivery.NewReceivers(memSender, pol, delivery.WithReceiversAttempt(func(a delivery.Attempt) { mob.RecordAttempt(a) }))
	mob, err = outbox.Open(context.Background(), outbox.Config{Dir: t.TempDir(), Node: "bench-mem", Concurrency: conc}, mrecv)
	if err != nil {
		t.Fatal(err)
	}
	defer mob.Close()
	if err := mob.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	md1 := runLoad(t, lr, mob.EnqueueBatch, load{n: 5 * n})
	md4 := runLoad(t, lr, mob.EnqueueBatch, load{n: 5 * n, producers: 4})

	fmt.Printf("\ndelivery benchmark: calls of 4 events, minimal HTTP/1.1 receiver on loopback; throughput: best of %d alternating rounds of %d webhooks\n", rounds, n)
	fmt.Printf("  CPU: process CPU time (receiver included) per webhook, lowest round\n")
	fmt.Printf("  %-44s %12s %12s %6s %9s %9s %10s %10s %10s %10s\n", "", "baseline/s", "durable/s", "ratio", "base CPU", "dur CPU",
		"base p50", "base p99", "dur p50", "dur p99")
	for _, ln := range lines {
		if ln.throughput {
			fmt.Printf("  %-44s %12.0f %12.0f %6.2f %9s %9s\n", ln.name, ln.base, ln.dur, ln.dur/ln.base, us(ln.baseCPU), us(ln.durCPU))
		} else {
			fmt.Printf("  %-44s %12s %12s %6s %9s %9s %10s %10s %10s %10s\n", ln.name, "", "", "", us(ln.baseCPU), us(ln.durCPU),
				ln.b50.Round(time.Microsecond), ln.b99.Round(time.Microsecond), ln.d50.Round(time.Microsecond), ln.d99.Round(time.Microsecond))
		}
	}
	fmt.Printf("  in-memory receiver, %d webhooks: baseline %.0f/s (%s CPU); durable 1 producer %.0f/s (%s), 4 producers %.0f/s (%s)\n\n",
		5*n, mb.perSec, us(mb.cpu), md1.perSec, us(md1.cpu), md4.perSec, us(md4.cpu))

	// The targets of the whole pipeline, applied to the delivery part
	// alone: group commit is how the engine enqueues a signal's webhooks.
	var group, paced1k *line
	for _, ln := range lines {
		switch {
		case ln.l.group > 0:
			group = ln
		case ln.l.rate == 1000:
			paced1k = ln
		}
	}
	verdict := func(ok bool, what string) {
		mark := "met    "
		if !ok {
			mark = "NOT met"
		}
		fmt.Printf("  target %s  %s\n", mark, what)
	}
	verdict(group.dur/group.base >= targetRatio, fmt.Sprintf("group commit ≥ %.1f × baseline (%.2f)", targetRatio, group.dur/group.base))
	verdict(group.dur >= targetPerSec, fmt.Sprintf("group commit ≥ %d webhooks/s (%.0f)", targetPerSec, group.dur))
	verdict(paced1k.d99 < targetP99, fmt.Sprintf("durable p99 < %s at 1,000 events/s (%s)", targetP99, paced1k.d99.Round(time.Microsecond)))
	fmt.Println()
}

// Targets on 2 cores (issue "The whole pipeline at the speed of its
// parts"), as make bench-pipeline applies them to the whole engine.
const (
	targetRatio  = 0.5
	targetPerSec = 20000
	targetP99    = 20 * time.Millisecond
)

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 {
		return b
	}
	return min(a, b)
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
