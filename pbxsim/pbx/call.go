package pbx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/rtp"
)

type callPhase int

const (
	phaseDialing callPhase = iota
	phaseUp
	phaseEnded
)

// legRef points from a leg's Call-ID to its call: a two-party call c
// (caller tells which leg) or a queue call q (m is the member leg, nil for
// the caller's).
type legRef struct {
	// spy is a supervisor listening in (barge).
	spy *spy
	// fork is a ring group member's leg while it rings.
	fork *fork
	// gone is the dialog of a leg handed over by a transfer: only its BYE
	// is still answered.
	gone *dialog
	// atx is an attended transfer's target while the transferer consults.
	atx    *atxfer
	c      *call
	caller bool
	q      *queueCall
	m      *queueMember
}

// liveCall is a call in progress that Close must end.
type liveCall interface{ shutdown() }

func (r *legRef) dialog() *dialog {
	if r.gone != nil {
		return r.gone
	}
	if r.fork != nil {
		return r.fork.d
	}
	if r.spy != nil {
		return r.spy.d
	}
	if r.atx != nil {
		return r.atx.dialog()
	}
	if r.q != nil {
		if r.m != nil {
			return r.m.out
		}
		return r.q.in
	}
	if r.caller {
		return r.c.in
	}
	return r.c.out
}

// call is one inbound carrier call: the trunk channel (caller leg, where
// the PBX is the UAS) dialling an extension (callee leg, where the PBX is
// the UAC), bridged once the extension answers. Events are emitted under
// mu, so one call's events keep their order.
type call struct {
	p *PBX
	r route

	callerDev, calleeDev string
	cidNum, cidName      string

	in     *dialog
	inReq  *sip.Request
	inTx   sip.ServerTransaction
	mIn    *relayLeg
	out    *dialog
	outReq *sip.Request
	outTx  sip.ClientTransaction
	mOut   *relayLeg

	acked    chan struct{}
	ackOnce  sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	ended    chan struct{}
	endOnce  sync.Once

	mu            sync.Mutex
	phase         callPhase
	caller        Channel
	callee        Channel
	bridge        Bridge
	start, answer time.Time
	pendingBye    *bool // a BYE that raced the answer: true if from the caller
	managerHangup bool  // the manager's Hangup action ends the call
	transfers     int
	// xferStop ends a blind transfer's dial: true when the transferee
	// hung up (its BYE answered).
	xferStop chan bool
	// xferNotify reports a blind transfer's progress on the transferor's
	// REFER subscription until its final NOTIFY (nil once sent).
	xferNotify *dialog
	// transferred, when set, runs once right after the call's transfer
	// event (a queue call's AgentComplete).
	transferred func()
	losers      []*fork // ring group members that lost to the one answering
	// ivr: the caller was answered by the IVR; its INVITE is done.
	ivr      bool
	ivrDigit chan string
	// feat follows the called party's transfer codes; atx is the
	// consultation of its attended transfer.
	feat features
	atx  *atxfer
	// faxing: the PBX's fax line receives a fax from the caller (faxFile).
	faxing  bool
	faxFile string
	spies   []*spy
	held    map[*Channel]bool
	rec     *recording
}

