package memory

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestExcess(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name       string
		prev, now  reading
		burstEnded bool
		want       bool
	}{
		{"quiet, three times the live heap", reading{allocs: 500 * mb}, reading{allocs: 500*mb + 10, live: 40 * mb, retained: 120 * mb}, false, true},
		{"busy, three times the live heap", reading{allocs: 500 * mb}, reading{allocs: 520 * mb, live: 40 * mb, retained: 120 * mb}, false, false},
		{"busy, just after another busy look", reading{allocs: 500 * mb}, reading{allocs: 520 * mb, live: 40 * mb, retained: 120 * mb}, true, false},
		{"quiet, near the live heap", reading{allocs: 500 * mb}, reading{allocs: 500 * mb, live: 40 * mb, retained: 60 * mb}, false, false},
		{"quiet, small heap: a collection is not worth it", reading{allocs: 5 * mb}, reading{allocs: 5 * mb, live: 2 * mb, retained: 12 * mb}, false, false},
		// The collection the burst ended with counted 80 MB live while
		// 45 MB stay live: 110 MB retained is within a quarter of 80 MB
		// plus the slack, yet most of the burst's garbage.
		{"first quiet look after a burst, live counted during it", reading{allocs: 900 * mb}, reading{allocs: 900 * mb, live: 80 * mb, retained: 110 * mb}, true, true},
		{"a later quiet look, live counted during the burst", reading{allocs: 900 * mb}, reading{allocs: 900 * mb, live: 80 * mb, retained: 110 * mb}, false, false},
		{"first quiet look after a small burst", reading{allocs: 900 * mb}, reading{allocs: 900 * mb, live: 45 * mb, retained: 55 * mb}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := excess(tt.prev, tt.now, tt.burstEnded); got != tt.want {
				t.Errorf("excess(%+v, %+v, burst ended %v) = %v, want %v", tt.prev, tt.now, tt.burstEnded, got, tt.want)
			}
		})
	}
}

// sink keeps the burst reachable until the test lets it go.
var sink [][]byte

// After a burst leaves garbage behind and the process goes quiet, Release
// collects it and gives the pages back.
func TestReleaseAfterBurst(t *testing.T) {
	runtime.GC()
	// The collector is held off through the burst, so the garbage is
	// surely there to collect when Release runs.
	gc := debug.SetGCPercent(-1)
	for range 96 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil // garbage now, not yet collected
	before := read()
	debug.SetGCPercent(gc)
	if before.retained < before.live+64<<20 {
		t.Fatalf("96 MB of garbage with the collector off, yet the heap retains %d bytes beside %d live", before.retained, before.live)
	}
	ctx, cancel := context.WithCancel(context.Background())
	released := make(chan struct{}, 1)
	log := slog.New(notify{released})
	done := make(chan struct{})
	go func() { defer close(done); Release(ctx, 10*time.Millisecond, log) }()
	defer func() { cancel(); <-done }()
	select {
	case <-released:
	case <-time.After(30 * time.Second):
		t.Fatalf("waited 30 s for Release to give back the burst's 96 MB (retained %d MB, live %d MB)", before.retained>>20, before.live>>20)
	}
	if now := read(); now.retained > before.retained-64<<20 {
		t.Errorf("Release said it gave the heap back, yet it retains %d MB (%d MB before the release, live %d MB)",
			now.retained>>20, before.retained>>20, now.live>>20)
	}
}

// notify is a slog handler that signals each record it sees.
type notify struct{ c chan struct{} }

func (n notify) Enabled(context.Context, slog.Level) bool { return true }
func (n notify) WithAttrs([]slog.Attr) slog.Handler       { return n }
func (n notify) WithGroup(string) slog.Handler            { return n }
func (n notify) Handle(context.Context, slog.Record) error {
	select {
	case n.c <- struct{}{}:
	default:
	}
	return nil
}
