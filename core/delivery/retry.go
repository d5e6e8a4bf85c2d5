package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how often and how patiently a request is retried.
// Waits grow exponentially from Min, doubling per attempt, capped at Max,
// with jitter so receivers coming back from an outage are not hit by every
// sender at the same instant.
type RetryPolicy struct {
	Attempts int           // total attempts including the first; < 1 means 1
	Min      time.Duration // wait before the second attempt; 0 means DefaultRetryPolicy.Min
	Max      time.Duration // longest wait between attempts, Retry-After included; 0 means DefaultRetryPolicy.Max
}

// DefaultRetryPolicy suits live call events: a receiver that is down for a
// few seconds still gets them, in order, without holding a call's queue for
// minutes.
var DefaultRetryPolicy = RetryPolicy{Attempts: 5, Min: 500 * time.Millisecond, Max: 30 * time.Second}

func (p RetryPolicy) normalized() RetryPolicy {
	if p.Attempts < 1 {
		p.Attempts = 1
	}
	if p.Min <= 0 {
		p.Min = DefaultRetryPolicy.Min
	}
	if p.Max <= 0 {
		p.Max = DefaultRetryPolicy.Max
	}
	if p.Max < p.Min {
		p.Max = p.Min
	}
	return p
}

// Backoff is the wait after failed attempt n (1-based): Min·2^(n-1) capped at
// Max, then jittered into [d/2, d].
func (p RetryPolicy) Backoff(n int) time.Duration {
	p = p.normalized()
	d := p.Min
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// Retryable reports whether another attempt may succeed where res failed:
// network errors and timeouts, 408, 425, 429 and 5xx are worth retrying;
// other statuses mean the receiver rejected the request itself.
func Retryable(res Result) bool {
	if res.Err == nil {
		return false
	}
	switch s := res.Status; {
	case s == 0:
		return !errors.Is(res.Err, context.Canceled)
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests:
		return true
	case s >= 500:
		return true
	}
	return false
}

// SendWithRetry sends r, retrying per p while Retryable says another attempt
// may help and ctx allows. On 429 and 503 a Retry-After header lengthens the
// wait (up to p.Max). The Result is the last attempt's, with Attempts
// counting all of them; r.ID is the same on every attempt so receivers can
// drop duplicates.
func (s *Sender) SendWithRetry(ctx context.Context, r Request, p RetryPolicy) Result {
	res, _ := retryLoop(ctx, p, time.Now, func(n int) (Result, bool, time.Duration) {
		res := s.Send(ctx, r)
		if Retryable(res) {
			s.log.Debug("webhook attempt failed", "id", r.ID, "receiver", r.Receiver, "attempt", n, "error", res.Err)
		}
		return res, Retryable(res), 0
	})
	return res
}

// retryLoop is delivery's one retry schedule: it calls try (attempt n
// from 1) until an attempt needs no other (again false), the schedule p
// has no attempt left, or ctx ends. Between attempts it waits p's backoff,
// at least floor (what try says the receiver needs, e.g. an open circuit),
// and at least a 429 or 503's Retry-After, all capped at p.Max. The Result
// is the last attempt's with Attempts set; cut is true when ctx ended
// during a wait.
func retryLoop(ctx context.Context, p RetryPolicy, now func() time.Time, try func(n int) (res Result, again bool, floor time.Duration)) (res Result, cut bool) {
	p = p.normalized()
	for n := 1; ; n++ {
		var again bool
		var floor time.Duration
		res, again, floor = try(n)
		res.Attempts = n
		if n >= p.Attempts || !again || ctx.Err() != nil {
			return res, false
		}
		wait := p.Backoff(n)
		if floor > 0 {
			wait = min(max(wait, floor), p.Max)
		}
		if res.Status == http.StatusTooManyRequests || res.Status == http.StatusServiceUnavailable {
			if ra, ok := parseRetryAfter(res.Header.Get("Retry-After"), now()); ok {
				wait = min(max(wait, ra), p.Max)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, true
		case <-t.C:
		}
	}
}

// SendFunc delivers one request and reports how it went; Dispatcher calls
// one per request. Wrapping a SendFunc is how signing, recording attempts or
// a durable outbox attach to delivery.
type SendFunc func(ctx context.Context, r Request) Result

// Retrying returns a SendFunc that calls SendWithRetry with p.
func (s *Sender) Retrying(p RetryPolicy) SendFunc {
	return func(ctx context.Context, r Request) Result { return s.SendWithRetry(ctx, r, p) }
}

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): delay
// seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, 1<<30)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
