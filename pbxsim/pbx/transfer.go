package pbx

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// Transfers, as chan_pjsip does them. A phone in a bridged call sends
// REFER (RFC 3515) on its leg:
//
//   - Refer-To without Replaces is a blind transfer: 202, a NOTIFY with
//     "SIP/2.0 100 Trying", BlindTransfer, the transferer's channel hangs
//     up, the transferee dials the target in the transferer's context.
//     res_pjsip_refer follows the transferee (refer_blind_progress): a
//     NOTIFY "SIP/2.0 180 Ringing" when the target rings, then the final
//     "SIP/2.0 200 OK" as soon as audio reaches the transferee, which with
//     indications.conf is the ringback tone Dial plays at once (else the
//     target's answer); busy gives 486, another failure 503.
//   - Refer-To with Replaces (RFC 3891) naming the transferer's other call
//     on this PBX is an attended transfer: the transferee moves into the
//     consultation's bridge (AttendedTransfer, DestType Bridge) and both
//     transferer channels hang up; the consultation's dialog gets a BYE.
//     A consultation that is not answered yet, or gone, fails the transfer
//     (AttendedTransfer Result Fail, a NOTIFY with "SIP/2.0 503 Service
//     Unavailable"); both calls go on.
//
// After a successful transfer Asterisk does not BYE the dialog the REFER
// came on: it defers that session's termination until the transferor
// sends BYE (RFC 5589 sections 6.1 and 7.1), for up to 60 s, then ends it
// itself (ast_sip_session_defer_termination). pbxsim does the same.
//
// pbxsim hands transfers over between its own phones only: Replaces must
// name a dialog of this PBX.

// phaseTransferring: a blind transfer's target is being dialled; the
// transferee waits alone in the dialplan.
const phaseTransferring callPhase = 100

// leg is one side of a two-party call: its channel, SIP dialog and media.
type leg struct {
	ch  Channel
	d   *dialog
	m   *relayLeg
	dev string
}

func (p *PBX) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	ref := p.lookupLeg(req)
	if ref == nil {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	if ref.q != nil {
		// The queue call's goroutine hands a connected call over to a
		// two-party call, which the transfer then takes.
		ref.q.post(queueEv{kind: qeRefer, m: ref.m, req: req, tx: tx})
		return
	}
	if ref.c == nil || ref.gone != nil {
		// Legs already handed over are not transferable.
		_ = p.respond(tx, req, 603, sipReason(603), "", nil)
		return
	}
	h := req.GetHeader("Refer-To")
	if h == nil {
		_ = p.respond(tx, req, 400, "Missing Refer-To", "", nil)
		return
	}
	user, replaces, err := parseReferTo(h.Value())
	if err != nil {
		_ = p.respond(tx, req, 400, "Bad Refer-To", "", nil)
		return
	}
	if replaces == "" {
		p.blindTransfer(ref, req, tx, user)
		return
	}
	p.attendedTransfer(ref, req, tx, replaces)
}

// parseReferTo reads "<sip:103@host?Replaces=...>": the target's user
// and the unescaped Replaces value ("" for a blind transfer).
func parseReferTo(v string) (user, replaces string, err error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", "", fmt.Errorf("parse refer-to %q: no closing bracket", v)
		}
		v = v[i+1 : i+j]
	}
	uri, hdrs, _ := strings.Cut(v, "?")
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return "", "", fmt.Errorf("parse refer-to %q: %w", v, err)
	}
	for _, kv := range strings.Split(hdrs, "&") {
		k, val, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, "Replaces") {
			if replaces, err = url.QueryUnescape(val); err != nil {
				return "", "", fmt.Errorf("parse refer-to %q: replaces: %w", v, err)
			}
		}
	}
	return u.User, replaces, nil
}