// onInvite routes a new INVITE: a DID from the carrier starts a call; an
// in-dialog INVITE refreshes a known leg.
func (p *PBX) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	from, to, cid := req.From(), req.To(), req.CallID()
	if from == nil || to == nil || cid == nil {
		_ = p.respond(tx, req, 400, "Bad Request", "", nil)
		return
	}
	if tagOf(to.Params) != "" {
		p.reinvite(req, tx)
		return
	}
	var r route
	if ext, internal := p.ext(from.Address.User); internal {
		// An extension's call: authenticate it as Asterisk does (401
		// challenge), then route on what it dialled.
		if !p.authorize(req, tx, ext) {
			return
		}
		if h := req.GetHeader("Replaces"); h != nil {
			p.replaceLeg(req, tx, ext, h.Value())
			return
		}
		if target, ok := strings.CutPrefix(req.Recipient.User, BargePrefix); ok && target != "" {
			if _, isExt := p.ext(target); isExt {
				p.barge(req, tx, ext, target)
				return
			}
		}
		var ok bool
		if r, ok = p.internalRoute(ext, req.Recipient.User); !ok {
			p.log.Info("extension dialled unknown number", "ext", ext.Number, "number", req.Recipient.User)
			_ = p.respond(tx, req, 404, "Not Found", sip.GenerateTagN(16), nil)
			return
		}
	} else {
		if qs, isQueue := p.queueDIDs[req.Recipient.User]; isQueue {
			p.startQueueCall(req, tx, qs)
			return
		}
		if m, isIVR := p.ivrs[req.Recipient.User]; isIVR {
			r = p.ivrRoute(m, from.Address.User, from.DisplayName)
		} else if f, isFax := p.faxes[req.Recipient.User]; isFax {
			r = p.faxRoute(f, from.Address.User, from.DisplayName)
		} else if g, isGroup := p.groups[req.Recipient.User]; isGroup {
			r = p.groupRoute(g, from.Address.User, from.DisplayName)
		} else if did, ok := p.dids[req.Recipient.User]; ok {
			r = p.inboundRoute(did, from.Address.User, from.DisplayName)
		} else {
			p.log.Info("invite for unknown number", "number", req.Recipient.User)
			_ = p.respond(tx, req, 404, "Not Found", sip.GenerateTagN(16), nil)
			return
		}
	}
	var offer *rtp.Media
	if len(req.Body()) > 0 {
		m, err := rtp.ParseSDP(req.Body())
		if err != nil || !m.Offers(rtp.PayloadTypePCMU) {
			_ = p.respond(tx, req, 488, "Not Acceptable Here", sip.GenerateTagN(16), nil)
			return
		}
		offer = &m
	}
	c := &call{
		p:         p,
		r:         r,
		callerDev: device(r.callerEP),
		calleeDev: device(r.calleeEP),
		acked:     make(chan struct{}),
		stop:      make(chan struct{}),
		ended:     make(chan struct{}),
	}
	c.inReq, c.inTx = req, tx
	c.cidNum, c.cidName = from.Address.User, from.DisplayName
	target := from.Address
	if ct := req.Contact(); ct != nil {
		target = ct.Address
	}
	c.in = &dialog{
		callID:     cid.Value(),
		local:      *to.Address.Clone(),
		localTag:   sip.GenerateTagN(16),
		remote:     *from.Address.Clone(),
		remoteName: from.DisplayName,
		remoteTag:  tagOf(from.Params),
		target:     *target.Clone(),
		transport:  strings.ToUpper(req.Transport()),
		dest:       requestDest(req),
	}

	if !p.admit(tx, req, c.in, &legRef{c: c, caller: true}, c) {
		return
	}
	defer p.calls.Done()

	var err error
	if c.mIn, err = newRelayLeg(p.host); err != nil {
		p.log.Error("media for caller", "error", err)
		_ = p.respond(tx, req, 500, "Internal Server Error", c.in.localTag, nil)
		c.release()
		return
	}
	if offer != nil {
		c.mIn.setRemote(offer.Addr)
	}
	mIn := c.mIn
	mIn.onDigit(func(d string) { c.digit(mIn, d) })
	if m, isIVR := p.ivrs[c.r.exten]; isIVR && c.r.callerCtx == "from-trunk" && c.r.calleeEP == "" {
		c.runIVR(m)
		return
	}
	if _, isFax := p.faxes[c.r.exten]; isFax && c.r.callerCtx == "from-trunk" && c.r.calleeEP == "" {
		c.runFax()
		return
	}
	if r.group != nil {
		c.runGroup()
		return
	}
	c.run()
}

// dialData is the Dial application's argument, as the capture's dialplan.
func (c *call) dialData() string { return c.r.dialData() }

func (c *call) newChannel(endpoint string, now time.Time) Channel {
	seq := c.p.nextSeq()
	return Channel{
		Name:     channelName(endpoint, seq),
		Language: "en",
		Priority: 1,
		Uniqueid: fmt.Sprintf("%d.%d", now.Unix(), seq),
	}
}

