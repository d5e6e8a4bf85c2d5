package phone

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// Errors of the mid-call actions.
var (
	// ErrNotUp is returned for a mid-call action on a call that is not
	// up (still ringing, or over).
	ErrNotUp = errors.New("phone: call is not up")
	// ErrTransferFailed is returned when the PBX reports (in its NOTIFY)
	// that a transfer did not complete.
	ErrTransferFailed = errors.New("phone: transfer failed")
)

// transferWait bounds how long a transferer waits for the PBX's final
// NOTIFY, and then for the PBX to hang up the consultation of an attended
// transfer before the phone sends BYE itself (RFC 5589 section 7.1).
const transferWait = 5 * time.Second

// note appends one line to the call's SIP ladder.
func (c *Call) note(line string) {
	c.mu.Lock()
	c.ladder = append(c.ladder, line)
	c.mu.Unlock()
}

// Ladder is the call's SIP exchange as this phone saw it, in order: lines
// such as "send INVITE", "recv 180 INVITE", "recv NOTIFY SIP/2.0 200 OK",
// "send 200 NOTIFY". Retransmissions are not listed.
func (c *Call) Ladder() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ladder...)
}

// Up reports whether the call is answered and not over.
func (c *Call) Up() bool {
	select {
	case <-c.done:
		return false
	default:
	}
	return c.isUp()
}

// Held reports whether this phone has put the call on hold.
func (c *Call) Held() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// Calls lists the phone's calls in progress, oldest first.
func (p *Phone) Calls() []*Call {
	p.mu.Lock()
	out := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		out = append(out, c)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// Hold puts the call on hold: a re-INVITE offering sendonly (RFC 3264
// section 8.4), which Asterisk reports as a Hold event.
func (c *Call) Hold(ctx context.Context) error { return c.reinvite(ctx, "sendonly") }

// Unhold takes the call off hold with a sendrecv re-INVITE.
func (c *Call) Unhold(ctx context.Context) error { return c.reinvite(ctx, "sendrecv") }

// reinvite sends an in-dialog INVITE with our media in direction dir and
// ACKs its 2xx.
func (c *Call) reinvite(ctx context.Context, dir string) error {
	return c.reinviteBody(ctx, dir, rtp.BuildSDPDirection(c.media.LocalAddr(), c.sessID, c.p.cfg.User, dir))
}

// SwitchToT38 switches the call to T.38 fax: a re-INVITE offering only
// "m=image <port> udptl t38"; the media socket then carries UDPTL.
func (c *Call) SwitchToT38(ctx context.Context) error {
	return c.reinviteBody(ctx, "t38", rtp.BuildT38SDP(c.media.LocalAddr(), c.sessID, c.p.cfg.User))
}

// Fax reports whether the call was switched to T.38.
func (c *Call) Fax() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fax
}

func (c *Call) reinviteBody(ctx context.Context, dir string, body []byte) error {
	if !c.Up() {
		return ErrNotUp
	}
	req := c.newRequest(sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	c.note("send INVITE " + dir)
	res, err := c.p.do(ctx, req)
	if err != nil {
		return fmt.Errorf("re-invite %s: %w", dir, err)
	}
	c.note(fmt.Sprintf("recv %d INVITE", res.StatusCode))
	if !res.IsSuccess() {
		return &StatusError{Method: "INVITE", Code: res.StatusCode, Reason: res.Reason}
	}
	ack := c.newRequest(sip.ACK)
	ack.CSeq().SeqNo = req.CSeq().SeqNo
	if err := c.p.cli.WriteRequest(ack); err != nil {
		return fmt.Errorf("ack re-invite: %w", err)
	}
	c.note("send ACK")
	m, err := rtp.ParseSDP(res.Body())
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case dir == "t38":
		if err == nil && m.ImageAddr != nil {
			c.media.SetRemote(m.ImageAddr)
		}
		c.fax = true
	default:
		if err == nil && m.Addr != nil {
			c.media.SetRemote(m.Addr)
		}
		c.held = dir != "sendrecv"
	}
	return nil
}

// BlindTransfer hands the call's other party to number with a REFER
// (RFC 3515): it waits for 202, follows the NOTIFYs' message/sipfrag to a
// final status, and on success ends this phone's leg with BYE (RFC 5589
// section 6.1), as Asterisk expects the transferor to.
func (c *Call) BlindTransfer(ctx context.Context, number string) error {
	target := sip.Uri{Scheme: "sip", User: number, Host: c.p.server.Host, Port: c.p.server.Port}
	return c.transfer(ctx, "<"+target.String()+">", nil)
}

// AttendedTransfer connects the call's other party with the party of
// consult, this phone's consultation call: a REFER on c whose Refer-To
// carries Replaces naming consult's dialog (RFC 3891). Both of this phone's
// calls end.
func (c *Call) AttendedTransfer(ctx context.Context, consult *Call) error {
	if !consult.Up() {
		// The PBX decides what a transfer to a ringing target means; the
		// phone only needs the dialog's tags.
		select {
		case <-consult.done:
			return ErrCallOver
		default:
		}
	}
	consult.d.mu.Lock()
	replaces := fmt.Sprintf("%s;to-tag=%s;from-tag=%s", consult.d.callID, consult.d.remoteTag, consult.d.localTag)
	user := consult.d.remote.User
	consult.d.mu.Unlock()
	target := sip.Uri{Scheme: "sip", User: user, Host: c.p.server.Host, Port: c.p.server.Port}
	referTo := "<" + target.String() + "?Replaces=" + url.QueryEscape(replaces) + ">"
	return c.transfer(ctx, referTo, consult)
}