// notify sends a REFER subscription's NOTIFY on d (RFC 3515 section 2.4.4).
func (p *PBX) notify(d *dialog, code int, final bool) {
	req := p.newRequest(d, sip.NOTIFY)
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody(fmt.Appendf(nil, "SIP/2.0 %d %s\r\n", code, sipReason(code)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res, err := p.send(ctx, d.transport, req); err != nil {
		p.log.Debug("notify failed", "callid", d.callID, "error", err)
	} else if res.StatusCode >= 300 {
		p.log.Debug("notify refused", "callid", d.callID, "status", res.StatusCode)
	}
}

// swapSides makes the caller side the callee side, so that the
// transferer is always the callee. Call with c.mu held.
func (c *call) swapSides() {
	c.in, c.out = c.out, c.in
	c.mIn, c.mOut = c.mOut, c.mIn
	c.p.devMove(c.callerDev, &c.caller, &c.callee)
	c.p.devMove(c.calleeDev, &c.callee, &c.caller)
	c.caller, c.callee = c.callee, c.caller
	c.callerDev, c.calleeDev = c.calleeDev, c.callerDev
	c.p.mu.Lock()
	if r := c.p.legs[c.in.callID]; r != nil && r.c == c {
		r.caller = true
	}
	if r := c.p.legs[c.out.callID]; r != nil && r.c == c {
		r.caller = false
	}
	c.p.mu.Unlock()
}

// detach takes the callee side out of the call: its dialog answers only
// BYE from now on. Call with c.mu held.
func (c *call) detach() leg {
	old := leg{ch: c.callee, d: c.out, m: c.mOut, dev: c.calleeDev}
	c.p.mu.Lock()
	c.p.legs[old.d.callID] = &legRef{gone: old.d}
	c.p.mu.Unlock()
	return old
}

// hangupDetached ends a transferer leg: Hangup, device state, BYE.
func (p *PBX) hangupDetached(old leg, bye bool) {
	if bye {
		p.bye(old.d)
	}
	p.mu.Lock()
	if r := p.legs[old.d.callID]; r != nil && r.gone == old.d {
		delete(p.legs, old.d.callID)
	}
	p.mu.Unlock()
	old.m.close()
}

// deferredTermination is how long Asterisk waits for a transferor's BYE
// on the dialog of its successful REFER before it ends that dialog itself.
const deferredTermination = 60 * time.Second

// awaitTransferorBye ends the REFER's dialog of a successful transfer as
// Asterisk does: its media stops at once; the dialog stays until the
// transferor's BYE (answered by onBye) or, deferredTermination later, the
// PBX's own BYE.
func (p *PBX) awaitTransferorBye(old leg) {
	old.m.close()
	p.calls.Add(1)
	go func() {
		defer p.calls.Done()
		t := time.NewTimer(deferredTermination)
		defer t.Stop()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.C:
				p.hangupDetached(old, true)
				return
			case <-p.closing:
				return
			case <-tick.C:
				p.mu.Lock()
				r := p.legs[old.d.callID]
				p.mu.Unlock()
				if r == nil || r.gone != old.d {
					return // the transferor's BYE came
				}
			}
		}
	}()
}

// transferProgress sends a blind transfer's progress NOTIFYs, in order
// (the first code >= 200 is final and ends the subscription). Call with
// c.mu held.
func (c *call) transferProgress(codes ...int) {
	d := c.xferNotify
	if d == nil {
		return
	}
	var send []int
	for _, code := range codes {
		send = append(send, code)
		if code >= 200 {
			c.xferNotify = nil
			break
		}
	}
	go func() {
		for _, code := range send {
			c.p.notify(d, code, code >= 200)
		}
	}()
}

