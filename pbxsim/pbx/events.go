package pbx

import (
	"fmt"
	"strconv"
	"time"
)

// Hangup causes (Q.850 numbers, Asterisk's texts from ast_cause2str).
const (
	causeUnknown        = 0
	causeUnallocated    = 1
	causeNormalClearing = 16
	causeUserBusy       = 17
	causeNoUserResponse = 18
	causeNoAnswer       = 19
	causeSubscriberAbs  = 20
	causeCallRejected   = 21
	// causeAnsweredElsewhere is AST_CAUSE_ANSWERED_ELSEWHERE.
	causeAnsweredElsewhere = 26
	causeCongestion        = 34
	causeFailure           = 38
	causeInterworking      = 127
)

func causeText(c int) string {
	switch c {
	case causeUnknown:
		return "Unknown"
	case causeUnallocated:
		return "Unallocated (unassigned) number"
	case causeNormalClearing:
		return "Normal Clearing"
	case causeUserBusy:
		return "User busy"
	case causeNoUserResponse:
		return "No user responding"
	case causeNoAnswer:
		return "User alerting, no answer"
	case causeSubscriberAbs:
		return "Subscriber absent"
	case causeCallRejected:
		return "Call Rejected"
	case causeAnsweredElsewhere:
		return "Answered elsewhere"
	case causeCongestion:
		return "Circuit/channel congestion"
	case causeFailure:
		return "Network out of order"
	case causeInterworking:
		return "Interworking, unspecified"
	}
	return "Unknown"
}

// sipToCause maps a final SIP failure to a hangup cause as chan_pjsip's
// hangup_sip2cause does.
func sipToCause(code int) int {
	switch code {
	case 401, 403, 407, 603:
		return causeCallRejected
	case 404, 485, 604:
		return causeUnallocated
	case 408:
		return causeNoUserResponse
	case 480, 483:
		return causeNoAnswer
	case 486:
		return causeUserBusy
	case 600:
		return causeUserBusy
	case 500:
		return causeFailure
	case 503:
		return causeCongestion
	}
	switch {
	case code >= 400 && code < 500:
		return causeInterworking
	case code >= 500 && code < 600:
		return causeCongestion
	case code >= 600:
		return causeInterworking
	}
	return causeNormalClearing
}

// dialStatus is app_dial's DIALSTATUS for a callee that failed with code.
func dialStatus(code int) string {
	switch code {
	case 486, 600:
		return "BUSY"
	}
	switch sipToCause(code) {
	case causeUserBusy:
		return "BUSY"
	case causeCongestion:
		return "CONGESTION"
	}
	return "NOANSWER"
}

// cdrDisposition is the Cdr Disposition for a DIALSTATUS.
func cdrDisposition(status string) string {
	switch status {
	case "ANSWER":
		return "ANSWERED"
	case "BUSY":
		return "BUSY"
	case "CONGESTION", "CHANUNAVAIL":
		return "FAILED"
	}
	return "NO ANSWER"
}

func snap(c *Channel) *Channel {
	cp := *c
	return &cp
}

func (p *PBX) chanEvent(name string, c *Channel, fields ...Field) {
	p.emit(Event{Name: name, Time: p.now(), Channel: snap(c), Fields: fields})
}

func (p *PBX) dialEvent(name string, caller, callee *Channel, fields ...Field) {
	p.emit(Event{Name: name, Time: p.now(), Channel: snap(caller), Dest: snap(callee), Fields: fields})
}

func (p *PBX) bridgeEvent(name string, b *Bridge, c *Channel) {
	bc := *b
	e := Event{Name: name, Time: p.now(), Bridge: &bc}
	if c != nil {
		e.Channel = snap(c)
	}
	p.emit(e)
}

func (p *PBX) newexten(c *Channel, app, data string) {
	p.chanEvent("Newexten", c, Field{"Extension", c.Exten}, Field{"Application", app}, Field{"AppData", data})
}

func (p *PBX) hangupEvent(c *Channel, cause int) {
	p.chanEvent("Hangup", c, Field{"Cause", strconv.Itoa(cause)}, Field{"Cause-txt", causeText(cause)})
}

func (p *PBX) causeEvent(name string, c *Channel, cause int) {
	p.chanEvent(name, c, Field{"Cause", strconv.Itoa(cause)})
}

