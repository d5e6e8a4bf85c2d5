package pbx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// In-call transfer features, as features.conf sets them and Dial's t
// option enables them for the called party (fixtures/asterisk): the phone
// of a bridged call's called side presses a code as DTMF, which the
// bridge's feature hooks take (the digits reach only that channel's
// DTMFBegin/DTMFEnd, Direction Received).
//
//   - "##" blindxfer: Hold on the transferer, music for the transferee;
//     the transferer dials the target's digits; Unhold, BlindTransfer
//     (IsExternal No), the transferer leaves the bridge, the transferee
//     runs the dialplan at the target in from-internal, and the
//     transferer's channel hangs up (the PBX sends its phone BYE).
//   - "*2" atxfer: Hold and music as above; the digits make Asterisk
//     dial the target through a Local channel pair
//     (Local/<target>@from-internal-N;1 and ;2, LocalBridge with
//     LocalOptimization Yes): ;1 joins the transferer in a bridge of its
//     own, ;2 runs Dial(PJSIP/<target>,20,tTU(sub-record)). The
//     consultation ends with the transferer hanging up, which completes
//     the transfer (MusicOnHoldStop, BridgeMerge of the consultation's
//     bridge into the caller's, AttendedTransfer DestType Bridge), after
//     which the pair optimises itself away (LocalOptimizationBegin/End:
//     the target moves into the caller's bridge, both halves hang up); or
//     with "*1" atxferabort, or the target hanging up or not answering
//     within atxfernoanswertimeout, which hand the transferer back to the
//     caller (Unhold, no AttendedTransfer).
//
// Taken from the real Asterisk 22 sessions in fixtures/ami/asterisk22
// (xfer-blind-feature.log, xfer-atxfer-feature-*.log). What pbxsim does
// not model: the calling party's T codes, a transferer hanging up while
// the target still rings (Asterisk then hands the ringing target to the
// transferee) and the transferee hanging up during the consultation
// (Asterisk leaves transferer and target talking); pbxsim ends the call
// in both.

// Feature codes and timers of fixtures/asterisk/features.conf.
const (
	featureBlind       = "##"
	featureAttended    = "*2"
	featureAbort       = "*1"
	transferDigits     = 3 * time.Second  // transferdigittimeout
	atxferNoAnswer     = 15 * time.Second // atxfernoanswertimeout
	localContext       = "from-internal"
	featureRingTimeout = DefaultInternalRingTimeout
)

// Feature states of a call.
const (
	featIdle = iota
	featBlindDigits
	featAttendedDigits
	featConsulting
)

// features is a call's feature-code state.
type features struct {
	state  int
	code   string // a code's digits so far (idle, consulting)
	digits string // the target's digits
	timer  *time.Timer
	gen    int // invalidates a stale digit timer
}

// localSeq numbers Local channel pairs, as chan_local does.
var localSeq atomic.Uint32

// calleeMayTransfer says whether Dial's options let the called party
// transfer (t).
func (c *call) calleeMayTransfer() bool {
	opts, _, _ := strings.Cut(c.r.opts, "(")
	return strings.Contains(opts, "t")
}

// featureDigit takes a digit the called party pressed in a bridged call.
// Call with c.mu held.
func (c *call) featureDigit(digit string) {
	f := &c.feat
	if c.phase != phaseUp || !c.calleeMayTransfer() {
		return
	}
	switch f.state {
	case featIdle:
		f.code += digit
		switch {
		case f.code == featureBlind:
			f.code = ""
			c.featureStart(featBlindDigits)
		case f.code == featureAttended:
			f.code = ""
			c.featureStart(featAttendedDigits)
		case !strings.HasPrefix(featureBlind, f.code) && !strings.HasPrefix(featureAttended, f.code):
			f.code = digit
			if !strings.HasPrefix(featureBlind, f.code) && !strings.HasPrefix(featureAttended, f.code) {
				f.code = ""
			}
		}
	case featBlindDigits, featAttendedDigits:
		f.digits += digit
		if _, ok := c.p.ext(f.digits); ok {
			// The extension pattern can match no longer number: dial now.
			c.featureDigitsDone()
			return
		}
		c.armDigitTimer()
	case featConsulting:
		f.code += digit
		switch {
		case f.code == featureAbort:
			f.code = ""
			c.atxBack("abort", "CANCEL", causeNormalClearing)
		case !strings.HasPrefix(featureAbort, f.code):
			f.code = ""
		}
	}
}

