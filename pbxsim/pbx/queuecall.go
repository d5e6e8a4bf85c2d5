package pbx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// completedElsewhere is the Reason a ring-all sends with the CANCEL to the
// members that lost the race (RFC 3326), so that phones do not list the
// call as missed.
const completedElsewhere = `SIP;cause=200;text="Call completed elsewhere"`

// queueCall is one carrier call answered by the PBX and waiting in a
// queue: the caller leg (the PBX is its UAS) and one leg per member rung
// (the PBX is the UAC). One goroutine (run) owns the call's state and
// emits its events; member legs and SIP handlers post to it.
type queueCall struct {
	p  *PBX
	qs *queueState
	q  Queue

	cidNum, cidName string
	callerDev       string

	in    *dialog
	inReq *sip.Request
	inTx  sip.ServerTransaction
	mIn   *relayLeg

	acked   chan struct{}
	ackOnce sync.Once
	ev      chan queueEv
	ended   chan struct{}
	endOnce sync.Once

	caller   Channel
	start    time.Time
	joined   time.Time
	attempts []*queueMember // every member leg, for the Cdrs
	ringing  []*queueMember // the current round
	winner   *queueMember
	bridge   Bridge
	answered time.Time
	rec      *recording
	// preAnswered: an IVR answered the caller (channel ivrCaller's
	// device entry moves to this call) before the queue.
	preAnswered bool
	ivrCaller   *Channel
}

// queueMember is one ring of one member: its channel and SIP leg.
type queueMember struct {
	m      QueueMember
	ch     Channel
	dev    string
	out    *dialog
	req    *sip.Request
	tx     sip.ClientTransaction
	media  *relayLeg
	cancel chan string
	once   sync.Once
	rang   time.Time
	ended  bool
	// provisional: the phone has sent 180/183; its ringing is reported
	// once every member rung before it in the round has been.
	provisional bool
}

type queueEvKind int

const (
	qeRinging queueEvKind = iota
	qeAnswered
	qeFailed
	qeBye
	qeShutdown
	qeDigit
	qeRefer
)

type queueEv struct {
	kind  queueEvKind
	m     *queueMember // nil: the caller
	res   *sip.Response
	code  int
	digit string
	// REFER from a leg of the call (qeRefer).
	req *sip.Request
	tx  sip.ServerTransaction
}

func (qc *queueCall) post(e queueEv) {
	select {
	case qc.ev <- e:
	case <-qc.ended:
	}
}

// startQueueCall takes a new carrier INVITE for a queue's DID.
func (p *PBX) startQueueCall(req *sip.Request, tx sip.ServerTransaction, qs *queueState) {
	from, to, cid := req.From(), req.To(), req.CallID()
	var offer *rtp.Media
	if len(req.Body()) > 0 {
		m, err := rtp.ParseSDP(req.Body())
		if err != nil || !m.Offers(rtp.PayloadTypePCMU) {
			_ = p.respond(tx, req, 488, "Not Acceptable Here", sip.GenerateTagN(16), nil)
			return
		}
		offer = &m
	}
	qs.mu.Lock()
	q := qs.cfg
	qs.mu.Unlock()
	qc := &queueCall{
		p: p, qs: qs, q: q,
		cidNum: from.Address.User, cidName: from.DisplayName,
		callerDev: device(p.cfg.TrunkEndpoint),
		inReq:     req, inTx: tx,
		acked: make(chan struct{}), ev: make(chan queueEv, 16), ended: make(chan struct{}),
	}
	target := from.Address
	if ct := req.Contact(); ct != nil {
		target = ct.Address
	}
	qc.in = &dialog{
		callID: cid.Value(), local: *to.Address.Clone(), localTag: sip.GenerateTagN(16),
		remote: *from.Address.Clone(), remoteName: from.DisplayName, remoteTag: tagOf(from.Params),
		target: *target.Clone(), transport: strings.ToUpper(req.Transport()), dest: requestDest(req),
	}
	if !p.admit(tx, req, qc.in, &legRef{q: qc}, qc) {
		return
	}
	defer p.calls.Done()
	var err error
	if qc.mIn, err = newRelayLeg(p.host); err != nil {
		_ = p.respond(tx, req, 500, "Internal Server Error", qc.in.localTag, nil)
		qc.release()
		return
	}
	if offer != nil {
		qc.mIn.setRemote(offer.Addr)
	}
	qc.mIn.onDigit(func(d string) { qc.post(queueEv{kind: qeDigit, digit: d}) })
	qc.run()
}

