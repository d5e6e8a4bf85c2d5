package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Finished messages leave the work queue by a purge of their partition up
// to its floor — the newest stream sequence below which every message the
// partition's consumer delivered is finished — instead of one
// acknowledgement each: an acknowledgement costs a message to the server
// and a removal of its own, a purge removes everything finished since the
// last one in one request. A message finished while an earlier one of its
// partition is still being delivered (a receiver in its retry schedule)
// is acknowledged on its own after stragglerDelay, so a slow receiver never
// holds other calls' messages in the stream or against MaxAckPending.
//
// The floor is only trusted while the consumer's delivery sequence has no
// gap (every message of the partition, in stream order, reached take);
// anything else — a redelivery, a gap, requests an earlier version stored
// under the plain partition subject — falls back to acknowledging each
// message. A crash before a purge only means finished messages are
// delivered again, with their webhook ids.
const (
	purgeDelay     = 100 * time.Millisecond
	stragglerDelay = 200 * time.Millisecond
)

// partFloor tracks one consumer of partition p.
type partFloor struct {
	o       *Outbox
	subject string // purge filter

	mu       sync.Mutex
	nextD    uint64     // consumer sequence expected next
	broken   bool       // a delivery out of sequence: no more tracking
	floorD   uint64     // every delivery up to here is finished
	floorS   uint64     // stream sequence of delivery floorD
	purged   uint64     // stream sequence purged up to
	open     []*tracked // deliveries above the floor: open[i] is consumer sequence floorD+1+i
	timer    *time.Timer
	released bool // the consumer was stopped: no more deliveries
	stopped  bool
}

// tracked is one delivered message above its partition's floor.
type tracked struct {
	sseq  uint64
	m     jetstream.Msg
	done  time.Time // when finished; zero while in delivery
	acked bool      // acknowledged on its own
}

func newPartFloor(o *Outbox, subject string, legacy bool) *partFloor {
	return &partFloor{o: o, subject: subject, nextD: 1, broken: legacy}
}

// deliver records m, just handed to take; nil means m is acknowledged on
// its own when finished.
func (f *partFloor) deliver(m jetstream.Msg) *tracked {
	md, err := m.Metadata()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken {
		return nil
	}
	if err != nil || md.NumDelivered != 1 || md.Sequence.Consumer != f.nextD {
		f.broken = true
		return nil
	}
	f.nextD++
	t := &tracked{sseq: md.Sequence.Stream, m: m}
	f.open = append(f.open, t)
	return t
}

// finish marks t finished and moves the floor over every finished delivery.
func (f *partFloor) finish(t *tracked) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.done = time.Now()
	for len(f.open) > 0 && !f.open[0].done.IsZero() {
		f.floorD++
		f.floorS = f.open[0].sseq
		f.open[0] = nil
		f.open = f.open[1:]
	}
	if f.timer == nil && !f.stopped {
		f.timer = time.AfterFunc(purgeDelay, f.tick)
	}
}

// tick purges up to the floor and acknowledges stragglers on their own.
// Ticks of one partition never overlap: the timer is only set again at the
// end of one.
func (f *partFloor) tick() {
	f.mu.Lock()
	if f.stopped {
		f.timer = nil
		f.mu.Unlock()
		return
	}
	f.ackLocked(time.Now().Add(-stragglerDelay))
	target := f.floorS
	f.mu.Unlock()

	// The request runs unlocked: finishing deliveries never wait for it.
	f.purge(target)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped || f.o.nc.IsClosed() {
		// Closed, nothing can be removed any more: do not retry forever.
		f.timer = nil
	} else if f.floorS > f.purged || f.waitingLocked() {
		f.timer.Reset(purgeDelay)
	} else {
		f.timer = nil
	}
}

// ackLocked acknowledges every delivery above the floor finished before
// cutoff.
func (f *partFloor) ackLocked(cutoff time.Time) {
	for _, t := range f.open {
		if !t.acked && !t.done.IsZero() && !t.done.After(cutoff) {
			if err := t.m.Ack(); err != nil {
				f.o.log.Warn("acknowledge outbox message", "subject", t.m.Subject(), "error", err)
			}
			// Only the sequence is needed until the floor passes it, which
			// may take as long as the earlier message's retry schedule.
			t.acked, t.m = true, nil
		}
	}
}

// purge removes the partition's messages up to stream sequence target.
func (f *partFloor) purge(target uint64) {
	f.mu.Lock()
	done := target <= f.purged
	f.mu.Unlock()
	if done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.o.stream.Purge(ctx, jetstream.WithPurgeSubject(f.subject), jetstream.WithPurgeSequence(target+1)); err != nil {
		f.o.log.Warn("remove finished outbox messages", "subject", f.subject, "error", err)
		return
	}
	f.mu.Lock()
	f.purged = max(f.purged, target)
	f.mu.Unlock()
	select {
	case f.o.finished <- struct{}{}:
	default:
	}
}

// waitingLocked reports finished deliveries above the floor not yet
// acknowledged.
func (f *partFloor) waitingLocked() bool {
	for _, t := range f.open {
		if !t.acked && !t.done.IsZero() {
			return true
		}
	}
	return false
}

// stop ends the tracking; with flush it first purges what is finished and
// acknowledges every finished delivery above the floor (graceful
// shutdown). Later results are left to the next start.
func (f *partFloor) stop(flush bool) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
	if flush {
		f.ackLocked(time.Now())
	}
	target := f.floorS
	f.mu.Unlock()
	if flush {
		f.purge(target)
	}
}

// release records that the partition's consumer was stopped: once what it
// delivered is finished and removed, the floor may be forgotten.
func (f *partFloor) release() {
	f.mu.Lock()
	f.released = true
	f.mu.Unlock()
}

// idle reports a stopped floor, or a released one with nothing left to
// remove and no delivery above it. A floor whose consumer still runs is
// never idle, however quiet: forgotten, Shutdown would not flush it and
// Close would not stop its timer.
func (f *partFloor) idle() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped || (f.released && len(f.open) == 0 && f.floorS <= f.purged && f.timer == nil)
}
