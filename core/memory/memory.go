// Package memory gives back to the operating system the heap a burst of
// work left behind, once the process has gone quiet.
//
// After a burst the Go collector keeps about twice the live heap (GOGC
// 100) and the runtime returns only what lies beyond that goal. A PBX's
// load comes in bursts (the morning's calls, a queue emptying) with calls
// held open between them, so without this the engine's resident memory
// stays at the peak of the last burst for as long as the quiet lasts.
package memory

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults of Release.
const (
	// DefaultEvery is how often the heap is looked at.
	DefaultEvery = time.Second
	// quietBytes: a process allocating less than this between two looks
	// is quiet (a metrics scrape or a timer, not signals).
	quietBytes = 1 << 20
	// slackBytes: what the heap may hold beyond its live bytes before a
	// quiet process gives it back; below it, a collection costs more than
	// it returns.
	slackBytes = 16 << 20
)

var samples = []metrics.Sample{
	{Name: "/gc/heap/allocs:bytes"},
	{Name: "/gc/heap/live:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
}

// reading is one look at the heap.
type reading struct {
	allocs   uint64 // allocated since start
	live     uint64 // live after the last collection
	retained uint64 // objects (live or not yet collected), unused and free pages not returned
}

func read() reading {
	s := make([]metrics.Sample, len(samples))
	copy(s, samples)
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return reading{allocs: v(0), live: v(1), retained: v(2) + v(3) + v(4)}
}

// excess says whether a quiet process holds enough beyond its live heap
// to be worth a collection: quiet since the last look, and holding more
// than a quarter beyond the live bytes and slackBytes besides. At the
// first quiet look after a busy one (burstEnded) slackBytes beyond the
// live bytes are enough: the live bytes are those of the last collection,
// which ran during the burst and counted what the burst still held, so a
// quarter on top of them can hide most of what it left.
func excess(prev, now reading, burstEnded bool) bool {
	if now.allocs-prev.allocs >= quietBytes {
		return false
	}
	if burstEnded {
		return now.retained > now.live+slackBytes
	}
	return now.retained > now.live+now.live/4+slackBytes
}

// busy says whether the process allocated a quiet look's worth or more
// between two looks.
func busy(prev, now reading) bool { return now.allocs-prev.allocs >= quietBytes }

// Release looks at the heap every every (DefaultEvery when zero) until
// ctx ends, and when the process has been quiet since the last look and
// holds far more than its live heap, collects and returns the free pages
// to the operating system (debug.FreeOSMemory). A busy process is left to
// the collector's own pace.
func Release(ctx context.Context, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = DefaultEvery
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	prev := read()
	wasBusy := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := read()
		if excess(prev, now, wasBusy) {
			began := time.Now()
			debug.FreeOSMemory()
			now = read()
			log.Debug("returned the heap of the last burst", "live_bytes", now.live, "took", time.Since(began))
		}
		wasBusy = busy(prev, now)
		prev = now
	}
}