// enterDialplan creates the caller's channel where the route starts and
// plays the route's first step (NoOp), as every inbound route begins. The
// caller holds c.mu.
func (c *call) enterDialplan() {
	p, r := c.p, &c.r
	c.start = p.now()
	c.caller = c.newChannel(r.callerEP, c.start)
	c.caller.State = StateRing
	c.caller.CallerIDNum, c.caller.CallerIDName = c.cidNum, c.cidName
	c.caller.Context, c.caller.Exten = r.callerCtx, r.exten
	c.caller.Linkedid = c.caller.Uniqueid
	p.ladderLink(c.in.callID, c.caller.Linkedid)
	p.devSet(c.callerDev, &c.caller, StateRing)
	p.chanEvent("Newchannel", &c.caller)
	p.newexten(&c.caller, "NoOp", r.noop)
	c.caller.Priority = 2
}

// run plays the dialplan: NoOp, then Dial of the route's callee.
func (c *call) run() {
	c.mu.Lock()
	c.enterDialplan()
	c.mu.Unlock()
	c.dial()
}

// dial plays Dial of the route's callee from the caller channel (at its
// current context, extension and priority).
func (c *call) dial() {
	p, r := c.p, &c.r
	c.mu.Lock()
	p.newexten(&c.caller, "Dial", c.dialData())

	// app_dial requests the callee channel and announces the dial.
	c.callee = c.newChannel(r.calleeEP, p.now())
	c.callee.State = StateDown
	c.callee.CallerIDNum, c.callee.CallerIDName = r.calleeNum, r.calleeName
	c.callee.Context, c.callee.Exten = "from-internal", "s"
	if r.kind == routeOutbound {
		c.callee.Context = "from-trunk"
	}
	c.callee.Linkedid = c.caller.Linkedid
	p.chanEvent("Newchannel", &c.callee)
	c.callee.ConnectedLineNum, c.callee.ConnectedLineName = c.cidNum, c.cidName
	c.callee.Exten = r.exten
	if r.kind == routeOutbound {
		// A trunk channel has no caller id of its own: app_dial gives it
		// the number dialled.
		c.callee.CallerIDNum = r.exten
		p.newexten(&c.callee, "AppDial", "(Outgoing Line)")
		p.chanEvent("NewCallerid", &c.callee, Field{"CID-CallingPres", "0 (Presentation Allowed, Not Screened)"})
	} else {
		p.newexten(&c.callee, "AppDial", "(Outgoing Line)")
	}
	p.chanEvent("NewConnectedLine", &c.callee)
	p.dialEvent("DialBegin", &c.caller, &c.callee, Field{"DialString", r.dialString})
	c.caller.ConnectedLineNum, c.caller.ConnectedLineName = c.callee.CallerIDNum, c.callee.CallerIDName
	p.chanEvent("NewConnectedLine", &c.caller)
	c.mu.Unlock()
	c.toCaller(100)

	b := p.calleeTarget(r)
	if b == nil {
		p.log.Info("callee not registered", "endpoint", r.calleeEP)
		c.dialFailed("CHANUNAVAIL", causeSubscriberAbs, causeSubscriberAbs, 480)
		return
	}
	if err := c.sendInvite(b); err != nil {
		p.log.Info("invite to callee failed", "endpoint", r.calleeEP, "error", err)
		c.dialFailed("CHANUNAVAIL", causeSubscriberAbs, causeSubscriberAbs, 480)
		return
	}
	c.dialLoop()
}

