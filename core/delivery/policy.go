package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Policy is how one receiver is delivered to. It is applied at send time
// and never stored with a request, so secrets stay out of the outbox.
type Policy struct {
	Retry    RetryPolicy
	Signer   *Signer // nil: requests are not signed
	Username string  // HTTP basic auth (RFC 7617) when non-empty
	Password string
	// AllowPrivate lets the receiver be on a private, loopback or
	// link-local address (the .ini key allow_private).
	AllowPrivate bool
}

// Breaker configures the per-receiver circuit breaker: after Failures
// failed attempts in a row the receiver's circuit opens for Cooldown,
// during which attempts fail at once with ErrCircuitOpen; then one probe
// attempt decides whether it closes again.
type Breaker struct {
	Failures int           // default 5
	Cooldown time.Duration // default 5s
}

// Attempt is one try at delivering a request, for the attempt log.
type Attempt struct {
	ID       string        `json:"id"`
	Receiver string        `json:"receiver"`
	CallKey  string        `json:"call,omitempty"`
	N        int           `json:"n"` // 1-based
	Time     time.Time     `json:"time"`
	Status   int           `json:"status,omitempty"`
	Latency  time.Duration `json:"latency_ns"`
	Err      string        `json:"error,omitempty"`
	// For observers such as an inspector, not for the log: the request
	// as it went out (headers as sent, Authorization included, so redact
	// before showing them) and how the receiver answered (Body cut as a
	// Result's is).
	Request Request     `json:"-"`
	Header  http.Header `json:"-"`
	Body    []byte      `json:"-"`
}

// Receivers sends requests by their receiver's Policy: it retries on the
// receiver's schedule, signs each attempt, adds basic auth, keeps a circuit
// breaker per receiver, and disables a receiver that answers 410 Gone. Its
// Send is the SendFunc a Dispatcher runs.
type Receivers struct {
	sender    *Sender
	breaker   Breaker
	log       *slog.Logger
	onAttempt func(Attempt)
	onDisable func(receiver, reason string)
	now       func() time.Time

	mu     sync.Mutex
	states map[string]*receiverState
}

type receiverState struct {
	policy   Policy
	disabled string    // reason, "" when enabled
	fails    int       // consecutive failed attempts
	openTill time.Time // circuit open until then
	probing  bool      // a half-open probe is in flight
}

// ReceiversOption configures Receivers.
type ReceiversOption func(*Receivers)

// WithReceiversBreaker sets the circuit breaker (zero fields keep defaults).
func WithReceiversBreaker(b Breaker) ReceiversOption {
	return func(rs *Receivers) {
		if b.Failures > 0 {
			rs.breaker.Failures = b.Failures
		}
		if b.Cooldown > 0 {
			rs.breaker.Cooldown = b.Cooldown
		}
	}
}

// WithReceiversAttempt calls f after every attempt (the attempt log).
func WithReceiversAttempt(f func(Attempt)) ReceiversOption {
	return func(rs *Receivers) { rs.onAttempt = f }
}

// WithReceiversDisable calls f when a receiver is disabled by a 410, so the
// state can be kept across restarts.
func WithReceiversDisable(f func(receiver, reason string)) ReceiversOption {
	return func(rs *Receivers) { rs.onDisable = f }
}

// WithReceiversLogger sets the logger (default: discard).
func WithReceiversLogger(l *slog.Logger) ReceiversOption {
	return func(rs *Receivers) {
		if l != nil {
			rs.log = l
		}
	}
}

// NewReceivers returns Receivers sending through sender with a Policy per
// receiver name. A request for a receiver without a policy gets the
// zero Policy (default retry, unsigned, public addresses only).
func NewReceivers(sender *Sender, policies map[string]Policy, opts ...ReceiversOption) *Receivers {
	rs := &Receivers{
		sender:    sender,
		breaker:   Breaker{Failures: 5, Cooldown: 5 * time.Second},
		log:       slog.New(slog.DiscardHandler),
		onAttempt: func(Attempt) {},
		onDisable: func(string, string) {},
		now:       time.Now,
		states:    map[string]*receiverState{},
	}
	for name, p := range policies {
		rs.states[name] = &receiverState{policy: p}
	}
	for _, o := range opts {
		o(rs)
	}
	return rs
}

func (rs *Receivers) state(name string) *receiverState {
	st, ok := rs.states[name]
	if !ok {
		st = &receiverState{}
		rs.states[name] = st
	}
	return st
}

// Disable stops delivery to a receiver: its requests are reported at once
// with ErrDisabled (and dead-lettered by the outbox) until Enable.
func (rs *Receivers) Disable(name, reason string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.state(name).disabled = reason
}

// Enable resumes delivery to a receiver disabled by a 410 or Disable.
func (rs *Receivers) Enable(name string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st := rs.state(name)
	st.disabled, st.fails, st.openTill = "", 0, time.Time{}
}

