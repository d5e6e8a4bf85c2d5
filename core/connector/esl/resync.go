package esl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// A session re-established after a loss cannot replay what the switch
// raised meanwhile. The connector asks instead what is up now
// (api show calls as json: mod_commands.c show_function over the
// basic_calls view of switch_core_sqldb.c, one row per channel that is
// no bridged callee, with its bridged callee as b_*), and reports the
// difference from what it knew:
//
//   - a leg it knew that is gone: it leaves its bridge, its unanswered
//     dial ends (outcome unknown) and it goes (cause unknown);
//   - a leg it knew that got further: alerting, answered;
//   - a leg it did not know: it appears (dialled by the leg it is
//     bridged with, else by its call), with its state;
//   - pairs that changed: left and joined.
//
// State only ever moves on (appeared, alerting, answered, gone), and a
// leg a live event spoke of after the request was sent is left to the
// live events, which are more recent than the answer: no event is
// reported twice, none invented. Legs gone while away are reported at the
// switch's time of the resync (api strmicroepoch), the moment the
// connector learnt it.

// snap is one channel of the answer.
type snap struct {
	uuid, direction, name, presence string
	cidName, cidNum, dest           string
	calleeName, calleeNum           string
	callstate, callUUID             string
	created                         int64
	partner                         string
	a                               bool // listed as the bridging (caller) side
}

