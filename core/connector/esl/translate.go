package esl

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// The CUSTOM events callhook knows beyond FreeSWITCH's own, for facts
// FreeSWITCH raises no event of its own for (call forwarding, extensions
// created or deleted, a queue callback ordered, a login to or pause in one
// queue) and for the engine's barrier. A dialplan raises them with the
// event application, a script or client with the sendevent command
// (mod_event_socket.c); their headers mirror the AMI connector's
// Callhook* user events.
const (
	SubclassSync       = "callhook::sync"        // Token
	SubclassCallback   = "callhook::callback"    // on the caller's channel, or Channel-Call-UUID
	SubclassForwarding = "callhook::forwarding"  // Extension, Status on|off, Destination
	SubclassQueueLogin = "callhook::queue-login" // Extension, Queue, Status in|out
	SubclassQueuePause = "callhook::queue-pause" // Extension, Queue, Paused 1|0, Reason
	SubclassExtension  = "callhook::extension"   // Extension, Status created|deleted, Name
	SubclassMenu       = "callhook::menu"        // on the channel; Menu
	SubclassFax        = "callhook::fax"         // on the channel
)

// keepGone bounds how many hung-up channels are remembered, so that a
// late event about one is not taken for a new channel.
const keepGone = 8192

// leg is what the tracker keeps of one FreeSWITCH channel.
type leg struct {
	id       string
	call     *call
	seq      uint64
	endpoint string
	loopback bool
	outbound bool

	callerNum, callerName string // the party on this leg
	connNum, connName     string // the party it is connected to
	number                string // the number it was called on

	originator string // the leg that dialled it (Other-Leg, originator)
	member     string // for an agent leg of mod_callcenter: the caller
	queue      string // the queue that placed or holds it
	inQueue    string // a caller: the queue it waits in
	agent      string // an agent leg's agent (endpoint)

	alerting, answered bool
	partner            string
	bridge             string
	touched            uint64 // the live event that last said something of it

	// att_xfer (attxfer.go): on the transferer, the transferee it holds
	// and the leg it originated to the target; on that leg, the
	// transferer.
	holding, consult string
	consultOf        string
}

// call is a call as the connector names it: by its first leg's uuid,
// numbered by the connector (FreeSWITCH numbers no calls).
type call struct {
	id  string
	seq int
}

// tracker follows the switch's channels and turns its events into
// signals. It is not safe for concurrent use; the connector locks it.
type tracker struct {
	loc      *time.Location
	log      *slog.Logger
	legs     map[string]*leg
	gone     map[string]bool
	goneQ    []string
	calls    map[string]*call
	nextCall int
	nextLeg  uint64
	events   uint64
	agents   map[string]string // caller uuid + "/" + agent → agent leg
	status   map[string]string // agent → its last CC-Agent-Status
}

