package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callhook/callhook/core/delivery"
)

// claim makes this node the deliverer of partition p. The partition's
// consumer is created afresh, starting at the oldest request still in the
// stream, so whatever a previous owner (an earlier run of this node, or a
// node that died) left unfinished comes first, in the order it was
// enqueued, before anything newer: per-call order survives the handover.
// A request the previous owner delivered but could not acknowledge is sent
// again with the same webhook id.
//
// Creating a consumer on a cluster can take long on a loaded machine, or
// get lost in a leader election: it is retried, for up to patience, then
// given up so that another node may try. Only while this node holds p's
// lease: a node whose lease lapsed while it was claiming must not reset
// the consumer of the node that took the partition over.
func (o *Outbox) claim(ctx context.Context, p int) error {
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	return o.retry(ctx, "claim partition "+strconv.Itoa(p), func(ctx context.Context) error { return o.claimOnce(ctx, p) })
}

// errLeaseLost: the partition's lease lapsed or went to another node.
var errLeaseLost = errors.New("partition lease lost")

func (o *Outbox) claimOnce(ctx context.Context, p int) error {
	if !o.holds(p) {
		return errLeaseLost
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if _, ok := o.owned[p]; ok {
		o.mu.Unlock()
		return nil
	}
	o.mu.Unlock()
	name := "part-" + strconv.Itoa(p)
	filters, err := o.partitionFilters(ctx, p)
	if err != nil {
		return err
	}
	if !o.holds(p) {
		return errLeaseLost
	}
	if err := o.stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("reset consumer %s: %w", name, err)
	}
	// Create, not update, and the node in the description: should two
	// nodes claim p at once (one whose lease lapsed meanwhile), one fails
	// instead of both consuming from one consumer, where what the loser
	// pulled would stay unacknowledged for AckWait. A retry of this node's
	// own attempt finds its consumer as it left it.
	cons, err := o.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        name,
		Description:    "callhook: partition " + strconv.Itoa(p) + " delivered by " + o.cfg.Node,
		FilterSubjects: filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		// The owner never relies on redelivery: a request stays in flight
		// until it is delivered or dead, however long the schedule.
		AckWait:       24 * time.Hour,
		MaxDeliver:    -1,
		MaxAckPending: o.cfg.MaxAckPending,
		Replicas:      o.cfg.Replicas,
		MemoryStorage: true,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", name, err)
	}
	created := cons.CachedInfo().Created
	floor := newPartFloor(o, filters[0], len(filters) > 1)
	cc, err := cons.Consume(func(m jetstream.Msg) { o.take(m, floor) },
		jetstream.PullMaxMessages(min(o.cfg.MaxAckPending, 1024)),
		// A pull the server did not take (no responder yet just after the
		// consumer was created on a cluster, a leader change) is sent again
		// only once heartbeats are missed: after 2 s, not the default 30 s.
		jetstream.PullHeartbeat(time.Second),
		jetstream.ConsumeErrHandler(func(cc jetstream.ConsumeContext, err error) {
			o.log.Debug("consume", "partition", p, "error", err)
			switch {
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrBadRequest):
				o.consumerEnded(p, cc, err)
			case errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, nats.ErrNoResponders):
				// All a consumer deleted under its pulls may show: they
				// are sent again and again, to nobody.
				go o.checkConsumer(p, name, created, cc)
			}
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", name, err)
	}
	if !o.holds(p) { // not under mu: the lease loop takes mu under lmu
		cc.Stop()
		floor.stop(false)
		return errLeaseLost
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		cc.Stop()
		floor.stop(false)
		return ErrClosed
	}
	o.owned[p] = ownedPart{cc: cc, floor: floor}
	// A released partition's consumer keeps removing what it delivered;
	// forget those that are done.
	o.floors = slices.DeleteFunc(o.floors, (*partFloor).idle)
	o.floors = append(o.floors, floor)
	o.log.Debug("partition claimed", "partition", p, "node", o.cfg.Node)
	return nil
}

// partitionFilters are the subjects of partition p's consumer: one
// wildcard for requests and bundles, plus the plain partition subject while
// requests that an earlier version stored under it are left (one filter is
// cheaper for the server to match than two).
func (o *Outbox) partitionFilters(ctx context.Context, p int) ([]string, error) {
	legacy := subjectPrefix + strconv.Itoa(p)
	filters := []string{legacy + ".*"}
	info, err := o.stream.Info(ctx, jetstream.WithSubjectFilter(legacy))
	if err != nil {
		return nil, fmt.Errorf("read outbox state: %w", err)
	}
	if info.State.Subjects[legacy] > 0 {
		filters = append(filters, legacy)
	}
	return filters, nil
}

