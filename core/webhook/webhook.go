// Package webhook holds what a rendered webhook is: the request a dialect
// makes of a call event and delivery sends, stores and replays. It depends
// on nothing else of callhook, so dialects need nothing of delivery.
package webhook

import (
	"net/http"
	"time"
)

// Request is one rendered webhook, ready to send. It carries everything a
// retry or a replay needs, so it can be stored and sent again unchanged.
type Request struct {
	ID       string // stable webhook id, the same on every retry (idempotency key)
	Receiver string // webhook name, [webhook.NAME] in the config
	CallKey  string // ordering key: requests with the same Receiver and CallKey go out in order
	Method   string // "" means POST
	URL      string
	Header   http.Header // sent as is; basic auth goes in Authorization
	Body     []byte
	// Timeout bounds each attempt of this request; 0 uses the sender's.
	Timeout time.Duration
	// AllowPrivate lets the attempt reach a private, loopback or link-local
	// address. The receiver's delivery policy sets it at send time; it is
	// never stored with the request.
	AllowPrivate bool `json:"-"`
}