// run plays Answer() → Queue(): the caller is answered, joins the queue,
// and members are rung round after round until one answers, the caller
// hangs up, or the queue times out.
func (qc *queueCall) run() {
	p := qc.p
	if qc.preAnswered {
		// The IVR answered the caller and hands it over at its place
		// in the dialplan.
		p.devMove(qc.callerDev, qc.ivrCaller, &qc.caller)
		p.newexten(&qc.caller, "Queue", qc.q.queueData())
	} else {
		qc.start = p.now()
		qc.caller = Channel{Language: "en", Priority: 1}
		seq := p.nextSeq()
		qc.caller.Name = channelName(p.cfg.TrunkEndpoint, seq)
		qc.caller.Uniqueid = fmt.Sprintf("%d.%d", qc.start.Unix(), seq)
		qc.caller.Linkedid = qc.caller.Uniqueid
		p.ladderLink(qc.in.callID, qc.caller.Linkedid)
		qc.caller.State = StateRing
		qc.caller.CallerIDNum, qc.caller.CallerIDName = qc.cidNum, qc.cidName
		qc.caller.Context, qc.caller.Exten = "from-trunk", qc.q.DID
		p.devSet(qc.callerDev, &qc.caller, StateRing)
		p.chanEvent("Newchannel", &qc.caller)
		p.newexten(&qc.caller, "NoOp", fmt.Sprintf("Inbound queue DID %s from \"%s\" <%s>", qc.q.DID, qc.cidName, qc.cidNum))
		qc.caller.Priority = 2
		p.newexten(&qc.caller, "Answer", "")
		qc.caller.State = StateUp
		p.chanEvent("Newstate", &qc.caller)
		p.devSet(qc.callerDev, &qc.caller, StateUp)
		p.devCheck(qc.callerDev)
		qc.answerCaller()
		qc.caller.Priority = 3
		p.newexten(&qc.caller, "Queue", qc.q.queueData())
	}
	qc.joined = p.now()
	qc.qs.mu.Lock()
	qc.qs.callers++
	pos := qc.qs.callers
	qc.qs.waiting = append(qc.qs.waiting, waitingCaller{qc: qc, ch: qc.caller, joined: qc.joined})
	qc.qs.mu.Unlock()
	p.chanEvent("QueueCallerJoin", &qc.caller, Field{"Queue", qc.q.Number}, Field{"Position", strconv.Itoa(pos)}, Field{"Count", strconv.Itoa(pos)})

	deadline := time.NewTimer(qc.q.Timeout)
	defer deadline.Stop()
	var roundTimer, retryTimer <-chan time.Time
	startRound := func() {
		members := qc.qs.pick()
		qc.ringing = nil
		for _, m := range members {
			qc.ring(m)
		}
		if len(qc.ringing) == 0 {
			retryTimer = time.After(qc.q.Retry)
			return
		}
		roundTimer = time.After(qc.q.MemberTimeout)
	}
	startRound()
	for {
		select {
		case e := <-qc.ev:
			switch e.kind {
			case qeRinging:
				e.m.provisional = true
				qc.flushRinging()
			case qeAnswered:
				if e.m.ended || qc.winner != nil {
					go p.bye(e.m.out)
					continue
				}
				qc.connect(e.m, e.res)
				qc.talk(deadline)
				return
			case qeFailed:
				if e.m.ended {
					continue
				}
				qc.memberFailed(e.m, e.code)
				qc.flushRinging()
				if qc.allEnded() {
					roundTimer = nil
					retryTimer = time.After(qc.q.Retry)
				}
			case qeBye, qeShutdown:
				qc.abandon(e.kind == qeShutdown)
				return
			case qeDigit:
				qc.callerDigit(e)
			case qeRefer:
				_ = p.respond(e.tx, e.req, 603, sipReason(603), "", nil)
			}
		case <-roundTimer:
			roundTimer = nil
			qc.ringNoAnswer()
			retryTimer = time.After(qc.q.Retry)
		case <-retryTimer:
			retryTimer = nil
			startRound()
		case <-deadline.C:
			qc.timeout()
			return
		}
	}
}

