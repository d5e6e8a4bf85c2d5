package ami

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// DefaultCallbackKey is the key a caller waiting in a queue presses to
// order a callback.
const DefaultCallbackKey = "1"

// queueCallers takes the callback key from the callers waiting in a queue.
// app_queue runs no dialplan on a key while the caller stays in the queue
// (only a queues.conf context makes the caller leave), so Asterisk reports
// the key as nothing but DTMFBegin/DTMFEnd (Direction Received) on the
// caller's channel between its QueueCallerJoin and QueueCallerLeave. DTMF
// of every other channel is dropped before it is decoded, as before.
type queueCallers struct {
	key     []byte
	mu      sync.Mutex
	waiting map[string]bool // Uniqueids of callers in a queue
}

func newQueueCallers(key string) *queueCallers {
	if key == "" {
		key = DefaultCallbackKey
	}
	return &queueCallers{key: []byte(key), waiting: map[string]bool{}}
}

// wants reports whether p is the callback key of a waiting caller: the
// packet reader decodes only those DTMFEnd events.
func (q *queueCallers) wants(p rawPacket) bool {
	if !bytes.Equal(p.get("Event"), []byte("DTMFEnd")) || !bytes.Equal(p.get("Digit"), q.key) {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting) > 0 && q.waiting[string(p.get("Uniqueid"))]
}

// follow notes callers joining and leaving queues from their signals.
func (q *queueCallers) follow(s signal.Signal) {
	switch s.Kind {
	case signal.QueueJoined:
		q.mu.Lock()
		q.waiting[s.Leg.ID] = true
		q.mu.Unlock()
	case signal.QueueLeft, signal.QueueAbandoned, signal.LegGone:
		q.mu.Lock()
		delete(q.waiting, s.Leg.ID)
		q.mu.Unlock()
	}
}

// callback translates m when it is a waiting caller pressing the callback
// key (ok false otherwise): the caller ordered a callback.
func (q *queueCallers) callback(m Message, recv time.Time, loc *time.Location) (signal.Signal, bool, error) {
	if !strings.EqualFold(m.Get("Event"), "DTMFEnd") || m.Get("Digit") != string(q.key) ||
		strings.EqualFold(m.Get("Direction"), "Sent") {
		return signal.Signal{}, false, nil
	}
	leg := legOf(m, "")
	q.mu.Lock()
	in := q.waiting[leg.ID]
	q.mu.Unlock()
	if !in {
		return signal.Signal{}, false, nil
	}
	if leg.Call == "" {
		return signal.Signal{}, false, fmt.Errorf("translate DTMFEnd event: no Linkedid for %s", leg.ID)
	}
	s := signal.Signal{Kind: signal.CallbackRequested, Leg: leg}
	stamp(&s, m, recv, loc)
	return s, true, nil
}

// CheckCallbackKey says what is wrong with a callback key: one DTMF key.
func CheckCallbackKey(v string) error {
	if len(v) != 1 || !strings.Contains("0123456789*#ABCD", v) {
		return fmt.Errorf("want one DTMF key (0-9, *, #, A-D), got %q", v)
	}
	return nil
}