func (c *Call) transfer(ctx context.Context, referTo string, consult *Call) error {
	if !c.Up() {
		return ErrNotUp
	}
	req := c.newRequest(sip.REFER)
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	aor := c.p.aor()
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+aor.String()+">"))
	c.note("send REFER")
	done := make(chan struct{})
	c.mu.Lock()
	c.referDone = done
	c.mu.Unlock()
	res, err := c.p.do(ctx, req)
	if err == nil {
		c.note(fmt.Sprintf("recv %d REFER", res.StatusCode))
	}
	close(done)
	if err != nil {
		return fmt.Errorf("refer: %w", err)
	}
	if res.StatusCode != 202 && !res.IsSuccess() {
		return &StatusError{Method: "REFER", Code: res.StatusCode, Reason: res.Reason}
	}
	t := time.NewTimer(transferWait)
	defer t.Stop()
	final := 0
	for final == 0 {
		select {
		case code := <-c.notify:
			if code >= 200 {
				final = code
			}
		case <-c.done:
			final = 200
		case <-t.C:
			return fmt.Errorf("refer to %s: no final NOTIFY: %w", referTo, ErrTransferFailed)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if final >= 300 {
		return fmt.Errorf("refer to %s: %d: %w", referTo, final, ErrTransferFailed)
	}
	// The transfer is done: the transferor ends the dialog it sent the
	// REFER on at once (RFC 5589 sections 6.1 and 7.1). Asterisk waits
	// for that BYE (res_pjsip_refer defers the session's termination, for
	// up to 60 s); it ends the consultation's dialog itself, so that one
	// gets a BYE of ours only if the PBX leaves it up.
	select {
	case <-c.done:
	default:
		_ = c.bye(ctx, "transferred")
	}
	if consult != nil {
		select {
		case <-consult.done:
		case <-time.After(transferWait):
			_ = consult.bye(ctx, "transferred")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// onNotify takes the NOTIFYs of a REFER subscription (RFC 3515 section
// 2.4.4): the body is a message/sipfrag status line.
func (p *Phone) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		p.respond(tx, req, 481, "Call/Transaction Does Not Exist", "", nil)
		return
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(req.Body())), "\n")
	line = strings.TrimSpace(line)
	// A NOTIFY may overtake the 202 of its REFER (RFC 3515 section 2.4.4);
	// take it after the 202 so that the ladder shows the protocol's order.
	c.mu.Lock()
	pending := c.referDone
	c.mu.Unlock()
	if pending != nil {
		select {
		case <-pending:
		case <-time.After(transferWait):
		}
	}
	c.note("recv NOTIFY " + line)
	c.note("send 200 NOTIFY")
	p.respond(tx, req, 200, "OK", "", nil)
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return
	}
	select {
	case c.notify <- code:
	default:
	}
}

// DTMF methods of SendDTMF.
const (
	DTMFRFC4733 = "rfc4733" // telephone-events in the RTP stream (RFC 4733)
	DTMFInfo    = "info"    // SIP INFO with application/dtmf-relay
)

// SendDTMF sends digits on an up call, in the media stream (rfc4733, the
// default) or as one SIP INFO per digit (info).
func (c *Call) SendDTMF(ctx context.Context, digits, method string) error {
	if !c.Up() {
		return ErrNotUp
	}
	switch method {
	case "", DTMFRFC4733:
		c.note("send RTP telephone-event " + digits)
		if err := c.media.SendDigits(ctx, digits); err != nil {
			return fmt.Errorf("send dtmf: %w", err)
		}
		return nil
	case DTMFInfo:
		for _, d := range digits {
			req := c.newRequest(sip.INFO)
			req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
			req.SetBody(fmt.Appendf(nil, "Signal=%c\r\nDuration=160\r\n", d))
			c.note("send INFO " + string(d))
			res, err := c.p.do(ctx, req)
			if err != nil {
				return fmt.Errorf("send dtmf info: %w", err)
			}
			c.note(fmt.Sprintf("recv %d INFO", res.StatusCode))
			if !res.IsSuccess() {
				return &StatusError{Method: "INFO", Code: res.StatusCode, Reason: res.Reason}
			}
		}
		return nil
	}
	return fmt.Errorf("send dtmf: method %q (want rfc4733 or info)", method)
}

// Drop loses the call without a word, as a mobile app losing its network
// does: media stops and the phone forgets the dialog (a later BYE for it
// gets 481).
func (c *Call) Drop() {
	c.note("dropped")
	c.finish(0, "dropped")
}

// Reconnect is the phone coming back after losing call old (a mobile app
// back on the network): old is dropped, and a new INVITE with Replaces
// naming old's dialog (RFC 3891) takes its place in the conversation. The
// INVITE goes where old's in-dialog requests went, the PBX's Contact of
// that dialog (its remote target: sip:asterisk@... on Asterisk), with the
// other party in To. It returns the new call, which is up once the PBX
// answers.
func (p *Phone) Reconnect(ctx context.Context, old *Call) (*Call, error) {
	old.d.mu.Lock()
	replaces := fmt.Sprintf("%s;to-tag=%s;from-tag=%s", old.d.callID, old.d.remoteTag, old.d.localTag)
	number := old.d.remote.User
	target := old.d.target.User
	old.d.mu.Unlock()
	if target == "" {
		target = number
	}
	old.Drop()
	c, err := p.dialAt(ctx, number, target, sip.NewHeader("Replaces", replaces))
	if err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	return c, nil
}
