// Package autodial is the engine's autodial API: an HTTP endpoint that
// starts a call through the PBX connection (the connector's Originate) and
// remembers what the caller of the API attached to it (additional_data,
// callback_url). As a stage of the engine's pipeline it attaches that to
// the call's events (callmodel.Event.Originated), so every dialect can
// render it.
package autodial

import (
	"sync"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/signal"
)

// Call is one call the API started.
type Call struct {
	// ID is the id the API gave the call; it asks the PBX to use it as the
	// id of the call's first leg, which makes it the call's id too.
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
// PBX's call id. A PBX that honours the requested leg id is matched
// exactly; for one that does not, the first new call whose first leg is on
// the requested endpoint claims the request, within ClaimWindow.
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

// Process is the registry's pipeline stage (engine.Stage): a new leg
// may claim a pending call before the model reports the call's first
// event, and every event of a call the API started gets what the API was
// told.
func (r *Registry) Process(s signal.Signal, evs []callmodel.Event, _ engine.Calls) {
	if s.Kind == signal.LegAppeared {
		r.claim(s.Leg)
	}
	if len(evs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.byChain) == 0 {
		return
	}
	for i := range evs {
		if c, ok := r.byChain[evs[i].PBXCallID]; ok {
			evs[i].Originated = &callmodel.Origination{AdditionalData: c.AdditionalData, CallbackURL: c.CallbackURL, PBXNumber: c.PBXNumber}
		}
	}
}