// sendInvite starts the callee leg: an INVITE to the registered contact
// with the caller's identity and an SDP offer on the PBX's own RTP port.
func (c *call) sendInvite(b *binding) error {
	p := c.p
	var err error
	if p.cfg.MediaPortPerCall && c.mIn != nil {
		c.mOut, err = c.mIn.share(p.host)
	} else {
		c.mOut, err = newRelayLeg(p.host)
	}
	if err != nil {
		return err
	}
	mOut := c.mOut
	mOut.onDigit(func(d string) { c.digit(mOut, d) })
	c.out = &dialog{
		callID:    uuid.NewString(),
		local:     sip.Uri{Scheme: "sip", User: c.cidNum, Host: p.host, Port: p.port},
		localName: c.cidName,
		localTag:  sip.GenerateTagN(16),
		remote:    sip.Uri{Scheme: "sip", User: c.r.reqUser, Host: p.host, Port: p.port},
		target:    *b.contact.Clone(),
		transport: b.transport,
		dest:      b.dest,
	}
	if c.r.kind == routeOutbound {
		c.out.remote.Host, c.out.remote.Port = b.contact.Host, b.contact.Port
	}
	req := p.newRequest(c.out, sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(rtp.BuildSDP(c.mOut.addr(), rand.Uint64N(1<<31), "pbxsim"))
	if p.ladder != nil {
		c.mu.Lock()
		p.ladderLink(c.out.callID, c.caller.Linkedid)
		c.mu.Unlock()
	}
	p.mu.Lock()
	p.legs[c.out.callID] = &legRef{c: c, caller: false}
	p.mu.Unlock()
	tx, err := p.client(b.transport).TransactionRequest(context.Background(), req)
	if err != nil {
		return fmt.Errorf("send invite to %s: %w", b.dest, err)
	}
	c.outReq, c.outTx = req, tx
	return nil
}

// cancelDrain bounds how long a given-up callee leg is followed to its
// final response after CANCEL.
const cancelDrain = 5 * time.Second

// legReport is how followLeg tells the dialling side about a leg.
type legReport struct {
	ringing  func(res *sip.Response) // the first provisional
	answered func(res *sip.Response) // a 2xx, already ACKed
	failed   func(code int)          // a final failure; 408 when the transaction ended
}

// followLeg follows an INVITE the PBX sent to one of several devices it
// rings (ring group member, queue agent) to its final response. Once
// cancel yields a reason the leg is given up and nothing more is reported:
// it is CANCELled after a provisional (RFC 3261 section 9.1), a 2xx that
// crossed the CANCEL is ACKed and BYEd, and after cancelDrain it is left.
func (p *PBX) followLeg(tx sip.ClientTransaction, req *sip.Request, d *dialog, cancel <-chan string, r legReport) {
	provisional, cancelled := false, false
	reason := ""
	var drain <-chan time.Time
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.StatusCode == 100:
			case res.StatusCode < 200:
				if !provisional {
					provisional = true
					if cancelled {
						go p.cancelInviteReason(req, reason)
					} else {
						r.ringing(res)
					}
				}
			case res.StatusCode < 300:
				p.ackAnswer(d, tx, res)
				if cancelled {
					go p.bye(d)
					return
				}
				r.answered(res)
				return
			default:
				if !cancelled {
					r.failed(res.StatusCode)
				}
				return
			}
		case <-tx.Done():
			if !cancelled {
				r.failed(408)
			}
			return
		case reason = <-cancel:
			cancelled, cancel = true, nil
			drain = time.After(cancelDrain)
			if provisional {
				go p.cancelInviteReason(req, reason)
			}
		case <-drain:
			return
		}
	}
}

