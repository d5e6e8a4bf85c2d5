package pbx

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// IVR is a voice menu on a DID, as the captures' dialplan plays it:
//
//	NoOp(Inbound IVR DID ...) → Goto(ivr-main,s,1) → NoOp(IVR main menu)
//	→ Answer() → Set(TIMEOUT(digit)=3) → WaitExten(<Timeout>)
//
// A key (RFC 4733 in the RTP stream, or SIP INFO) picks a choice: an
// extension (Goto(from-trunk,<its DID>,2), Dial as on that DID), a queue
// (Queue(...)) or a ring group (Goto(ringgroups,<n>,1)). Another key is
// the invalid extension i, no key in time the timeout extension t; both
// hang up.
type IVR struct {
	DID string
	// Choices maps a key to where it goes.
	Choices map[string]IVRChoice
	// Timeout is WaitExten's (DefaultIVRTimeout).
	Timeout time.Duration
}

// IVRChoice is one menu entry: Kind "ext" (Target a DID routed to an
// extension), "queue" (Target a queue number) or "group" (a ring group
// number).
type IVRChoice struct {
	Kind, Target string
}

// DefaultIVRTimeout is how long the menu waits for a key.
const DefaultIVRTimeout = 10 * time.Second

// ivrRoute is the from-trunk route for an IVR.
func (p *PBX) ivrRoute(m IVR, cidNum, cidName string) route {
	return route{
		kind: routeInbound, callerEP: p.cfg.TrunkEndpoint, callerCtx: "from-trunk",
		exten: m.DID, noop: fmt.Sprintf("Inbound IVR DID %s from \"%s\" <%s>", m.DID, cidName, cidNum),
		ringTimeout: DefaultRingTimeout,
	}
}

// runIVR answers the caller, waits for a key and routes the call on.
func (c *call) runIVR(m IVR) {
	p := c.p
	c.mu.Lock()
	c.enterDialplan()
	p.newexten(&c.caller, "Goto", "ivr-main,s,1")
	c.caller.Context, c.caller.Exten, c.caller.Priority = "ivr-main", "s", 1
	p.newexten(&c.caller, "NoOp", "IVR main menu")
	c.caller.Priority = 2
	p.newexten(&c.caller, "Answer", "")
	c.caller.State = StateUp
	p.chanEvent("Newstate", &c.caller)
	p.devSet(c.callerDev, &c.caller, StateUp)
	p.devCheck(c.callerDev)
	c.ivr = true
	c.ivrDigit = make(chan string, 8)
	c.xferStop = make(chan bool, 1)
	c.mu.Unlock()

	res := sip.NewResponseFromRequest(c.inReq, 200, "OK", rtp.BuildSDP(c.mIn.addr(), rand.Uint64N(1<<31), "pbxsim"))
	res.To().Params.Add("tag", c.in.localTag)
	res.AppendHeader(p.contact(c.inReq.Transport()))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := c.inTx.Respond(res); err != nil {
		p.log.Info("ivr answer failed", "error", err)
	}
	go c.waitAck(res)

	c.mu.Lock()
	c.caller.Priority = 3
	p.newexten(&c.caller, "Set", "TIMEOUT(digit)=3")
	c.caller.Priority = 4
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultIVRTimeout
	}
	p.newexten(&c.caller, "WaitExten", fmt.Sprintf("%d", int(timeout.Seconds())))
	c.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	var key string
	select {
	case key = <-c.ivrDigit:
	case <-t.C:
		c.ivrHangup("t", "IVR timeout")
		return
	case byCaller := <-c.xferStop:
		c.ivrGone(byCaller)
		return
	case <-c.stop:
		c.ivrHangup("t", "IVR closed")
		return
	}
	choice, valid := m.Choices[key]
	if !valid {
		c.ivrHangup("i", "IVR invalid choice "+key)
		return
	}
	c.mu.Lock()
	c.caller.Exten, c.caller.Priority = key, 1
	c.ivrDigit = nil
	switch choice.Kind {
	case "queue":
		qs := p.queues[choice.Target]
		c.mu.Unlock()
		if qs == nil {
			c.ivrHangup("i", "IVR unknown queue "+choice.Target)
			return
		}
		p.queueFromIVR(c, qs)
		return
	case "group":
		g, ok := p.groupByNumber(choice.Target)
		if !ok {
			c.mu.Unlock()
			c.ivrHangup("i", "IVR unknown ring group "+choice.Target)
			return
		}
		c.r = p.groupRoute(g, c.cidNum, c.cidName)
		c.r.callerCtx = "ivr-main"
		c.mu.Unlock()
		c.dialGroup()
		return
	}
	did, ok := p.dids[choice.Target]
	if !ok {
		c.mu.Unlock()
		c.ivrHangup("i", "IVR unknown DID "+choice.Target)
		return
	}
	p.newexten(&c.caller, "Goto", "from-trunk,"+did.Number+",2")
	c.r = p.inboundRoute(did, c.cidNum, c.cidName)
	c.caller.Context, c.caller.Exten, c.caller.Priority = "from-trunk", did.Number, 2
	c.mu.Unlock()
	c.dial()
}

