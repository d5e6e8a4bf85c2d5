package phone

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// dialog is the phone's side of one SIP dialog.
type dialog struct {
	mu         sync.Mutex
	callID     string
	local      sip.Uri
	localName  string
	localTag   string
	remote     sip.Uri
	remoteName string
	remoteTag  string
	target     sip.Uri
	dest       string
	cseq       uint32
}

// Call is one call on a phone, outgoing (Dial) or incoming (Incoming).
type Call struct {
	p        *Phone
	outgoing bool
	d        *dialog
	media    *rtp.Session
	sessID   uint64

	ringing, answered, done          chan struct{}
	ringOnce, answerOnce, doneOnce   sync.Once
	answerReq, cancelReq, ackArrived chan struct{}
	answerReqOnce, cancelOnce        sync.Once
	ackOnce                          sync.Once
	rejectReq                        chan int

	inReq  *sip.Request
	inTx   sip.ServerTransaction
	outReq *sip.Request

	seq    uint64
	notify chan int // final and provisional sipfrag codes of our REFER

	mu           sync.Mutex
	ladder       []string
	referDone    chan struct{} // closed once our REFER has its response
	held         bool
	fax          bool // switched to T.38
	up           bool
	code         int
	reason       string
	cancelReason string
}

// CancelReason is the Reason header (RFC 3326) of the CANCEL that ended
// an incoming call, "" if none ("Call completed elsewhere" tells a phone
// not to list the call as missed).
func (c *Call) CancelReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cancelReason
}

func (p *Phone) newCall(outgoing bool, d *dialog) (*Call, error) {
	m, err := p.callMedia()
	if err != nil {
		return nil, fmt.Errorf("new call media: %w", err)
	}
	m.SetBurstEvents(p.cfg.Speed > 1)
	return &Call{
		p: p, outgoing: outgoing, d: d, media: m, sessID: rand.Uint64N(1 << 31), seq: p.callSeq.Add(1),
		notify:  make(chan int, 16),
		ringing: make(chan struct{}), answered: make(chan struct{}), done: make(chan struct{}),
		answerReq: make(chan struct{}), cancelReq: make(chan struct{}), ackArrived: make(chan struct{}),
		rejectReq: make(chan int, 1),
	}, nil
}

// callMedia is a new call's RTP socket: its own, or a NoRTP phone's
// shared one (closed with the phone).
func (p *Phone) callMedia() (*rtp.Session, error) {
	if !p.cfg.NoRTP {
		return rtp.Listen(net.JoinHostPort(p.host, "0"))
	}
	p.sinkOnce.Do(func() { p.sink, p.sinkErr = rtp.Listen(net.JoinHostPort(p.host, "0")) })
	return p.sink, p.sinkErr
}

// ID is the call's SIP Call-ID.
func (c *Call) ID() string { return c.d.callID }

// Outgoing reports whether this phone placed the call.
func (c *Call) Outgoing() bool { return c.outgoing }

// RemoteNumber is the other party's user part (the caller of an incoming
// call, the dialled number of an outgoing one).
func (c *Call) RemoteNumber() string { return c.d.remote.User }

// RemoteName is the other party's display name, if any.
func (c *Call) RemoteName() string { return c.d.remoteName }

// Ringing is closed on the first 180/183 (outgoing) or when the call
// starts ringing here (incoming), and at the latest when it is answered
// (a 180 may arrive after the 200 it preceded).
func (c *Call) Ringing() <-chan struct{} { return c.ringing }

// Answered is closed when the call is up.
func (c *Call) Answered() <-chan struct{} { return c.answered }

// Done is closed when the call is over: BYE either way, CANCEL, or a final
// failure.
func (c *Call) Done() <-chan struct{} { return c.done }

// Status is the call's final SIP status (200 for a call that was up, else
// the failure code) and a reason saying how it ended, such as "remote
// BYE", "local CANCEL" or the failure's reason phrase. It is (0, "") while
// the call is in progress.
func (c *Call) Status() (code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, c.reason
}

