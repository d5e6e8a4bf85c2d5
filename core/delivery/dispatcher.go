package delivery

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
)

// DefaultConcurrency bounds how many requests a Dispatcher has in flight
// to one receiver.
const DefaultConcurrency = 32

// Dispatcher delivers requests in order per call and in parallel across
// calls: a request waits until every earlier request with the same Receiver
// and CallKey has finished (delivered or given up), because a CRM that gets
// "hangup" before "ringing" shows a wrong call. Requests with an empty
// CallKey carry no order and go out as soon as a slot is free. Different
// receivers never hold each other up.
//
// Every enqueued request produces exactly one Result through the result
// callback, including those cut short by Close (Err matching ErrClosed).
type Dispatcher struct {
	send     SendFunc
	onResult func(Result)
	log      *slog.Logger
	perRecv  int // workers (requests in flight) per receiver
	wg       sync.WaitGroup
	ctx      context.Context // cancelled by Close: abort what is in flight
	cancel   context.CancelFunc

	mu      sync.Mutex
	queues  map[orderKey]*keyQueue // a key is present while it has requests waiting or in flight
	recv    map[string]*recvQueue
	seq     uint64        // makes keys unique for unordered requests
	pending int           // enqueued and not yet reported
	idle    chan struct{} // closed when pending drops to 0
	closing bool          // Enqueue refused
}

// keyQueue holds one call's waiting requests to one receiver. While it is
// scheduled (in its receiver's ready list, or its head taken by a worker)
// no other worker touches it, which is what keeps the call's order.
type keyQueue struct {
	items     []queued
	scheduled bool
}

// recvQueue is one receiver's work: the keys whose head request may go out
// now, oldest first, and the workers taking them. Workers live as long as
// there is work, so under load a few long-lived goroutines (with their
// stacks already grown for an HTTP round trip) carry every request instead
// of a fresh goroutine per call.
type recvQueue struct {
	ready   []orderKey
	workers int
}

type queued struct {
	r    Request
	done func(Result) // nil: only the Dispatcher's result callback
}

type orderKey struct {
	receiver, call string
	seq            uint64 // non-zero only for requests without a CallKey
}

// DispatcherOption configures a Dispatcher.
type DispatcherOption func(*Dispatcher)

// WithDispatcherResult sets the callback told about every request's final
// Result. It is called from several goroutines at once, but for one call
// (Receiver and CallKey) always in order; it should return quickly, as the
// call's next request waits for it.
func WithDispatcherResult(f func(Result)) DispatcherOption {
	return func(d *Dispatcher) { d.onResult = f }
}

// WithDispatcherConcurrency bounds the requests in flight at once to one
// receiver (default DefaultConcurrency).
func WithDispatcherConcurrency(n int) DispatcherOption {
	return func(d *Dispatcher) {
		if n > 0 {
			d.perRecv = n
		}
	}
}

// WithDispatcherLogger sets the logger (default: discard).
func WithDispatcherLogger(l *slog.Logger) DispatcherOption {
	return func(d *Dispatcher) {
		if l != nil {
			d.log = l
		}
	}
}

// NewDispatcher returns a running Dispatcher that delivers through send,
// typically sender.Retrying(policy).
func NewDispatcher(send SendFunc, opts ...DispatcherOption) *Dispatcher {
	d := &Dispatcher{
		send:     send,
		onResult: func(Result) {},
		log:      slog.New(slog.DiscardHandler),
		perRecv:  DefaultConcurrency,
		queues:   map[orderKey]*keyQueue{},
		recv:     map[string]*recvQueue{},
		idle:     make(chan struct{}),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	close(d.idle)
	for _, o := range opts {
		o(d)
	}
	d.log = d.log.With("component", "dispatcher")
	return d
}

// Enqueue schedules r behind the earlier requests of its call. It does not
// block. After Shutdown or Close it returns ErrClosed and r is not reported.
func (d *Dispatcher) Enqueue(r Request) error { return d.EnqueueDone(r, nil) }

// EnqueueDone is Enqueue with a callback told about this request's Result
// (after the Dispatcher's own result callback), so a caller can tie the
// outcome to its own record of the request, such as an outbox message to
// acknowledge. done runs on the call's worker: the call's next request
// waits for it.
func (d *Dispatcher) EnqueueDone(r Request, done func(Result)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return ErrClosed
	}
	key := orderKey{receiver: r.Receiver, call: r.CallKey}
	if r.CallKey == "" {
		d.seq++
		key.seq = d.seq
	}
	if d.pending == 0 {
		d.idle = make(chan struct{})
	}
	d.pending++
	kq := d.queues[key]
	if kq == nil {
		kq = &keyQueue{}
		d.queues[key] = kq
	}
	kq.items = append(kq.items, queued{r: r, done: done})
	if !kq.scheduled {
		kq.scheduled = true
		rq := d.recv[r.Receiver]
		if rq == nil {
			rq = &recvQueue{}
			d.recv[r.Receiver] = rq
		}
		rq.ready = append(rq.ready, key)
		if rq.workers < d.perRecv {
			rq.workers++
			d.wg.Add(1)
			go d.work(rq)
		}
	}
	return nil
}

// Wait blocks until every request enqueued so far has been reported, or ctx
// ends (returning ctx.Err()).
func (d *Dispatcher) Wait(ctx context.Context) error {
	d.mu.Lock()
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown refuses new requests and waits for the queued ones to be
// delivered. If ctx ends first, it closes the Dispatcher (reporting the rest
// as ErrClosed) and returns ctx.Err().
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	if err := d.Wait(ctx); err != nil {
		d.Close()
		return err
	}
	d.wg.Wait()
	return nil
}

// Close refuses new requests, cancels those in flight (their Result names
// the cancellation) and reports every queued one with an error matching
// ErrClosed, then returns once all results are reported. It is safe to call
// more than once.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// work takes the oldest ready key of one receiver, sends its head request,
// and puts the key back at the end of the ready list if more of the call
// waits; it returns when the receiver has nothing ready.
func (d *Dispatcher) work(rq *recvQueue) {
	defer d.wg.Done()
	d.mu.Lock()
	for {
		if len(rq.ready) == 0 {
			rq.workers--
			d.mu.Unlock()
			return
		}
		key := rq.ready[0]
		rq.ready[0] = orderKey{}
		rq.ready = rq.ready[1:]
		kq := d.queues[key]
		it := kq.items[0]
		kq.items[0] = queued{} // let the body be collected
		kq.items = kq.items[1:]
		d.mu.Unlock()

		res := d.deliver(it.r)
		d.onResult(res)
		if it.done != nil {
			it.done(res)
		}

		d.mu.Lock()
		d.pending--
		if d.pending == 0 {
			close(d.idle)
		}
		if len(kq.items) == 0 {
			delete(d.queues, key)
		} else {
			rq.ready = append(rq.ready, key)
		}
	}
}

// deliver sends one request, aborting when Close is called.
func (d *Dispatcher) deliver(r Request) Result {
	if d.ctx.Err() != nil {
		return closedResult(r)
	}
	res := d.send(d.ctx, r)
	if res.Err != nil {
		d.log.Warn("webhook not delivered", "id", r.ID, "receiver", r.Receiver, "call", r.CallKey, "attempts", res.Attempts, "error", res.Err)
	}
	return res
}

func closedResult(r Request) Result {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	return Result{Request: r, Err: &SendError{Method: method, URL: redactURL(r.URL), Err: ErrClosed}}
}
