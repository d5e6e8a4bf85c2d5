package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/callhook/callhook/core/delivery"
)

// Record kinds in the log.
const (
	KindAttempt   = "attempt"   // a failed attempt (a successful one is in the delivered record)
	KindDelivered = "delivered" // final: a 2xx
	KindDead      = "dead"      // final: given up; the request is kept for replay
	KindReplay    = "replay"    // an operator replayed the webhook
)

// Record is one line of the attempt log.
type Record struct {
	Kind     string            `json:"kind"`
	ID       string            `json:"id"`
	Receiver string            `json:"receiver"`
	CallKey  string            `json:"call,omitempty"`
	Time     time.Time         `json:"time"`
	N        int               `json:"attempt"` // attempt number, or attempts in all for a final record
	Status   int               `json:"status,omitempty"`
	Latency  time.Duration     `json:"latency_ns,omitempty"`
	Err      string            `json:"error,omitempty"`
	Request  *delivery.Request `json:"request,omitempty"` // on final records
}

// RecordAttempt logs a failed attempt (the Receivers' attempt hook).
// Successful attempts are logged by their delivered record.
func (o *Outbox) RecordAttempt(a delivery.Attempt) {
	if o.met != nil {
		o.met.attempt(a)
	}
	if a.Err == "" && a.Status >= 200 && a.Status < 300 {
		return
	}
	o.writeLog(&Record{Kind: KindAttempt, ID: a.ID, Receiver: a.Receiver, CallKey: a.CallKey, Time: a.Time,
		N: a.N, Status: a.Status, Latency: a.Latency, Err: a.Err})
}

// Filter selects webhooks from the log. Zero fields match everything.
type Filter struct {
	Receiver string
	CallKey  string
	ID       string
	Since    time.Time
	Until    time.Time
	Status   string // delivered, dead or pending (attempted, no outcome yet)
	Limit    int    // newest first; 0 means 100
}

// Summary is a webhook's state from its log records.
type Summary struct {
	ID       string    `json:"id"`
	Receiver string    `json:"receiver"`
	CallKey  string    `json:"call,omitempty"`
	Status   string    `json:"status"` // delivered, dead or pending
	Attempts int       `json:"attempts"`
	Last     time.Time `json:"last"`
	HTTP     int       `json:"http_status,omitempty"`
	Err      string    `json:"error,omitempty"`
}

// Records returns the log records matching f, oldest first.
func (o *Outbox) Records(ctx context.Context, f Filter) ([]Record, error) {
	var out []Record
	err := o.eachLogLine(ctx, f.Receiver, f.Since, func(line []byte) {
		var rec Record
		if json.Unmarshal(line, &rec) == nil && matches(rec, f) {
			out = append(out, rec)
		}
	})
	return out, err
}

func matches(r Record, f Filter) bool {
	return (f.CallKey == "" || r.CallKey == f.CallKey) && (f.ID == "" || r.ID == f.ID) &&
		(f.Until.IsZero() || !r.Time.After(f.Until)) && (f.Receiver == "" || r.Receiver == f.Receiver)
}

// List summarises the webhooks matching f, newest first. f.CallKey is a
// call's key, or any id a receiver saw for the call (see CallKeys).
func (o *Outbox) List(ctx context.Context, f Filter) ([]Summary, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []Summary
	err := o.summaries(ctx, f, func(s *Summary, _ *delivery.Request) bool {
		out = append(out, *s)
		return len(out) < limit
	}, true)
	return out, err
}

// summaries calls each with the webhooks matching f (newest first when
// newest, else oldest first) and the last request logged for each (nil
// while none has an outcome), until each returns false.
func (o *Outbox) summaries(ctx context.Context, f Filter, each func(*Summary, *delivery.Request) bool, newest bool) error {
	status, call := f.Status, f.CallKey
	f.Status, f.CallKey = "", ""
	recs, err := o.Records(ctx, f)
	if err != nil {
		return err
	}
	if call != "" {
		keys := CallKeys(recs, call)
		recs = slices.DeleteFunc(recs, func(r Record) bool { return !keys[r.CallKey] })
	}
	byID := map[string]*Summary{}
	reqs := map[string]*delivery.Request{}
	var order []string
	for _, r := range recs {
		s, ok := byID[r.ID]
		if !ok {
			s = &Summary{ID: r.ID, Receiver: r.Receiver, CallKey: r.CallKey, Status: "pending"}
			byID[r.ID] = s
			order = append(order, r.ID)
		}
		s.Last, s.HTTP, s.Err = r.Time, r.Status, r.Err
		switch r.Kind {
		case KindAttempt:
			s.Attempts = max(s.Attempts, r.N)
			s.Status = "pending"
		case KindDelivered, KindDead:
			s.Attempts = max(s.Attempts, r.N)
			s.Status = r.Kind
		case KindReplay:
			s.Status = "pending"
		}
		if r.Request != nil {
			reqs[r.ID] = r.Request
		}
	}
	if newest {
		slices.Reverse(order)
	}
	for _, id := range order {
		if s := byID[id]; status == "" || s.Status == status {
			if !each(s, reqs[id]) {
				break
			}
		}
	}
	return nil
}

