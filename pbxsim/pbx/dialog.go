package pbx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// dialog is the PBX's side of one SIP dialog (one call leg). The PBX keeps
// its own dialog table instead of sipgo's dialog caches, so that it controls
// tags, CSeq, routing and teardown of both legs of a bridged call.
type dialog struct {
	mu         sync.Mutex
	callID     string
	local      sip.Uri
	localName  string
	localTag   string
	remote     sip.Uri
	remoteName string
	remoteTag  string
	target     sip.Uri // the far end's Contact: Request-URI of our requests
	transport  string  // "UDP" or "TCP"
	dest       string  // host:port requests are sent to
	cseq       uint32
}

// newRequest builds an in-dialog request. ACK and CANCEL reuse the current
// CSeq number; other methods take the next one.
func (p *PBX) newRequest(d *dialog, method sip.RequestMethod) *sip.Request {
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
	req.AppendHeader(p.contact(d.transport))
	req.AppendHeader(sip.NewHeader("User-Agent", "pbxsim"))
	req.SetTransport(d.transport)
	req.SetDestination(d.dest)
	return req
}

// contact is the PBX's Contact header for transport. Its user is
// "asterisk", as in chan_pjsip's dialogs, so phones address the PBX's side
// of a dialog (REFER, re-INVITE, an INVITE with Replaces) as on Asterisk.
func (p *PBX) contact(transport string) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: "asterisk", Host: p.host, Port: p.port}
	if strings.EqualFold(transport, "TCP") {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return &sip.ContactHeader{Address: u}
}

// client is the sipgo client that sends on transport: UDP requests leave
// from the listening socket, TCP ones reuse the far end's connection.
func (p *PBX) client(transport string) *sipgo.Client {
	if strings.EqualFold(transport, "TCP") {
		return p.tcpCli
	}
	return p.udpCli
}

// errNoResponse: a request's transaction ended with neither a response
// nor an error.
var errNoResponse = errors.New("transaction ended without a response")

// send sends req and waits for its final response. sipgo's Do can end a
// transaction (terminated, or its transport gone) with neither a response
// nor an error; send turns that into errNoResponse.
func (p *PBX) send(ctx context.Context, transport string, req *sip.Request) (*sip.Response, error) {
	res, err := p.client(transport).Do(ctx, req)
	if err == nil && res == nil {
		err = errNoResponse
	}
	return res, err
}

// do sends an in-dialog request and waits for its final response.
func (p *PBX) do(ctx context.Context, d *dialog, method sip.RequestMethod) (*sip.Response, error) {
	req := p.newRequest(d, method)
	res, err := p.send(ctx, d.transport, req)
	if err != nil {
		return nil, fmt.Errorf("send %s to %s: %w", method, d.dest, err)
	}
	return res, nil
}

// bye ends d with a BYE, bounded so that a vanished phone cannot hold a
// call open.
func (p *PBX) bye(d *dialog) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res, err := p.do(ctx, d, sip.BYE); err != nil {
		p.log.Debug("bye failed", "callid", d.callID, "error", err)
	} else if res.StatusCode >= 300 {
		p.log.Debug("bye refused", "callid", d.callID, "status", res.StatusCode)
	}
}

// cancelInvite sends CANCEL for an INVITE we sent (RFC 3261 section 9.1:
// same Request-URI, Call-ID, From, To, CSeq number and top Via).
func (p *PBX) cancelInvite(invite *sip.Request) { p.cancelInviteReason(invite, "") }

// cancelInviteReason is cancelInvite with a Reason header (RFC 3326) when
// reason is not empty.
func (p *PBX) cancelInviteReason(invite *sip.Request, reason string) {
	req := sip.NewRequest(sip.CANCEL, *invite.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(invite.Via()))
	req.AppendHeader(sip.HeaderClone(invite.From()))
	req.AppendHeader(sip.HeaderClone(invite.To()))
	req.AppendHeader(sip.HeaderClone(invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	if reason != "" {
		req.AppendHeader(sip.NewHeader("Reason", reason))
	}
	req.SetTransport(invite.Transport())
	req.SetDestination(invite.Destination())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.send(ctx, invite.Transport(), req); err != nil {
		p.log.Debug("cancel failed", "callid", invite.CallID().Value(), "error", err)
	}
}

// ackAnswer takes a 2xx to an INVITE we sent on d: dialog tag and target,
// then ACK (and ACK again for each retransmitted 2xx).
func (p *PBX) ackAnswer(d *dialog, tx sip.ClientTransaction, res *sip.Response) {
	d.mu.Lock()
	if to := res.To(); to != nil {
		d.remoteTag = tagOf(to.Params)
	}
	if ct := res.Contact(); ct != nil {
		d.target = *ct.Address.Clone()
	}
	d.mu.Unlock()
	ack := p.newRequest(d, sip.ACK)
	tmpl := ack.Clone()
	cli := p.client(d.transport)
	if err := cli.WriteRequest(ack); err != nil {
		p.log.Debug("ack failed", "error", err)
	}
	tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			_ = cli.WriteRequest(tmpl.Clone())
		}
	})
}

// respond answers req on tx. Every response but 100 carries localTag in
// To, so that provisional and final responses name the same dialog.
func (p *PBX) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason, localTag string, body []byte, hdrs ...sip.Header) error {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if code != 100 && localTag != "" {
		if to := res.To(); to != nil {
			to.Params.Add("tag", localTag)
		}
	}
	if req.IsInvite() && code >= 180 && code < 300 {
		res.AppendHeader(p.contact(req.Transport()))
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(sip.NewHeader("Server", "pbxsim"))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("respond %d to %s: %w", code, req.Method, err)
	}
	return nil
}

// requestDest is where in-dialog requests to the sender of req go: the
// connection it came on for TCP, its Contact (else its source) for UDP.
func requestDest(req *sip.Request) string {
	if strings.EqualFold(req.Transport(), "TCP") {
		return req.Source()
	}
	if c := req.Contact(); c != nil && c.Address.Host != "" {
		return hostPort(c.Address)
	}
	return req.Source()
}

func hostPort(u sip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}

func tagOf(params sip.HeaderParams) string {
	t, _ := params.Get("tag")
	return t
}

// sipReason is the reason phrase pbxsim uses for code.
func sipReason(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	return "Error"
}

// cancelSignal is closed when the INVITE server transaction tx is
// cancelled or ends. sipgo answers CANCEL (200, then 487) itself but ends
// the transaction only after the ACK and Timer I, so the CANCEL is seen
// through its callback.
func cancelSignal(tx sip.ServerTransaction) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	fire := func() { once.Do(func() { close(ch) }) }
	if !tx.OnCancel(func(*sip.Request) { fire() }) {
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