func newTracker(loc *time.Location, log *slog.Logger) *tracker {
	if loc == nil {
		loc = time.Local
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &tracker{loc: loc, log: log, legs: map[string]*leg{}, gone: map[string]bool{},
		calls: map[string]*call{}, agents: map[string]string{}, status: map[string]string{}}
}

// mark is the count of live events so far (resync.go).
func (t *tracker) mark() uint64 { return t.events }

func (t *tracker) sig(l *leg) signal.Leg {
	if l == nil {
		return signal.Leg{}
	}
	st := signal.StateIdle
	switch {
	case l.answered:
		st = signal.StateUp
	case l.alerting:
		st = signal.StateAlerting
	case !l.outbound:
		st = signal.StateCalling
	}
	return signal.Leg{
		ID: l.id, Call: l.call.id, CallSeq: l.call.seq, Endpoint: l.endpoint, Loopback: l.loopback,
		CallerNum: l.callerNum, CallerName: l.callerName, ConnectedNum: l.connNum, ConnectedName: l.connName,
		Number: l.number, State: st,
	}
}

// endpointOf is the device or trunk a channel belongs to: the gateway of
// a trunk call (sip_gateway_name on calls out, sip_gateway on calls in,
// mod_sofia), the directory user dialled (dialed_user, mod_dptools' user
// endpoint) or authenticated (user_name), else the user part of an
// outbound sofia channel's name, or the sofia profile an unauthenticated
// caller came in on; a channel only known from show calls by its
// presence id. Loopback channels (mod_loopback) belong to none.
func endpointOf(e Event, outbound bool) (endpoint string, loopback bool) {
	name := e.Get("Channel-Name")
	if strings.HasPrefix(name, "loopback/") {
		return "", true
	}
	for _, v := range []string{"sip_gateway_name", "sip_gateway", "dialed_user"} {
		if x := e.Var(v); x != "" {
			return x, false
		}
	}
	if x := e.Var("user_name"); x != "" && !outbound {
		return x, false
	}
	// A directory user's calls carry its presence id, user@domain
	// (Channel-Presence-ID, and the presence_id column of show calls).
	if p := first(e.Get("Channel-Presence-ID"), e.Var("presence_id")); p != "" {
		user, _, _ := strings.Cut(p, "@")
		return user, false
	}
	tech, rest, _ := strings.Cut(name, "/")
	if tech == "sofia" {
		profile, addr, _ := strings.Cut(rest, "/")
		if profile == "gateway" {
			gw, _, _ := strings.Cut(addr, "/")
			return gw, false
		}
		if outbound {
			user, _, _ := strings.Cut(addr, "@")
			return user, false
		}
		return profile, false
	}
	// user/101@domain, verto.rtc/101@domain, freetdm/1/1: the part after
	// the technology.
	user, _, _ := strings.Cut(rest, "@")
	return user, false
}

// learn updates what a leg's own event says of it.
func (t *tracker) learn(l *leg, e Event) {
	if l.outbound {
		// A leg the switch placed presents the calling party as its
		// caller and the party it rings as callee (switch_ivr_originate.c).
		l.callerNum = first(e.Get("Caller-Callee-ID-Number"), e.Get("Caller-Destination-Number"), l.callerNum)
		l.callerName = first(e.Get("Caller-Callee-ID-Name"), l.callerName)
		l.connNum = first(e.Get("Caller-Caller-ID-Number"), l.connNum)
		l.connName = first(e.Get("Caller-Caller-ID-Name"), l.connName)
	} else {
		l.callerNum = first(e.Get("Caller-Caller-ID-Number"), l.callerNum)
		l.callerName = first(e.Get("Caller-Caller-ID-Name"), l.callerName)
		l.connNum = first(e.Get("Caller-Callee-ID-Number"), l.connNum)
		l.connName = first(e.Get("Caller-Callee-ID-Name"), l.connName)
	}
	l.number = first(e.Get("Caller-Destination-Number"), l.number)
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" && v != "_undef_" {
			return v
		}
	}
	return ""
}

// handle translates one live event.
func (t *tracker) handle(e Event, recv time.Time) []signal.Signal {
	t.events++
	at := recv
	if et, ok := e.Time(); ok {
		at = et
	}
	at = at.In(t.loc)
	var out []signal.Signal
	emit := func(s signal.Signal) {
		s.Time = at
		out = append(out, s)
	}
	switch e.Name() {
	case "CHANNEL_CREATE", "CHANNEL_OUTGOING", "CHANNEL_ORIGINATE":
		t.create(e, emit)
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA":
		if l := t.own(e, emit); l != nil && l.outbound && !l.alerting && !l.answered {
			l.alerting = true
			if !l.loopback {
				from, _ := t.dialler(l)
				emit(signal.Signal{Kind: signal.LegAlerting, Leg: t.sig(l), Peer: from})
			}
		}
	case "CHANNEL_ANSWER":
		if l := t.own(e, emit); l != nil {
			t.answer(l, emit)
		}
	case "CHANNEL_BRIDGE":
		t.own(e, emit)
		t.bridge(e.Get("Bridge-A-Unique-ID"), e.Get("Bridge-B-Unique-ID"), emit)
	case "CHANNEL_UNBRIDGE":
		t.unbridge(e.Get("Bridge-A-Unique-ID"), e.Get("Bridge-B-Unique-ID"), emit)
	case "CHANNEL_HANGUP_COMPLETE":
		t.hangup(e, emit)
	case "RECORD_START", "RECORD_STOP":
		if l := t.own(e, emit); l != nil && !l.loopback {
			kind := signal.RecordingStarted
			if e.Name() == "RECORD_STOP" {
				kind = signal.RecordingStopped
			}
			emit(signal.Signal{Kind: kind, Leg: t.sig(l), File: e.Get("Record-File-Path")})
		}
	case "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE":
		t.execute(e, emit)
	case "CUSTOM":
		t.custom(e, emit)
	}
	return out
}