// RTPReceived is the number of RTP packets received on the call.
func (c *Call) RTPReceived() int { return c.media.Received() }

// RemoteMedia is where the call's RTP goes (the far end's SDP address),
// nil before the far end's SDP arrived.
func (c *Call) RemoteMedia() *net.UDPAddr { return c.media.Remote() }

// LocalMedia is where the call receives RTP (the address in its SDP).
func (c *Call) LocalMedia() *net.UDPAddr { return c.media.LocalAddr() }

// RTPSent is the number of RTP packets sent on the call.
func (c *Call) RTPSent() int { return c.media.Sent() }

func (c *Call) markRinging() { c.ringOnce.Do(func() { close(c.ringing) }) }

// markUp starts media to the far end's SDP address and marks the call up.
func (c *Call) markUp(remoteSDP []byte) {
	if m, err := rtp.ParseSDP(remoteSDP); err == nil {
		c.media.SetRemote(m.Addr)
	}
	c.mu.Lock()
	c.up = true
	c.code = 200
	c.mu.Unlock()
	if !c.p.cfg.NoRTP {
		c.media.Send(context.Background(), rtp.NewTone(400))
	}
	c.answerOnce.Do(func() { close(c.answered) })
}

// finish ends the call once, recording how.
func (c *Call) finish(code int, reason string) {
	c.doneOnce.Do(func() {
		c.mu.Lock()
		if !c.up || code >= 300 {
			if code != 0 || c.code == 0 {
				c.code = code
			}
		}
		c.reason = reason
		c.mu.Unlock()
		if c.media != c.p.sink {
			_ = c.media.Close()
		}
		c.p.removeCall(c)
		close(c.done)
	})
}

func (c *Call) isUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

// newRequest builds an in-dialog request (ACK and CANCEL keep the CSeq).
func (c *Call) newRequest(method sip.RequestMethod) *sip.Request {
	p, d := c.p, c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if method != sip.ACK && method != sip.CANCEL {
		d.cseq++
	}
	req := sip.NewRequest(method, *d.target.Clone())
	from := &sip.FromHeader{DisplayName: d.localName, Address: *d.local.Clone()}
	from.Params.Add("tag", d.localTag)
	to := &sip.ToHeader{DisplayName: d.remoteName, Address: *d.remote.Clone()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	callID := sip.CallIDHeader(d.callID)
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq, MethodName: method})
	req.AppendHeader(&maxFwd)
	req.AppendHeader(p.contact())
	req.SetTransport(p.transport)
	req.SetDestination(d.dest)
	return req
}

// Dial sends an INVITE for number to the server and returns at once; watch
// the call's channels for progress.
func (p *Phone) Dial(ctx context.Context, number string) (*Call, error) {
	return p.dial(ctx, number)
}

// dial is Dial with extra headers on the INVITE.
func (p *Phone) dial(ctx context.Context, number string, hdrs ...sip.Header) (*Call, error) {
	return p.dialAt(ctx, number, number, hdrs...)
}

// dialAt is dial with the INVITE's Request-URI user set to target rather
// than to the number called (To).
func (p *Phone) dialAt(ctx context.Context, number, target string, hdrs ...sip.Header) (*Call, error) {
	select {
	case <-p.closed:
		return nil, ErrClosed
	default:
	}
	d := &dialog{
		callID:    uuid.NewString(),
		local:     p.aor(),
		localName: p.cfg.DisplayName,
		localTag:  sip.GenerateTagN(16),
		remote:    sip.Uri{Scheme: "sip", User: number, Host: p.server.Host, Port: p.server.Port},
		target:    sip.Uri{Scheme: "sip", User: target, Host: p.server.Host, Port: p.server.Port},
		dest:      net.JoinHostPort(p.server.Host, strconv.Itoa(p.server.Port)),
	}
	c, err := p.newCall(true, d)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", number, err)
	}
	req := c.newRequest(sip.INVITE)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(rtp.BuildSDP(c.media.LocalAddr(), c.sessID, p.cfg.User))
	c.outReq = req
	p.addCall(c)
	c.note("send INVITE")
	tx, err := p.cli.TransactionRequest(ctx, req)
	if err != nil {
		c.finish(0, "send failed")
		return nil, fmt.Errorf("dial %s: %w", number, err)
	}
	go c.runOutgoing(tx)
	return c, nil
}

