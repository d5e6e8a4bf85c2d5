package recording

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Clock is the time source of Retention; tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Retention deletes MP3 files older than MaxAge from Dir once a day at
// Hour, as the module's service does "at night".
type Retention struct {
	Dir    string
	MaxAge time.Duration // N days from the .ini: N*24h
	Hour   int           // local hour of the nightly sweep, 0-23
	// Location of Hour; default time.Local.
	Location *time.Location
	Clock    Clock // default SystemClock
	Logger   *slog.Logger
	// Swept, when set, is called after each nightly sweep.
	Swept func(deleted []string, err error)
}

// NextSweep is the first moment at hour:00 in loc strictly after now.
func NextSweep(now time.Time, hour int, loc *time.Location) time.Time {
	n := now.In(loc)
	next := time.Date(n.Year(), n.Month(), n.Day(), hour, 0, 0, 0, loc)
	if !next.After(n) {
		next = time.Date(n.Year(), n.Month(), n.Day()+1, hour, 0, 0, 0, loc)
	}
	return next
}

// Sweep deletes the expired files now: regular *.mp3 files directly in
// Dir whose modification time is more than MaxAge before now. Other
// files, sub-folders and fresh recordings stay.
func (r *Retention) Sweep(now time.Time) ([]string, error) {
	if r.MaxAge <= 0 {
		return nil, nil
	}
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return nil, fmt.Errorf("sweep recordings %s: %w", r.Dir, err)
	}
	cutoff := now.Add(-r.MaxAge)
	var deleted []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".mp3") {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.ModTime().Before(cutoff) {
			continue
		}
		p := filepath.Join(r.Dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete expired recording: %w", err))
			continue
		}
		deleted = append(deleted, e.Name())
	}
	return deleted, errors.Join(errs...)
}

// Run sweeps every day at Hour until ctx ends; it returns ctx.Err().
func (r *Retention) Run(ctx context.Context) error {
	clock := r.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	loc := r.Location
	if loc == nil {
		loc = time.Local
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "recording-retention")
	for {
		now := clock.Now()
		next := NextSweep(now, r.Hour, loc)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clock.After(next.Sub(now)):
		}
		deleted, err := r.Sweep(clock.Now())
		if err != nil {
			log.Warn("retention sweep", "dir", r.Dir, "err", err)
		}
		log.Info("retention sweep", "dir", r.Dir, "deleted", len(deleted))
		if r.Swept != nil {
			r.Swept(deleted, err)
		}
	}
}
