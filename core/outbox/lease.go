package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseKV holds who delivers which partition: key "p.N" = node name, and
// "n.NODE" = a heartbeat per live node. Entries expire LeaseTTL after their
// last renewal (Config.LeaseTTL), so a dead node's partitions go to the others.
const LeaseKV = "CALLHOOK_LEASE"

// DefaultLeaseTTL: a partition lease is renewed every third of it, and a
// dead node's partitions move to the others within about this long.
const DefaultLeaseTTL = 3 * time.Second

// Start claims partitions and keeps doing so until Shutdown or Close: this
// node takes its fair share of the partitions (all of them when it is
// alone), renews its leases, takes over the partitions of nodes that
// stopped renewing, and hands surplus partitions back when nodes join. It
// returns once the first round is done.
func (o *Outbox) Start(ctx context.Context) error {
	kv, err := o.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: LeaseKV, TTL: o.cfg.LeaseTTL, Storage: o.storage(), Replicas: o.cfg.Replicas,
		Description: "callhook: which node delivers which outbox partition",
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", LeaseKV, err)
	}
	o.leases = kv
	o.revs = map[int]uint64{}
	if err := o.leaseRound(ctx); err != nil {
		return err
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		t := time.NewTicker(o.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(context.Background(), o.cfg.LeaseTTL)
			if err := o.leaseRound(rctx); err != nil && !errors.Is(err, ErrClosed) {
				o.log.Warn("partition leases", "error", err)
			}
			cancel()
		}
	}()
	return nil
}

// leaseRound renews, gives back and takes partitions once.
func (o *Outbox) leaseRound(ctx context.Context) error {
	node := o.cfg.Node
	if _, err := o.leases.PutString(ctx, "n."+node, strconv.FormatInt(time.Now().Unix(), 10)); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	nodes := 0
	keys, err := o.leases.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	held := map[int]string{}
	for k := range keys.Keys() {
		switch {
		case len(k) > 2 && k[:2] == "n.":
			nodes++
		case len(k) > 2 && k[:2] == "p.":
			if p, err := strconv.Atoi(k[2:]); err == nil {
				if e, err := o.leases.Get(ctx, k); err == nil {
					held[p] = string(e.Value())
				}
			}
		}
	}
	share := (o.cfg.Partitions + max(nodes, 1) - 1) / max(nodes, 1)

	// Renew what is ours; drop what we lost.
	mine := 0
	for p := range o.cfg.Partitions {
		rev, ok := o.revs[p]
		if !ok {
			continue
		}
		nrev, err := o.leases.Update(ctx, key(p), []byte(node), rev)
		if err != nil {
			o.log.Warn("partition lease lost", "partition", p, "error", err)
			delete(o.revs, p)
			o.release(p)
			continue
		}
		o.revs[p] = nrev
		mine++
	}
	// Hand back surplus so joining nodes get their share.
	for p := o.cfg.Partitions - 1; p >= 0 && mine > share; p-- {
		if rev, ok := o.revs[p]; ok {
			o.release(p)
			delete(o.revs, p)
			_ = o.leases.Delete(ctx, key(p), jetstream.LastRevision(rev))
			mine--
		}
	}
	// Take free partitions (or our own from a previous run of this node).
	for p := range o.cfg.Partitions {
		if mine >= share {
			break
		}
		if _, ok := o.revs[p]; ok {
			continue
		}
		holder, taken := held[p]
		var rev uint64
		switch {
		case !taken:
			rev, err = o.leases.Create(ctx, key(p), []byte(node))
		case holder == node:
			// This node restarted before its lease expired.
			var e jetstream.KeyValueEntry
			if e, err = o.leases.Get(ctx, key(p)); err == nil {
				rev, err = o.leases.Update(ctx, key(p), []byte(node), e.Revision())
			}
		default:
			continue
		}
		if err != nil {
			continue // another node was quicker
		}
		if err := o.claim(ctx, p); err != nil {
			_ = o.leases.Delete(ctx, key(p), jetstream.LastRevision(rev))
			return err
		}
		o.revs[p] = rev
		mine++
	}
	return nil
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
	for p, rev := range o.revs {
		_ = o.leases.Delete(ctx, key(p), jetstream.LastRevision(rev))
	}
	_ = o.leases.Delete(ctx, "n."+o.cfg.Node)
}
