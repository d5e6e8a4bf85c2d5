package pbx

import (
	"strconv"
	"time"
)

// Transfers from inside a queue call. When a connected agent (or the
// caller) sends REFER, app_queue's part of the call is over: AgentComplete
// with Reason transfer right after the transfer's event, as Asterisk
// reports an agent's transfer. The
// bridged caller and agent legs become a two-party call, and the REFER is
// handled as in any bridged call (blind or attended).

// handOver ends the queue's part of a connected call and transfers it.
// It runs on the queue call's goroutine.
func (qc *queueCall) handOver(e queueEv) {
	p := qc.p
	w := qc.winner
	end := p.now()
	hold := int(qc.answered.Sub(qc.joined).Round(time.Second) / time.Second)
	talk := int(end.Sub(qc.answered).Round(time.Second) / time.Second)
	// app_queue reports the agent's transfer once it happened: right
	// after BlindTransfer / AttendedTransfer (c.transferred).
	agentComplete := func() {
		p.dialEvent("AgentComplete", &qc.caller, &w.ch, append(qc.agentFields(w),
			Field{"HoldTime", strconv.Itoa(hold)}, Field{"TalkTime", strconv.Itoa(talk)}, Field{"Reason", "transfer"})...)
	}
	qc.qs.mu.Lock()
	if m := qc.qs.member(w.m.Ext); m != nil {
		m.callsTaken++
		m.lastCall = end
	}
	qc.qs.completed++
	qc.qs.talkSum += end.Sub(qc.answered)
	qc.qs.mu.Unlock()

	c := &call{
		p: p,
		r: route{
			kind: routeInbound, callerEP: p.cfg.TrunkEndpoint, callerCtx: "from-trunk", exten: qc.q.DID,
			calleeEP: w.m.Ext, dialString: device(w.m.Ext), opts: "t", ringTimeout: qc.q.MemberTimeout,
			calleeNum: w.m.Ext, calleeName: w.m.Name, reqUser: w.m.Ext,
		},
		callerDev: qc.callerDev, calleeDev: w.dev,
		cidNum: qc.cidNum, cidName: qc.cidName,
		in: qc.in, inReq: qc.inReq, inTx: qc.inTx, mIn: qc.mIn,
		out: w.out, outReq: w.req, outTx: w.tx, mOut: w.media,
		acked: make(chan struct{}), stop: make(chan struct{}), ended: make(chan struct{}),
		phase: phaseUp, caller: qc.caller, callee: w.ch, bridge: qc.bridge,
		start: qc.start, answer: qc.answered, rec: qc.rec, transferred: agentComplete,
	}
	c.ackOnce.Do(func() { close(c.acked) })
	p.devMove(qc.callerDev, &qc.caller, &c.caller)
	p.devMove(w.dev, &w.ch, &c.callee)
	qc.rec = nil
	p.mu.Lock()
	p.legs[qc.in.callID] = &legRef{c: c, caller: true}
	p.legs[w.out.callID] = &legRef{c: c, caller: false}
	for _, qm := range qc.attempts {
		if qm != w && qm.out != nil {
			delete(p.legs, qm.out.callID)
		}
	}
	delete(p.live, qc)
	p.live[c] = struct{}{}
	p.mu.Unlock()
	for _, qm := range qc.attempts {
		if qm != w {
			qm.media.close()
		}
	}
	mIn, mOut := c.mIn, c.mOut
	mIn.onDigit(func(d string) { c.digit(mIn, d) })
	mOut.onDigit(func(d string) { c.digit(mOut, d) })
	qc.endOnce.Do(func() { close(qc.ended) })
	// The REFER now finds the two-party call.
	p.onRefer(e.req, e.tx)
}