// answerCaller answers the caller's INVITE (Answer()) and keeps sending
// the 2xx until the ACK on UDP.
func (qc *queueCall) answerCaller() {
	p := qc.p
	sdp := rtp.BuildSDP(qc.mIn.addr(), rand.Uint64N(1<<31), "pbxsim")
	ok := sip.NewResponseFromRequest(qc.inReq, 200, "OK", sdp)
	ok.To().Params.Add("tag", qc.in.localTag)
	ok.AppendHeader(p.contact(qc.inReq.Transport()))
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := qc.inTx.Respond(ok); err != nil {
		p.log.Info("answer to queue caller failed", "error", err)
	}
	if strings.EqualFold(qc.inReq.Transport(), "TCP") {
		return
	}
	go func() {
		interval := sip.T1
		t := time.NewTimer(interval)
		defer t.Stop()
		for range 7 {
			select {
			case <-qc.acked:
				return
			case <-qc.ended:
				return
			case <-t.C:
				_ = qc.inTx.Respond(ok)
				interval = min(2*interval, sip.T2)
				t.Reset(interval)
			}
		}
	}()
}

// ring creates a member's channel and sends it the INVITE.
func (qc *queueCall) ring(m QueueMember) {
	p := qc.p
	b := p.lookupBinding(m.Ext)
	if b == nil {
		return
	}
	now := p.now()
	seq := p.nextSeq()
	qm := &queueMember{m: m, dev: device(m.Ext), cancel: make(chan string, 1), rang: now}
	qm.ch = Channel{
		Name: channelName(m.Ext, seq), Language: "en", Priority: 1, State: StateDown,
		Uniqueid: fmt.Sprintf("%d.%d", now.Unix(), seq), Linkedid: qc.caller.Linkedid,
		CallerIDNum: m.Ext, CallerIDName: p.extName(m.Ext), Context: "from-internal", Exten: "s",
	}
	p.chanEvent("Newchannel", &qm.ch)
	called := qm.ch
	called.ConnectedLineNum, called.ConnectedLineName = qc.cidNum, qc.cidName
	called.Exten = qc.q.DID
	p.dialEvent("AgentCalled", &qc.caller, &called, qc.agentFields(qm)...)
	p.dialEvent("DialBegin", &qc.caller, &qm.ch, Field{"DialString", device(m.Ext)})
	qm.ch = called
	qc.attempts = append(qc.attempts, qm)
	qc.ringing = append(qc.ringing, qm)

	var err error
	if qm.media, err = newRelayLeg(p.host); err != nil {
		qc.memberFailed(qm, 500)
		return
	}
	qm.out = &dialog{
		callID: uuid.NewString(),
		local:  sip.Uri{Scheme: "sip", User: qc.cidNum, Host: p.host, Port: p.port}, localName: qc.cidName,
		localTag: sip.GenerateTagN(16),
		remote:   sip.Uri{Scheme: "sip", User: m.Ext, Host: p.host, Port: p.port},
		target:   *b.contact.Clone(), transport: b.transport, dest: b.dest,
	}
	req := p.newRequest(qm.out, sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(rtp.BuildSDP(qm.media.addr(), rand.Uint64N(1<<31), "pbxsim"))
	p.ladderLink(qm.out.callID, qc.caller.Linkedid)
	p.mu.Lock()
	p.legs[qm.out.callID] = &legRef{q: qc, m: qm}
	p.mu.Unlock()
	tx, err := p.client(b.transport).TransactionRequest(context.Background(), req)
	if err != nil {
		p.log.Info("invite to queue member failed", "ext", m.Ext, "error", err)
		qc.memberFailed(qm, 480)
		return
	}
	qm.req, qm.tx = req, tx
	go p.followLeg(qm.tx, qm.req, qm.out, qm.cancel, legReport{
		ringing:  func(*sip.Response) { qc.post(queueEv{kind: qeRinging, m: qm}) },
		answered: func(res *sip.Response) { qc.post(queueEv{kind: qeAnswered, m: qm, res: res}) },
		failed:   func(code int) { qc.post(queueEv{kind: qeFailed, m: qm, code: code}) },
	})
}

func (qc *queueCall) agentFields(qm *queueMember) []Field {
	return []Field{{"Queue", qc.q.Number}, {"Interface", device(qm.m.Ext)}, {"MemberName", qm.m.Name}}
}

// stop cancels a ringing member leg (reason "" for a plain CANCEL).
func (qm *queueMember) stop(reason string) {
	qm.once.Do(func() { qm.cancel <- reason })
}

// flushRinging reports ringing members in the order they were rung, so
// that a round's events do not depend on which phone's 180 arrived first.
func (qc *queueCall) flushRinging() {
	for _, qm := range qc.ringing {
		if qm.ended {
			continue
		}
		if !qm.provisional {
			return
		}
		qc.memberRinging(qm)
	}
}

// memberRinging reports a member's phone ringing.
func (qc *queueCall) memberRinging(qm *queueMember) {
	p := qc.p
	if qm.ended || qm.ch.State != StateDown {
		return
	}
	qm.ch.State = StateRinging
	p.chanEvent("Newstate", &qm.ch)
	p.newexten(&qm.ch, "AppQueue", "(Outgoing Line)")
	p.chanEvent("NewConnectedLine", &qm.ch)
	p.dialEvent("DialState", &qc.caller, &qm.ch, Field{"DialStatus", "RINGING"})
	p.devSet(qm.dev, &qm.ch, StateRinging)
	p.devCheck(qm.dev)
	qc.memberStatus(qm.m.Ext, 6)
}

// memberStatus emits QueueMemberStatus for ext with device status st.
func (qc *queueCall) memberStatus(ext string, st int) {
	qc.qs.mu.Lock()
	m := qc.qs.member(ext)
	var f []Field
	if m != nil {
		f = qc.qs.memberFields(m, st)
	}
	qc.qs.mu.Unlock()
	if f != nil {
		qc.p.emit(Event{Name: "QueueMemberStatus", Time: qc.p.now(), Fields: f})
	}
}

// endMember tears down a member leg that did not win: DialEnd twice (as
// app_queue reports it, once when the attempt ends and once when the
// outgoing list is freed), Hangup, device back to idle.
func (qc *queueCall) endMember(qm *queueMember, firstStatus string, cause int, reason string) {
	p := qc.p
	if qm.ended {
		return
	}
	qm.ended = true
	if firstStatus != "" {
		p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", firstStatus})
	}
	p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", "CANCEL"})
	qm.stop(reason)
	p.hangupEvent(&qm.ch, cause)
	p.devSet(qm.dev, &qm.ch, StateDown)
	p.devCheck(qm.dev)
}

func (qc *queueCall) allEnded() bool {
	for _, qm := range qc.ringing {
		if !qm.ended {
			return false
		}
	}
	return true
}

// memberFailed ends a member leg that refused or failed.
func (qc *queueCall) memberFailed(qm *queueMember, code int) {
	p := qc.p
	if qm.ended {
		return
	}
	qm.ended = true
	p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", dialStatus(code)})
	p.hangupEvent(&qm.ch, sipToCause(code))
	p.devSet(qm.dev, &qm.ch, StateDown)
	p.devCheck(qm.dev)
}

// ringNoAnswer ends a round nobody answered within the member timeout.
func (qc *queueCall) ringNoAnswer() {
	p := qc.p
	ms := strconv.FormatInt(qc.q.MemberTimeout.Milliseconds(), 10)
	for _, qm := range qc.ringing {
		if !qm.ended {
			p.dialEvent("AgentRingNoAnswer", &qc.caller, &qm.ch, append(qc.agentFields(qm), Field{"RingTime", ms})...)
		}
	}
	for _, qm := range qc.ringing {
		if !qm.ended {
			p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", "NOANSWER"})
		}
	}
	for _, qm := range qc.ringing {
		qc.endMember(qm, "", causeUnknown, "")
	}
}

// connect bridges the caller with the member that answered; the other
// members get CANCEL with "Call completed elsewhere".
func (qc *queueCall) connect(w *queueMember, res *sip.Response) {
	p := qc.p
	if m, err := rtp.ParseSDP(res.Body()); err == nil {
		w.media.setRemote(m.Addr)
	}
	if w.ch.State == StateDown {
		qc.memberRinging(w)
	}
	qc.winner = w
	qc.answered = p.now()
	w.ch.State = StateUp
	p.chanEvent("Newstate", &w.ch)
	p.dialEvent("DialEnd", &qc.caller, &w.ch, Field{"DialStatus", "ANSWER"})
	var losers []*queueMember
	for _, qm := range qc.ringing {
		if qm != w && !qm.ended {
			losers = append(losers, qm)
			p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", "CANCEL"})
		}
	}
	qc.caller.ConnectedLineNum, qc.caller.ConnectedLineName = w.m.Ext, w.m.Name
	p.chanEvent("NewConnectedLine", &qc.caller)
	p.devSet(w.dev, &w.ch, StateUp)
	p.devCheck(w.dev)
	for _, qm := range losers {
		qm.ended = true
		p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", "CANCEL"})
		qm.stop(completedElsewhere)
		p.hangupEvent(&qm.ch, causeAnsweredElsewhere)
		p.devSet(qm.dev, &qm.ch, StateDown)
		p.devCheck(qm.dev)
	}
	qc.leave()
	hold := int(qc.answered.Sub(qc.joined).Round(time.Second) / time.Second)
	ring := int(qc.answered.Sub(w.rang).Round(time.Second) / time.Second)
	qc.memberStatus(w.m.Ext, 2)
	qc.rec = p.subRecord(&w.ch, qc.mIn, w.media)
	p.dialEvent("AgentConnect", &qc.caller, &w.ch, append(qc.agentFields(w),
		Field{"HoldTime", strconv.Itoa(hold)}, Field{"RingTime", strconv.Itoa(ring)})...)
	qc.bridge = Bridge{Uniqueid: uuid.NewString(), Type: "basic", Technology: "simple_bridge", VideoSource: "none"}
	p.bridgeEvent("BridgeCreate", &qc.bridge, nil)
	p.newexten(&w.ch, "AppQueue", "(Outgoing Line)")
	qc.bridge.NumChannels = 1
	p.bridgeEvent("BridgeEnter", &qc.bridge, &w.ch)
	qc.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &qc.bridge, &qc.caller)
	bridgeMedia(qc.mIn, w.media)
	qc.qs.mu.Lock()
	qc.qs.holdSum += qc.answered.Sub(qc.joined)
	qc.qs.mu.Unlock()
}