func (p *PBX) blindTransfer(ref *legRef, req *sip.Request, tx sip.ServerTransaction, target string) {
	c := ref.c
	c.mu.Lock()
	if c.phase != phaseUp {
		c.mu.Unlock()
		_ = p.respond(tx, req, 603, sipReason(603), "", nil)
		return
	}
	if ref.caller {
		c.swapSides()
	}
	from, isExt := p.ext(c.callee.CallerIDNum)
	if !isExt {
		from = Extension{Number: c.callee.CallerIDNum}
	}
	r, ok := p.internalRoute(from, target)
	if !ok {
		c.mu.Unlock()
		_ = p.respond(tx, req, 404, sipReason(404), "", nil)
		return
	}
	_ = p.respond(tx, req, 202, "Accepted", "", nil)
	transferer := c.out
	c.mu.Unlock()
	p.notify(transferer, 100, false)

	c.mu.Lock()
	if c.phase != phaseUp {
		c.mu.Unlock()
		p.notify(transferer, 487, true)
		return
	}
	c.phase = phaseTransferring
	c.transfers++
	// res_pjsip_refer takes the transferer off hold first.
	c.referUnhold(&c.callee)
	fields := []Field{{"Result", "Success"}}
	fields = append(fields, c.callee.Fields("Transferer")...)
	fields = append(fields, c.caller.Fields("Transferee")...)
	fields = append(fields, c.bridge.Fields("")...)
	fields = append(fields, Field{"IsExternal", "Yes"}, Field{"Context", "from-internal"}, Field{"Extension", target})
	p.emit(Event{Name: "BlindTransfer", Time: p.now(), Fields: fields})
	c.runTransferred()
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c.bridge, &c.caller)
	c.stopRecording()
	old := c.detach()
	oldBridge := c.bridge

	// The transferer is done: its leg leaves the old bridge and hangs up,
	// before the transferee dials the target.
	oldBridge.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &oldBridge, &old.ch)
	p.bridgeEvent("BridgeDestroy", &oldBridge, nil)
	p.hangupEvent(&old.ch, causeNormalClearing)
	p.devSet(old.dev, &c.callee, StateDown) // keyed by the field, as when it was set
	p.devCheck(old.dev)

	// The transferee runs the dialplan at the target in the transferer's
	// context: Dial(PJSIP/<target>,20,tTU(sub-record)).
	r.callerEP, r.callerCtx = c.r.callerEP, "from-internal"
	r.noop = ""
	c.r = r
	c.caller.Context, c.caller.Exten, c.caller.Priority = "from-internal", target, 1
	p.newexten(&c.caller, "Dial", c.dialData())
	c.callee = c.newChannel(r.calleeEP, p.now())
	c.callee.State = StateDown
	c.callee.CallerIDNum, c.callee.CallerIDName = r.calleeNum, r.calleeName
	c.callee.Context, c.callee.Exten = "from-internal", target
	c.callee.Linkedid = c.caller.Linkedid
	p.chanEvent("Newchannel", &c.callee)
	c.callee.ConnectedLineNum, c.callee.ConnectedLineName = c.cidNum, c.cidName
	p.dialEvent("DialBegin", &c.caller, &c.callee, Field{"DialString", r.dialString})
	c.calleeDev = device(r.calleeEP)
	c.xferStop = make(chan bool, 1)
	c.xferNotify = transferer
	c.mu.Unlock()

	p.awaitTransferorBye(old)
	p.calls.Add(1)
	go func() {
		defer p.calls.Done()
		c.dialTransfer()
	}()
}

// dialTransfer rings a blind transfer's target for the waiting transferee
// and bridges them when it answers; no answer ends the call.
func (c *call) dialTransfer() {
	p := c.p
	b := p.calleeTarget(&c.r)
	if b == nil || c.sendInvite(b) != nil {
		c.transferFailed("CHANUNAVAIL", causeSubscriberAbs, false)
		return
	}
	timer := time.NewTimer(c.r.ringTimeout)
	defer timer.Stop()
	provisional := false
	for {
		select {
		case res := <-c.outTx.Responses():
			switch {
			case res.StatusCode == 100:
			case res.StatusCode < 200:
				if !provisional {
					provisional = true
					c.transferRinging()
				}
			case res.StatusCode < 300:
				c.confirmCallee(res)
				if !provisional {
					c.transferRinging()
				}
				c.transferAnswered(res)
				return
			default:
				c.transferFailed(dialStatus(res.StatusCode), sipToCause(res.StatusCode), false)
				return
			}
		case <-c.outTx.Done():
			c.transferFailed("NOANSWER", causeNoUserResponse, false)
			return
		case <-timer.C:
			if provisional {
				go p.cancelInvite(c.outReq)
			}
			c.transferFailed("NOANSWER", causeNormalClearing, false)
			return
		case byCaller := <-c.xferStop:
			if provisional {
				go p.cancelInvite(c.outReq)
			}
			c.transferFailed("CANCEL", causeNormalClearing, byCaller)
			return
		}
	}
}

func (c *call) transferRinging() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase != phaseTransferring {
		return
	}
	c.calleeRinging()
	// Ringing, and Dial's ringback tone to the transferee right after:
	// audio passing ends res_pjsip_refer's progress monitoring.
	c.transferProgress(180, 200)
}

