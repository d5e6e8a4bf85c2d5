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
	perRecv  int                      // slots per receiver
	slots    map[string]chan struct{} // per receiver, one token per request in flight (under mu)
	wg       sync.WaitGroup
	stop     chan struct{} // closed by Close: abort what is in flight
	stopOnce sync.Once

	mu      sync.Mutex
	queues  map[orderKey][]queued // waiting requests; a key is present while its worker runs
	seq     uint64                // makes keys unique for unordered requests
	pending int                   // enqueued and not yet reported
	idle    chan struct{}         // closed when pending drops to 0
	closing bool                  // Enqueue refused
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
		slots:    map[string]chan struct{}{},
		stop:     make(chan struct{}),
		queues:   map[orderKey][]queued{},
		idle:     make(chan struct{}),
	}
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
	q, running := d.queues[key]
	d.queues[key] = append(q, queued{r: r, done: done})
	if !running {
		d.wg.Add(1)
		go d.drain(key)
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
	d.stopOnce.Do(func() { close(d.stop) })
	d.wg.Wait()
}

// drain sends the queue of one key, one request at a time, until it is empty.
func (d *Dispatcher) drain(key orderKey) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		q := d.queues[key]
		if len(q) == 0 {
			delete(d.queues, key)
			d.mu.Unlock()
			return
		}
		it := q[0]
		q[0] = queued{} // let the body be collected
		d.queues[key] = q[1:]
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
		d.mu.Unlock()
	}
}

// deliver sends one request once a slot is free, aborting when Close is called.
func (d *Dispatcher) deliver(r Request) Result {
	select {
	case <-d.stop:
		return closedResult(r)
	default:
	}
	d.mu.Lock()
	slots, ok := d.slots[r.Receiver]
	if !ok {
		slots = make(chan struct{}, d.perRecv)
		d.slots[r.Receiver] = slots
	}
	d.mu.Unlock()
	select {
	case slots <- struct{}{}:
	case <-d.stop:
		return closedResult(r)
	}
	defer func() { <-slots }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-done:
		}
	}()
	res := d.send(ctx, r)
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