// checkConsumer ends consuming partition p if its consumer, created at
// created, was deleted or replaced.
func (o *Outbox) checkConsumer(p int, name string, created time.Time, cc jetstream.ConsumeContext) {
	ctx, cancel := context.WithTimeout(context.Background(), firstAttempt)
	defer cancel()
	cons, err := o.stream.Consumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		o.consumerEnded(p, cc, fmt.Errorf("consumer %s deleted", name))
	case err == nil && !cons.CachedInfo().Created.Equal(created):
		o.consumerEnded(p, cc, fmt.Errorf("consumer %s replaced", name))
	}
}

// consumerEnded notes that partition p's consumer stopped for good under
// this node (deleted by a node that claimed p as its lease lapsed): the
// lease loop claims p again while the lease is this node's.
func (o *Outbox) consumerEnded(p int, cc jetstream.ConsumeContext, err error) {
	o.mu.Lock()
	op, ok := o.owned[p]
	if !ok || op.cc != cc {
		o.mu.Unlock()
		return // released already
	}
	delete(o.owned, p)
	o.mu.Unlock()
	cc.Stop()
	op.floor.release()
	o.lmu.Lock()
	if _, held := o.held[p]; held {
		o.ended[p] = true
	}
	o.lmu.Unlock()
	o.log.Warn("partition consumer ended; claiming it again", "partition", p, "node", o.cfg.Node, "error", err)
}

// ownedPart is a partition this node delivers: its consumer and floor.
type ownedPart struct {
	cc    jetstream.ConsumeContext
	floor *partFloor
}

// Owned lists the partitions this node delivers now.
func (o *Outbox) Owned() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ps []int
	for p := range o.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// release stops delivering partition p (its lease went to another node).
func (o *Outbox) release(p int) {
	o.mu.Lock()
	op, ok := o.owned[p]
	delete(o.owned, p)
	o.mu.Unlock()
	if ok {
		op.cc.Stop()
		op.floor.release()
	}
}

// take hands one stored message (a request or a bundle of them) to the
// dispatcher; the consumer calls it in stream order, which the dispatcher
// keeps per call.
func (o *Outbox) take(m jetstream.Msg, floor *partFloor) {
	tr := floor.deliver(m)
	rs, err := decodeMessage(nil, m.Data())
	if err != nil {
		o.log.Error("drop undecodable outbox message", "subject", m.Subject(), "error", err)
		_ = m.Term()
		if tr != nil {
			floor.finish(tr)
		}
		return
	}
	t := &taken{m: m, floor: floor, tr: tr, left: int32(len(rs))}
	done := func(res delivery.Result) {
		if !o.finish(res) {
			t.cut.Store(true)
		}
		t.finished(o, 1)
	}
	replay := isReplay(m)
	for i := range rs {
		r := &rs[i]
		if !replay && o.delivered.skip(r) {
			o.log.Debug("webhook already delivered before this start: not sent again", "id", r.ID, "receiver", r.Receiver)
			t.finished(o, 1)
			continue
		}
		if o.met != nil {
			o.met.of(r.Receiver).depth.Inc()
		}
		if err := o.disp.EnqueueDone(*r, done); err != nil {
			// Shutting down: the message stays in the stream for the next start.
			if o.met != nil {
				o.met.of(r.Receiver).depth.Dec()
			}
			t.cut.Store(true)
			t.finished(o, len(rs)-i)
			return
		}
	}
}

// taken is a stored message in delivery: it leaves the stream once every
// request in it has a final result.
type taken struct {
	m     jetstream.Msg
	floor *partFloor
	tr    *tracked    // nil: acknowledged on its own
	left  int32       // requests without a result; guarded by atomic ops
	cut   atomic.Bool // some request was cut short: keep the message
}

// finished counts n requests as done and, after the last one, lets the
// message leave the outbox (see partFloor), unless one was cut short.
func (t *taken) finished(o *Outbox, n int) {
	if atomic.AddInt32(&t.left, -int32(n)) != 0 || t.cut.Load() {
		return
	}
	if t.tr != nil {
		t.floor.finish(t.tr)
		return
	}
	if err := t.m.Ack(); err != nil {
		o.log.Warn("acknowledge outbox message", "subject", t.m.Subject(), "error", err)
	}
	select {
	case o.finished <- struct{}{}:
	default:
	}
}

// finish records a request's outcome; it reports false for a result cut
// short by shutdown, whose message is left in the stream.
func (o *Outbox) finish(res delivery.Result) bool {
	r := &res.Request
	if o.met != nil {
		o.met.of(r.Receiver).depth.Dec()
	}
	if !res.Final() {
		return false
	}
	rec := Record{
		Kind: KindDelivered, ID: r.ID, Receiver: r.Receiver, CallKey: r.CallKey, Time: time.Now(),
		N: res.Attempts, Status: res.Status, Latency: res.Latency, Request: r,
	}
	if !res.OK() {
		rec.Kind, rec.Err = KindDead, res.Err.Error()
	}
	o.writeLog(&rec)
	if o.met != nil {
		o.met.result(res)
	}
	o.onResult(res)
	return true
}