// leave takes the caller out of the queue (QueueCallerLeave).
func (qc *queueCall) leave() {
	qc.qs.mu.Lock()
	qc.qs.callers--
	n := qc.qs.callers
	for i, w := range qc.qs.waiting {
		if w.qc == qc {
			qc.qs.waiting = append(qc.qs.waiting[:i:i], qc.qs.waiting[i+1:]...)
			break
		}
	}
	qc.qs.mu.Unlock()
	qc.p.chanEvent("QueueCallerLeave", &qc.caller, Field{"Queue", qc.q.Number}, Field{"Position", "1"}, Field{"Count", strconv.Itoa(n)})
}

// talk waits for either side to hang up a bridged queue call.
func (qc *queueCall) talk(_ *time.Timer) {
	p := qc.p
	var e queueEv
	for {
		e = <-qc.ev
		if e.kind == qeBye || e.kind == qeShutdown {
			break
		}
		if e.kind == qeRefer {
			qc.handOver(e)
			return
		}
		if e.kind == qeDigit {
			qc.callerDigit(e)
		}
	}
	w := qc.winner
	byCaller := e.m == nil
	end := p.now()
	first, second := &qc.caller, &w.ch
	reason := "caller"
	if !byCaller {
		first, second, reason = second, first, "agent"
	}
	hold := int(qc.answered.Sub(qc.joined).Round(time.Second) / time.Second)
	talk := int(end.Sub(qc.answered).Round(time.Second) / time.Second)
	if byCaller {
		// A caller's BYE in a queue call is requested without a cause
		// (capture 05).
		p.chanEvent("HangupRequest", first)
	} else {
		p.causeEvent("HangupRequest", first, causeNormalClearing)
	}
	p.dialEvent("AgentComplete", &qc.caller, &w.ch, append(qc.agentFields(w),
		Field{"HoldTime", strconv.Itoa(hold)}, Field{"TalkTime", strconv.Itoa(talk)}, Field{"Reason", reason})...)
	qc.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &qc.bridge, first)
	qc.bridge.NumChannels = 0
	p.bridgeEvent("BridgeLeave", &qc.bridge, second)
	p.bridgeEvent("BridgeDestroy", &qc.bridge, nil)
	p.causeEvent("SoftHangupRequest", &qc.caller, causeNormalClearing)
	p.hangupEvent(&w.ch, causeNormalClearing)
	p.hangupEvent(&qc.caller, causeNormalClearing)
	p.devSet(w.dev, &w.ch, StateDown)
	p.devCheck(w.dev)
	qc.qs.mu.Lock()
	if m := qc.qs.member(w.m.Ext); m != nil {
		m.callsTaken++
		m.lastCall = end
	}
	qc.qs.completed++
	qc.qs.talkSum += end.Sub(qc.answered)
	qc.qs.mu.Unlock()
	qc.memberStatus(w.m.Ext, 1)
	qc.cdrs(end)
	p.devSet(qc.callerDev, &qc.caller, StateDown)
	p.devCheck(qc.callerDev)

	var wg sync.WaitGroup
	for _, d := range []*dialog{qc.in, w.out} {
		if (d == qc.in && byCaller && e.kind == qeBye) || (d == w.out && !byCaller) {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.bye(d) }()
	}
	wg.Wait()
	qc.release()
}

