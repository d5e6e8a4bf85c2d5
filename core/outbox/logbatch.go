package outbox

import (
	"sync"
	"time"
)

// Log records of delivered webhooks are gathered per receiver and written
// as one log message of several lines (JSON Lines): one store in the log
// stream per batch instead of one per webhook, which at thousands of
// webhooks a second was a large share of the durable path. Records that
// matter beyond history — attempts that failed, dead letters (they carry
// the request for replay), replays — are written at once, behind what was
// gathered for their receiver, so the log keeps each receiver's order.
const (
	logBatchRecords = 128
	logBatchBytes   = 64 << 10
	logBatchDelay   = 10 * time.Millisecond
)

type logBatcher struct {
	mu    sync.Mutex
	bufs  map[string][]byte // receiver → JSON lines not yet written
	n     map[string]int
	timer *time.Timer // pending flush of everything gathered; nil when none
}

// writeLog appends rec to the log without waiting: the log is for people,
// and the outcome that matters (the request leaving the outbox) is in the
// outbox itself. Delivered records are batched; the others go out now.
func (o *Outbox) writeLog(rec *Record) {
	lb := &o.logb
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.bufs == nil {
		lb.bufs, lb.n = map[string][]byte{}, map[string]int{}
	}
	buf := lb.bufs[rec.Receiver]
	n0 := len(buf)
	if n0 > 0 {
		buf = append(buf, '\n')
	}
	buf = appendRecord(buf, rec)
	if n0 > 0 && len(buf) > logBatchBytes {
		// Too big with rec: write what was gathered, keep rec.
		lb.bufs[rec.Receiver] = buf[:n0]
		o.publishLogLocked(rec.Receiver)
		buf = append(lb.bufs[rec.Receiver], buf[n0+1:]...)
	}
	lb.bufs[rec.Receiver] = buf
	lb.n[rec.Receiver]++
	if rec.Kind != KindDelivered || lb.n[rec.Receiver] >= logBatchRecords {
		o.publishLogLocked(rec.Receiver)
		return
	}
	if lb.timer == nil {
		lb.timer = time.AfterFunc(logBatchDelay, o.flushLog)
	}
}

// flushLog writes every gathered record.
func (o *Outbox) flushLog() {
	lb := &o.logb
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.timer != nil {
		lb.timer.Stop()
		lb.timer = nil
	}
	for recv, buf := range lb.bufs {
		if len(buf) > 0 {
			o.publishLogLocked(recv)
		}
	}
}

func (o *Outbox) publishLogLocked(receiver string) {
	lb := &o.logb
	buf := lb.bufs[receiver]
	lb.n[receiver] = 0
	// A plain publish: the stream stores it all the same, and no
	// acknowledgement comes back to be matched and dropped. The connection
	// copies buf, so it is reused for the next batch.
	if err := o.nc.Publish(logPrefix+receiver, buf); err != nil {
		o.log.Warn("write attempt log", "receiver", receiver, "error", err)
	}
	lb.bufs[receiver] = buf[:0]
}
