package callmodel

import (
	"strings"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// joined follows which call a bridge belongs to. A leg of another call
// entering it merges the calls (the consultation call of an attended
// transfer, a device rejoining a conversation); a leg of the user's own
// device entering the conversation's bridge replaces the user's leg (a
// mobile app that reconnected): the call stays one.
func (m *Model) joined(s signal.Signal) []Event {
	c, l := m.find(s.Leg)
	if l == nil {
		return nil
	}
	bridge := strings.Clone(s.Bridge) // kept: not to hold the wire packet
	l.bridge = bridge
	if owner := m.bridges[s.Bridge]; owner != nil && owner != c {
		if merged := m.merge(owner, c); merged != nil {
			c = merged
		}
	}
	m.bridges[bridge] = c
	if c.user != nil && l != c.user && !l.external && !l.local && l.endpoint == c.user.endpoint &&
		(c.talking || c.lost != nil) {
		c.user = l
		l.up = true
		c.lost = nil
	}
	return nil
}

func (m *Model) left(s signal.Signal) []Event {
	c, l := m.find(s.Leg)
	if l == nil {
		return nil
	}
	l.bridge = ""
	if c.lost != nil && l == c.extLeg && !c.ended {
		return m.end(c, c.lost.at, c.lost.cause, FinishOK)
	}
	return nil
}

// merge joins two calls whose legs met in one bridge or one transfer and
// returns the survivor: the call that reports (has an external party), or
// a when both or neither do. Two calls that both report stay apart (nil):
// each goes on reporting its own conversation.
func (m *Model) merge(a, b *call) *call {
	if a == b {
		return a
	}
	keep, gone := a, b
	if !a.reporting() && b.reporting() {
		keep, gone = b, a
	} else if a.reporting() && b.reporting() {
		return nil
	}
	for _, e := range gone.legs {
		keep.legs.set(e.k, e.v)
		m.byLeg[e.k] = keep
	}
	known := false
	for _, ch := range gone.chains {
		known = known || m.calls[ch] == gone
		m.calls[ch] = keep
		keep.chains = append(keep.chains, ch)
	}
	if known {
		m.live--
	}
	for br, bc := range m.bridges {
		if bc == gone {
			m.bridges[br] = keep
		}
	}
	if gone.consultFor != nil {
		// The consultation led to its transfer: nothing was cancelled.
		gone.consultFor.consults--
		gone.consultFor = nil
	}
	return keep
}

// transferOut ends the current link of c as transferred and opens the next.
func (m *Model) transferOut(c *call, t time.Time, how TransferType) []Event {
	at := t
	if c.lost != nil {
		at = c.lost.at
	}
	out := m.flushStops(c, t)
	out = append(out, m.emit(c, Event{Kind: Ended, Time: t, User: c.user.endpoint, UserName: c.user.name,
		UserType: UserExtension, Finish: FinishOK, Transferred: true, Talk: roundSeconds(at.Sub(c.answered)),
		Queue: c.queue, Callback: c.callback, Reason: transferReason(how)}))
	c.user.left = true
	c.id.Link++
	c.talking = false
	c.lost = nil
	c.transfer = how
	return out
}

// transferReason names why a link ended by transfer, as FreeSWITCH's
// hangup causes do.
func transferReason(how TransferType) string {
	if how == TransferAttended {
		return "ATTENDED_TRANSFER"
	}
	return "BLIND_TRANSFER"
}

// blindTransfer: the transferee goes on to Number. The link that ends is
// reported with transfer=true, the next one is answered with trtype Blind.
// A transfer the PBX refused changes nothing.
func (m *Model) blindTransfer(s signal.Signal) []Event {
	x := s.Transfer
	if !x.Done {
		return nil
	}
	c := m.talkingCall(x.Transferee, x.Transferer)
	if c == nil {
		return nil
	}
	if l := c.legs.get(x.Transferer.ID); l != nil && l != c.user {
		l.left = true
	}
	out := m.transferOut(c, s.Time, TransferBlind)
	c.user = nil
	c.blindTo = strings.Clone(x.Number)
	return out
}

// attendedTransfer: the transferee is handed to the party the transferer
// consulted. A PBX reports the consultation as a call of its own (its own
// call id) and may rename the calls when the bridges merge; the model
// folds the consultation into the transferred call so the whole chain keeps
// one id prefix. A failed transfer changes nothing; a cancelled one never
// produces this signal.
func (m *Model) attendedTransfer(s signal.Signal) []Event {
	x := s.Transfer
	if !x.Done {
		return nil
	}
	c := m.talkingCall(x.Transferee, x.Transferer, x.SecondTransferer)
	if c == nil {
		return nil
	}
	c.consult = nil // the consultation led to its transfer
	for _, sl := range append([]signal.Leg{x.Transferer, x.SecondTransferer, x.Target}, x.Via...) {
		if other, _ := m.find(sl); other != nil && other != c {
			if merged := m.merge(c, other); merged != nil {
				c = merged
			}
		}
	}
	for _, sl := range []signal.Leg{x.Transferer, x.SecondTransferer} {
		if l := c.legs.get(sl.ID); l != nil {
			l.left = true
		}
	}
	done := Event{Kind: TransferCompleted, Time: s.Time, User: c.user.endpoint, UserName: c.user.name}
	if t := c.legs.get(x.Target.ID); t != nil {
		done.Other = t.endpoint
	} else if t := m.guessTarget(c); t != nil {
		done.Other = t.endpoint
	}
	out := append([]Event{m.emit(c, done)}, m.transferOut(c, s.Time, TransferAttended)...)
	target := c.legs.get(x.Target.ID)
	if target == nil {
		target = m.guessTarget(c)
	}
	c.user = target
	if target == nil {
		return out
	}
	if target.up {
		// The target answered (bridges merged, linked, or the transferee
		// handed to it): the transferee and the target talk from now on.
		target.up = false
		return append(out, m.answer(c, target, s.Time)...)
	}
	// The target still rings (a transfer before the target answered): it
	// rings now for the transferee, and its answer starts the link.
	target.dialled = true
	target.rang = false
	return append(out, m.ring(c, target, s.Time)...)
}

// talkingCall is the call in conversation that one of legs belongs to.
func (m *Model) talkingCall(legs ...signal.Leg) *call {
	for _, sl := range legs {
		if c, _ := m.find(sl); c != nil && c.reporting() && c.talking && !c.ended {
			return c
		}
	}
	return nil
}

// guessTarget finds the transfer target when the PBX does not name it: an
// extension leg of the call that is neither gone, nor the transferer.
func (m *Model) guessTarget(c *call) *leg {
	var found *leg
	for _, e := range c.legs {
		if l := e.v; !l.gone && !l.left && !l.external && !l.local && l != c.origin {
			found = l
		}
	}
	return found
}