// dialLoop waits for the callee's answer, the ring timeout, or the caller's
// CANCEL. Once the call is decided against the callee, it keeps reading the
// callee's responses to CANCEL (after a provisional, RFC 3261 section 9.1)
// or to ACK and BYE a 2xx that crossed the CANCEL.
func (c *call) dialLoop() {
	p := c.p
	timer := time.NewTimer(c.r.ringTimeout)
	defer timer.Stop()
	provisional, ending := false, false
	var drain <-chan time.Time
	inDone := c.callerCancel()
	stop := c.stop
	giveUp := func(provisional bool) {
		ending = true
		drain = time.After(cancelDrain)
		inDone, stop = nil, nil
		if provisional {
			go p.cancelInvite(c.outReq)
		}
	}
	for {
		select {
		case res := <-c.outTx.Responses():
			switch {
			case res.StatusCode == 100:
			case res.StatusCode < 200:
				first := !provisional
				provisional = true
				if ending {
					if first {
						go p.cancelInvite(c.outReq)
					}
				} else if first {
					c.ringing()
				}
			case res.StatusCode < 300:
				c.confirmCallee(res)
				if ending {
					go p.bye(c.out)
					return
				}
				if !provisional {
					// sipgo hands responses up concurrently, so a 180
					// sent just before the 200 can arrive after it and be
					// dropped. Ring first so the call's events and the
					// caller's 180 stay the same whatever the timing.
					c.ringing()
				}
				c.answered(res)
				return
			default:
				if !ending {
					c.calleeFailed(res.StatusCode)
				}
				return
			}
		case <-c.outTx.Done():
			if !ending {
				c.calleeFailed(408)
			}
			return
		case <-inDone:
			c.callerCancelled()
			giveUp(provisional)
		case <-timer.C:
			if ending {
				continue
			}
			c.dialFailed("NOANSWER", causeNormalClearing, causeUnknown, 480)
			giveUp(provisional)
		case <-stop:
			c.aborted()
			giveUp(provisional)
		case <-drain:
			return
		}
	}
}

// confirmCallee takes the callee's 2xx: dialog tags and target, then ACK
// (and ACK again for each retransmitted 2xx).
func (c *call) confirmCallee(res *sip.Response) {
	p := c.p
	c.out.mu.Lock()
	if to := res.To(); to != nil {
		c.out.remoteTag = tagOf(to.Params)
	}
	if ct := res.Contact(); ct != nil {
		c.out.target = *ct.Address.Clone()
	}
	c.out.mu.Unlock()
	ack := p.newRequest(c.out, sip.ACK)
	tmpl := ack.Clone()
	cli := p.client(c.out.transport)
	if err := cli.WriteRequest(ack); err != nil {
		p.log.Debug("ack failed", "error", err)
	}
	c.outTx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			_ = cli.WriteRequest(tmpl.Clone())
		}
	})
}

// calleeRinging reports the dialled channel alerting, as Asterisk does:
// Newstate Ringing, DialState RINGING and the device's new state. The
// caller holds c.mu.
func (c *call) calleeRinging() {
	p := c.p
	c.callee.State = StateRinging
	p.devSet(c.calleeDev, &c.callee, StateRinging)
	p.chanEvent("Newstate", &c.callee)
	p.dialEvent("DialState", &c.caller, &c.callee, Field{"DialStatus", "RINGING"})
	p.devCheck(c.calleeDev)
}

// ringing relays the callee's first provisional response as 180.
func (c *call) ringing() {
	p := c.p
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase != phaseDialing {
		return
	}
	c.calleeRinging()
	p.devCheck(c.callerDev)
	c.toCaller(180)
}

// answered bridges the call: the callee answered, so the caller is
// answered too and both enter a basic bridge.
func (c *call) answered(res *sip.Response) {
	p := c.p
	if m, err := rtp.ParseSDP(res.Body()); err == nil {
		c.mOut.setRemote(m.Addr)
	}
	c.mu.Lock()
	if c.phase != phaseDialing {
		c.mu.Unlock()
		go p.bye(c.out)
		return
	}
	c.phase = phaseUp
	c.answer = p.now()
	c.callee.State = StateUp
	p.devSet(c.calleeDev, &c.callee, StateUp)
	p.chanEvent("Newstate", &c.callee)
	p.devCheck(c.calleeDev)
	c.startRecording(&c.callee)
	// The U(sub-record) subroutine returns to the callee's from-internal
	// context with an empty extension, as the capture shows.
	c.callee.Exten = ""
	p.dialEvent("DialEnd", &c.caller, &c.callee, Field{"DialStatus", "ANSWER"})
	c.cancelLosers()
	c.caller.State = StateUp
	p.devSet(c.callerDev, &c.caller, StateUp)
	p.chanEvent("Newstate", &c.caller)
	c.bridge = Bridge{Uniqueid: uuid.NewString(), Type: "basic", Technology: "simple_bridge", VideoSource: "none"}
	p.bridgeEvent("BridgeCreate", &c.bridge, nil)
	p.newexten(&c.callee, "AppDial", "(Outgoing Line)")
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeEnter", &c.bridge, &c.callee)
	c.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &c.bridge, &c.caller)
	pending := c.pendingBye
	c.mu.Unlock()

	bridgeMedia(c.mIn, c.mOut)
	if c.ivr {
		// The caller was answered by the IVR before.
		if pending != nil {
			c.hangup(*pending, !*pending, *pending)
		}
		return
	}
	sdp := rtp.BuildSDP(c.mIn.addr(), rand.Uint64N(1<<31), "pbxsim")
	ok := sip.NewResponseFromRequest(c.inReq, 200, "OK", sdp)
	ok.To().Params.Add("tag", c.in.localTag)
	ok.AppendHeader(p.contact(c.inReq.Transport()))
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := c.inTx.Respond(ok); err != nil {
		p.log.Info("answer to caller failed", "error", err)
		c.hangup(false, true, true)
		return
	}
	if pending != nil {
		c.hangup(*pending, !*pending, *pending)
		return
	}
	c.waitAck(ok)
}