// own is the leg an event's channel data describes, learnt from it; a
// channel the connector missed the creation of is adopted.
func (t *tracker) own(e Event, emit func(signal.Signal)) *leg {
	id := e.Get("Unique-ID")
	if id == "" || t.gone[id] {
		return nil
	}
	l := t.legs[id]
	if l == nil {
		return t.create(e, emit)
	}
	l.touched = t.events
	t.learn(l, e)
	return l
}

// create follows a new channel: its call is its originator's (a leg the
// switch placed for another, "Other-Type: originator"), its queue
// caller's (mod_callcenter's cc_member_session_uuid), the call its
// Channel-Call-UUID names, or a new call named by it.
func (t *tracker) create(e Event, emit func(signal.Signal)) *leg {
	id := e.Get("Unique-ID")
	if id == "" || t.gone[id] {
		return nil
	}
	if l := t.legs[id]; l != nil {
		l.touched = t.events
		t.learn(l, e)
		return l
	}
	outbound := strings.EqualFold(e.Get("Call-Direction"), "outbound")
	t.nextLeg++
	l := &leg{id: id, outbound: outbound, seq: t.nextLeg, touched: t.events}
	l.endpoint, l.loopback = endpointOf(e, outbound)
	t.learn(l, e)
	if o := e.Get("Other-Leg-Unique-ID"); outbound && strings.EqualFold(e.Get("Other-Type"), "originator") && t.legs[o] != nil {
		l.originator = o
		// The originator's profile as it is now: the number it dials
		// from (a ring group's, a transferred call's new destination).
		if ol := t.legs[o]; ol != nil {
			ol.number = first(e.Get("Other-Leg-Destination-Number"), ol.number)
		}
	}
	if o := t.legs[l.originator]; o != nil && o.holding != "" && o.consult == "" {
		// The leg att_xfer originates to the target: the consultation.
		l.consultOf, o.consult = o.id, id
	}
	if m := e.Var("cc_member_session_uuid"); m != "" && t.legs[m] != nil && strings.EqualFold(e.Var("cc_side"), "agent") {
		l.member = m
		l.queue = shortName(e.Var("cc_queue"))
		l.agent = shortName(e.Var("cc_agent"))
		t.agents[m+"/"+l.agent] = id
	}
	l.call = t.callOf(e, l)
	t.legs[id] = l
	if l.loopback {
		return l
	}
	emit(signal.Signal{Kind: signal.LegAppeared, Leg: t.sig(l)})
	switch {
	case l.member != "":
		m := t.legs[l.member]
		emit(signal.Signal{Kind: signal.AgentRinging, Leg: t.sig(m), Peer: t.sig(l), Queue: l.queue,
			Member: signal.Member{Endpoint: l.agent}})
		emit(signal.Signal{Kind: signal.Dialling, Leg: t.sig(m), Peer: t.sig(l), Number: l.number})
	case l.originator != "":
		o := t.legs[l.originator]
		from := t.sig(o)
		if o.loopback || l.consultOf != "" {
			// A loopback leg dials on the call's behalf, att_xfer on the
			// transferer's: the PBX dials.
			from = signal.Leg{Call: from.Call, CallSeq: from.CallSeq}
		}
		emit(signal.Signal{Kind: signal.Dialling, Leg: from, Peer: t.sig(l), Number: l.number})
	}
	return l
}

func (t *tracker) callOf(e Event, l *leg) *call {
	if l.originator != "" {
		return t.legs[l.originator].call
	}
	if l.member != "" {
		return t.legs[l.member].call
	}
	// The two halves of a loopback pair (mod_loopback.c names each in
	// other_loopback_leg_uuid) are one piece of plumbing of one call.
	if o := t.legs[e.Var("other_loopback_leg_uuid")]; o != nil {
		return o.call
	}
	cu := e.Get("Channel-Call-UUID")
	if cu != "" && cu != l.id {
		if o := t.legs[cu]; o != nil {
			return o.call
		}
		if c := t.calls[cu]; c != nil {
			return c
		}
	}
	if cu == "" {
		cu = l.id
	}
	t.nextCall++
	c := &call{id: cu, seq: t.nextCall}
	t.calls[cu] = c
	return c
}