// runOutgoing follows the INVITE transaction to its end: ringing, answer
// (ACK, media), failure, or CANCEL on request.
func (c *Call) runOutgoing(tx sip.ClientTransaction) {
	p := c.p
	provisional, cancelled := false, false
	authTried := false
	cancelReq := c.cancelReq
	for {
		select {
		case res := <-tx.Responses():
			c.note(fmt.Sprintf("recv %d INVITE", res.StatusCode))
			switch {
			case res.StatusCode < 200:
				if res.StatusCode == 100 {
					continue
				}
				if !provisional {
					provisional = true
					if cancelled {
						go c.sendCancel()
					}
				}
				if res.StatusCode == 180 || res.StatusCode == 183 {
					// An early dialog: its tag names the dialog for a
					// transfer before the answer (RFC 3891 section 3).
					c.d.mu.Lock()
					if c.d.remoteTag == "" {
						c.d.remoteTag = tagOf(res.To().Params)
					}
					c.d.mu.Unlock()
					c.markRinging()
				}
			case res.StatusCode < 300:
				c.d.mu.Lock()
				c.d.remoteTag = tagOf(res.To().Params)
				if ct := res.Contact(); ct != nil {
					c.d.target = *ct.Address.Clone()
					if p.transport == "UDP" {
						c.d.dest = hostPort(ct.Address)
					}
				}
				c.d.mu.Unlock()
				ack := c.newRequest(sip.ACK)
				tmpl := ack.Clone()
				_ = p.cli.WriteRequest(ack)
				c.note("send ACK")
				tx.OnRetransmission(func(r *sip.Response) {
					if r.IsSuccess() {
						_ = p.cli.WriteRequest(tmpl.Clone())
					}
				})
				c.markRinging()
				c.markUp(res.Body())
				if cancelled {
					go func() { _ = c.bye(context.Background(), "local CANCEL") }()
				}
				return
			case (res.StatusCode == 401 || res.StatusCode == 407) && p.cfg.Password != "" && !authTried:
				authTried = true
				c.note("send INVITE with credentials")
				ntx, err := p.cli.TransactionDigestAuth(context.Background(), c.outReq, res, sipgo.DigestAuth{Username: p.cfg.User, Password: p.cfg.Password})
				if err != nil {
					c.finish(res.StatusCode, res.Reason)
					return
				}
				c.d.mu.Lock()
				c.d.cseq = c.outReq.CSeq().SeqNo
				c.d.mu.Unlock()
				tx = ntx
			default:
				reason := res.Reason
				if cancelled && res.StatusCode == 487 {
					reason = "local CANCEL"
				}
				c.finish(res.StatusCode, reason)
				return
			}
		case <-tx.Done():
			c.finish(408, "no final response")
			return
		case <-cancelReq:
			cancelReq = nil
			cancelled = true
			if provisional {
				go c.sendCancel()
			}
		}
	}
}

// sendCancel cancels our pending INVITE (RFC 3261 section 9.1).
func (c *Call) sendCancel() {
	inv := c.outReq
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.note("send CANCEL")
	if res, err := c.p.do(ctx, req); err != nil {
		c.p.log.Debug("cancel failed", "error", err)
	} else {
		c.note(fmt.Sprintf("recv %d CANCEL", res.StatusCode))
	}
}

