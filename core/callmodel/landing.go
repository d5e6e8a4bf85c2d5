package callmodel

import (
	"slices"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// Call-flow kinds: a call's way through the PBX. Their values sit far
// from the iota-numbered kinds so that either list can grow.
const (
	// Landed: an inbound call reached a destination inside the PBX.
	// Destination (and User) is its number; UserType says what it is:
	// UserExtension (a phone rung directly), UserQueue (a queue or a ring
	// group: several phones rung together) or UserOther (an IVR menu).
	Landed Kind = 64 + iota
	// Missed: an inbound call ended without anyone answering; it follows
	// the call's Ended event and carries the same fields.
	Missed
	// FaxReceived: a fax is being received on the call.
	FaxReceived
)

// Kinds a pipeline stage raises after a call's link ended, not the model:
// they follow the call's own events.
const (
	// RecordingReady: the link's recordings are stored (Files).
	RecordingReady Kind = 96 + iota
	// TranscriptReady: speech analytics of the link's recordings are
	// done (Transcript, Summary); after its RecordingReady.
	TranscriptReady
)

// Party says which side of a call did something: the one who started the
// call (for an inbound call the outside caller, for an outbound one the
// extension) or the one it was placed to.
type Party uint8

// Parties of Event.EndedBy.
const (
	// ByCaller: the caller hung up (or cancelled before an answer).
	ByCaller Party = iota + 1
	// ByCallee: the called side hung up, or the PBX ended the call for it
	// (e.g. a ring timeout).
	ByCallee
	// Refused: the called side refused the call (busy, declined).
	Refused
)

// flowCall is what the model keeps of a call's way through the PBX: it
// reports where inbound calls land (Landed), missed inbound calls (Missed)
// and incoming faxes (FaxReceived), and fills Ended's EndedBy and
// Listened. Dialects that report a call's way (Bulutfon) use them; the
// others pass these kinds by.
type flowCall struct {
	last      string // kind:destination of the last landing
	menuSince time.Time
	listened  time.Duration
	fax       bool
	lastDial  signal.Outcome // how the last dial ended
	// batch is the dial the call is in: one leg dialling one peer (an
	// extension) or several at once (a ring group).
	batchLeg   string
	batchExten string
	batch      smallMap[string, bool] // peer leg → still dialled
	fanout     int                    // devices the dial rings at once, as the PBX said
	// waiting are legs created for the call and not dialled yet: a dial
	// of several devices creates them all before it dials the first, and
	// the first can ring before the others are dialled.
	waiting smallMap[string, bool]
}

// handleFlow runs one signal through the model and adds the call-flow
// events. pre is the signal's call before the model handled it (a hangup
// makes the model forget it).
func (m *Model) handleFlow(s signal.Signal) []Event {
	pre, _ := m.find(s.Leg)
	if pre == nil && s.Kind == signal.Dialling {
		pre, _ = m.find(s.Peer)
	}
	wasEnded := pre != nil && pre.ended
	evs := m.handle(s)
	if ev, ok := m.endInMenu(pre, wasEnded, s, evs); ok {
		// The call's end comes before its record: a PBX that ends a call
		// at once may publish the record before the leg is gone (a fax
		// line that gave up at once did), and then the chain's end gave
		// the record first.
		at := slices.IndexFunc(evs, func(e Event) bool { return e.Kind == Record && e.ID.SameChain(ev.ID) })
		if at < 0 {
			at = len(evs)
		}
		evs = slices.Insert(evs, at, ev)
	}
	c := pre
	if c == nil {
		c, _ = m.find(s.Leg)
	}
	if c == nil {
		return evs
	}
	fc := &c.flow
	out := m.flowSignal(c, fc, s)
	if len(evs) == 0 {
		return out
	}
	out = slices.Grow(out, len(evs))
	for _, ev := range evs {
		if ev.Kind.IsStatus() || !ev.ID.SameChain(c.id) {
			out = append(out, ev)
			continue
		}
		switch ev.Kind {
		case Ringing:
			if ev.Direction == Inbound && ev.UserType != UserQueue {
				dest, typ := ev.User, UserExtension
				if n := max(fc.dialling()+len(fc.waiting), fc.fanout); n >= 2 && fc.batchExten != "" {
					dest, typ = fc.batchExten, UserQueue
				}
				out = append(out, m.land(c, fc, ev.Time, dest, typ)...)
			}
			fc.endMenu(ev.Time)
		case Dialing, Answered:
			fc.endMenu(ev.Time)
		case Ended:
			fc.endMenu(ev.Time)
			ev.Listened = fc.listened
			ev.EndedBy = fc.endedBy(c, ev, s)
		}
		out = append(out, ev)
		if ev.Kind == Ended && ev.Direction == Inbound && ev.Finish == FinishMissed && !ev.Transferred {
			miss := ev
			miss.Kind = Missed
			out = append(out, m.emit(c, miss))
		}
	}
	return out
}

// endInMenu ends an inbound call whose caller hung up where no extension
// had rung (in a menu, or before anything answered): the model reports no
// end for a call without a user, but the call did end.
func (m *Model) endInMenu(c *call, wasEnded bool, s signal.Signal, evs []Event) (Event, bool) {
	if c == nil || wasEnded || s.Kind != signal.LegGone || c.direction != Inbound || c.origin == nil || s.Leg.ID != c.origin.id {
		return Event{}, false
	}
	for _, ev := range evs {
		if ev.Kind == Ended {
			return Event{}, false
		}
	}
	c.ended = true
	// Nobody took the call, but the menu (or fax) that answered it did:
	// the caller hanging up there clears it normally.
	ev := Event{Kind: Ended, Time: s.Time, Finish: FinishMissed, Cause: s.Cause, UserType: UserOther,
		Reason: endReason(FinishOK, s.Cause, 0), HangupCause: s.Teardown.Cause, HangupDisposition: s.Teardown.Disposition}
	if fc := &c.flow; fc.last != "" {
		ev.User = fc.last[2:]
	}
	return m.emit(c, ev), true
}

// flowSignal notes what the signal says about the call's way and returns
// the landings it causes at once (queues, menus, faxes).
func (m *Model) flowSignal(c *call, fc *flowCall, s signal.Signal) []Event {
	switch s.Kind {
	case signal.LegAppeared:
		if c.origin != nil && s.Leg.ID != c.origin.id && s.Leg.State == signal.StateIdle {
			fc.waiting.set(s.Leg.ID, true)
		}
	case signal.LegGone:
		fc.waiting.del(s.Leg.ID)
	case signal.Dialling:
		fc.waiting.del(s.Peer.ID)
		if fc.batchLeg != s.Leg.ID || fc.dialling() == 0 {
			fc.batchLeg, fc.batchExten, fc.batch, fc.fanout = s.Leg.ID, s.Leg.Number, fc.batch[:0], 0
		}
		fc.batch.set(s.Peer.ID, true)
		fc.fanout = max(fc.fanout, s.Fanout)
	case signal.DialEnded:
		if fc.batch.get(s.Peer.ID) {
			fc.batch.set(s.Peer.ID, false)
		}
		fc.lastDial = s.Outcome
	case signal.QueueJoined:
		if c.direction == Inbound && s.Queue != "" {
			fc.endMenu(s.Time)
			return m.land(c, fc, s.Time, s.Queue, UserQueue)
		}
	case signal.MenuEntered:
		if s.Menu == "" || c.direction != Inbound || c.ended {
			return nil
		}
		out := m.land(c, fc, s.Time, s.Menu, UserOther)
		if fc.menuSince.IsZero() {
			fc.menuSince = s.Time
		}
		return out
	case signal.FaxReceiving:
		if fc.fax || c.ended {
			return nil
		}
		fc.fax = true
		return []Event{m.emit(c, Event{Kind: FaxReceived, Time: s.Time})}
	}
	return nil
}

// land reports the call reaching dest, unless that is where it already is.
func (m *Model) land(c *call, fc *flowCall, t time.Time, dest string, typ UserType) []Event {
	key := string(rune('0'+typ)) + ":" + dest
	if fc.last == key || c.ended {
		return nil
	}
	fc.last = key
	return []Event{m.emit(c, Event{Kind: Landed, Time: t, User: dest, UserType: typ, Destination: dest})}
}

func (fc *flowCall) dialling() int {
	n := 0
	for _, e := range fc.batch {
		if e.v {
			n++
		}
	}
	return n
}

// endMenu stops the menu clock: the call left the menu.
func (fc *flowCall) endMenu(t time.Time) {
	if !fc.menuSince.IsZero() {
		if d := t.Sub(fc.menuSince); d > 0 {
			fc.listened += roundSeconds(d)
		}
		fc.menuSince = time.Time{}
	}
}

// endedBy tells who ended the call: a busy or declined callee refused it;
// the caller's own hangup (or cancel) is the caller's, unless the PBX
// gave up ringing first; everything else is the called side's.
func (fc *flowCall) endedBy(c *call, ev Event, s signal.Signal) Party {
	if ev.Finish == FinishMissed {
		switch {
		case fc.lastDial == signal.OutcomeBusy || ev.Cause == 17 || ev.Cause == 21:
			return Refused
		case fc.lastDial == signal.OutcomeNoAnswer:
			return ByCallee
		}
	}
	if s.Kind == signal.LegGone && c.origin != nil && s.Leg.ID == c.origin.id {
		return ByCaller
	}
	if s.Kind == signal.LegGone || s.Kind == signal.Left {
		return ByCallee
	}
	return ByCaller
}

// FlowString names the call-flow kinds (Kind.String covers the others).
func (k Kind) flowString() (string, bool) {
	switch k {
	case Landed:
		return "landed", true
	case Missed:
		return "missed", true
	case FaxReceived:
		return "fax-received", true
	case RecordingReady:
		return "recording-ready", true
	case TranscriptReady:
		return "transcript-ready", true
	}
	return "", false
}
