package recording

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when the test says so; After reports each wait on
// waits so the test knows Run is parked.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	timer chan time.Time
	due   time.Time
	waits chan time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timer, c.due = ch, c.now.Add(d)
	c.mu.Unlock()
	c.waits <- d
	return ch
}

// advance moves the clock and fires the pending wait when it is due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	if c.timer != nil && !c.now.Before(c.due) {
		c.timer <- c.now
		c.timer = nil
	}
}

func TestNextSweep(t *testing.T) {
	utc := time.UTC
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, utc) }
	for _, c := range []struct{ now, want time.Time }{
		{at(1, 12, 0), at(2, 3, 0)},
		{at(1, 2, 59), at(1, 3, 0)},
		{at(1, 3, 0), at(2, 3, 0)},
		{time.Date(2026, 3, 31, 23, 0, 0, 0, utc), time.Date(2026, 4, 1, 3, 0, 0, 0, utc)},
	} {
		if got := NextSweep(c.now, 3, utc); !got.Equal(c.want) {
			t.Errorf("NextSweep(%v) = %v, want %v", c.now, got, c.want)
		}
	}
}

func TestRetentionDeletesOnlyExpiredFilesNightly(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sweepAt := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	files := map[string]time.Time{
		"260101100000_1-1-1.mp3":       sweepAt.Add(-60 * day),             // expired
		"260130100000_2-1-1.mp3":       sweepAt.Add(-30*day - time.Minute), // just expired
		"260130100000_3-1-1.mp3":       sweepAt.Add(-30*day + time.Minute), // just inside
		"260301100000_4-1-1.mp3":       sweepAt.Add(-17 * time.Hour),       // today's
		"notes.txt":                    sweepAt.Add(-90 * day),             // not a recording
		".260101100000_5-1-1.mp3.part": sweepAt.Add(-90 * day),             // an encode in progress
	}
	for name, mt := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "old.mp3"), 0o755)
	old := sweepAt.Add(-90 * day)
	os.Chtimes(filepath.Join(dir, "old.mp3"), old, old)

	clock := &fakeClock{now: start, waits: make(chan time.Duration)}
	swept := make(chan []string)
	r := &Retention{Dir: dir, MaxAge: 30 * day, Hour: 3, Location: time.UTC, Clock: clock,
		Swept: func(d []string, err error) {
			if err != nil {
				t.Error(err)
			}
			swept <- d
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	if d := <-clock.waits; d != 15*time.Hour {
		t.Fatalf("first wait %v, want 15h (12:00 to 03:00)", d)
	}
	clock.advance(14 * time.Hour) // 02:00: not yet
	if left := names(t, dir); len(left) != 7 {
		t.Fatalf("deleted before the hour: %v", left)
	}
	clock.advance(time.Hour) // 03:00
	deleted := <-swept
	slices.Sort(deleted)
	if !slices.Equal(deleted, []string{"260101100000_1-1-1.mp3", "260130100000_2-1-1.mp3"}) {
		t.Fatalf("deleted %v", deleted)
	}
	want := []string{".260101100000_5-1-1.mp3.part", "260130100000_3-1-1.mp3", "260301100000_4-1-1.mp3", "notes.txt", "old.mp3"}
	if left := names(t, dir); !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	// The next sweep is a day later and takes the file that expired meanwhile.
	if d := <-clock.waits; d != day {
		t.Fatalf("next wait %v, want 24h", d)
	}
	clock.advance(day)
	if deleted := <-swept; !slices.Equal(deleted, []string{"260130100000_3-1-1.mp3"}) {
		t.Fatalf("second night deleted %v", deleted)
	}
	<-clock.waits
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

func TestRetentionZeroKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a-1.mp3")
	os.WriteFile(p, nil, 0o644)
	old := time.Now().Add(-1000 * 24 * time.Hour)
	os.Chtimes(p, old, old)
	if d, err := (&Retention{Dir: dir}).Sweep(time.Now()); err != nil || len(d) != 0 {
		t.Fatalf("deleted %v, %v", d, err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}