// Disabled returns why a receiver is disabled, or "".
func (rs *Receivers) Disabled(name string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state(name).disabled
}

// Policy returns the receiver's policy.
func (rs *Receivers) Policy(name string) Policy {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state(name).policy
}

// admit decides whether an attempt may go out now: "" yes; else the error
// to report, and how long until the circuit may let a probe through.
func (rs *Receivers) admit(name string) (Policy, error, time.Duration) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st := rs.state(name)
	if st.disabled != "" {
		return st.policy, fmt.Errorf("%w: %s", ErrDisabled, st.disabled), 0
	}
	if st.fails < rs.breaker.Failures {
		return st.policy, nil, 0
	}
	now := rs.now()
	if now.Before(st.openTill) {
		return st.policy, ErrCircuitOpen, st.openTill.Sub(now)
	}
	if st.probing {
		return st.policy, ErrCircuitOpen, rs.breaker.Cooldown
	}
	st.probing = true // half-open: this attempt is the probe
	return st.policy, nil, 0
}

// record updates the breaker after an attempt.
func (rs *Receivers) record(name string, res Result) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st := rs.state(name)
	st.probing = false
	// Only failures that say the receiver is unwell count: network
	// errors, timeouts and 5xx; a 4xx is the request's problem.
	if res.Err == nil || (res.Status != 0 && res.Status < 500) {
		st.fails = 0
		return
	}
	if errors.Is(res.Err, context.Canceled) {
		return
	}
	st.fails++
	if st.fails >= rs.breaker.Failures {
		st.openTill = rs.now().Add(rs.breaker.Cooldown)
	}
}

// Send delivers r by its receiver's policy and returns the final Result:
// delivered, given up after the retry schedule, rejected (a non-retryable
// status), refused because the receiver is disabled, or cut short by ctx.
func (rs *Receivers) Send(ctx context.Context, r Request) Result {
	// The schedule only: admitting here would take the half-open probe
	// and never report it, leaving the circuit open for good.
	p := rs.Policy(r.Receiver)
	res, cut := retryLoop(ctx, p.Retry, rs.now, func(n int) (Result, bool, time.Duration) {
		p, refuse, openFor := rs.admit(r.Receiver)
		if refuse != nil {
			res := Result{Request: r, Err: &SendError{Method: methodOf(r), URL: redactURL(r.URL), Err: refuse}}
			rs.onAttempt(Attempt{ID: r.ID, Receiver: r.Receiver, CallKey: r.CallKey, N: n, Time: rs.now(), Err: refuse.Error(), Request: r})
			// A disabled receiver stays so; an open circuit closes.
			return res, !errors.Is(refuse, ErrDisabled), openFor
		}
		res := rs.attempt(ctx, r, p, n)
		rs.record(r.Receiver, res)
		if res.Status == http.StatusGone {
			reason := fmt.Sprintf("answered 410 Gone to webhook %s at %s", r.ID, rs.now().UTC().Format(time.RFC3339))
			rs.Disable(r.Receiver, reason)
			rs.onDisable(r.Receiver, reason)
			rs.log.Warn("receiver disabled", "receiver", r.Receiver, "reason", reason)
		}
		return res, Retryable(res), 0
	})
	if cut {
		res.Err = &SendError{Method: methodOf(r), URL: redactURL(r.URL), Status: res.Status, Err: ctx.Err()}
	}
	return res
}

// attempt makes one signed, authenticated attempt and logs it.
func (rs *Receivers) attempt(ctx context.Context, r Request, p Policy, n int) Result {
	h := make(http.Header, len(r.Header)+4)
	for k, v := range r.Header {
		h[k] = v
	}
	// The webhook id goes out on every request, signed or not, so
	// receivers can drop duplicates (Standard Webhooks "webhook-id").
	h.Set(HeaderWebhookID, r.ID)
	now := rs.now()
	if p.Signer != nil {
		var target string
		if len(r.Body) == 0 {
			// Only a request without a body signs its target. An
			// unparsable URL fails in Send before anything goes out.
			target, _ = RequestTarget(r.URL)
		}
		p.Signer.Sign(h, r.ID, now, target, r.Body)
	}
	if p.Username != "" {
		h.Set("Authorization", BasicAuth(p.Username, p.Password))
	}
	rs.sender.setUserAgent(h) // h is ours: Send need not copy it to add this
	out := r
	out.Header = h
	out.AllowPrivate = p.AllowPrivate
	res := rs.sender.Send(ctx, out)
	res.Request = r
	a := Attempt{ID: r.ID, Receiver: r.Receiver, CallKey: r.CallKey, N: n, Time: now, Status: res.Status, Latency: res.Latency,
		Request: out, Header: res.Header, Body: res.Body}
	if res.Err != nil {
		a.Err = res.Err.Error()
	}
	rs.onAttempt(a)
	return res
}

func methodOf(r Request) string {
	if r.Method == "" {
		return http.MethodPost
	}
	return r.Method
}