// answer reports a leg answered and, for a leg the switch dialled, the
// dial's end.
func (t *tracker) answer(l *leg, emit func(signal.Signal)) {
	if l.answered {
		return
	}
	l.answered = true
	if l.loopback {
		return
	}
	emit(signal.Signal{Kind: signal.LegAnswered, Leg: t.sig(l)})
	if from, ok := t.dialler(l); ok {
		emit(signal.Signal{Kind: signal.DialEnded, Leg: from, Peer: t.sig(l), Outcome: signal.OutcomeAnswered})
	}
}

// dialler is the leg that dialled l (its originator, or its queue
// caller), as the PBX itself when a loopback leg dialled.
func (t *tracker) dialler(l *leg) (signal.Leg, bool) {
	id := l.originator
	if id == "" {
		id = l.member
	}
	o := t.legs[id]
	if o == nil {
		return signal.Leg{}, false
	}
	s := t.sig(o)
	if o.loopback || l.consultOf != "" {
		s = signal.Leg{Call: s.Call, CallSeq: s.CallSeq}
	}
	return s, true
}

// bridge pairs two legs (CHANNEL_BRIDGE): each leaves the pair it was
// in, when that partner is still there, and both join a bridge the
// connector names after them, the older leg first.
func (t *tracker) bridge(a, b string, emit func(signal.Signal)) {
	la, lb := t.legs[a], t.legs[b]
	if la == nil || lb == nil || la.partner == b {
		return
	}
	t.attXferBridged(la, lb, emit)
	for _, x := range []*leg{la, lb} {
		if x.partner == "" {
			continue
		}
		if old := t.legs[x.partner]; old != nil {
			// Moved from a pair whose other side is still up.
			if old.partner == x.id {
				old.partner, old.bridge = "", ""
				if !old.loopback {
					emit(signal.Signal{Kind: signal.Left, Leg: t.sig(old), Bridge: x.bridge})
				}
			}
			if !x.loopback {
				emit(signal.Signal{Kind: signal.Left, Leg: t.sig(x), Bridge: x.bridge})
			}
		}
		x.partner, x.bridge = "", ""
	}
	id := a + "/" + b
	la.partner, lb.partner = b, a
	la.bridge, lb.bridge = id, id
	older, newer := la, lb
	if lb.seq < la.seq {
		older, newer = lb, la
	}
	for _, x := range []*leg{older, newer} {
		if !x.loopback {
			emit(signal.Signal{Kind: signal.Joined, Leg: t.sig(x), Bridge: id})
		}
	}
}

// unbridge ends a pair (CHANNEL_UNBRIDGE): each side still in it leaves.
func (t *tracker) unbridge(a, b string, emit func(signal.Signal)) {
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		x := t.legs[pair[0]]
		if x == nil || x.partner != pair[1] {
			continue
		}
		br := x.bridge
		x.partner, x.bridge = "", ""
		if !x.loopback {
			emit(signal.Signal{Kind: signal.Left, Leg: t.sig(x), Bridge: br})
		}
	}
}

// hangup reports a leg gone (CHANNEL_HANGUP_COMPLETE): it leaves its
// bridge (its partner stays until the switch unbridges it: the bridging
// leg's CHANNEL_UNBRIDGE may come after its peer's hangup), a dial that
// never got an answer ends with the outcome its cause says, then the
// leg goes, with the switch's own words for why, and its CDR (every
// CHANNEL_HANGUP_COMPLETE carries the leg's call record) is reported.
func (t *tracker) hangup(e Event, emit func(signal.Signal)) {
	l := t.own(e, emit)
	if l == nil {
		return
	}
	t.attXferDown(l, emit)
	name := first(e.Get("Hangup-Cause"), e.Var("hangup_cause"))
	q850, err := strconv.Atoi(strings.TrimSpace(e.Var("hangup_cause_q850")))
	if err != nil {
		q850 = causeNumber(name)
	}
	if l.partner != "" {
		if !l.loopback {
			emit(signal.Signal{Kind: signal.Left, Leg: t.sig(l), Bridge: l.bridge})
		}
		l.partner, l.bridge = "", ""
	}
	if from, ok := t.dialler(l); ok && !l.answered && !l.loopback {
		emit(signal.Signal{Kind: signal.DialEnded, Leg: from, Peer: t.sig(l), Outcome: outcomeOf(name)})
	}
	t.forget(l)
	if l.loopback {
		return
	}
	gone := t.sig(l)
	emit(signal.Signal{Kind: signal.LegGone, Leg: gone, Cause: q850,
		Teardown: signal.Teardown{Cause: name, Disposition: e.Var("sip_hangup_disposition")}})
	emit(signal.Signal{Kind: signal.CallRecorded, Leg: gone, Record: signal.Record{Disposition: dispositionOf(l, name)}})
}