// cdr is one Cdr record as cdr_manager sends it.
type cdr struct {
	src, dst, dstContext, callerID string
	channel, dstChannel            string
	lastApp, lastData              string
	start, answer, end             time.Time
	disposition, uniqueid          string
}

func cdrTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04:05")
}

func (p *PBX) cdrEvent(r cdr) {
	dur := int(r.end.Sub(r.start).Round(time.Second) / time.Second)
	bill := 0
	if !r.answer.IsZero() {
		bill = int(r.end.Sub(r.answer).Round(time.Second) / time.Second)
	}
	p.emit(Event{Name: "Cdr", Time: p.now(), Fields: []Field{
		{"AccountCode", ""},
		{"Source", r.src},
		{"Destination", r.dst},
		{"DestinationContext", r.dstContext},
		{"CallerID", r.callerID},
		{"Channel", r.channel},
		{"DestinationChannel", r.dstChannel},
		{"LastApplication", r.lastApp},
		{"LastData", r.lastData},
		{"StartTime", cdrTime(r.start)},
		{"AnswerTime", cdrTime(r.answer)},
		{"EndTime", cdrTime(r.end)},
		{"Duration", strconv.Itoa(dur)},
		{"BillableSeconds", strconv.Itoa(bill)},
		{"Disposition", r.disposition},
		{"AMAFlags", "DOCUMENTATION"},
		{"UniqueID", r.uniqueid},
		{"UserField", ""},
	}})
}

// Device state: PJSIP/<endpoint> is NOT_INUSE without channels, INUSE
// while one is up (or an inbound one rings us), RINGING while one rings,
// RINGINUSE for both. A DeviceStateChange is sent only when the aggregate
// changes, as Asterisk's device state engine does.

// devSet records the state of channel key on dev; StateDown forgets it.
// The device table keeps its own copies so that no call reads another
// call's channels, and counts ringing and in-use channels per device so
// that a device with thousands of calls is checked at once.
func (p *PBX) devSet(dev string, key *Channel, st ChannelState) {
	p.devMu.Lock()
	defer p.devMu.Unlock()
	m := p.devChan[dev]
	if m == nil {
		m = map[*Channel]ChannelState{}
		p.devChan[dev] = m
	}
	n := p.devCount[dev]
	if old, ok := m[key]; ok {
		n.add(old, -1)
	}
	if st == StateDown {
		delete(m, key)
	} else {
		m[key] = st
		n.add(st, 1)
	}
	p.devCount[dev] = n
}

// devCounts are a device's ringing and in-use channels.
type devCounts struct{ ringing, inuse int }

func (n *devCounts) add(st ChannelState, d int) {
	switch st {
	case StateRinging:
		n.ringing += d
	case StateUp, StateRing, StateBusy:
		n.inuse += d
	}
}

// devMove re-keys a channel's entry on dev (a call swapped or took over
// a channel value).
func (p *PBX) devMove(dev string, from, to *Channel) {
	p.devMu.Lock()
	defer p.devMu.Unlock()
	m := p.devChan[dev]
	if st, ok := m[from]; ok && from != to {
		delete(m, from)
		if old, had := m[to]; had {
			n := p.devCount[dev]
			n.add(old, -1)
			p.devCount[dev] = n
		}
		m[to] = st
	}
}

// devCheck emits a DeviceStateChange if dev's state changed since the last.
func (p *PBX) devCheck(dev string) {
	p.devMu.Lock()
	defer p.devMu.Unlock()
	n := p.devCount[dev]
	ringing, inuse := n.ringing > 0, n.inuse > 0
	state := "NOT_INUSE"
	switch {
	case ringing && inuse:
		state = "RINGINUSE"
	case ringing:
		state = "RINGING"
	case inuse:
		state = "INUSE"
	}
	last, ok := p.devLast[dev]
	if !ok {
		last = "NOT_INUSE"
	}
	if state == last {
		return
	}
	p.devLast[dev] = state
	p.emit(Event{Name: "DeviceStateChange", Time: p.now(), Fields: []Field{{"Device", dev}, {"State", state}}})
}

func device(endpoint string) string { return "PJSIP/" + endpoint }

func channelName(endpoint string, seq uint64) string {
	return fmt.Sprintf("PJSIP/%s-%08x", endpoint, seq)
}