func (c *call) transferAnswered(res *sip.Response) {
	p := c.p
	c.mu.Lock()
	if c.phase != phaseTransferring {
		c.mu.Unlock()
		go p.bye(c.out)
		return
	}
	if m, err := rtp.ParseSDP(res.Body()); err == nil && m.Addr != nil {
		c.mOut.setRemote(m.Addr)
	}
	c.phase = phaseUp
	c.answer = p.now()
	c.transferProgress(200)
	c.callee.State = StateUp
	p.devSet(c.calleeDev, &c.callee, StateUp)
	p.chanEvent("Newstate", &c.callee)
	p.devCheck(c.calleeDev)
	c.startRecording(&c.callee)
	p.dialEvent("DialEnd", &c.caller, &c.callee, Field{"DialStatus", "ANSWER"})
	c.bridge = Bridge{Uniqueid: uuid.NewString(), Type: "basic", Technology: "simple_bridge", VideoSource: "none"}
	p.bridgeEvent("BridgeCreate", &c.bridge, nil)
	c.caller.ConnectedLineNum, c.caller.ConnectedLineName = c.callee.CallerIDNum, c.callee.CallerIDName
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeEnter", &c.bridge, &c.callee)
	c.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &c.bridge, &c.caller)
	pending := c.pendingBye
	c.pendingBye = nil
	c.mu.Unlock()
	bridgeMedia(c.mIn, c.mOut)
	if pending != nil {
		c.hangup(*pending, !*pending, *pending)
	}
}

// transferFailed ends a blind transfer whose target did not answer: the
// transferee is hung up (its BYE already answered when byCaller).
func (c *call) transferFailed(status string, cause int, byCaller bool) {
	p := c.p
	c.mu.Lock()
	if c.phase != phaseTransferring {
		c.mu.Unlock()
		return
	}
	c.phase = phaseEnded
	if status == "BUSY" {
		c.transferProgress(486)
	} else {
		c.transferProgress(503)
	}
	p.dialEvent("DialEnd", &c.caller, &c.callee, Field{"DialStatus", status})
	p.hangupEvent(&c.callee, cause)
	p.devSet(c.calleeDev, &c.callee, StateDown)
	p.hangupEvent(&c.caller, causeNormalClearing)
	p.devSet(c.callerDev, &c.caller, StateDown)
	c.devEnd()
	p.cdrEvent(c.cdr("Dial", c.dialData(), c.callee.Name, c.start, time.Time{}, p.now(), cdrDisposition(status)))
	c.mu.Unlock()
	if !byCaller {
		p.bye(c.in)
	}
	c.release()
}

