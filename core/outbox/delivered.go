package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/callhook/callhook/core/delivery"
)

// A crash leaves in the stream requests that were delivered but not yet
// removed (see partFloor), and a PBX connection that resumes may render
// webhooks again that were already delivered. Both come back with the
// webhook ids the log recorded as delivered, so Open reads the ids the log
// shows delivered in the last recentWindow and delivery skips them once:
// the receiver already answered 2xx for that id. A webhook an operator
// replays is never skipped. The guarantee is unchanged: a request leaves
// the outbox only once its id was delivered.
// The window is short because the log is read in full (records carry
// their requests) and a restart should not wait on it; what a crash leaves
// behind finished within a purge interval of it.
const (
	recentWindow = 15 * time.Second
	recentMax    = 1 << 17 // ids kept at most, the newest
)

// deliveredSet is the webhooks delivered before this start: per webhook
// id, the hash of what was sent (dedupID's), so that only a true repeat is
// skipped, as the stream's own deduplication does.
type deliveredSet struct {
	mu   sync.Mutex
	ids  map[string]uint64
	left atomic.Int64 // len(ids): delivery checks it without the lock, and it is 0 soon after a start
}

// skip reports whether r was delivered before this start, and forgets it.
func (d *deliveredSet) skip(r *delivery.Request) bool {
	if d.left.Load() == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	sum, ok := d.ids[r.ID]
	if !ok || sum != contentHash(r) {
		return false
	}
	delete(d.ids, r.ID)
	d.left.Store(int64(len(d.ids)))
	return true
}

func contentHash(r *delivery.Request) uint64 {
	return uint64(hashRequest(fnvOffset64, r))
}

// loadDelivered reads what the log shows delivered in the last
// recentWindow. A replay after a delivery takes the id out: it is meant to
// go again.
func (o *Outbox) loadDelivered(ctx context.Context) error {
	ids := map[string]uint64{}
	var order []string
	err := o.eachLogLine(ctx, "", time.Now().Add(-recentWindow), func(line []byte) {
		var rec Record
		if json.Unmarshal(line, &rec) != nil {
			return
		}
		switch {
		case rec.Kind == KindDelivered && rec.Request != nil:
			ids[rec.ID] = contentHash(rec.Request)
			order = append(order, rec.ID)
			if len(order) > 2*recentMax {
				// Keep the newest recentMax.
				for _, old := range order[:len(order)-recentMax] {
					delete(ids, old)
				}
				order = append(order[:0], order[len(order)-recentMax:]...)
			}
		case rec.Kind == KindReplay:
			delete(ids, rec.ID)
		}
	})
	if err != nil {
		return err
	}
	o.delivered.mu.Lock()
	o.delivered.ids = ids
	o.delivered.left.Store(int64(len(ids)))
	o.delivered.mu.Unlock()
	if len(ids) > 0 {
		o.log.Info("webhooks delivered before this start will not be sent again", "webhooks", len(ids), "window", recentWindow)
	}
	return nil
}

// isReplay says whether a stored message is an operator's replay (its
// message id, see Replay).
func isReplay(m jetstream.Msg) bool {
	h := m.Headers()
	return h != nil && strings.Contains(h.Get(jetstream.MsgIDHeader), "/replay/")
}

// eachLogLine calls f with every record line of the log (of receiver, or
// all), from since on (zero: from the start), oldest first.
func (o *Outbox) eachLogLine(ctx context.Context, receiver string, since time.Time, f func(line []byte)) error {
	o.flushLog() // what was gathered is part of the answer
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if receiver != "" {
		cfg.FilterSubjects = []string{logPrefix + receiver}
	}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	info, err := o.logs.Info(ctx)
	if err != nil {
		return fmt.Errorf("read attempt log: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	cons, err := o.logs.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read attempt log: %w", err)
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			return fmt.Errorf("read attempt log: %w", err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			meta, _ := m.Metadata()
			// A message holds one record, or several as JSON Lines.
			for line := range bytes.SplitSeq(m.Data(), []byte{'\n'}) {
				f(line)
			}
			if meta != nil && (meta.NumPending == 0 || meta.Sequence.Stream >= last) {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read attempt log: %w", err)
		}
		if done || n == 0 {
			return nil
		}
	}
}
