package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LeaseKV holds who delivers which partition: key "p.N" = node name, and
// "n.NODE" = a heartbeat per live node. Entries expire LeaseTTL after their
// last renewal (Config.LeaseTTL), so a dead node's partitions go to the others.
const LeaseKV = "CALLHOOK_LEASE"

// DefaultLeaseTTL: a partition lease is renewed every third of it, and a
// dead node's partitions move to the others within about this long.
const DefaultLeaseTTL = 3 * time.Second

// Requests to the cluster are retried: one lost while the cluster elects a
// leader, or answered late by a loaded machine, would otherwise fail Start
// or wait for the caller's deadline.
const (
	firstAttempt = 5 * time.Second  // timeout of a first attempt; doubles per retry
	lastAttempt  = 30 * time.Second // longest timeout of one attempt
	patience     = time.Minute      // retries end then if the caller set no deadline, and a claim's always
)

// lease is a partition lease this node holds.
type lease struct {
	rev  uint64    // revision of this node's last write of the key
	sent time.Time // when that write was sent: the key cannot expire before sent+LeaseTTL
}

// Start claims partitions and keeps doing so until Shutdown or Close: this
// node takes its fair share of the partitions (all of them when it is
// alone), renews its leases, takes over the partitions of nodes that
// stopped renewing, and hands surplus partitions back when nodes join. It
// returns once the first round is done; after an error, some partitions
// may be claimed: Close the outbox.
//
// Renewals run on their own, every third of LeaseTTL: claiming a partition
// (creating its consumer on the cluster) can take longer than a lease
// lives on a loaded machine, and must not let the other leases lapse.
func (o *Outbox) Start(ctx context.Context) error {
	err := o.retry(ctx, "create bucket "+LeaseKV, func(ctx context.Context) error {
		kv, err := o.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: LeaseKV, TTL: o.cfg.LeaseTTL, Storage: o.storage(), Replicas: o.cfg.Replicas,
			Description: "callhook: which node delivers which outbox partition",
		})
		o.leases = kv
		return err
	})
	if err != nil {
		return err
	}
	if err := o.heartbeat(ctx); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		cancel()
		return ErrClosed
	}
	o.held, o.ended = map[int]*lease{}, map[int]bool{}
	o.cancel = cancel
	o.wg.Add(1)
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		o.every(o.cfg.LeaseTTL/3, func() { o.renew(bg) })
	}()
	if err := o.balance(ctx); err != nil {
		return err
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.every(o.cfg.LeaseTTL/3, func() {
			if err := o.balance(bg); err != nil && bg.Err() == nil && !errors.Is(err, ErrClosed) {
				o.log.Warn("partition leases", "node", o.cfg.Node, "error", err)
			}
		})
	}()
	return nil
}

// every calls f every d until Shutdown or Close; a slow f delays the next call.
func (o *Outbox) every(d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		f()
	}
}

// heartbeat tells the other nodes this one is alive, for their share.
func (o *Outbox) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.LeaseTTL)
	defer cancel()
	if _, err := o.leases.PutString(ctx, "n."+o.cfg.Node, strconv.FormatInt(time.Now().Unix(), 10)); err != nil {
		return fmt.Errorf("heartbeat of %s: %w", o.cfg.Node, err)
	}
	return nil
}

// renew renews the heartbeat and every lease at once. A renewal that is
// merely late or fails on the way keeps the lease until it may have
// expired (sent+LeaseTTL); a lease another node wrote, or that expired, is
// lost and its partition released.
func (o *Outbox) renew(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := o.heartbeat(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("partition leases", "error", err)
		}
	})
	o.lmu.Lock()
	for p, l := range o.held {
		if time.Since(l.sent) >= o.cfg.LeaseTTL {
			o.lost(p, l.rev, "not renewed within the lease TTL")
			continue
		}
		wg.Go(func() { o.renewOne(ctx, p, *l) })
	}
	o.lmu.Unlock()
	wg.Wait()
}

