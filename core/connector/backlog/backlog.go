// Package backlog holds the signals a connector has read from its PBX
// until the engine has handled them, and hands them over. A connector's
// reader never waits for the handler: a PBX whose client stops reading
// blocks or drops it (Asterisk gives up on a session after its write
// timeout), so bursts are absorbed here, up to Max.
package backlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/callhook/callhook/core/signal"
)

// Max bounds the signals waiting for the handler; past it the connector
// drops the session (and resynchronises on the next).
const Max = 1 << 16

// MaxBatch bounds the signals a signal.BatchHandler gets in one call.
// A real call is about 25 signals (with event filters) and three
// webhooks; the engine stores a batch's webhooks as one message per
// outbox partition, so a batch of several calls shares messages, while a
// PBX that is not ahead of the engine still gets batches of one or two.
// Under load batches fill up: at 256 (full) a batch held about 13 calls,
// 3.6 webhooks a message across 16 partitions; at 1024 about 24 calls,
// 6.7 webhooks a message, so the store, the consumer and the
// acknowledgements handle 44 % fewer messages.
const MaxBatch = 1024

// ErrFull: Push found Max signals waiting.
var ErrFull = errors.New("signal backlog full")

// blockLen is how many signals one block of a Queue holds. Signals are
// large (several hundred bytes) and a burst queues tens of thousands: in
// fixed blocks the waiting ones are never copied to a bigger array.
const blockLen = 256

// spareBlocks is how many emptied blocks a Queue keeps for reuse: a
// reader ahead of its handler swings the queue by a few blocks at a time,
// and each new block is a large zeroed allocation.
const spareBlocks = 4

// Queue is a session's signals not yet handled, oldest first.
type Queue struct {
	mu     sync.Mutex
	blocks [][]signal.Signal // each block cap blockLen; the first is read from head
	head   int               // read position in blocks[0]
	n      int
	spare  [][]signal.Signal // emptied blocks kept for reuse, at most spareBlocks
	notify chan struct{}     // cap 1: the queue grew
}

// New returns an empty queue.
func New() *Queue { return &Queue{notify: make(chan struct{}, 1)} }

// Push queues ss, all or none: past Max it returns an error wrapping
// ErrFull.
func (q *Queue) Push(ss ...signal.Signal) error {
	if len(ss) == 0 {
		return nil
	}
	q.mu.Lock()
	if q.n+len(ss) > Max {
		q.mu.Unlock()
		return fmt.Errorf("%w: %d signals wait for the handler", ErrFull, Max)
	}
	q.n += len(ss)
	for len(ss) > 0 {
		last := len(q.blocks) - 1
		if last < 0 || len(q.blocks[last]) == blockLen {
			var b []signal.Signal
			if k := len(q.spare); k > 0 {
				b, q.spare[k-1] = q.spare[k-1], nil
				q.spare = q.spare[:k-1]
			} else {
				b = make([]signal.Signal, 0, blockLen)
			}
			q.blocks = append(q.blocks, b)
			last++
		}
		b := q.blocks[last]
		k := min(len(ss), blockLen-len(b))
		q.blocks[last] = append(b, ss[:k]...)
		ss = ss[k:]
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return nil
}

// Pop appends up to n queued signals, oldest first, to buf.
func (q *Queue) Pop(buf []signal.Signal, n int) []signal.Signal {
	q.mu.Lock()
	defer q.mu.Unlock()
	for n > 0 && q.n > 0 {
		b := q.blocks[0]
		k := min(n, len(b)-q.head)
		buf = append(buf, b[q.head:q.head+k]...)
		clear(b[q.head : q.head+k]) // let what they point to go
		q.head += k
		q.n -= k
		n -= k
		if q.head == len(b) && (len(b) == blockLen || q.n == 0) {
			// The block is read to its end: recycle it.
			q.blocks[0] = nil
			q.blocks = q.blocks[1:]
			q.head = 0
			if len(q.spare) < spareBlocks && cap(b) == blockLen {
				q.spare = append(q.spare, b[:0])
			}
		}
	}
	if q.n == 0 && len(q.blocks) == 0 {
		q.blocks = nil // let the drained index go
	}
	return buf
}

// Len is the number of signals waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// HandlerError is the handler's own failure, as Handle returns it.
type HandlerError struct {
	Kind signal.Kind // the (first) signal it failed on
	N    int         // signals in the call that failed
	Err  error
}

func (e *HandlerError) Error() string {
	if e.N > 1 {
		return fmt.Sprintf("handle %d signals from %s on: %v", e.N, e.Kind, e.Err)
	}
	return fmt.Sprintf("handle %s signal: %v", e.Kind, e.Err)
}

func (e *HandlerError) Unwrap() error { return e.Err }

// Handle hands queued signals to h as they come, in order; a
// signal.BatchHandler gets every signal already waiting (up to MaxBatch)
// at once, so under load it persists them in one write. It returns nil
// once readDone is closed and nothing is left, ctx's error when ctx is
// done first, and a *HandlerError when h fails.
func (q *Queue) Handle(ctx context.Context, h signal.Handler, readDone <-chan struct{}) error {
	bh, batches := h.(signal.BatchHandler)
	n := 1
	if batches {
		n = MaxBatch
	}
	var batch []signal.Signal
	for {
		if batch = q.Pop(batch[:0], n); len(batch) > 0 {
			var err error
			if batches && len(batch) > 1 {
				err = bh.HandleSignals(ctx, batch)
			} else {
				err = h.HandleSignal(ctx, batch[0])
			}
			if err != nil {
				return &HandlerError{Kind: batch[0].Kind, N: len(batch), Err: err}
			}
			continue
		}
		select {
		case <-q.notify:
		case <-readDone:
			if q.Len() == 0 {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