// abandon ends a call whose caller hung up while waiting (or the PBX is
// closing): QueueCallerAbandon, members cancelled.
func (qc *queueCall) abandon(shutdown bool) {
	p := qc.p
	end := p.now()
	p.chanEvent("HangupRequest", &qc.caller)
	var live []*queueMember
	for _, qm := range qc.ringing {
		if !qm.ended {
			live = append(live, qm)
			p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", "CANCEL"})
		}
	}
	for _, qm := range live {
		p.dialEvent("DialEnd", &qc.caller, &qm.ch, Field{"DialStatus", "CANCEL"})
	}
	hold := int(end.Sub(qc.joined).Round(time.Second) / time.Second)
	p.chanEvent("QueueCallerAbandon", &qc.caller, Field{"Queue", qc.q.Number}, Field{"Position", "1"},
		Field{"OriginalPosition", "1"}, Field{"HoldTime", strconv.Itoa(hold)})
	qc.qs.mu.Lock()
	qc.qs.abandoned++
	qc.qs.mu.Unlock()
	for _, qm := range live {
		qm.ended = true
		qm.stop("")
		p.hangupEvent(&qm.ch, causeUnknown)
		p.devSet(qm.dev, &qm.ch, StateDown)
		p.devCheck(qm.dev)
	}
	qc.leave()
	p.causeEvent("SoftHangupRequest", &qc.caller, causeNormalClearing)
	p.hangupEvent(&qc.caller, causeUnknown)
	p.devSet(qc.callerDev, &qc.caller, StateDown)
	p.devCheck(qc.callerDev)
	qc.cdrs(end)
	if shutdown {
		p.bye(qc.in)
	}
	qc.release()
}

