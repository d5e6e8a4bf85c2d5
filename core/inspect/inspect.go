// Package inspect follows a running engine call by call and shows it as a
// web page: for each call its SIP ladder (when the PBX shares it, as
// pbxsim does), the PBX's signals, the call model's events, and every
// webhook with its headers, body, each delivery attempt with the
// receiver's answer, and the vendor rules it breaks, the failing field
// highlighted next to the rule's fixture line and the document's words.
//
// An Inspector is fed by the product itself: it is an engine stage (it
// sees every signal and the events the model made of it), and it takes
// delivery's attempts and results. It serves its page, a JSON API and
// server-sent events (live updates) as an http.Handler; the page is
// plain HTML, CSS and JavaScript embedded in the binary.
package inspect

import (
	"cmp"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/signal"
)

// Receiver is what the inspector needs to know of one webhook to check
// its requests: the dialect and the dialect keys it is configured with.
type Receiver struct {
	Dialect string
	Options map[string]string
}

// SIP gives the SIP legs of calls, when the PBX shares them.
type SIP interface {
	// Legs returns the SIP legs of the PBX calls named (the calls'
	// ids as signals carry them, signal.Leg.Call), each leg's messages
	// in the order the PBX saw them.
	Legs(pbxCalls []string) []SIPLeg
}

// SIPFunc adapts a function to SIP.
type SIPFunc func(pbxCalls []string) []SIPLeg

// Legs calls f(pbxCalls).
func (f SIPFunc) Legs(pbxCalls []string) []SIPLeg { return f(pbxCalls) }

// SIPLeg is one SIP dialog the PBX took part in.
type SIPLeg struct {
	CallID string
	Party  string // the far end: an extension, "carrier", an address
	Lines  []SIPLine
}

// SIPLine is one SIP message of a leg at the PBX.
type SIPLine struct {
	Time    time.Time
	Recv    bool   // the PBX received it from Party (else sent it to Party)
	Message string // method, or "<code> <method>" of a response
}

// Options configure an Inspector. The zero value is usable.
type Options struct {
	// Receivers names each webhook's dialect, by webhook name.
	Receivers map[string]Receiver
	// SIP, when set, gives the calls' SIP ladders.
	SIP SIP
	// MaxCalls bounds how many calls are kept; the oldest go first.
	// Default 500.
	MaxCalls int
	// Location prints call ids in the PBX's wall clock (default Local).
	Location *time.Location
	// Title names what is inspected, in the page's heading.
	Title  string
	Logger *slog.Logger
}

// maxPerCall bounds the signals kept of one call.
const maxPerCall = 5000

// Inspector follows calls and serves them. Its methods are safe for
// concurrent use.
type Inspector struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu       sync.Mutex
	calls    map[string]*call
	order    []string          // call keys, oldest first
	pbxCalls map[string]string // PBX call id (signal.Leg.Call) to call key
	hooks    map[string]*hook  // webhook id to its entry
	seq      int64             // orders everything the inspector saw
	subs     map[*subscriber]struct{}
}