// waitAck retransmits the caller's 2xx until the ACK (RFC 3261 section
// 13.3.1.4; the transaction layer leaves this to the UA).
func (c *call) waitAck(ok *sip.Response) {
	if strings.EqualFold(c.inReq.Transport(), "TCP") {
		return
	}
	interval := sip.T1
	deadline := time.After(64 * sip.T1)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-c.acked:
			return
		case <-c.ended:
			return
		case <-deadline:
			c.p.log.Info("no ACK from caller", "callid", c.in.callID)
			c.hangup(false, true, true)
			return
		case <-t.C:
			_ = c.inTx.Respond(ok)
			interval = min(2*interval, sip.T2)
			t.Reset(interval)
		}
	}
}

// hangup ends a bridged call. byCaller says which side asked (its BYE was
// already answered); byeCaller/byeCallee say which legs the PBX must BYE.
func (c *call) hangup(byCaller, byeCaller, byeCallee bool) {
	c.hangupThen(byCaller, byeCaller, byeCallee, nil)
}

// hangupThen is hangup calling emitted, when set, once the call's hangup
// events are out (before the PBX's own BYEs), or once it did nothing.
func (c *call) hangupThen(byCaller, byeCaller, byeCallee bool, emitted func()) {
	out := func() {}
	if emitted != nil {
		out = sync.OnceFunc(emitted)
	}
	defer out()
	p := c.p
	if c.atxHangup(byCaller) {
		return
	}
	c.mu.Lock()
	if c.phase == phaseDialing && (c.ivrDigit != nil || c.faxing) {
		// The caller hung up in the menu, or its fax is through.
		c.mu.Unlock()
		select {
		case c.xferStop <- byCaller:
		default:
		}
		return
	}
	if c.phase == phaseDialing {
		c.pendingBye = &byCaller
		c.mu.Unlock()
		return
	}
	if c.phase == phaseTransferring {
		// Only the transferee is left; its hangup ends the transfer.
		c.mu.Unlock()
		select {
		case c.xferStop <- byCaller:
		default:
		}
		return
	}
	if c.phase != phaseUp {
		c.mu.Unlock()
		return
	}
	c.phase = phaseEnded
	c.featureStop()
	c.stopRecording()
	for _, s := range c.spies {
		s.stop(true)
	}
	c.spies = nil
	first, second := &c.caller, &c.callee
	if !byCaller {
		first, second = second, first
	}
	end := p.now()
	rec := c.cdr("Dial", c.dialData(), c.callee.Name, c.start, c.answer, end, "ANSWERED")
	// An extension that places a call and hangs up has its Cdr finished
	// as it leaves the bridge, before the far side is torn down
	// (capture 07); a trunk caller's Cdr follows both Hangups (capture 01).
	early := byCaller && c.r.callerCtx == "from-internal"
	// A phone's BYE is a HangupRequest; the manager's Hangup action a
	// SoftHangupRequest (ast_channel_softhangup_withcause_locked).
	req := "HangupRequest"
	if c.managerHangup {
		req = "SoftHangupRequest"
	}
	p.causeEvent(req, first, causeNormalClearing)
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c.bridge, first)
	if early {
		p.cdrEvent(rec)
	}
	p.causeEvent("SoftHangupRequest", first, causeNormalClearing)
	c.bridge.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &c.bridge, second)
	p.bridgeEvent("BridgeDestroy", &c.bridge, nil)
	if early {
		p.hangupEvent(&c.caller, causeNormalClearing)
		p.hangupEvent(&c.callee, causeNormalClearing)
	} else {
		p.hangupEvent(&c.callee, causeNormalClearing)
		p.hangupEvent(&c.caller, causeNormalClearing)
		p.cdrEvent(rec)
	}
	p.devSet(c.calleeDev, &c.callee, StateDown)
	p.devSet(c.callerDev, &c.caller, StateDown)
	c.devEnd()
	c.mu.Unlock()
	out()

	var wg sync.WaitGroup
	if byeCaller {
		wg.Add(1)
		go func() { defer wg.Done(); p.bye(c.in) }()
	}
	if byeCallee {
		wg.Add(1)
		go func() { defer wg.Done(); p.bye(c.out) }()
	}
	wg.Wait()
	if c.outTx != nil {
		c.outTx.Terminate()
	}
	c.release()
}