// bye ends an up call with BYE and waits for the answer.
func (c *Call) bye(ctx context.Context, reason string) error {
	req := c.newRequest(sip.BYE)
	c.note("send BYE")
	res, err := c.p.do(ctx, req)
	if err == nil {
		c.note(fmt.Sprintf("recv %d BYE", res.StatusCode))
	}
	c.finish(200, reason)
	if err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	if res.StatusCode >= 300 {
		return &StatusError{Method: "BYE", Code: res.StatusCode, Reason: res.Reason}
	}
	return nil
}

// Answer answers an incoming ringing call and returns once it is up.
func (c *Call) Answer(ctx context.Context) error {
	if c.outgoing {
		return ErrNotRinging
	}
	select {
	case <-c.done:
		return ErrCallOver
	default:
	}
	c.answerReqOnce.Do(func() { close(c.answerReq) })
	select {
	case <-c.answered:
		return nil
	case <-c.done:
		return ErrCallOver
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hangup ends the call: BYE when up, CANCEL when an outgoing call rings,
// 486 Busy Here when an incoming call rings. It returns when the call is
// over or ctx ends.
func (c *Call) Hangup(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if c.isUp() {
		return c.bye(ctx, "local BYE")
	}
	if c.outgoing {
		c.cancelOnce.Do(func() { close(c.cancelReq) })
	} else {
		select {
		case c.rejectReq <- 486:
		default:
		}
	}
	select {
	case <-c.done:
		return nil
	case <-c.answered:
		// The answer crossed our CANCEL; the call is being torn down.
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onInvite rings the phone for a new call and applies the policy; an
// in-dialog INVITE is answered with the call's unchanged media.
func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	from, to, cid := req.From(), req.To(), req.CallID()
	if from == nil || to == nil || cid == nil {
		p.respond(tx, req, 400, "Bad Request", "", nil)
		return
	}
	if tagOf(to.Params) != "" {
		c := p.lookup(req)
		if c == nil {
			p.respond(tx, req, 481, "Call/Transaction Does Not Exist", "", nil)
			return
		}
		m, err := rtp.ParseSDP(req.Body())
		if err == nil && m.Addr == nil && m.Image {
			// A switch to T.38 fax: accept it on the media socket.
			c.note("recv INVITE t38")
			c.media.SetRemote(m.ImageAddr)
			c.mu.Lock()
			c.fax = true
			c.mu.Unlock()
			c.note("send 200 INVITE t38")
			p.respond(tx, req, 200, "OK", "", rtp.BuildT38SDP(c.media.LocalAddr(), c.sessID, p.cfg.User))
			return
		}
		c.note("recv INVITE")
		if err == nil && m.Addr != nil {
			c.media.SetRemote(m.Addr)
		}
		c.note("send 200 INVITE")
		p.respond(tx, req, 200, "OK", "", rtp.BuildSDP(c.media.LocalAddr(), c.sessID, p.cfg.User))
		return
	}
	select {
	case <-p.closed:
		p.respond(tx, req, 503, "Service Unavailable", "", nil)
		return
	default:
	}
	target := from.Address
	if ct := req.Contact(); ct != nil {
		target = ct.Address
	}
	dest := req.Source()
	if p.transport == "UDP" {
		if ct := req.Contact(); ct != nil {
			dest = hostPort(ct.Address)
		}
	}
	d := &dialog{
		callID:     cid.Value(),
		local:      *to.Address.Clone(),
		localTag:   sip.GenerateTagN(16),
		remote:     *from.Address.Clone(),
		remoteName: from.DisplayName,
		remoteTag:  tagOf(from.Params),
		target:     *target.Clone(),
		dest:       dest,
	}
	c, err := p.newCall(false, d)
	if err != nil {
		p.respond(tx, req, 500, "Internal Server Error", "", nil)
		return
	}
	if len(req.Body()) > 0 {
		if m, err := rtp.ParseSDP(req.Body()); err != nil || !m.Offers(rtp.PayloadTypePCMU) {
			c.finish(488, "Not Acceptable Here")
			p.respond(tx, req, 488, "Not Acceptable Here", d.localTag, nil)
			return
		}
	}
	c.inReq, c.inTx = req, tx
	p.addCall(c)
	c.note("recv INVITE")
	cancelled := cancelSignal(tx, func(r *sip.Request) {
		if h := r.GetHeader("Reason"); h != nil {
			c.mu.Lock()
			c.cancelReason = h.Value()
			c.mu.Unlock()
		}
	})
	c.note("send 180 INVITE")
	p.respond(tx, req, 180, "Ringing", d.localTag, nil)
	c.markRinging()
	select {
	case p.incoming <- c:
	default:
		p.log.Warn("incoming queue full; call not queued", "callid", d.callID)
	}

	p.mu.Lock()
	pol := p.policy
	p.mu.Unlock()
	var timer <-chan time.Time
	if pol.Mode != NeverAnswer {
		timer = time.After(pol.Delay)
	}
	for {
		select {
		case <-timer:
			if pol.Mode == Reject {
				code := pol.Code
				if code == 0 {
					code = 486
				}
				c.reject(code)
				return
			}
			c.answer()
			return
		case <-c.answerReq:
			c.answer()
			return
		case code := <-c.rejectReq:
			c.reject(code)
			return
		case <-cancelled:
			// CANCEL: the transaction layer has answered 487.
			c.note("recv CANCEL")
			c.finish(487, "remote CANCEL")
			return
		case <-p.closed:
			c.reject(503)
			return
		}
	}
}

func (c *Call) reject(code int) {
	reason := "Busy Here"
	switch code {
	case 603:
		reason = "Decline"
	case 480:
		reason = "Temporarily Unavailable"
	case 503:
		reason = "Service Unavailable"
	}
	c.note(fmt.Sprintf("send %d INVITE", code))
	c.p.respond(c.inTx, c.inReq, code, reason, c.d.localTag, nil)
	c.finish(code, "local reject")
}

// answer sends 200 with our SDP and waits for the ACK, retransmitting the
// 200 on UDP (RFC 3261 section 13.3.1.4).
func (c *Call) answer() {
	p := c.p
	c.note("send 200 INVITE")
	ok := p.respond(c.inTx, c.inReq, 200, "OK", c.d.localTag, rtp.BuildSDP(c.media.LocalAddr(), c.sessID, p.cfg.User))
	c.markUp(c.inReq.Body())
	if p.transport != "UDP" {
		return
	}
	interval := sip.T1
	deadline := time.After(64 * sip.T1)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-c.ackArrived:
			return
		case <-c.done:
			return
		case <-deadline:
			return
		case <-t.C:
			_ = c.inTx.Respond(ok)
			interval = min(2*interval, sip.T2)
			t.Reset(interval)
		}
	}
}

func (p *Phone) onAck(req *sip.Request, _ sip.ServerTransaction) {
	if c := p.lookup(req); c != nil {
		c.ackOnce.Do(func() {
			c.note("recv ACK")
			close(c.ackArrived)
		})
	}
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		p.respond(tx, req, 481, "Call/Transaction Does Not Exist", "", nil)
		return
	}
	c.note("recv BYE")
	c.note("send 200 BYE")
	p.respond(tx, req, 200, "OK", "", nil)
	c.finish(200, "remote BYE")
}

func hostPort(u sip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}

// cancelSignal is closed when the INVITE server transaction tx is
// cancelled or ends. sipgo answers CANCEL (200, then 487) itself but ends
// the transaction only after the ACK and Timer I, so the CANCEL is seen
// through its callback.
func cancelSignal(tx sip.ServerTransaction, onCancel func(*sip.Request)) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	fire := func() { once.Do(func() { close(ch) }) }
	if !tx.OnCancel(func(r *sip.Request) { onCancel(r); fire() }) {
		fire()
		return ch
	}
	go func() {
		select {
		case <-tx.Done():
			fire()
		case <-ch:
		}
	}()
	return ch
}