// forget drops a gone leg, remembering its uuid for a while.
func (t *tracker) forget(l *leg) {
	delete(t.legs, l.id)
	for k, v := range t.agents {
		if v == l.id {
			delete(t.agents, k)
		}
	}
	t.gone[l.id] = true
	t.goneQ = append(t.goneQ, l.id)
	if len(t.goneQ) > keepGone {
		delete(t.gone, t.goneQ[0])
		t.goneQ = t.goneQ[1:]
	}
	for _, o := range t.legs {
		if o.call == l.call {
			return
		}
	}
	delete(t.calls, l.call.id)
}

// execute reports the applications that say where a call is: eavesdrop
// (a supervisor listening in, mod_dptools) and rxfax (mod_spandsp).
func (t *tracker) execute(e Event, emit func(signal.Signal)) {
	app := strings.ToLower(e.Get("Application"))
	if app == "att_xfer" {
		t.attXfer(e, emit)
		return
	}
	if app != "eavesdrop" && app != "rxfax" {
		return
	}
	l := t.own(e, emit)
	if l == nil || l.loopback {
		return
	}
	done := e.Name() == "CHANNEL_EXECUTE_COMPLETE"
	switch {
	case app == "eavesdrop" && !done:
		emit(signal.Signal{Kind: signal.ListenStarted, Leg: t.sig(l), Peer: t.sig(t.legs[strings.TrimSpace(e.Get("Application-Data"))])})
	case app == "eavesdrop":
		emit(signal.Signal{Kind: signal.ListenStopped, Leg: t.sig(l), Peer: t.sig(t.legs[strings.TrimSpace(e.Get("Application-Data"))])})
	case app == "rxfax" && !done:
		emit(signal.Signal{Kind: signal.FaxReceiving, Leg: t.sig(l)})
	}
}

// shortName is the part of a mod_callcenter queue or agent name before
// "@": queues and agents are conventionally named NAME@DOMAIN.
func shortName(s string) string {
	n, _, _ := strings.Cut(strings.TrimSpace(s), "@")
	return n
}

// outcomeOf reads the hangup cause of a leg the switch dialled and that
// never answered.
func outcomeOf(cause string) signal.Outcome {
	switch strings.ToUpper(cause) {
	case "USER_BUSY", "CALL_REJECTED", "BUSY_EVERYWHERE", "DECLINE":
		return signal.OutcomeBusy
	case "NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "PROGRESS_TIMEOUT":
		return signal.OutcomeNoAnswer
	case "ORIGINATOR_CANCEL", "LOSE_RACE", "PICKED_OFF", "NORMAL_CLEARING":
		return signal.OutcomeCancelled
	case "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "UNALLOCATED_NUMBER", "NO_ROUTE_DESTINATION",
		"DOES_NOT_EXIST_ANYWHERE", "DESTINATION_OUT_OF_ORDER":
		return signal.OutcomeUnavailable
	case "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION", "NETWORK_OUT_OF_ORDER", "NORMAL_TEMPORARY_FAILURE",
		"GATEWAY_DOWN", "INVALID_GATEWAY", "RECOVERY_ON_TIMER_EXPIRE", "SERVICE_UNAVAILABLE":
		return signal.OutcomeCongestion
	}
	return signal.OutcomeUnknown
}

// dispositionOf is how a leg's record (its CHANNEL_HANGUP_COMPLETE)
// says it went.
func dispositionOf(l *leg, cause string) signal.Disposition {
	switch o := outcomeOf(cause); {
	case l.answered:
		return signal.DispositionAnswered
	case o == signal.OutcomeBusy:
		return signal.DispositionBusy
	case o == signal.OutcomeCongestion || o == signal.OutcomeUnavailable:
		return signal.DispositionFailed
	}
	return signal.DispositionNoAnswer
}