// renewOne renews partition p's lease, last written as l.
func (o *Outbox) renewOne(ctx context.Context, p int, l lease) {
	rctx, cancel := context.WithDeadline(ctx, l.sent.Add(o.cfg.LeaseTTL))
	defer cancel()
	sent := time.Now()
	rev, err := o.leases.Update(rctx, key(p), []byte(o.cfg.Node), l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// Perhaps an earlier renewal timed out here but was stored:
		// then the key still names this node.
		if e, gerr := o.leases.Get(rctx, key(p)); gerr == nil && string(e.Value()) == o.cfg.Node {
			sent = time.Now()
			rev, err = o.leases.Update(rctx, key(p), []byte(o.cfg.Node), e.Revision())
		}
	}
	o.lmu.Lock()
	cur, ok := o.held[p]
	switch {
	case !ok && err == nil:
		// Handed back while the renewal was on its way, with the old
		// revision: remove what the renewal wrote.
		o.lmu.Unlock()
		dctx, cancel := context.WithTimeout(ctx, o.cfg.LeaseTTL)
		defer cancel()
		_ = o.leases.Delete(dctx, key(p), jetstream.LastRevision(rev))
		return
	case !ok || cur.rev != l.rev || ctx.Err() != nil:
		// Handed back, or closing.
	case err == nil:
		cur.rev, cur.sent = rev, sent
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound):
		o.lost(p, l.rev, err.Error())
	case time.Since(l.sent) >= o.cfg.LeaseTTL:
		o.lost(p, l.rev, "renewal: "+err.Error())
	default:
		o.log.Info("partition lease renewal late", "partition", p, "node", o.cfg.Node, "error", err)
	}
	o.lmu.Unlock()
}

// holds reports whether partition p's lease is this node's: held, and
// renewed within LeaseTTL.
func (o *Outbox) holds(p int) bool {
	o.lmu.Lock()
	defer o.lmu.Unlock()
	l, ok := o.held[p]
	return ok && time.Since(l.sent) < o.cfg.LeaseTTL
}

// lost forgets partition p's lease and stops delivering it; lmu is held
// (so the balancer cannot take p again before it is released).
func (o *Outbox) lost(p int, rev uint64, why string) {
	if cur, ok := o.held[p]; !ok || cur.rev != rev {
		return
	}
	delete(o.held, p)
	delete(o.ended, p)
	o.log.Warn("partition lease lost", "partition", p, "node", o.cfg.Node, "reason", why)
	o.release(p)
}

// balance gives back and takes partitions once: this node's fair share of
// them, counting the nodes with a heartbeat.
func (o *Outbox) balance(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, max(firstAttempt, o.cfg.LeaseTTL))
	defer cancel()
	nodes := 0
	keys, err := o.leases.ListKeys(lctx)
	if err != nil {
		return fmt.Errorf("list leases in %s: %w", LeaseKV, err)
	}
	taken := map[int]bool{}
	for k := range keys.Keys() {
		switch {
		case len(k) > 2 && k[:2] == "n.":
			nodes++
		case len(k) > 2 && k[:2] == "p.":
			if p, err := strconv.Atoi(k[2:]); err == nil {
				taken[p] = true
			}
		}
	}
	if err := lctx.Err(); err != nil {
		return fmt.Errorf("list leases in %s: %w", LeaseKV, err)
	}
	share := (o.cfg.Partitions + max(nodes, 1) - 1) / max(nodes, 1)

	// Hand back surplus so joining nodes get their share.
	o.lmu.Lock()
	mine := len(o.held)
	var surplus []int
	for p := o.cfg.Partitions - 1; p >= 0 && mine > share; p-- {
		if _, ok := o.held[p]; ok {
			surplus = append(surplus, p)
			mine--
		}
	}
	o.lmu.Unlock()
	for _, p := range surplus {
		o.handBack(lctx, p)
	}
	// Claim again what is ours but no longer consumed; take free
	// partitions (or our own from a previous run of this node).
	for p := range o.cfg.Partitions {
		o.lmu.Lock()
		_, ours := o.held[p]
		again := o.ended[p]
		delete(o.ended, p)
		o.lmu.Unlock()
		if ours {
			if again {
				if _, err := o.claimHeld(ctx, p); err != nil {
					return err
				}
			}
			continue
		}
		if mine >= share {
			continue
		}
		sent := time.Now()
		rev, err := o.takeLease(ctx, p, taken[p])
		if err != nil {
			continue // another node was quicker
		}
		// Renewed from now on, while the consumer is being created.
		o.lmu.Lock()
		o.held[p] = &lease{rev: rev, sent: sent}
		o.lmu.Unlock()
		ok, err := o.claimHeld(ctx, p)
		if err != nil {
			return err
		}
		if ok {
			mine++
		}
	}
	return nil
}