// New returns an Inspector.
func New(opts Options) *Inspector {
	if opts.MaxCalls <= 0 {
		opts.MaxCalls = 500
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	in := &Inspector{
		opts:     opts,
		log:      opts.Logger,
		calls:    map[string]*call{},
		pbxCalls: map[string]string{},
		hooks:    map[string]*hook{},
		subs:     map[*subscriber]struct{}{},
	}
	in.mux = in.routes()
	return in
}

// call is everything seen of one call chain (or, for status events, of
// one extension's status).
type call struct {
	Key      string
	Status   bool // an extension's status changes, not a call
	First    time.Time
	Last     time.Time
	Title    string
	CallID   string // the 3CX-style id of its latest link
	pbxCalls []string
	Signals  []signalView
	Events   []eventView
	Hooks    []*hook
	rev      int64
	sipLines int // lines of its SIP ladder when last counted
}

// hook is one webhook: the request, its attempts and its checks.
type hook struct {
	ID       string
	Receiver string
	Dialect  string
	CallKey  string
	Seen     time.Time
	Seq      int64
	Method   string
	URL      string
	Header   map[string][]string
	Body     string
	Fields   []fieldView
	Failures []failureView
	Attempts []attemptView
	State    string // pending, delivered, dead
	checked  bool
}

type attemptView struct {
	N         int                 `json:"n"`
	Time      time.Time           `json:"time"`
	Seq       int64               `json:"seq"`
	Status    int                 `json:"status,omitempty"`
	LatencyMS float64             `json:"latency_ms"`
	Err       string              `json:"error,omitempty"`
	Header    map[string][]string `json:"response_header,omitempty"`
	Body      string              `json:"response_body,omitempty"`
}

// Process implements engine.Stage: it notes the signal and the events the
// model made of it under their call.
func (in *Inspector) Process(s signal.Signal, evs []callmodel.Event, calls engine.Calls) {
	if s.Kind == signal.Sync {
		return
	}
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	key := in.keyOf(s, evs, calls)
	if key == "" {
		return
	}
	c := in.call(key, now)
	for _, id := range []string{s.Leg.Call, s.Peer.Call} {
		if id != "" && in.pbxCalls[id] == "" {
			in.pbxCalls[id] = key
			c.pbxCalls = append(c.pbxCalls, id)
		}
	}
	if len(c.Signals) >= maxPerCall {
		return // a call that goes on for hours keeps its start
	}
	in.seq++
	c.Signals = append(c.Signals, signalView{Seq: in.seq, Seen: now, Time: s.Time, Kind: s.Kind.String(), Leg: legName(s.Leg), Detail: describeSignal(s)})
	for _, ev := range evs {
		k := ev.OrderKey()
		ec := c
		if k != key {
			ec = in.call(k, now)
		}
		in.seq++
		ev := in.eventView(ev, now)
		ec.Events = append(ec.Events, ev)
		ec.note(ev)
		in.touch(ec, now)
	}
	in.touch(c, now)
}

// keyOf finds the call a signal is about: the call of its events, else
// the call the model has its leg in, else the call its PBX call id was
// seen with.
func (in *Inspector) keyOf(s signal.Signal, evs []callmodel.Event, calls engine.Calls) string {
	if len(evs) > 0 {
		return evs[0].OrderKey()
	}
	for _, leg := range []signal.Leg{s.Leg, s.Peer} {
		if leg.ID == "" {
			continue
		}
		if calls != nil {
			if id, ok := calls.CallOf(leg.ID); ok {
				return id.Chain()
			}
		}
		if k := in.pbxCalls[leg.Call]; k != "" {
			return k
		}
	}
	if s.Status.Extension != "" {
		return "status-" + s.Status.Extension
	}
	return ""
}

// call finds or starts the entry of key, dropping the oldest beyond
// MaxCalls. The caller holds in.mu.
func (in *Inspector) call(key string, now time.Time) *call {
	if c, ok := in.calls[key]; ok {
		return c
	}
	c := &call{Key: key, Status: strings.HasPrefix(key, "status-"), First: now, Last: now}
	if c.Status {
		c.Title = "status of " + strings.TrimPrefix(key, "status-")
	}
	in.calls[key] = c
	in.order = append(in.order, key)
	for len(in.order) > in.opts.MaxCalls {
		old := in.calls[in.order[0]]
		for _, id := range old.pbxCalls {
			delete(in.pbxCalls, id)
		}
		for _, h := range old.Hooks {
			delete(in.hooks, h.ID)
		}
		delete(in.calls, in.order[0])
		in.order = in.order[1:]
	}
	return c
}

// touch marks c changed for the page. The caller holds in.mu.
func (in *Inspector) touch(c *call, now time.Time) {
	in.seq++
	c.rev = in.seq
	c.Last = now
	for s := range in.subs {
		s.mark(c.Key)
	}
}

// Attempt takes one delivery attempt (delivery's attempt hook).
func (in *Inspector) Attempt(a delivery.Attempt) {
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	h := in.hook(a.Request, a.ID, a.Receiver, a.CallKey, cmp.Or(a.Time, now))
	if h == nil {
		return
	}
	in.seq++
	h.Attempts = append(h.Attempts, attemptView{
		N: a.N, Time: a.Time, Seq: in.seq, Status: a.Status, Err: a.Err,
		LatencyMS: float64(a.Latency.Microseconds()) / 1000,
		Header:    a.Header, Body: string(a.Body),
	})
	if h.State == "" {
		h.State = "pending"
	}
	in.touch(in.calls[h.CallKey], now)
}

// Result takes the final outcome of a webhook (delivery's result hook).
func (in *Inspector) Result(r delivery.Result) {
	if !r.Final() {
		return
	}
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	req := r.Request
	h := in.hook(req, req.ID, req.Receiver, req.CallKey, now)
	if h == nil {
		return
	}
	h.State = "dead"
	if r.OK() {
		h.State = "delivered"
	}
	in.touch(in.calls[h.CallKey], now)
}

// hook finds or starts the entry of webhook id, first seen at when (its
// first attempt's start), checking its request against the vendor rules
// once. The caller holds in.mu.
func (in *Inspector) hook(req delivery.Request, id, receiver, callKey string, when time.Time) *hook {
	if id == "" || callKey == "" {
		return nil
	}
	h, ok := in.hooks[id]
	if !ok {
		c := in.call(callKey, when)
		in.seq++
		h = &hook{ID: id, Receiver: receiver, CallKey: callKey, Seen: when, Seq: in.seq,
			Dialect: in.opts.Receivers[receiver].Dialect}
		in.hooks[id] = h
		c.Hooks = append(c.Hooks, h)
	}
	if !h.checked && req.URL != "" {
		h.checked = true
		h.Method = cmp.Or(req.Method, http.MethodPost)
		h.URL = req.URL
		h.Header = redact(req.Header)
		h.Body = string(req.Body)
		rc := in.opts.Receivers[receiver]
		h.Fields, h.Failures = checkRequest(rc.Dialect, rc.Options, req)
	}
	return h
}

// redact hides credentials in headers shown on the page.
func redact(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		if strings.EqualFold(k, "Authorization") {
			scheme, _, _ := strings.Cut(strings.Join(v, ","), " ")
			v = []string{scheme + " (redacted)"}
		}
		out[k] = slices.Clone(v)
	}
	return out
}
