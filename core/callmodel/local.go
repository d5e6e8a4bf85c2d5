package callmodel

import (
	"time"

	"github.com/callhook/callhook/core/signal"
)

// internalCall classifies a call an extension started to another extension.
// When the caller is at that moment the user of a call in conversation, it
// is a consultation (the first half of an attended transfer): it is
// reported through that call, as the transfer's completion or cancellation,
// and not as an internal call of its own. Any other is an internal call:
// reported from Initiated to Ended like a call with the outside world, its
// events about the extension they concern, Other the other one.
func (m *Model) internalCall(c *call, from, to *leg, t time.Time) []Event {
	c.direction = Internal
	c.party = from.endpoint
	c.user = to
	if a := m.conversationOf(from.endpoint, c); a != nil {
		c.consultFor = a
		a.consults++
		return nil
	}
	return []Event{m.emit(c, Event{Kind: Initiated, Time: t, User: from.endpoint, UserName: from.name, Other: to.endpoint})}
}

// conversationOf is the call in conversation, other than except, whose
// user is a device of endpoint.
func (m *Model) conversationOf(endpoint string, except *call) *call {
	for _, a := range m.calls {
		if a != except && a.reporting() && a.talking && !a.ended && a.user != nil && a.user.endpoint == endpoint {
			return a
		}
	}
	return nil
}

// consultationDone reports a consultation that ended without the transfer
// it was for: the attended transfer was cancelled and the call goes on.
func (m *Model) consultationDone(c *call, t time.Time) []Event {
	a := c.consultFor
	if a == nil {
		return nil
	}
	c.consultFor = nil
	a.consults--
	if a.ended || a.user == nil {
		return nil
	}
	party := ""
	if c.user != nil {
		party = c.user.endpoint
	}
	return []Event{m.emit(a, Event{Kind: TransferCancelled, Time: t, User: a.user.endpoint, UserName: a.user.name, Other: party})}
}

// listenStarted: a supervisor's leg started listening in on a call (the
// VOIPEX "barge"). The supervisor's own call becomes a barge: it is
// reported as initiated and answered at once, its events carrying the
// PBX's id of the call listened in on and, as Other, the extension whose
// leg is listened to; it ends when the supervisor's leg hangs up.
func (m *Model) listenStarted(s signal.Signal) []Event {
	c, l := m.find(s.Leg)
	if l == nil || c.direction == Barge || l.external {
		return nil
	}
	target, tl := m.find(s.Peer)
	c.direction = Barge
	c.user = l
	c.party = s.Peer.Endpoint
	if tl != nil && !tl.external {
		c.party = tl.endpoint
	}
	if target != nil {
		c.bargeOf = target.chains[0]
		c.external = target.external
		c.extName = target.extName
	}
	c.talking = true
	c.answered = s.Time
	c.firstAnswer = s.Time
	return []Event{
		m.emit(c, Event{Kind: Initiated, Time: s.Time, User: l.endpoint, UserName: l.name}),
		m.emit(c, Event{Kind: Answered, Time: s.Time, User: l.endpoint, UserName: l.name, Transfer: NotTransferred}),
	}
}

// listenStopped ends a barge whose supervisor stopped listening but stays
// on the line (moved to another channel, or the one listened to hung up).
func (m *Model) listenStopped(s signal.Signal) []Event {
	c, l := m.find(s.Leg)
	if l == nil || c.direction != Barge || c.ended {
		return nil
	}
	return m.end(c, s.Time, 16, FinishOK)
}
