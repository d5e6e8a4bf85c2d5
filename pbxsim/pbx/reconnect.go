package pbx

import (
	"math/rand/v2"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// Mobile reconnect. A device that lost its network comes back into the
// conversation with an INVITE carrying Replaces (RFC 3891) that names its
// old dialog with the PBX. A new channel of the same extension answers
// (Unhold) and takes the old one's place in the bridge; the old channel
// hangs up (cause 16, as Asterisk 22 reports it) and its dialog gets a
// BYE. The new segment is recorded to a file of its own.
//
// A device that only changed address re-INVITEs in its dialog with a new
// Contact and SDP: the PBX sends media and requests to the new address,
// and the call goes on unchanged.

// replaces parses a Replaces value: Call-ID, to-tag and from-tag.
func replaces(v string) (callID, toTag, fromTag string) {
	callID, params, _ := strings.Cut(strings.TrimSpace(v), ";")
	for _, kv := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(kv, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "to-tag":
			toTag = val
		case "from-tag":
			fromTag = val
		}
	}
	return callID, toTag, fromTag
}

// replaceLeg takes an extension's INVITE with Replaces: its device takes
// the named leg's place in a bridged call.
func (p *PBX) replaceLeg(req *sip.Request, tx sip.ServerTransaction, ext Extension, value string) {
	callID, toTag, fromTag := replaces(value)
	p.mu.Lock()
	ref := p.legs[callID]
	p.mu.Unlock()
	if ref == nil || ref.c == nil || ref.gone != nil {
		_ = p.respond(tx, req, 481, sipReason(481), sip.GenerateTagN(16), nil)
		return
	}
	d := ref.dialog()
	d.mu.Lock()
	match := d.localTag == toTag && d.remoteTag == fromTag
	d.mu.Unlock()
	var offer rtp.Media
	var err error
	if len(req.Body()) > 0 {
		offer, err = rtp.ParseSDP(req.Body())
	}
	if !match || err != nil || (offer.Addr != nil && !offer.Offers(rtp.PayloadTypePCMU)) {
		code := 481
		if match {
			code = 488
		}
		_ = p.respond(tx, req, code, sipReason(code), sip.GenerateTagN(16), nil)
		return
	}
	c := ref.c
	c.mu.Lock()
	if c.phase != phaseUp {
		c.mu.Unlock()
		_ = p.respond(tx, req, 603, sipReason(603), sip.GenerateTagN(16), nil)
		return
	}
	if ref.caller {
		c.swapSides()
	}
	if c.callee.CallerIDNum != ext.Number {
		c.mu.Unlock()
		_ = p.respond(tx, req, 403, sipReason(403), sip.GenerateTagN(16), nil)
		return
	}
	media, err := newRelayLeg(p.host)
	if err != nil {
		c.mu.Unlock()
		_ = p.respond(tx, req, 500, sipReason(500), sip.GenerateTagN(16), nil)
		return
	}
	if offer.Addr != nil {
		media.setRemote(offer.Addr)
	}
	from, to := req.From(), req.To()
	target := from.Address
	if ct := req.Contact(); ct != nil {
		target = ct.Address
	}
	nd := &dialog{
		callID: req.CallID().Value(), local: *to.Address.Clone(), localTag: sip.GenerateTagN(16),
		remote: *from.Address.Clone(), remoteName: from.DisplayName, remoteTag: tagOf(from.Params),
		target: *target.Clone(), transport: strings.ToUpper(req.Transport()), dest: requestDest(req),
	}

	// As res_pjsip_refer's INVITE with Replaces on Asterisk 22: the new
	// channel answers and is taken off hold, swaps places with the lost
	// one in the bridge (ast_bridge_impart ... swap), and the lost one
	// hangs up, Normal Clearing.
	c.stopRecording()
	ch := c.newChannel(ext.Number, p.now())
	ch.State = StateRing
	ch.CallerIDNum, ch.CallerIDName = ext.Number, ext.Name
	ch.ConnectedLineNum, ch.ConnectedLineName = c.caller.CallerIDNum, c.caller.CallerIDName
	ch.Context, ch.Exten = "from-internal", req.Recipient.User
	ch.Linkedid = c.caller.Linkedid
	p.ladderLink(nd.callID, ch.Linkedid)
	p.chanEvent("Newchannel", &ch)
	ch.State = StateUp
	p.chanEvent("Newstate", &ch)
	p.chanEvent("Unhold", &ch)
	c.bridge.NumChannels = 1
	p.bridgeEvent("BridgeLeave", &c.bridge, &c.callee)
	lost := c.callee
	old := c.detach()
	c.callee = ch
	c.out, c.mOut = nd, media
	c.outTx, c.outReq = nil, nil
	p.mu.Lock()
	p.legs[nd.callID] = &legRef{c: c, caller: false}
	p.mu.Unlock()
	c.bridge.NumChannels = 2
	p.bridgeEvent("BridgeEnter", &c.bridge, &c.callee)
	p.hangupEvent(&lost, causeNormalClearing)
	c.startRecording(&c.callee)
	c.mu.Unlock()
	media.onDigit(func(dg string) { c.digit(media, dg) })
	bridgeMedia(c.mIn, media)

	_ = p.respond(tx, req, 200, "OK", nd.localTag, rtp.BuildSDP(media.addr(), rand.Uint64N(1<<31), "pbxsim"))
	go p.hangupDetached(old, true)
}
