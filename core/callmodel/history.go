package callmodel

import (
	"slices"
	"time"
)

// History is a call's way through the PBX as the model followed it:
// where it was offered, when each place answered and let go, and where it
// went next. Dialects that describe a whole call at its end (Bulutfon's
// legacy call record with its callflow) render it.
type History struct {
	Start  time.Time // the call's first event
	Answer time.Time // first answered (a menu answers a call too); zero if never
	Fax    bool      // a fax was received on the call
	Steps  []Step
}

// Step is one place the call was at. The first is the number the call
// was placed to (Type 0); each landing adds one, so a step that is not the
// last was left for the next.
type Step struct {
	Destination string
	// Type is what Destination is: UserExtension, UserQueue (a queue or a
	// ring group) or UserOther (a menu); 0 for the number first called.
	Type               UserType
	Start, Answer, End time.Time // Answer and End zero when they did not happen there
}

// note follows ev in the history.
func (h *History) note(ev Event) {
	if ev.Kind.IsStatus() {
		return
	}
	if h.Start.IsZero() {
		h.Start = ev.Time
		callee := ev.DID
		if ev.Direction == Outbound {
			callee = ev.External
		}
		h.Steps = append(h.Steps, Step{Destination: callee, Start: ev.Time})
	}
	cur := &h.Steps[len(h.Steps)-1]
	switch ev.Kind {
	case Dialing:
		if cur.Destination == "" {
			cur.Destination = ev.External
		}
	case FaxReceived:
		h.Fax = true
	case Landed:
		next := Step{Destination: ev.Destination, Type: ev.UserType, Start: ev.Time}
		if ev.UserType == UserOther {
			// A menu answers the call.
			next.Answer = ev.Time
			if h.Answer.IsZero() {
				h.Answer = ev.Time
			}
		}
		h.Steps = append(h.Steps, next)
	case Answered:
		if cur.Answer.IsZero() {
			cur.Answer = ev.Time
		}
		if h.Answer.IsZero() {
			h.Answer = ev.Time
		}
	case Ended:
		if !cur.Answer.IsZero() || len(h.Steps) == 1 {
			cur.End = ev.Time
		}
	}
}

// snapshot copies the history for an event, which outlives later changes.
func (h *History) snapshot() *History {
	cp := *h
	cp.Steps = slices.Clone(h.Steps)
	return &cp
}
