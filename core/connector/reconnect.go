package connector

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Backoff is the wait between attempts to reach a PBX: it doubles from
// Min up to Max, adding up to half again as jitter (never under Min nor
// over Max), so that many engines restarted together do not reconnect in
// lockstep. The zero value is ready once Min and Max are set.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Reset starts again from Min: the PBX was reached.
func (b *Backoff) Reset() { b.cur = 0 }

// Next is the wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(b.cur, b.Max/2) * 2 // no overflow for a huge Max
	}
	d := b.cur
	if half := int64(d / 2); half > 0 {
		d += time.Duration(rand.Int64N(half))
	}
	return min(d, b.Max)
}

// Sleep waits d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Secret is a password or key that never shows in logs or formatted
// output. Use string(s) to get the value itself.
type Secret string

const redacted = "REDACTED"

// LogValue keeps the secret out of slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// String keeps the secret out of fmt's %s and %v.
func (Secret) String() string { return redacted }

// GoString keeps the secret out of fmt's %#v.
func (Secret) GoString() string { return `Secret("` + redacted + `")` }

// MarshalText keeps the secret out of JSON and text encodings (slog's JSON
// handler encodes structs with encoding/json).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
