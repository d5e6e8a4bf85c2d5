// Package autodial is the engine's autodial API: an HTTP endpoint that
// starts a call through the PBX connection (AMI Originate) and remembers
// what the caller of the API attached to it (additional_data,
// callback_url), so the call's webhooks can carry it.
package autodial

import (
	"context"
	"sync"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// Call is one call the API started.
type Call struct {
	// ID is the id the API gave the call; it asks the PBX to use it as the
	// first channel's Uniqueid (AMI Originate ChannelId), which makes it
	// the chain id of the call too.
	ID             string
	Caller, Callee string
	// AdditionalData and CallbackURL are nil when the request gave none.
	AdditionalData *string
	CallbackURL    *string
	// PBXNumber is the PBX number the call is placed for ("" for none).
	PBXNumber string
	// Endpoint is the device the PBX rings first (the caller's extension,
	// or the trunk for a number).
	Endpoint string
	Created  time.Time
}

// Registry remembers the calls the API started and finds them by the
// PBX's chain id. A PBX that honours the requested channel id (Asterisk)
// is matched exactly; for one that does not, the first new call whose
// first leg is on the requested endpoint claims the request, within
// ClaimWindow.
type Registry struct {
	mu      sync.Mutex
	pending []*Call
	byChain map[string]*Call
	order   []string
	now     func() time.Time
}

// ClaimWindow is how long a started call waits for the PBX to show it.
const ClaimWindow = 30 * time.Second

// maxCalls bounds the calls remembered; the oldest are forgotten first.
const maxCalls = 10000

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byChain: map[string]*Call{}, now: time.Now}
}

// expect notes a call about to be originated.
func (r *Registry) expect(c *Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, c)
}

// forget drops a pending call the PBX refused.
func (r *Registry) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range r.pending {
		if c.ID == id {
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			return
		}
	}
}

// Lookup returns the call whose chain id is chain.
func (r *Registry) Lookup(chain string) (Call, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byChain[chain]
	if !ok {
		return Call{}, false
	}
	return *c, true
}

// claim binds a new leg's chain to a pending call it belongs to.
func (r *Registry) claim(l signal.Leg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 || l.Call == "" {
		return
	}
	now := r.now()
	keep := r.pending[:0]
	var match *Call
	for _, c := range r.pending {
		switch {
		case match == nil && c.ID == l.ID:
			match = c
		case now.Sub(c.Created) > ClaimWindow:
			// the PBX never showed it
		default:
			keep = append(keep, c)
		}
	}
	if match == nil && l.ID == l.Call {
		for i, c := range keep {
			if c.Endpoint == l.Endpoint {
				match = c
				keep = append(keep[:i], keep[i+1:]...)
				break
			}
		}
	}
	r.pending = keep
	if match == nil {
		return
	}
	r.byChain[l.Call] = match
	r.order = append(r.order, l.Call)
	if len(r.order) > maxCalls {
		delete(r.byChain, r.order[0])
		r.order = r.order[1:]
	}
}

// Connector is what Watch wraps: a PBX connector.
type Connector interface {
	Run(ctx context.Context, h signal.Handler) error
}

// Watch returns conn with every new leg shown to the registry before the
// engine handles it, so the call's first event already knows it was
// started by the API.
func (r *Registry) Watch(conn Connector) Connector { return watcher{conn, r} }

type watcher struct {
	Connector
	r *Registry
}

func (w watcher) Run(ctx context.Context, h signal.Handler) error {
	return w.Connector.Run(ctx, signal.HandlerFunc(func(ctx context.Context, s signal.Signal) error {
		if s.Kind == signal.LegAppeared {
			w.r.claim(s.Leg)
		}
		return h.HandleSignal(ctx, s)
	}))
}