func (p *PBX) groupByNumber(n string) (RingGroup, bool) {
	for _, g := range p.groups {
		if g.Number == n {
			return g, true
		}
	}
	return RingGroup{}, false
}

// ivrHangup plays the menu's exten (i or t): NoOp(text), Hangup().
func (c *call) ivrHangup(exten, text string) {
	p := c.p
	c.mu.Lock()
	c.phase = phaseEnded
	c.caller.Exten, c.caller.Priority = exten, 1
	p.newexten(&c.caller, "NoOp", text)
	c.caller.Priority = 2
	p.newexten(&c.caller, "Hangup", "")
	p.causeEvent("SoftHangupRequest", &c.caller, causeNormalClearing)
	p.hangupEvent(&c.caller, causeNormalClearing)
	p.devSet(c.callerDev, &c.caller, StateDown)
	p.devCheck(c.callerDev)
	end := p.now()
	p.cdrEvent(c.cdr("WaitExten", "", "", c.start, c.start, end, "ANSWERED"))
	c.mu.Unlock()
	p.bye(c.in)
	c.release()
}

// ivrGone ends the menu when the caller hung up (BYE answered).
func (c *call) ivrGone(bool) {
	p := c.p
	c.mu.Lock()
	c.phase = phaseEnded
	p.causeEvent("HangupRequest", &c.caller, causeNormalClearing)
	p.hangupEvent(&c.caller, causeNormalClearing)
	p.devSet(c.callerDev, &c.caller, StateDown)
	p.devCheck(c.callerDev)
	p.cdrEvent(c.cdr("WaitExten", "", "", c.start, c.start, p.now(), "ANSWERED"))
	c.mu.Unlock()
	c.release()
}

// queueFromIVR hands the IVR's answered caller to a queue.
func (p *PBX) queueFromIVR(c *call, qs *queueState) {
	qs.mu.Lock()
	q := qs.cfg
	qs.mu.Unlock()
	c.mu.Lock()
	qc := &queueCall{
		p: p, qs: qs, q: q,
		cidNum: c.cidNum, cidName: c.cidName, callerDev: c.callerDev,
		in: c.in, inReq: c.inReq, inTx: c.inTx, mIn: c.mIn,
		acked: make(chan struct{}), ev: make(chan queueEv, 16), ended: make(chan struct{}),
		caller: c.caller, start: c.start, preAnswered: true, ivrCaller: &c.caller,
	}
	c.phase = phaseEnded
	c.mIn = nil
	c.mu.Unlock()
	qc.ackOnce.Do(func() { close(qc.acked) })
	p.mu.Lock()
	p.legs[qc.in.callID] = &legRef{q: qc}
	delete(p.live, c)
	p.live[qc] = struct{}{}
	p.mu.Unlock()
	c.endOnce.Do(func() { close(c.ended) })
	qc.mIn.onDigit(func(d string) { qc.post(queueEv{kind: qeDigit, digit: d}) })
	qc.run()
}

// ivrKey hands a key pressed in the menu on; false when the caller is
// not waiting in a menu. Call with c.mu held.
func (c *call) ivrKey(digit string) bool {
	if c.ivrDigit == nil {
		return false
	}
	select {
	case c.ivrDigit <- strings.ToUpper(digit):
	default:
	}
	return true
}
