package pbx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// Fax. A fax machine in an answered call switches it to T.38 with a
// re-INVITE offering only "m=image <port> udptl t38". As Asterisk does
// with t38_udptl=yes on both endpoints, the PBX passes the switch on: it
// re-INVITEs the other leg with a T.38 offer on its own port, and answers
// the fax machine with its port once the other side accepted. UDPTL is
// relayed like RTP; the recording stops taking audio. The AMI stream
// shows no event for the switch, as Asterisk's shows none without a fax
// application.

// t38Switch handles an image-only re-INVITE on a bridged two-party call.
func (p *PBX) t38Switch(ref *legRef, req *sip.Request, tx sip.ServerTransaction, offer rtp.Media) {
	c := ref.c
	c.mu.Lock()
	if c.phase != phaseUp {
		c.mu.Unlock()
		_ = p.respond(tx, req, 488, sipReason(488), "", nil)
		return
	}
	mine, peer, peerDialog := c.mOut, c.mIn, c.in
	if ref.caller {
		mine, peer, peerDialog = c.mIn, c.mOut, c.out
	}
	c.stopRecording()
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.reinviteWith(ctx, peerDialog, rtp.BuildT38SDP(peer.addr(), rand.Uint64N(1<<31), "pbxsim"))
	if err != nil || !res.IsSuccess() {
		p.log.Info("t38 refused by the other side", "error", err)
		_ = p.respond(tx, req, 488, sipReason(488), "", nil)
		return
	}
	if m, err := rtp.ParseSDP(res.Body()); err == nil && m.ImageAddr != nil {
		peer.setRemote(m.ImageAddr)
	}
	mine.setRemote(offer.ImageAddr)
	_ = p.respond(tx, req, 200, "OK", "", rtp.BuildT38SDP(mine.addr(), rand.Uint64N(1<<31), "pbxsim"))
}

// reinviteWith sends a re-INVITE with body on d, ACKs a 2xx and returns
// the final response.
func (p *PBX) reinviteWith(ctx context.Context, d *dialog, body []byte) (*sip.Response, error) {
	req := p.newRequest(d, sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res, err := p.send(ctx, d.transport, req)
	if err != nil {
		return nil, fmt.Errorf("re-invite %s: %w", d.callID, err)
	}
	if res.IsSuccess() {
		ack := p.newRequest(d, sip.ACK)
		ack.CSeq().SeqNo = req.CSeq().SeqNo
		if err := p.client(d.transport).WriteRequest(ack); err != nil {
			return res, fmt.Errorf("ack re-invite %s: %w", d.callID, err)
		}
	}
	return res, nil
}
