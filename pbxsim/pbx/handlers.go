package pbx

import (
	"math/rand/v2"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

const allowHeader = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, NOTIFY, INFO"

// lookupLeg finds the call leg a request belongs to by Call-ID, checking
// both tags against the dialog (RFC 3261 section 12.2.2); nil if none.
func (p *PBX) lookupLeg(req *sip.Request) *legRef {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return nil
	}
	p.mu.Lock()
	ref := p.legs[cid.Value()]
	p.mu.Unlock()
	if ref == nil {
		return nil
	}
	d := ref.dialog()
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A leg we called may send its BYE right after its 2xx, before that
	// 2xx is processed and its tag learnt: until then the leg's own tag
	// is unknown and our tag alone identifies the dialog.
	if tagOf(to.Params) != d.localTag || (d.remoteTag != "" && tagOf(from.Params) != d.remoteTag) {
		return nil
	}
	return ref
}

// onAck takes the ACK for our 2xx to the caller. ACKs for non-2xx are
// absorbed by the transaction layer.
func (p *PBX) onAck(req *sip.Request, _ sip.ServerTransaction) {
	ref := p.lookupLeg(req)
	if ref != nil && ref.q != nil && ref.m == nil {
		ref.q.ackOnce.Do(func() { close(ref.q.acked) })
		return
	}
	if ref == nil || !ref.caller {
		return
	}
	ref.c.ackOnce.Do(func() { close(ref.c.acked) })
}

// onBye ends a bridged call from either side; a BYE outside any dialog
// gets 481 (RFC 3261 section 15.1.2).
func (p *PBX) onBye(req *sip.Request, tx sip.ServerTransaction) {
	ref := p.lookupLeg(req)
	if ref == nil {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	if ref.c != nil && ref.spy == nil && ref.gone == nil && ref.q == nil && ref.atx == nil {
		// The call's Hangup events go out before the phone hears its
		// BYE answered, so that what the phone does next (taking a held
		// caller back) comes after them in the event stream, as on
		// Asterisk, where the next request takes a network round trip.
		emitted := make(chan struct{})
		go ref.c.hangupThen(ref.caller, !ref.caller, ref.caller, func() { close(emitted) })
		<-emitted
		_ = p.respond(tx, req, 200, "OK", "", nil)
		return
	}
	_ = p.respond(tx, req, 200, "OK", "", nil)
	if ref.spy != nil {
		ref.spy.c.mu.Lock()
		ref.spy.stop(false)
		ref.spy.c.mu.Unlock()
		return
	}
	if ref.gone != nil {
		p.mu.Lock()
		if p.legs[ref.gone.callID] == ref {
			delete(p.legs, ref.gone.callID)
		}
		p.mu.Unlock()
		return
	}
	if ref.q != nil {
		ref.q.post(queueEv{kind: qeBye, m: ref.m})
		return
	}
	if ref.atx != nil {
		ref.atx.c.atxTargetGone(ref.atx)
		return
	}
	ref.c.hangup(ref.caller, !ref.caller, ref.caller)
}

// onCancel answers a CANCEL that matched no pending INVITE (a matching one
// is answered by the transaction layer, with 487 for the INVITE).
func (p *PBX) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	_ = p.respond(tx, req, 481, sipReason(481), "", nil)
}

func (p *PBX) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	_ = p.respond(tx, req, 200, "OK", "", nil, sip.NewHeader("Allow", allowHeader))
}

// onNoRoute answers methods the PBX does not implement: 481 inside an
// unknown dialog, else 405 with Allow (RFC 3261 section 8.2.1).
func (p *PBX) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	if to := req.To(); to != nil && tagOf(to.Params) != "" && p.lookupLeg(req) == nil {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	_ = p.respond(tx, req, 405, sipReason(405), "", nil, sip.NewHeader("Allow", allowHeader))
}

// reinvite answers an in-dialog INVITE (session refresh or new media
// address) with the PBX's unchanged media port.
func (p *PBX) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	ref := p.lookupLeg(req)
	if ref == nil {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	var leg *relayLeg
	switch {
	case ref.q != nil && ref.m != nil:
		leg = ref.m.media
	case ref.q != nil:
		leg = ref.q.mIn
	case ref.atx != nil:
		leg = ref.atx.m
	case ref.caller:
		leg = ref.c.mIn
	default:
		leg = ref.c.mOut
	}
	if leg == nil {
		_ = p.respond(tx, req, 491, "Request Pending", "", nil)
		return
	}
	if ct := req.Contact(); ct != nil {
		// A device that moved: requests follow its new Contact.
		d := ref.dialog()
		d.mu.Lock()
		d.target = *ct.Address.Clone()
		if d.transport != "TCP" && ct.Address.Host != "" {
			d.dest = hostPort(ct.Address)
		}
		d.mu.Unlock()
	}
	if len(req.Body()) > 0 {
		m, err := rtp.ParseSDP(req.Body())
		if err == nil && m.Addr == nil && m.Image && ref.c != nil {
			if ref.c.isFaxLine() {
				ref.c.faxT38(req, tx, m)
				return
			}
			p.t38Switch(ref, req, tx, m)
			return
		}
		if err != nil || !m.Offers(rtp.PayloadTypePCMU) {
			_ = p.respond(tx, req, 488, sipReason(488), "", nil)
			return
		}
		leg.setRemote(m.Addr)
		if ref.c != nil {
			ref.c.setHold(ref.caller, m.Direction != "sendrecv")
		}
	}
	_ = p.respond(tx, req, 200, "OK", "", rtp.BuildSDP(leg.addr(), rand.Uint64N(1<<31), "pbxsim"))
}
