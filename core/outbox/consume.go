package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

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
func (o *Outbox) claim(ctx context.Context, p int) error {
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
	if err := o.stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("claim partition %d: reset consumer: %w", p, err)
	}
	cons, err := o.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: subjectPrefix + strconv.Itoa(p),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// The owner never relies on redelivery: a request stays in flight
		// until it is delivered or dead, however long the schedule.
		AckWait:       24 * time.Hour,
		MaxDeliver:    -1,
		MaxAckPending: o.cfg.MaxAckPending,
		Replicas:      o.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("claim partition %d: create consumer: %w", p, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { o.take(m) },
		jetstream.PullMaxMessages(min(o.cfg.MaxAckPending, 1024)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			o.log.Debug("consume", "partition", p, "error", err)
		}))
	if err != nil {
		return fmt.Errorf("claim partition %d: consume: %w", p, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		cc.Stop()
		return ErrClosed
	}
	o.owned[p] = cc
	o.log.Debug("partition claimed", "partition", p, "node", o.cfg.Node)
	return nil
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
	cc, ok := o.owned[p]
	delete(o.owned, p)
	o.mu.Unlock()
	if ok {
		cc.Stop()
	}
}

// take hands one stored request to the dispatcher; the consumer calls it
// in stream order, which the dispatcher keeps per call.
func (o *Outbox) take(m jetstream.Msg) {
	r, err := decodeRequest(m.Data())
	if err != nil {
		o.log.Error("drop undecodable outbox message", "subject", m.Subject(), "error", err)
		_ = m.Term()
		return
	}
	if o.met != nil {
		o.met.depth.WithLabelValues(r.Receiver).Inc()
	}
	if err := o.disp.EnqueueDone(r, func(res delivery.Result) { o.finish(m, res) }); err != nil {
		// Shutting down: the request stays in the stream for the next start.
		if o.met != nil {
			o.met.depth.WithLabelValues(r.Receiver).Dec()
		}
	}
}

// finish records a request's outcome and removes it from the outbox. A
// result cut short by shutdown is left in the stream.
func (o *Outbox) finish(m jetstream.Msg, res delivery.Result) {
	r := res.Request
	if o.met != nil {
		o.met.depth.WithLabelValues(r.Receiver).Dec()
	}
	if !res.Final() {
		return
	}
	rec := Record{
		Kind: KindDelivered, ID: r.ID, Receiver: r.Receiver, CallKey: r.CallKey, Time: time.Now(),
		N: res.Attempts, Status: res.Status, Latency: res.Latency, Request: &r,
	}
	if !res.OK() {
		rec.Kind, rec.Err = KindDead, res.Err.Error()
	}
	o.writeLog(rec)
	if err := m.Ack(); err != nil {
		o.log.Warn("acknowledge webhook", "id", r.ID, "error", err)
	}
	if o.met != nil {
		o.met.result(res)
	}
	o.onResult(res)
	select {
	case o.finished <- struct{}{}:
	default:
	}
}