// attendedTransfer hands the transferee to the party of the transferer's
// consultation call named by Replaces ("callid;to-tag=..;from-tag=..",
// tags as the transferer sees that dialog).
func (p *PBX) attendedTransfer(ref *legRef, req *sip.Request, tx sip.ServerTransaction, replaces string) {
	c := ref.c
	callID, params, _ := strings.Cut(replaces, ";")
	var toTag, fromTag string
	for _, kv := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "to-tag":
			toTag = v
		case "from-tag":
			fromTag = v
		}
	}
	p.mu.Lock()
	ref2 := p.legs[callID]
	p.mu.Unlock()
	if ref2 == nil || ref2.c == nil || ref2.c == c || ref2.gone != nil {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	c2 := ref2.c
	d2 := ref2.dialog()
	d2.mu.Lock()
	match := d2.localTag == toTag && d2.remoteTag == fromTag
	d2.mu.Unlock()
	if !match {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	c.mu.Lock()
	if c.phase != phaseUp {
		c.mu.Unlock()
		_ = p.respond(tx, req, 603, sipReason(603), "", nil)
		return
	}
	c2.mu.Lock()
	if ref.caller {
		c.swapSides()
	}
	if !ref2.caller {
		c2.swapSides()
	}
	_ = p.respond(tx, req, 202, "Accepted", "", nil)
	transferer := c.out
	// Asterisk names the transferer legs by age: Orig is the older call.
	orig, second := &c.callee, &c2.caller
	origBridge, secondBridge := c.bridge, c2.bridge
	if c2.start.Before(c.start) {
		orig, second = second, orig
		origBridge, secondBridge = secondBridge, origBridge
	}
	fields := func(result string) []Field {
		f := []Field{{"Result", result}}
		f = append(f, orig.Fields("OrigTransferer")...)
		f = append(f, origBridge.Fields("Orig")...)
		f = append(f, second.Fields("SecondTransferer")...)
		if secondBridge.Uniqueid != "" {
			f = append(f, secondBridge.Fields("Second")...)
		}
		f = append(f, c.caller.Fields("Transferee")...)
		f = append(f, c2.callee.Fields("TransferTarget")...)
		f = append(f, Field{"IsExternal", "Yes"})
		return f
	}
	if c2.phase != phaseUp {
		f := append(fields("Fail"), Field{"DestType", "Fail"})
		p.emit(Event{Name: "AttendedTransfer", Time: p.now(), Fields: f})
		c2.mu.Unlock()
		c.mu.Unlock()
		go func() {
			p.notify(transferer, 100, false)
			p.notify(transferer, 503, true)
		}()
		return
	}
	c.transfers++
	// res_pjsip_refer takes both transferer channels off hold (the
	// transferee's music stops), moves the transferee into the
	// consultation's bridge, then reports the transfer.
	c.referUnhold(&c.callee)
	c2.referUnhold(&c2.caller)
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c.bridge, &c.caller)
	c2.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c2.bridge, &c2.caller)
	c.caller.ConnectedLineNum, c.caller.ConnectedLineName = c2.callee.CallerIDNum, c2.callee.CallerIDName
	c2.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &c2.bridge, &c.caller)
	f := append(fields("Success"), Field{"DestType", "Bridge"}, Field{"DestBridgeUniqueid", c2.bridge.Uniqueid})
	p.emit(Event{Name: "AttendedTransfer", Time: p.now(), Fields: f})
	c.runTransferred()
	c.bridge.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &c.bridge, &c.callee)
	p.bridgeEvent("BridgeDestroy", &c.bridge, nil)
	p.hangupEvent(&c.callee, causeNormalClearing)
	p.hangupEvent(&c2.caller, causeNormalClearing)
	c.stopRecording()
	c2.stopRecording()
	p.devSet(c.calleeDev, &c.callee, StateDown)
	p.devSet(c2.callerDev, &c2.caller, StateDown)

	// Merge: the transferee's call takes the consultation's target leg
	// and bridge; the consultation call is over.
	oldA := c.detach()
	oldB := leg{ch: c2.caller, d: c2.in, m: c2.mIn, dev: c2.callerDev}
	p.devMove(c2.calleeDev, &c2.callee, &c.callee)
	c.callee, c.out, c.mOut, c.calleeDev = c2.callee, c2.out, c2.mOut, c2.calleeDev
	c.outTx, c.outReq = c2.outTx, c2.outReq
	c.bridge = c2.bridge
	c.answer = p.now()
	c.rec = c2.rec
	c2.rec = nil
	c2.phase = phaseEnded
	p.mu.Lock()
	p.legs[c2.in.callID] = &legRef{gone: c2.in}
	p.legs[c2.out.callID] = &legRef{c: c, caller: false}
	delete(p.live, c2)
	p.mu.Unlock()
	p.devCheck(oldA.dev)
	c2.mOut, c2.mIn = nil, nil
	c2.mu.Unlock()
	c.mu.Unlock()
	bridgeMedia(c.mIn, c.mOut)
	c2.endOnce.Do(func() { close(c2.ended) })

	go func() {
		p.notify(transferer, 100, false)
		p.notify(transferer, 200, true)
		// The consultation's dialog is ended by the PBX; the REFER's
		// waits for the transferor's BYE.
		p.hangupDetached(oldB, true)
	}()
	p.awaitTransferorBye(oldA)
}

// setHold reports a phone putting its side of the call on hold (a
// sendonly or inactive re-INVITE) or taking it off: Hold and Unhold on
// that side's channel, raised on changes only, each followed, as on
// Asterisk, by MusicOnHoldStart (Class default) or MusicOnHoldStop on the
// other side's channel, the party that hears the music.
func (c *call) setHold(fromCaller, held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase != phaseUp {
		return
	}
	ch, other := &c.callee, &c.caller
	if fromCaller {
		ch, other = &c.caller, &c.callee
	}
	if c.held == nil {
		c.held = map[*Channel]bool{}
	}
	if c.held[ch] == held {
		return
	}
	c.held[ch] = held
	if held {
		c.p.chanEvent("Hold", ch, Field{"MusicClass", "default"})
		c.p.chanEvent("MusicOnHoldStart", other, Field{"Class", "default"})
		return
	}
	c.p.chanEvent("Unhold", ch)
	c.p.chanEvent("MusicOnHoldStop", other)
}

// referUnhold is res_pjsip_refer's unhold of a transferer channel ch of
// c as it takes a REFER: Unhold whether or not the phone held it, and
// MusicOnHoldStop on the other side if it did. Call with c.mu held.
func (c *call) referUnhold(ch *Channel) {
	other := &c.caller
	if ch == &c.caller {
		other = &c.callee
	}
	c.p.chanEvent("Unhold", ch)
	if c.held[ch] {
		c.held[ch] = false
		c.p.chanEvent("MusicOnHoldStop", other)
	}
}

// runTransferred runs c.transferred once. Call with c.mu held.
func (c *call) runTransferred() {
	if f := c.transferred; f != nil {
		c.transferred = nil
		f()
	}
}