// featureStart takes the transfer code: the transferer is held, the
// transferee hears music, and the target's digits are collected. Call
// with c.mu held.
func (c *call) featureStart(state int) {
	p := c.p
	c.feat.state, c.feat.digits = state, ""
	p.chanEvent("Hold", &c.callee)
	p.chanEvent("MusicOnHoldStart", &c.caller, Field{"Class", "default"})
	unbridgeMedia(c.mIn, c.mOut)
	c.armDigitTimer()
}

// armDigitTimer (re)starts transferdigittimeout. Call with c.mu held.
func (c *call) armDigitTimer() {
	f := &c.feat
	if f.timer != nil {
		f.timer.Stop()
	}
	f.gen++
	gen := f.gen
	f.timer = time.AfterFunc(transferDigits, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.feat.gen == gen && (c.feat.state == featBlindDigits || c.feat.state == featAttendedDigits) {
			c.featureDigitsDone()
		}
	})
}

// featureDigitsDone acts on the target's digits. Call with c.mu held.
func (c *call) featureDigitsDone() {
	f := &c.feat
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.gen++
	state, target := f.state, f.digits
	f.state, f.digits = featIdle, ""
	if c.phase != phaseUp {
		return
	}
	switch state {
	case featBlindDigits:
		from, ok := c.p.ext(c.callee.CallerIDNum)
		if !ok {
			from = Extension{Number: c.callee.CallerIDNum}
		}
		r, ok := c.p.internalRoute(from, target)
		if !ok {
			c.featureFailed()
			return
		}
		c.featureBlindTransfer(r, target)
	case featAttendedDigits:
		to, ok := c.p.ext(target)
		if !ok || to.Number == c.callee.CallerIDNum {
			c.featureFailed()
			return
		}
		c.atxStart(to)
	}
}

// featureFailed puts the call back as it was: no such target. Call with
// c.mu held.
func (c *call) featureFailed() {
	c.p.chanEvent("Unhold", &c.callee)
	c.p.chanEvent("MusicOnHoldStop", &c.caller)
	bridgeMedia(c.mIn, c.mOut)
}

// unbridgeMedia stops relaying between a and b.
func unbridgeMedia(a, b *relayLeg) {
	if a != nil {
		a.peer.Store(nil)
	}
	if b != nil {
		b.peer.Store(nil)
	}
}

// featureBlindTransfer is blindxfer's transfer to target (route r). Call
// with c.mu held.
func (c *call) featureBlindTransfer(r route, target string) {
	p := c.p
	c.phase = phaseTransferring
	c.transfers++
	p.chanEvent("Unhold", &c.callee)
	p.chanEvent("MusicOnHoldStop", &c.caller)
	fields := []Field{{"Result", "Success"}}
	fields = append(fields, c.callee.Fields("Transferer")...)
	fields = append(fields, c.caller.Fields("Transferee")...)
	fields = append(fields, c.bridge.Fields("")...)
	fields = append(fields, Field{"IsExternal", "No"}, Field{"Context", localContext}, Field{"Extension", target})
	p.emit(Event{Name: "BlindTransfer", Time: p.now(), Fields: fields})
	c.runTransferred()
	c.stopRecording()
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c.bridge, &c.callee)
	old := c.detach()
	p.devSet(old.dev, &c.callee, StateDown) // keyed by the field, as when it was set
	oldBridge := c.bridge

	// The transferee goes to the target in the transferer's context (the
	// first Newexten still shows the application it left), leaves the
	// bridge and dials; the transferer's channel hangs up after.
	oldData := c.dialData()
	r.callerEP, r.callerCtx, r.noop = c.r.callerEP, localContext, ""
	c.r = r
	c.caller.Context, c.caller.Exten, c.caller.Priority = localContext, target, 1
	p.newexten(&c.caller, "Dial", oldData)
	oldBridge.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &oldBridge, &c.caller)
	c.caller.Priority = 2
	p.newexten(&c.caller, "Dial", c.dialData())
	c.callee = c.newChannel(r.calleeEP, p.now())
	c.callee.State = StateDown
	c.callee.CallerIDNum, c.callee.CallerIDName = r.calleeNum, r.calleeName
	c.callee.Context, c.callee.Exten = localContext, "s"
	c.callee.Linkedid = c.caller.Linkedid
	p.chanEvent("Newchannel", &c.callee)
	c.callee.ConnectedLineNum, c.callee.ConnectedLineName = c.cidNum, c.cidName
	c.callee.Exten = target
	p.newexten(&c.callee, "AppDial", "(Outgoing Line)")
	p.chanEvent("NewConnectedLine", &c.callee)
	p.dialEvent("DialBegin", &c.caller, &c.callee, Field{"DialString", r.dialString})
	c.caller.ConnectedLineNum, c.caller.ConnectedLineName = c.callee.CallerIDNum, c.callee.CallerIDName
	p.chanEvent("NewConnectedLine", &c.caller)
	p.bridgeEvent("BridgeDestroy", &oldBridge, nil)
	p.hangupEvent(&old.ch, causeNormalClearing)
	p.devCheck(old.dev)
	c.calleeDev = device(r.calleeEP)
	c.xferStop = make(chan bool, 1)

	p.calls.Add(2)
	go func() {
		defer p.calls.Done()
		p.hangupDetached(old, true)
	}()
	go func() {
		defer p.calls.Done()
		c.dialTransfer()
	}()
}