// claimHeld claims partition p, whose lease this node holds, and reports
// whether it delivers p now. A lease lost meanwhile is no error; a claim
// that failed otherwise gives the lease back, so another node may try.
func (o *Outbox) claimHeld(ctx context.Context, p int) (bool, error) {
	err := o.claim(ctx, p)
	switch {
	case errors.Is(err, ErrClosed):
		return false, err // killed or shut down: leases are left, or given back, as such
	case errors.Is(err, errLeaseLost):
		o.release(p)
		return false, nil
	case err != nil:
		o.handBack(ctx, p)
		return false, err
	}
	o.lmu.Lock()
	_, kept := o.held[p]
	o.lmu.Unlock()
	if !kept {
		o.release(p) // lost just after the claim
	}
	return kept, nil
}

// takeLease writes partition p's lease for this node: a free one, or one
// this node holds from a run that ended before the lease expired.
func (o *Outbox) takeLease(ctx context.Context, p int, taken bool) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, max(firstAttempt, o.cfg.LeaseTTL))
	defer cancel()
	if !taken {
		return o.leases.Create(ctx, key(p), []byte(o.cfg.Node))
	}
	e, err := o.leases.Get(ctx, key(p))
	if err != nil {
		return 0, err
	}
	if holder := string(e.Value()); holder != o.cfg.Node {
		return 0, fmt.Errorf("partition %d held by %s", p, holder)
	}
	return o.leases.Update(ctx, key(p), []byte(o.cfg.Node), e.Revision())
}

// handBack stops delivering partition p and deletes its lease, so another
// node can take it at once.
func (o *Outbox) handBack(ctx context.Context, p int) {
	o.lmu.Lock()
	l, ok := o.held[p]
	delete(o.held, p)
	delete(o.ended, p)
	o.lmu.Unlock()
	o.release(p)
	if ok {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.LeaseTTL)
		defer cancel()
		_ = o.leases.Delete(dctx, key(p), jetstream.LastRevision(l.rev))
	}
}

func key(p int) string { return "p." + strconv.Itoa(p) }

// releaseLeases gives this node's partitions back at a clean shutdown, so
// other nodes take them at once instead of after LeaseTTL.
func (o *Outbox) releaseLeases() {
	if o.leases == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	o.lmu.Lock()
	defer o.lmu.Unlock()
	for p, l := range o.held {
		_ = o.leases.Delete(ctx, key(p), jetstream.LastRevision(l.rev))
	}
	_ = o.leases.Delete(ctx, "n."+o.cfg.Node)
}

// retry runs f until it succeeds, fails for good, or ctx ends (without a
// deadline: after patience). Every attempt has a timeout of its own, longer
// each time, so a request the cluster lost is sent again instead of
// waiting out ctx; the error names what was tried, on which node, and for
// how long.
func (o *Outbox) retry(ctx context.Context, what string, f func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, patience)
		defer cancel()
	}
	start := time.Now()
	timeout, pause := firstAttempt, 100*time.Millisecond
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := f(actx)
		cancel()
		if err == nil || errors.Is(err, ErrClosed) {
			return err
		}
		giveUp := func() error {
			return fmt.Errorf("%s on %s, after %s and %d attempts: %w", what, o.cfg.Node, time.Since(start).Round(time.Millisecond), n, err)
		}
		if ctx.Err() != nil || !transient(err) {
			return giveUp()
		}
		o.log.Warn("cluster request failed, retrying", "what", what, "node", o.cfg.Node, "attempt", n,
			"elapsed", time.Since(start).Round(time.Millisecond), "error", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return giveUp()
		case <-o.stop:
			return ErrClosed
		}
		timeout, pause = min(2*timeout, lastAttempt), min(2*pause, 2*time.Second)
	}
}

// transient reports an error worth another attempt: a timeout, no
// responder, or the server's "try later" (5xx: no leader yet, peers
// offline).
func transient(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
		return true
	case errors.Is(err, jetstream.ErrConsumerExists):
		// Another node's claim of the partition, at the same moment: the
		// lease decides at the next attempt.
		return true
	case errors.As(err, &api):
		return api.Code >= 500
	}
	return false
}
