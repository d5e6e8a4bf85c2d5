package bulutfon

import (
	"time"

	"github.com/callhook/callhook/core/callmodel"
)

// cdr is the legacy document's nested call record: the call's times and
// its way through the PBX (callflow), from the history the model attaches
// to the event that ends the call.
func (d *Dialect) cdr(ev callmodel.Event, uuid, caller, callee string) object {
	ts := func(t time.Time) value {
		if t.IsZero() {
			return null{}
		}
		return t.In(d.loc).Format(time.RFC3339)
	}
	h := ev.History
	if h == nil {
		h = &callmodel.History{}
	}
	calltype := "voice"
	if h.Fax {
		calltype = "fax"
	}
	var flow []object
	for i, s := range h.Steps {
		o := object{{"callee", numOrNull(s.Destination)}, {"start_time", ts(s.Start)}, {"answer_time", ts(s.Answer)},
			{"hangup_time", ts(s.End)}}
		switch {
		case i+1 < len(h.Steps):
			// Left for the next place: REDIRECTED_TO_… and where to.
			next := h.Steps[i+1]
			o = o.with("redirection", "REDIRECTED_TO_"+placeKind(next.Type)).with("redirection_target", numOrNull(next.Destination))
		case s.Type != 0:
			// Arrived here and stayed: CONNECTING_TO_….
			o = o.with("redirection", "CONNECTING_TO_"+placeKind(s.Type))
		}
		flow = append(flow, o)
	}
	return object{
		{"uuid", uuid},
		{"bf_calltype", calltype},
		{"bf_direction", direction(ev)},
		{"bf_caller", numOrNull(caller)},
		{"bf_callee", numOrNull(callee)},
		{"call_time", ts(h.Start)},
		{"answer_time", ts(h.Answer)},
		{"hangup_time", ts(ev.Time)},
		{"call_record", ev.Recorded},
		{"hangup_cause", hangupCause(ev)},
		{"sip_hangup_disposition", hangupDetailOf(ev)},
		{"callflow", flow},
	}
}

// placeKind names a destination type as the legacy callflow's
// redirections do (REDIRECTED_TO_MENU, CONNECTING_TO_GROUP, …).
func placeKind(t callmodel.UserType) string {
	switch t {
	case callmodel.UserQueue:
		return "GROUP"
	case callmodel.UserOther:
		return "MENU"
	}
	return "EXTENSION"
}