// atxfer is an attended transfer's consultation through a Local pair.
type atxfer struct {
	c        *call
	one, two Channel // Local/<target>@from-internal-N;1 and ;2
	b2, b3   Bridge  // ;1 with the transferer; ;2 with the target
	target   Channel
	dev      string
	d        *dialog
	req      *sip.Request
	tx       sip.ClientTransaction
	m        *relayLeg
	rec      *recording
	up       bool
	done     chan struct{} // closed when the consultation is over
	over     bool
}

// dialog is the target's SIP dialog.
func (x *atxfer) dialog() *dialog { return x.d }

// atxStart dials the target through a Local pair. Call with c.mu held.
func (c *call) atxStart(to Extension) {
	p := c.p
	now := p.now()
	base := fmt.Sprintf("Local/%s@%s-%08x", to.Number, localContext, localSeq.Add(1))
	x := &atxfer{c: c, dev: device(to.Number), done: make(chan struct{})}
	half := func(n int, st ChannelState) Channel {
		seq := p.nextSeq()
		return Channel{Name: fmt.Sprintf("%s;%d", base, n), State: st, Language: "en", Context: localContext,
			Exten: to.Number, Priority: 1, Uniqueid: fmt.Sprintf("%d.%d", now.Unix(), seq), Linkedid: c.caller.Linkedid}
	}
	x.one, x.two = half(1, StateDown), half(2, StateRing)
	p.chanEvent("Newchannel", &x.one)
	p.chanEvent("Newchannel", &x.two)
	x.b2 = Bridge{Uniqueid: uuid.NewString(), Type: "basic", Technology: "simple_bridge", VideoSource: "none"}
	p.bridgeEvent("BridgeCreate", &x.b2, nil)
	x.two.CallerIDNum, x.two.CallerIDName = c.callee.CallerIDNum, c.callee.CallerIDName
	p.chanEvent("NewCallerid", &x.two, Field{"CID-CallingPres", "0 (Presentation Allowed, Not Screened)"})
	lb := append(x.one.Fields("LocalOne"), x.two.Fields("LocalTwo")...)
	lb = append(lb, Field{"Context", localContext}, Field{"Exten", to.Number}, Field{"LocalOptimization", "Yes"})
	p.emit(Event{Name: "LocalBridge", Time: p.now(), Fields: lb})
	p.newexten(&x.two, "NoOp", fmt.Sprintf("Internal call to %s by \"%s\" <%s>", to.Number, c.callee.CallerIDName, c.callee.CallerIDNum))
	x.two.Priority = 2
	dialData := fmt.Sprintf("PJSIP/%s,%d,tTU(sub-record)", to.Number, int(featureRingTimeout.Seconds()))
	p.newexten(&x.two, "Dial", dialData)
	x.one.ConnectedLineNum, x.one.ConnectedLineName = c.callee.CallerIDNum, c.callee.CallerIDName
	p.chanEvent("NewConnectedLine", &x.one)
	x.b2.NumChannels = 1
	p.bridgeEvent("BridgeEnter", &x.b2, &x.one)
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c.bridge, &c.callee)
	x.b2.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &x.b2, &c.callee)
	c.callee.ConnectedLineNum, c.callee.ConnectedLineName = "", ""
	p.chanEvent("NewConnectedLine", &c.callee)

	x.target = c.newChannel(to.Number, p.now())
	x.target.State = StateDown
	x.target.CallerIDNum, x.target.CallerIDName = to.Number, to.Name
	x.target.Context, x.target.Exten = localContext, "s"
	x.target.Linkedid = c.caller.Linkedid
	p.chanEvent("Newchannel", &x.target)
	x.target.ConnectedLineNum, x.target.ConnectedLineName = c.callee.CallerIDNum, c.callee.CallerIDName
	x.target.Exten = to.Number
	p.newexten(&x.target, "AppDial", "(Outgoing Line)")
	p.chanEvent("NewConnectedLine", &x.target)
	p.dialEvent("DialBegin", &x.two, &x.target, Field{"DialString", to.Number})
	x.two.ConnectedLineNum, x.two.ConnectedLineName = to.Number, to.Name
	p.chanEvent("NewConnectedLine", &x.two)
	c.atx = x
	c.feat.state = featConsulting

	b := p.lookupBinding(to.Number)
	if b == nil || x.sendInvite(b) != nil {
		p.log.Info("attended transfer target unreachable", "ext", to.Number)
		c.atxBack("unreachable", "CHANUNAVAIL", causeSubscriberAbs)
		return
	}
	p.calls.Add(1)
	go func() {
		defer p.calls.Done()
		x.dialLoop()
	}()
}