func (c *call) cdr(app, data, dstChannel string, start, answer, end time.Time, disposition string) cdr {
	return cdr{
		src: c.cidNum, dst: c.r.exten, dstContext: c.r.callerCtx,
		callerID: fmt.Sprintf("\"%s\" <%s>", c.cidName, c.cidNum),
		channel:  c.caller.Name, dstChannel: dstChannel,
		lastApp: app, lastData: data,
		start: start, answer: answer, end: end,
		disposition: disposition, uniqueid: c.caller.Uniqueid,
	}
}

// calleeFailed handles a final failure from the extension (busy, decline,
// error, or no response at all).
func (c *call) calleeFailed(code int) {
	cause := sipToCause(code)
	c.dialFailed(dialStatus(code), cause, cause, code)
}

// dialFailed ends an unanswered call whose Dial returned status: the
// dialplan goes on to NoOp(DIALSTATUS=...) and Hangup(), and the caller
// gets sipCode (the callee's own failure, or 480).
func (c *call) dialFailed(status string, callerCause, calleeCause, sipCode int) {
	p := c.p
	c.mu.Lock()
	if c.phase != phaseDialing {
		c.mu.Unlock()
		return
	}
	c.phase = phaseEnded
	end := p.now()
	p.dialEvent("DialEnd", &c.caller, &c.callee, Field{"DialStatus", status})
	c.caller.Priority = 3
	p.newexten(&c.caller, "NoOp", "DIALSTATUS="+status)
	c.caller.Priority = 4
	p.newexten(&c.caller, "Hangup", "")
	p.causeEvent("SoftHangupRequest", &c.caller, callerCause)
	p.hangupEvent(&c.callee, calleeCause)
	p.devSet(c.calleeDev, &c.callee, StateDown)
	p.hangupEvent(&c.caller, callerCause)
	p.devSet(c.callerDev, &c.caller, StateDown)
	c.devEnd()
	disp := cdrDisposition(status)
	p.cdrEvent(c.cdr("Dial", c.dialData(), c.callee.Name, c.start, time.Time{}, end, disp))
	p.cdrEvent(c.cdr("Hangup", "", "", end, time.Time{}, end, disp))
	c.mu.Unlock()
	if sipCode == 480 || sipCode < 400 {
		sipCode = 480
	}
	c.toCaller(sipCode)
	c.release()
}

// callerCancelled ends a ringing call the caller cancelled (the 487 was
// sent by the transaction layer).
func (c *call) callerCancelled() {
	c.cancelled(causeInterworking, 0)
}

// aborted ends a ringing call because the PBX is closing.
func (c *call) aborted() {
	c.cancelled(causeNormalClearing, 503)
}