// CallKeys are the call keys ref names among recs: ref itself when it is
// one, and the calls whose stored requests show ref as a value, so a call
// is found by the id its receiver saw (a 3CX call id 261124010057_0-1, a
// Bulutfon uuid, a VOIPEX UniqueId) without knowing the dialect. Requests
// are stored with their outcome, so a call is found this way once one of
// its webhooks was delivered or given up.
func CallKeys(recs []Record, ref string) map[string]bool {
	keys := map[string]bool{}
	for _, r := range recs {
		if r.CallKey == ref {
			keys[ref] = true
		}
		if r.CallKey != "" && r.Request != nil && !keys[r.CallKey] && mentions(r.Request, ref) {
			keys[r.CallKey] = true
		}
	}
	return keys
}

// mentions reports whether ref stands alone in the request's URL or body:
// not as part of a longer id or number.
func mentions(req *delivery.Request, ref string) bool {
	if containsToken(req.URL, ref) || containsToken(req.URL, url.QueryEscape(ref)) {
		return true
	}
	return containsToken(string(req.Body), ref) || containsToken(string(req.Body), url.QueryEscape(ref))
}

func containsToken(s, tok string) bool {
	if tok == "" {
		return false
	}
	part := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	for i := 0; ; {
		j := strings.Index(s[i:], tok)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(tok)
		if (start == 0 || !part(s[start-1])) && (end == len(s) || !part(s[end])) {
			return true
		}
		i = start + 1
	}
}

// Show returns every record of one webhook, oldest first.
func (o *Outbox) Show(ctx context.Context, id string) ([]Record, error) {
	recs, err := o.Records(ctx, Filter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("show webhook %s: %w", id, ErrNotFound)
	}
	return recs, nil
}

// Replay sends a logged webhook again, with its original webhook id (so a
// receiver that already has it can drop it), behind the call's pending
// requests.
func (o *Outbox) Replay(ctx context.Context, id string) (delivery.Request, error) {
	recs, err := o.Show(ctx, id)
	if err != nil {
		return delivery.Request{}, err
	}
	var req *delivery.Request
	for _, r := range recs {
		if r.Request != nil {
			req = r.Request
		}
	}
	if req == nil {
		return delivery.Request{}, fmt.Errorf("replay webhook %s: %w: it has no outcome yet (still pending)", id, ErrNotFound)
	}
	if err := o.publish(ctx, *req, req.ID+"/replay/"+strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
		return delivery.Request{}, fmt.Errorf("replay webhook %s: %w", id, err)
	}
	o.writeLog(&Record{Kind: KindReplay, ID: req.ID, Receiver: req.Receiver, CallKey: req.CallKey, Time: time.Now()})
	return *req, nil
}

// ReplayAll sends again every webhook matching f that has an outcome
// (delivered or dead; pending ones are still on their way), oldest first
// so each call's webhooks keep their order, at most f.Limit (0: all). It
// returns the requests replayed; on an error, those replayed before it.
func (o *Outbox) ReplayAll(ctx context.Context, f Filter) ([]delivery.Request, error) {
	var picked []delivery.Request
	err := o.summaries(ctx, f, func(s *Summary, req *delivery.Request) bool {
		if req != nil && s.Status != "pending" {
			picked = append(picked, *req)
		}
		return f.Limit <= 0 || len(picked) < f.Limit
	}, false)
	if err != nil {
		return nil, err
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	for i, req := range picked {
		if err := o.publish(ctx, req, req.ID+"/replay/"+stamp); err != nil {
			return picked[:i], fmt.Errorf("replay webhook %s: %w", req.ID, err)
		}
		o.writeLog(&Record{Kind: KindReplay, ID: req.ID, Receiver: req.Receiver, CallKey: req.CallKey, Time: time.Now()})
	}
	return picked, nil
}

// loadDisabled restores receivers disabled by a 410 before this start.
func (o *Outbox) loadDisabled(ctx context.Context) error {
	keys, err := o.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("read disabled receivers: %w", err)
	}
	for k := range keys.Keys() {
		e, err := o.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		o.recv.Disable(k, string(e.Value()))
	}
	return nil
}

// SaveDisabled keeps a receiver's disabled state across restarts (the
// Receivers' disable hook).
func (o *Outbox) SaveDisabled(receiver, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := o.kv.PutString(ctx, receiver, reason); err != nil {
		o.log.Error("save disabled receiver", "receiver", receiver, "error", err)
	}
}

// Enable resumes delivery to a receiver disabled by a 410.
func (o *Outbox) Enable(ctx context.Context, receiver string) error {
	if err := o.kv.Delete(ctx, receiver); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("enable receiver %s: %w", receiver, err)
	}
	o.recv.Enable(receiver)
	return nil
}