// sendInvite calls the target from the transferer's identity. Call with
// c.mu held.
func (x *atxfer) sendInvite(b *binding) error {
	p, c := x.c.p, x.c
	var err error
	if x.m, err = newRelayLeg(p.host); err != nil {
		return err
	}
	x.d = &dialog{
		callID:    uuid.NewString(),
		local:     sip.Uri{Scheme: "sip", User: c.callee.CallerIDNum, Host: p.host, Port: p.port},
		localName: c.callee.CallerIDName,
		localTag:  sip.GenerateTagN(16),
		remote:    sip.Uri{Scheme: "sip", User: x.target.CallerIDNum, Host: p.host, Port: p.port},
		target:    *b.contact.Clone(),
		transport: b.transport,
		dest:      b.dest,
	}
	req := p.newRequest(x.d, sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(rtp.BuildSDP(x.m.addr(), rand.Uint64N(1<<31), "pbxsim"))
	p.ladderLink(x.d.callID, c.caller.Linkedid)
	p.mu.Lock()
	p.legs[x.d.callID] = &legRef{atx: x}
	p.mu.Unlock()
	tx, err := p.client(b.transport).TransactionRequest(context.Background(), req)
	if err != nil {
		return fmt.Errorf("send invite to %s: %w", b.dest, err)
	}
	x.req, x.tx = req, tx
	return nil
}

// dialLoop follows the target's INVITE until it answers, fails or the
// consultation is given up.
func (x *atxfer) dialLoop() {
	p, c := x.c.p, x.c
	timer := time.NewTimer(atxferNoAnswer)
	defer timer.Stop()
	provisional := false
	for {
		select {
		case res := <-x.tx.Responses():
			switch {
			case res.StatusCode == 100:
			case res.StatusCode < 200:
				if !provisional {
					provisional = true
					x.ringing()
				}
			case res.StatusCode < 300:
				p.ackAnswer(x.d, x.tx, res)
				if !provisional {
					x.ringing()
				}
				x.answered(res)
				return
			default:
				c.mu.Lock()
				if !x.over {
					c.atxBack("target failed", dialStatus(res.StatusCode), sipToCause(res.StatusCode))
				}
				c.mu.Unlock()
				return
			}
		case <-x.tx.Done():
			c.mu.Lock()
			if !x.over {
				c.atxBack("no response", "NOANSWER", causeNoUserResponse)
			}
			c.mu.Unlock()
			return
		case <-timer.C:
			if provisional {
				go p.cancelInvite(x.req)
			}
			c.mu.Lock()
			if !x.over {
				c.atxBack("no answer", "NOANSWER", causeNormalClearing)
			}
			c.mu.Unlock()
			x.drain()
			return
		case <-x.done:
			if provisional {
				go p.cancelInvite(x.req)
			}
			x.drain()
			return
		}
	}
}

// drain follows a given-up INVITE to its end: a 2xx that crossed the
// CANCEL is ACKed and BYEd.
func (x *atxfer) drain() {
	p := x.c.p
	t := time.NewTimer(cancelDrain)
	defer t.Stop()
	for {
		select {
		case res := <-x.tx.Responses():
			if res.IsSuccess() {
				p.ackAnswer(x.d, x.tx, res)
				go p.bye(x.d)
				return
			}
			if res.StatusCode >= 300 {
				return
			}
		case <-x.tx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// ringing reports the target alerting, and ;1 with it.
func (x *atxfer) ringing() {
	p, c := x.c.p, x.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if x.over {
		return
	}
	x.target.State = StateRinging
	p.devSet(x.dev, &x.target, StateRinging)
	p.chanEvent("Newstate", &x.target)
	p.devCheck(x.dev)
	x.one.State = StateRinging
	x.one.CallerIDNum, x.one.CallerIDName = x.target.CallerIDNum, x.target.CallerIDName
	p.chanEvent("Newstate", &x.one)
	p.chanEvent("NewCallerid", &x.one, Field{"CID-CallingPres", "0 (Presentation Allowed, Not Screened)"})
	c.callee.ConnectedLineNum, c.callee.ConnectedLineName = x.target.CallerIDNum, x.target.CallerIDName
	p.chanEvent("NewConnectedLine", &c.callee)
	p.dialEvent("DialState", &x.two, &x.target, Field{"DialStatus", "RINGING"})
	p.emit(Event{Name: "DialState", Time: p.now(), Dest: snap(&x.one), Fields: []Field{{"DialStatus", "RINGING"}}})
}

// answered bridges the transferer with the target: the consultation.
func (x *atxfer) answered(res *sip.Response) {
	p, c := x.c.p, x.c
	if m, err := rtp.ParseSDP(res.Body()); err == nil {
		x.m.setRemote(m.Addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if x.over {
		go p.bye(x.d)
		return
	}
	x.up = true
	x.target.State = StateUp
	p.devSet(x.dev, &x.target, StateUp)
	p.chanEvent("Newstate", &x.target)
	p.devCheck(x.dev)
	x.rec = p.subRecord(&x.target, c.mOut, x.m)
	x.target.Exten = ""
	p.dialEvent("DialEnd", &x.two, &x.target, Field{"DialStatus", "ANSWER"})
	x.one.State = StateUp
	p.chanEvent("Newstate", &x.one)
	p.emit(Event{Name: "DialEnd", Time: p.now(), Dest: snap(&x.one), Fields: []Field{{"DialStatus", "ANSWER"}}})
	x.two.State = StateUp
	p.chanEvent("Newstate", &x.two)
	x.b3 = Bridge{Uniqueid: uuid.NewString(), Type: "basic", Technology: "simple_bridge", VideoSource: "none"}
	p.bridgeEvent("BridgeCreate", &x.b3, nil)
	p.newexten(&x.target, "AppDial", "(Outgoing Line)")
	x.b3.NumChannels = 1
	p.bridgeEvent("BridgeEnter", &x.b3, &x.target)
	x.b3.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &x.b3, &x.two)
	bridgeMedia(c.mOut, x.m)
}

// ended tears the consultation's far side down once the transferer has
// left it: the pair's bridge, ;1, then ;2 with the target (its Dial ended
// with status when it was not up yet, its channel hung up with cause).
// Call with c.mu held.
func (x *atxfer) ended(status string, cause int) {
	p, c := x.c.p, x.c
	if x.over {
		return
	}
	x.over = true
	close(x.done)
	if x.rec != nil {
		c.mOut.untap(x.rec)
		x.m.untap(x.rec)
		_ = x.rec.close()
		x.rec = nil
	}
	x.b2.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &x.b2, &x.one)
	p.bridgeEvent("BridgeDestroy", &x.b2, nil)
	p.causeEvent("HangupRequest", &x.two, causeNormalClearing)
	p.hangupEvent(&x.one, causeNormalClearing)
	if x.up {
		x.b3.NumChannels = 1
		p.bridgeEvent("BridgeLeave", &x.b3, &x.two)
		p.causeEvent("SoftHangupRequest", &x.two, causeNormalClearing)
		p.hangupEvent(&x.two, causeNormalClearing)
		x.b3.NumChannels = 0
		p.bridgeEvent("BridgeLeave", &x.b3, &x.target)
		p.bridgeEvent("BridgeDestroy", &x.b3, nil)
		p.hangupEvent(&x.target, cause)
	} else {
		p.dialEvent("DialEnd", &x.two, &x.target, Field{"DialStatus", status})
		p.hangupEvent(&x.target, cause)
		p.hangupEvent(&x.two, causeNormalClearing)
	}
	p.devSet(x.dev, &x.target, StateDown)
	p.devCheck(x.dev)
}

// leave takes the transferer out of the consultation's bridge and back
// into the caller's. Call with c.mu held.
func (x *atxfer) leave() {
	p, c := x.c.p, x.c
	x.b2.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &x.b2, &c.callee)
	c.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &c.bridge, &c.callee)
	c.callee.ConnectedLineNum, c.callee.ConnectedLineName = c.cidNum, c.cidName
	p.chanEvent("NewConnectedLine", &c.callee)
}

// atxBack hands the transferer back to the transferee once the
// consultation is over without a transfer (why: abort, the target gone
// or failed with status and cause), as Asterisk does: the transferer
// returns first (Unhold), then the pair and the target are torn down.
// Call with c.mu held.
func (c *call) atxBack(why, status string, cause int) {
	p := c.p
	x := c.atx
	if x == nil {
		return
	}
	c.atx, c.feat = nil, features{}
	p.log.Debug("attended transfer back to the transferee", "why", why)
	x.leave()
	p.chanEvent("MusicOnHoldStop", &c.caller)
	p.chanEvent("Unhold", &c.callee)
	bridgeMedia(c.mIn, c.mOut)
	bye := x.up && why != "target hung up"
	x.ended(status, cause)
	if bye {
		go p.bye(x.d)
	}
	go x.release()
}

// release forgets the target's leg and frees its media port.
func (x *atxfer) release() {
	p := x.c.p
	if x.d != nil {
		p.mu.Lock()
		if r := p.legs[x.d.callID]; r != nil && r.atx == x {
			delete(p.legs, x.d.callID)
		}
		p.mu.Unlock()
	}
	x.m.close()
}

// atxTargetGone takes the target's BYE during the consultation.
func (c *call) atxTargetGone(x *atxfer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.atx != x || x.over {
		return
	}
	c.atxBack("target hung up", "", causeNormalClearing)
}

// atxComplete completes the attended transfer: the transferer hung up
// during the consultation (its BYE answered). The consultation's bridge
// is merged into the caller's, then the Local pair optimises itself away
// and the target takes the transferer's place in the call. Call with c.mu
// held.
func (c *call) atxComplete() {
	p := c.p
	x := c.atx
	c.atx, c.feat = nil, features{}
	now := p.now()
	p.cdrEvent(cdr{src: c.callee.CallerIDNum, dstContext: localContext,
		callerID: fmt.Sprintf("\"%s\" <%s>", c.callee.CallerIDName, c.callee.CallerIDNum),
		channel:  c.callee.Name, dstChannel: x.one.Name, lastApp: "AppDial", lastData: "(Outgoing Line)",
		start: c.answer, answer: c.answer, end: now, disposition: "ANSWERED", uniqueid: c.callee.Uniqueid})
	p.causeEvent("HangupRequest", &c.callee, causeNormalClearing)
	p.chanEvent("MusicOnHoldStop", &c.caller)
	c.stopRecording()
	x.b2.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &x.b2, &c.callee)
	p.emit(Event{Name: "BridgeMerge", Time: p.now(), Fields: append(c.bridge.Fields("To"), x.b2.Fields("From")...)})
	x.b2.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &x.b2, &x.one)
	c.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &c.bridge, &x.one)
	x.one.ConnectedLineNum, x.one.ConnectedLineName = c.cidNum, c.cidName
	p.chanEvent("NewConnectedLine", &x.one)
	f := []Field{{"Result", "Success"}}
	f = append(f, c.callee.Fields("OrigTransferer")...)
	f = append(f, c.bridge.Fields("Orig")...)
	f = append(f, c.callee.Fields("SecondTransferer")...)
	f = append(f, x.b2.Fields("Second")...)
	f = append(f, c.caller.Fields("Transferee")...)
	f = append(f, Field{"IsExternal", "No"}, Field{"DestType", "Bridge"}, Field{"DestBridgeUniqueid", c.bridge.Uniqueid})
	p.emit(Event{Name: "AttendedTransfer", Time: p.now(), Fields: f})
	c.transfers++
	c.runTransferred()
	c.caller.ConnectedLineNum, c.caller.ConnectedLineName = x.target.CallerIDNum, x.target.CallerIDName
	p.chanEvent("NewConnectedLine", &c.caller)
	p.bridgeEvent("BridgeDestroy", &x.b2, nil)
	p.hangupEvent(&c.callee, causeNormalClearing)
	p.devSet(c.calleeDev, &c.callee, StateDown)
	p.devCheck(c.calleeDev)
	x.target.ConnectedLineNum, x.target.ConnectedLineName = c.cidNum, c.cidName
	p.chanEvent("NewConnectedLine", &x.target)

	// The pair optimises away: the target moves into the caller's bridge.
	lo := append(x.one.Fields("LocalOne"), x.two.Fields("LocalTwo")...)
	begin := append(lo, x.target.Fields("Source")...)
	begin = append(begin, Field{"DestUniqueId", x.two.Uniqueid}, Field{"Id", "1"})
	p.emit(Event{Name: "LocalOptimizationBegin", Time: p.now(), Fields: begin})
	x.b3.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &x.b3, &x.target)
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c.bridge, &x.one)
	c.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &c.bridge, &x.target)
	x.two.CallerIDNum, x.two.CallerIDName = c.cidNum, c.cidName
	p.chanEvent("NewCallerid", &x.two, Field{"CID-CallingPres", "0 (Presentation Allowed, Not Screened)"})
	end := append(x.one.Fields("LocalOne"), x.two.Fields("LocalTwo")...)
	end = append(end, Field{"Success", "No"}, Field{"Id", "1"})
	p.emit(Event{Name: "LocalOptimizationEnd", Time: p.now(), Fields: end})
	x.b3.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &x.b3, &x.two)
	p.bridgeEvent("BridgeDestroy", &x.b3, nil)
	p.causeEvent("SoftHangupRequest", &x.two, causeNormalClearing)
	p.causeEvent("HangupRequest", &x.two, causeNormalClearing)
	p.hangupEvent(&x.one, causeNormalClearing)
	p.hangupEvent(&x.two, causeNormalClearing)

	// The call goes on between the caller and the target.
	old := c.detach()
	p.mu.Lock()
	delete(p.legs, old.d.callID)
	p.legs[x.d.callID] = &legRef{c: c, caller: false}
	p.mu.Unlock()
	old.m.close()
	p.devMove(x.dev, &x.target, &c.callee)
	c.callee, c.out, c.mOut, c.calleeDev = x.target, x.d, x.m, x.dev
	c.outTx, c.outReq = x.tx, x.req
	c.rec = x.rec
	c.answer = now
	x.over = true
	close(x.done)
	bridgeMedia(c.mIn, c.mOut)
}

// atxHangup ends a call whose transferer is consulting: the transferer's
// hangup completes the transfer once the target answered; anything else
// ends the whole call (see the package comment above for what Asterisk
// does instead). Call without c.mu.
func (c *call) atxHangup(byCaller bool) bool {
	c.mu.Lock()
	if c.atx == nil || c.phase != phaseUp {
		c.mu.Unlock()
		return false
	}
	if !byCaller && c.atx.up {
		c.atxComplete()
		c.mu.Unlock()
		return true
	}
	x := c.atx
	c.atx, c.feat = nil, features{}
	x.leave()
	up := x.up
	x.ended("CANCEL", causeNormalClearing)
	if up {
		go c.p.bye(x.d)
	}
	c.mu.Unlock()
	go x.release()
	return false
}

// featureStop ends a pending digit timer when the call ends. Call with
// c.mu held.
func (c *call) featureStop() {
	if c.feat.timer != nil {
		c.feat.timer.Stop()
	}
	c.feat = features{}
}