func (c *call) cancelled(callerCause, sipCode int) {
	p := c.p
	c.mu.Lock()
	if c.phase != phaseDialing {
		c.mu.Unlock()
		return
	}
	c.phase = phaseEnded
	end := p.now()
	p.causeEvent("HangupRequest", &c.caller, callerCause)
	p.dialEvent("DialEnd", &c.caller, &c.callee, Field{"DialStatus", "CANCEL"})
	p.hangupEvent(&c.callee, causeUnknown)
	p.devSet(c.calleeDev, &c.callee, StateDown)
	p.hangupEvent(&c.caller, callerCause)
	p.devSet(c.callerDev, &c.caller, StateDown)
	c.devEnd()
	p.cdrEvent(c.cdr("Dial", c.dialData(), c.callee.Name, c.start, time.Time{}, end, "NO ANSWER"))
	c.mu.Unlock()
	if sipCode != 0 {
		_ = p.respond(c.inTx, c.inReq, sipCode, sipReason(sipCode), c.in.localTag, nil)
	}
	c.release()
}

// shutdown ends the call for Close: CANCEL while ringing, BYE both legs
// when bridged. It returns when the call is released.
func (c *call) shutdown() {
	c.mu.Lock()
	phase := c.phase
	c.mu.Unlock()
	switch phase {
	case phaseDialing:
		c.stopOnce.Do(func() { close(c.stop) })
	case phaseUp:
		c.hangup(true, true, true)
	}
	select {
	case <-c.ended:
	case <-time.After(3 * time.Second):
	}
}

// devEnd reports both devices' states after the call: extensions before
// the trunk, as the captures show whichever side placed the call.
func (c *call) devEnd() {
	first, second := c.calleeDev, c.callerDev
	if c.r.kind == routeOutbound {
		first, second = second, first
	}
	c.p.devCheck(first)
	c.p.devCheck(second)
}

// release forgets the call's legs and frees its media ports.
func (c *call) release() {
	p := c.p
	p.mu.Lock()
	delete(p.legs, c.in.callID)
	if c.out != nil {
		delete(p.legs, c.out.callID)
	}
	delete(p.live, c)
	p.mu.Unlock()
	c.mIn.close()
	c.mOut.close()
	c.mu.Lock()
	c.stopRecording()
	c.mu.Unlock()
	c.endOnce.Do(func() { close(c.ended) })
}

// toCaller answers the caller's INVITE with code, or, for a caller the
// IVR answered already, hangs it up (BYE) on a failure.
func (c *call) toCaller(code int) {
	if c.ivr {
		if code >= 300 {
			c.p.bye(c.in)
		}
		return
	}
	localTag := c.in.localTag
	if code == 100 {
		localTag = ""
	}
	_ = c.p.respond(c.inTx, c.inReq, code, sipReason(code), localTag, nil)
}

// callerCancel is closed when the caller cancels its INVITE; never for a
// caller the IVR answered (its hangup is a BYE).
func (c *call) callerCancel() <-chan struct{} {
	if c.ivr {
		return nil
	}
	return cancelSignal(c.inTx)
}

// admit registers a new inbound call under its first leg's Call-ID. While
// the PBX closes it answers 503, and 482 for a Call-ID it already has (a
// loop); then it returns false. On true the caller must call p.calls.Done
// when the call is over.
func (p *PBX) admit(tx sip.ServerTransaction, req *sip.Request, in *dialog, ref *legRef, lc liveCall) bool {
	p.mu.Lock()
	select {
	case <-p.closing:
		p.mu.Unlock()
		_ = p.respond(tx, req, 503, "Service Unavailable", in.localTag, nil)
		return false
	default:
	}
	if _, dup := p.legs[in.callID]; dup {
		p.mu.Unlock()
		_ = p.respond(tx, req, 482, "Loop Detected", in.localTag, nil)
		return false
	}
	p.legs[in.callID] = ref
	p.live[lc] = struct{}{}
	p.calls.Add(1)
	p.mu.Unlock()
	return true
}