// timeout ends a call the queue gave up on (missed at queue level): the
// members are cancelled, the caller leaves the queue, and the dialplan
// hangs up.
func (qc *queueCall) timeout() {
	p := qc.p
	end := p.now()
	for _, qm := range qc.ringing {
		qc.endMember(qm, "", causeUnknown, "")
	}
	qc.leave()
	qc.caller.Priority = 4
	p.newexten(&qc.caller, "Hangup", "")
	p.causeEvent("SoftHangupRequest", &qc.caller, causeNormalClearing)
	p.hangupEvent(&qc.caller, causeNormalClearing)
	p.devSet(qc.callerDev, &qc.caller, StateDown)
	p.devCheck(qc.callerDev)
	qc.cdrs(end)
	p.bye(qc.in)
	qc.release()
}

// cdrs emits one Cdr per member rung, as cdr_manager does for a queue
// call (ANSWERED for the member who took it).
func (qc *queueCall) cdrs(end time.Time) {
	rec := cdr{
		src: qc.cidNum, dst: qc.q.DID, dstContext: "from-trunk",
		callerID: fmt.Sprintf("\"%s\" <%s>", qc.cidName, qc.cidNum),
		channel:  qc.caller.Name, lastApp: "Queue", lastData: qc.q.queueData(),
		start: qc.start, end: end, uniqueid: qc.caller.Uniqueid,
	}
	if len(qc.attempts) == 0 {
		rec.disposition = "NO ANSWER"
		qc.p.cdrEvent(rec)
		return
	}
	for _, qm := range qc.attempts {
		r := rec
		r.dstChannel = qm.ch.Name
		r.disposition = "NO ANSWER"
		if qm == qc.winner {
			r.disposition, r.answer = "ANSWERED", qc.answered
		}
		qc.p.cdrEvent(r)
	}
}

