package outbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// HealthKV holds one key per engine node, rewritten by Check.
const HealthKV = "CALLHOOK_HEALTH"

// Check writes this node's key in the health bucket, on the same store and
// with the same replicas as the outbox, and waits for the store to
// acknowledge it: a webhook enqueued now would be taken. It fails when the
// connection is gone, a cluster has no quorum, the disk is full or the
// outbox is closed. The bucket keeps one small value per node.
func (o *Outbox) Check(ctx context.Context) error {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return ErrClosed
	}
	kv, err := o.healthBucket(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.PutString(ctx, healthKey(o.cfg.Node), time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("outbox not writable: %w", err)
	}
	return nil
}

// healthBucket creates the bucket on first use: a store that cannot
// create it cannot take webhooks either, and the next check tries again.
func (o *Outbox) healthBucket(ctx context.Context) (jetstream.KeyValue, error) {
	o.hmu.Lock()
	defer o.hmu.Unlock()
	if o.health != nil {
		return o.health, nil
	}
	kv, err := o.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: HealthKV, Storage: o.storage(), Replicas: o.cfg.Replicas, History: 1,
		Description: "callhook: each node's last outbox write check",
	})
	if err != nil {
		return nil, fmt.Errorf("outbox not writable: create bucket %s: %w", HealthKV, err)
	}
	o.health = kv
	return kv, nil
}

// healthKey is a node name as a key: letters, digits, '-' and '_' kept.
func healthKey(node string) string {
	k := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, node)
	if k == "" {
		return "node"
	}
	return k
}
