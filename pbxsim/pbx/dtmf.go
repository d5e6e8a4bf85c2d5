package pbx

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// DTMF reaches the PBX two ways, as chan_pjsip accepts it: RFC 4733
// telephone-event packets in the RTP stream (payload type 101, the digit
// taken once, at the end of the event) and SIP INFO with an
// application/dtmf-relay ("Signal=1") or application/dtmf body. Either is
// reported as Asterisk reports a digit (DTMFBegin, DTMFEnd) and handed to
// whatever the channel is running (an IVR menu, the called party's
// transfer codes).

// telephoneEvent is the payload type pbxsim offers for RFC 4733 events.
const telephoneEvent = 101

// onDigit registers f to get each digit received on l.
func (l *relayLeg) onDigit(f func(digit string)) {
	if l != nil {
		l.digit.Store(&f)
	}
}

// rfc4733Digit reads a telephone-event packet: the digit, and whether
// this packet ends the event (the E bit). Retransmitted end packets
// repeat the RTP timestamp; callers deduplicate on it.
func rfc4733Digit(b []byte) (digit string, ts uint32, end, ok bool) {
	if len(b) < 16 || b[0]>>6 != 2 || int(b[1]&0x7f) != telephoneEvent {
		return "", 0, false, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if len(b) < off+4 {
		return "", 0, false, false
	}
	ts = uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	ev := b[off]
	d, ok := rtp.EventDigit(ev)
	return d, ts, b[off+1]&0x80 != 0, ok
}

// onInfo takes SIP INFO: DTMF relay inside a known dialog gets 200; other
// INFO bodies are accepted and ignored; outside any dialog 481.
func (p *PBX) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	ref := p.lookupLeg(req)
	if ref == nil {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	_ = p.respond(tx, req, 200, "OK", "", nil)
	digit := infoDigit(req)
	if digit == "" || ref.gone != nil {
		return
	}
	p.dispatchDigit(ref, digit)
}

// infoDigit is the digit of a DTMF INFO body, "" if none.
func infoDigit(req *sip.Request) string {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(h.Value())
	}
	body := strings.TrimSpace(string(req.Body()))
	switch {
	case strings.HasPrefix(ct, "application/dtmf-relay"):
		for _, line := range strings.Split(body, "\n") {
			k, v, _ := strings.Cut(line, "=")
			if strings.EqualFold(strings.TrimSpace(k), "Signal") {
				return normDigit(strings.TrimSpace(v))
			}
		}
	case strings.HasPrefix(ct, "application/dtmf"):
		return normDigit(body)
	}
	return ""
}

func normDigit(d string) string {
	if len(d) != 1 || !strings.Contains("0123456789*#ABCDabcd", d) {
		return ""
	}
	return strings.ToUpper(d)
}

// onNotify answers a NOTIFY sent to the PBX: pbxsim subscribes to
// nothing, so one inside a dialog is acknowledged and forgotten.
func (p *PBX) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	if p.lookupLeg(req) == nil {
		_ = p.respond(tx, req, 481, sipReason(481), "", nil)
		return
	}
	_ = p.respond(tx, req, 200, "OK", "", nil)
}

// dispatchDigit reports a digit on the leg's channel and hands it on.
func (p *PBX) dispatchDigit(ref *legRef, digit string) {
	switch {
	case ref.q != nil:
		ref.q.post(queueEv{kind: qeDigit, m: ref.m, digit: digit})
	case ref.c != nil:
		ref.c.mu.Lock()
		l := ref.c.mOut
		if ref.caller {
			l = ref.c.mIn
		}
		ref.c.mu.Unlock()
		ref.c.digit(l, digit)
	}
}

// dtmfEvents raises DTMFBegin and DTMFEnd for a digit received on ch.
func (p *PBX) dtmfEvents(ch *Channel, digit string) {
	p.chanEvent("DTMFBegin", ch, Field{"Digit", digit}, Field{"Direction", "Received"})
	p.chanEvent("DTMFEnd", ch, Field{"Digit", digit}, Field{"DurationMs", "120"}, Field{"Direction", "Received"})
}

// digit takes a DTMF digit received on one relay leg of a two-party call
// and reports it on that leg's channel.
func (c *call) digit(from *relayLeg, digit string) {
	c.mu.Lock()
	ch := &c.callee
	if from == c.mIn {
		ch = &c.caller
	}
	c.p.dtmfEvents(ch, digit)
	if ch == &c.caller {
		c.ivrKey(digit)
	} else {
		c.featureDigit(digit)
	}
	c.mu.Unlock()
}
