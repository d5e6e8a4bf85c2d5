// Package delivery sends rendered webhooks to their receivers over HTTP.
//
// The layers, from the wire up:
//
//   - Sender makes one attempt (Send) over kept-alive connections, with a
//     connect timeout and a total timeout per attempt; a 2xx answer is
//     success. Plain HTTP/1.1 goes over its own client on the caller's
//     goroutine (wire.go), the rest over net/http.
//   - SendWithRetry repeats attempts with exponential backoff and jitter,
//     honouring Retry-After on 429 and 503.
//   - Dispatcher keeps order per call and receiver (event k+1 of a call goes
//     out only after event k finished) while different calls go in parallel,
//     and reports a Result for every request.
//
// A Request is dialect-independent: the dialect renderers produce it, so
// delivery never looks inside a payload. The durable outbox, request signing
// and replay slot in as a SendFunc wrapping or feeding these layers.
package delivery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/callhook/callhook/core/webhook"
)

// Sentinel errors, matched with errors.Is on a Result's Err.
var (
	// ErrStatus: the receiver answered with a status outside 2xx.
	ErrStatus = errors.New("receiver answered with a non-2xx status")
	// ErrTimeout: the attempt ran out of time (connect or total timeout).
	ErrTimeout = errors.New("delivery timed out")
	// ErrClosed: the Dispatcher was closed before the request was sent.
	ErrClosed = errors.New("dispatcher closed")
	// ErrDisabled: the receiver answered 410 Gone earlier (RFC 9110
	// §15.5.11: the resource is gone for good), so nothing more is sent to
	// it until an operator enables it again.
	ErrDisabled = errors.New("receiver disabled")
	// ErrCircuitOpen: the receiver failed so often in a row that attempts
	// are not even made until its cool-down ends, so a dead receiver costs
	// no connect timeouts and holds up no one.
	ErrCircuitOpen = errors.New("receiver circuit open")
)

// Request is one rendered webhook (see package webhook, where dialects
// make it without depending on delivery).
type Request = webhook.Request

// Result is the outcome of delivering one Request.
type Result struct {
	Request  Request
	Status   int   // HTTP status of the last attempt, 0 when none was received
	Err      error // nil on a 2xx; else a *SendError
	Attempts int
	Latency  time.Duration // of the last attempt, request start to response body read
	// Header and Body of the last response (Body cut at a few KiB), so the
	// user can see how the receiver answered.
	Header http.Header
	Body   []byte
	// Sent is the header of the last attempt as it went out: the
	// request's own, the webhook id, the signature, basic auth and the
	// user agent. It holds credentials: show it to the operator who
	// configured them (sim run), never log it.
	Sent http.Header
}

// OK reports whether the request was delivered with a 2xx.
func (r Result) OK() bool { return r.Err == nil }

// SendError describes a failed attempt: the method, the URL without
// credentials, and the status or the network error.
type SendError struct {
	Method string
	URL    string // credentials removed
	Status int    // 0 when no response was received
	Err    error  // the network error, or nil for a status error
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("send %s %s: receiver answered %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("send %s %s: %v", e.Method, e.URL, e.Err)
}

// Unwrap gives the network error.
func (e *SendError) Unwrap() error { return e.Err }

// Is matches ErrStatus for status errors and ErrTimeout for timeouts.
func (e *SendError) Is(target error) bool {
	switch target {
	case ErrStatus:
		return e.Status != 0
	case ErrTimeout:
		return isTimeout(e.Err)
	}
	return false
}

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// BasicAuth returns the Authorization header value for HTTP basic auth
// (RFC 7617), for renderers that put credentials into Request.Header.
func BasicAuth(username, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
}

// Final reports whether the result ends the request's life: delivered,
// dead (given up), or refused for good. A request cut short by a shutdown is
// not final; a durable outbox keeps it for the next start.
func (r Result) Final() bool {
	return !errors.Is(r.Err, ErrClosed) && !errors.Is(r.Err, context.Canceled)
}

// redactURL removes user info from a URL so errors and logs never show
// credentials; an unparsable URL is reduced to a placeholder.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	return u.String()
}