// shutdown ends the call for Close.
func (qc *queueCall) shutdown() {
	qc.post(queueEv{kind: qeShutdown})
	select {
	case <-qc.ended:
	case <-time.After(3 * time.Second):
	}
}

// release forgets the call's legs and frees its media ports.
func (qc *queueCall) release() {
	p := qc.p
	p.mu.Lock()
	delete(p.legs, qc.in.callID)
	for _, qm := range qc.attempts {
		if qm.out != nil {
			delete(p.legs, qm.out.callID)
		}
	}
	delete(p.live, qc)
	p.mu.Unlock()
	qc.mIn.close()
	if err := qc.rec.close(); err != nil {
		p.log.Warn("recording", "error", err)
	}
	for _, qm := range qc.attempts {
		qm.media.close()
		if qm.tx != nil && qm != qc.winner {
			// The cancelled legs' transactions end by themselves.
			continue
		}
	}
	qc.endOnce.Do(func() { close(qc.ended) })
}

// callerDigit takes a key pressed by the waiting caller or a member:
// reported as DTMF on its channel and nothing more. app_queue runs no
// dialplan on a waiting caller's key (only a queues.conf context makes
// the caller leave), so a key that orders a callback is, on Asterisk as
// here, only the caller's DTMFBegin/DTMFEnd: the engine reads it there.
func (qc *queueCall) callerDigit(e queueEv) {
	if e.m != nil {
		qc.p.dtmfEvents(&e.m.ch, e.digit)
		return
	}
	qc.p.dtmfEvents(&qc.caller, e.digit)
}
