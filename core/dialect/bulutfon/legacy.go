package bulutfon

import (
	"time"

	"github.com/callhook/callhook/core/callmodel"
)

// callFlow is what the dialect remembers of a call between its events: the
// legacy document's cdr lists the call's way through the PBX (callflow),
// which no single event carries.
type callFlow struct {
	start, answer time.Time
	extension     string // the extension of an outbound call
	fax           bool
	steps         []step
}

// step is one callflow entry: where the call was, since when, whether it
// was answered there, and where it went next.
type step struct {
	callee        string
	start, answer time.Time
	end           time.Time
	redirection   string // REDIRECTED_TO_… (left for target) or CONNECTING_TO_… (arrived)
	target        string
	redirected    bool
}

// note follows ev in the call's flow.
func (f *callFlow) note(ev callmodel.Event) {
	if f.start.IsZero() {
		f.start = ev.Time
		callee := ev.DID
		if ev.Direction == callmodel.Outbound {
			callee = ev.External
		}
		f.steps = append(f.steps, step{callee: callee, start: ev.Time})
	}
	cur := &f.steps[len(f.steps)-1]
	switch ev.Kind {
	case callmodel.Dialing:
		f.extension = ev.User
		if cur.callee == "" {
			cur.callee = ev.External
		}
	case callmodel.Initiated:
		if ev.Direction == callmodel.Outbound && ev.User != "" {
			f.extension = ev.User
		}
	case callmodel.FaxReceived:
		f.fax = true
	case callmodel.Landed:
		kind := map[callmodel.UserType]string{callmodel.UserQueue: "GROUP", callmodel.UserOther: "MENU"}[ev.UserType]
		if kind == "" {
			kind = "EXTENSION"
		}
		cur.redirection, cur.target, cur.redirected = "REDIRECTED_TO_"+kind, ev.Destination, true
		next := step{callee: ev.Destination, start: ev.Time, redirection: "CONNECTING_TO_" + kind}
		if ev.UserType == callmodel.UserOther {
			// A menu answers the call.
			next.answer = ev.Time
			if f.answer.IsZero() {
				f.answer = ev.Time
			}
		}
		f.steps = append(f.steps, next)
	case callmodel.Answered:
		if cur.answer.IsZero() {
			cur.answer = ev.Time
		}
		if f.answer.IsZero() {
			f.answer = ev.Time
		}
	case callmodel.Ended:
		if !cur.answer.IsZero() || len(f.steps) == 1 {
			cur.end = ev.Time
		}
	}
}

// cdr is the legacy document's nested call record.
func (d *Dialect) cdr(ev callmodel.Event, f *callFlow, uuid, caller, callee string) object {
	ts := func(t time.Time) value {
		if t.IsZero() {
			return null{}
		}
		return t.In(d.loc).Format(time.RFC3339)
	}
	calltype := "voice"
	if f.fax {
		calltype = "fax"
	}
	var flow []object
	for _, s := range f.steps {
		o := object{{"callee", numOrNull(s.callee)}, {"start_time", ts(s.start)}, {"answer_time", ts(s.answer)},
			{"hangup_time", ts(s.end)}}
		if s.redirection != "" {
			o = o.with("redirection", s.redirection)
		}
		if s.redirected {
			o = o.with("redirection_target", numOrNull(s.target))
		}
		flow = append(flow, o)
	}
	return object{
		{"uuid", uuid},
		{"bf_calltype", calltype},
		{"bf_direction", direction(ev)},
		{"bf_caller", numOrNull(caller)},
		{"bf_callee", numOrNull(callee)},
		{"call_time", ts(f.start)},
		{"answer_time", ts(f.answer)},
		{"hangup_time", ts(ev.Time)},
		{"call_record", ev.Recorded},
		{"hangup_cause", CauseName(ev.Cause)},
		{"sip_hangup_disposition", hangupDetail(ev.EndedBy)},
		{"callflow", flow},
	}
}