// parseCalls reads the rows of "show calls as json".
func parseCalls(body []byte) ([]snap, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("read show calls answer: %w: %q", ErrMalformed, truncate(string(body), 80))
	}
	var doc struct {
		Rows []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("read show calls answer: %w: %w", ErrMalformed, err)
	}
	var out []snap
	for _, r := range doc.Rows {
		a := snap{uuid: r["uuid"], direction: r["direction"], name: r["name"], presence: r["presence_id"],
			cidName: r["cid_name"], cidNum: r["cid_num"], dest: r["dest"], calleeName: r["callee_name"],
			calleeNum: r["callee_num"], callstate: r["callstate"], callUUID: r["call_uuid"], a: true}
		a.created, _ = strconv.ParseInt(r["created_epoch"], 10, 64)
		if a.uuid == "" {
			continue
		}
		if b := r["b_uuid"]; b != "" {
			a.partner = b
			bs := snap{uuid: b, direction: r["b_direction"], name: r["b_name"], presence: r["b_presence_id"],
				cidName: r["b_cid_name"], cidNum: r["b_cid_num"], dest: r["b_dest"], calleeName: r["b_callee_name"],
				calleeNum: r["b_callee_num"], callstate: r["b_callstate"], callUUID: a.callUUID, partner: a.uuid}
			bs.created, _ = strconv.ParseInt(r["b_created_epoch"], 10, 64)
			out = append(out, a, bs)
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// event makes the snapshot row look like a channel's own event, for the
// code that reads channel data.
func (r snap) event() Event {
	var e Event
	e.set("Unique-ID", r.uuid)
	e.set("Call-Direction", r.direction)
	e.set("Channel-Name", r.name)
	e.set("Channel-Presence-ID", r.presence)
	e.set("Caller-Caller-ID-Name", r.cidName)
	e.set("Caller-Caller-ID-Number", r.cidNum)
	e.set("Caller-Callee-ID-Name", r.calleeName)
	e.set("Caller-Callee-ID-Number", r.calleeNum)
	e.set("Caller-Destination-Number", r.dest)
	e.set("Channel-Call-UUID", r.callUUID)
	return e
}

// answered and ringing read the channel's callstate
// (switch_channel_callstate2str).
func (r snap) answered() bool {
	switch strings.ToUpper(r.callstate) {
	case "ACTIVE", "HELD", "UNHELD":
		return true
	}
	return false
}

func (r snap) ringing() bool {
	switch strings.ToUpper(r.callstate) {
	case "RINGING", "EARLY":
		return true
	}
	return false
}

// reconcile reports what changed, given the answer to "show calls as
// json" sent when the live events numbered mark had been handled.
func (t *tracker) reconcile(body []byte, at time.Time, mark uint64) ([]signal.Signal, error) {
	rows, err := parseCalls(body)
	if err != nil {
		return nil, err
	}
	at = at.In(t.loc)
	var out []signal.Signal
	emit := func(s signal.Signal) {
		s.Time = at
		out = append(out, s)
	}
	now := map[string]snap{}
	for _, r := range rows {
		now[r.uuid] = r
	}
	judged := func(l *leg) bool { return l.touched <= mark }

	// Gone while away: the legs dialled for others first, then the
	// calls' own first legs, as a switch tears calls down.
	var gone []*leg
	for _, l := range t.legs {
		if _, up := now[l.id]; !up && judged(l) {
			gone = append(gone, l)
		}
	}
	slices.SortFunc(gone, func(a, b *leg) int {
		ao, bo := a.originator == "" && a.member == "", b.originator == "" && b.member == ""
		switch {
		case ao != bo && ao:
			return 1
		case ao != bo:
			return -1
		}
		return int(a.seq) - int(b.seq)
	})
	for _, l := range gone {
		if l.partner != "" {
			if !l.loopback {
				emit(signal.Signal{Kind: signal.Left, Leg: t.sig(l), Bridge: l.bridge})
			}
			if p := t.legs[l.partner]; p != nil && p.partner == l.id {
				p.partner, p.bridge = "", ""
				if !p.loopback {
					emit(signal.Signal{Kind: signal.Left, Leg: t.sig(p), Bridge: l.bridge})
				}
			}
			l.partner, l.bridge = "", ""
		}
		if from, ok := t.dialler(l); ok && !l.answered && !l.loopback {
			emit(signal.Signal{Kind: signal.DialEnded, Leg: from, Peer: t.sig(l), Outcome: signal.OutcomeUnknown})
		}
		t.forget(l)
		if !l.loopback {
			emit(signal.Signal{Kind: signal.LegGone, Leg: t.sig(l)})
		}
	}

	// Legs still up, and new ones, oldest first.
	slices.SortStableFunc(rows, func(a, b snap) int {
		switch {
		case a.created != b.created:
			return int(a.created - b.created)
		case a.a != b.a && a.a:
			return -1
		case a.a != b.a:
			return 1
		}
		return 0
	})
	for _, r := range rows {
		l := t.legs[r.uuid]
		switch {
		case t.gone[r.uuid]:
			continue
		case l == nil:
			l = t.adopt(r, emit)
		case !judged(l):
			continue
		}
		if l == nil {
			continue
		}
		if r.answered() {
			t.answer(l, emit)
		} else if r.ringing() && l.outbound && !l.alerting && !l.answered {
			l.alerting = true
			if !l.loopback {
				emit(signal.Signal{Kind: signal.LegAlerting, Leg: t.sig(l), Peer: t.sig(t.legs[l.originator])})
			}
		}
	}

	// Pairs: legs whose partner changed leave, then new pairs join.
	for _, r := range rows {
		l := t.legs[r.uuid]
		if l == nil || !judged(l) || l.partner == r.partner || l.partner == "" {
			continue
		}
		br := l.bridge
		l.partner, l.bridge = "", ""
		if !l.loopback {
			emit(signal.Signal{Kind: signal.Left, Leg: t.sig(l), Bridge: br})
		}
	}
	for _, r := range rows {
		if !r.a || r.partner == "" {
			continue
		}
		la, lb := t.legs[r.uuid], t.legs[r.partner]
		if la == nil || lb == nil || la.partner == lb.id || !judged(la) || !judged(lb) {
			continue
		}
		t.bridge(la.id, lb.id, emit)
	}
	return out, nil
}

// adopt follows a channel first seen in the answer: it joins the call of
// the leg it is bridged with or its call_uuid names, and a leg the switch
// placed is reported dialled by that leg (else by its call).
func (t *tracker) adopt(r snap, emit func(signal.Signal)) *leg {
	e := r.event()
	outbound := strings.EqualFold(r.direction, "outbound")
	t.nextLeg++
	l := &leg{id: r.uuid, outbound: outbound, seq: t.nextLeg}
	l.endpoint, l.loopback = endpointOf(e, outbound)
	t.learn(l, e)
	var from *leg
	if p := t.legs[r.partner]; p != nil {
		from = p
		l.call = p.call
	} else if o := t.legs[r.callUUID]; o != nil && r.callUUID != r.uuid {
		from = o
		l.call = o.call
	} else {
		l.call = t.callOf(e, l)
	}
	if outbound && from != nil {
		l.originator = from.id
	}
	t.legs[l.id] = l
	if l.loopback {
		return l
	}
	emit(signal.Signal{Kind: signal.LegAppeared, Leg: t.sig(l)})
	if outbound && from != nil {
		emit(signal.Signal{Kind: signal.Dialling, Leg: t.sig(from), Peer: t.sig(l), Number: l.number})
	}
	return l
}
