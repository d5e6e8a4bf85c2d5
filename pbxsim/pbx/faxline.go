package pbx

import (
	"fmt"
	"math/rand/v2"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// FaxLine is a DID the PBX answers itself to receive faxes, as a fax
// service's line does on Asterisk (fixtures/asterisk, DID 2125550700):
//
//	NoOp(Inbound fax DID ...) → Answer() → ReceiveFAX(<spool>/fax/<uniqueid>.tif)
//	→ NoOp(FAXSTATUS=${FAXSTATUS}) → Hangup()
//
// ReceiveFAX is res_fax's application; with res_fax.conf's statusevents
// it reports its progress as FAXStatus events (Operation receive) and its
// result as a ReceiveFAX event once the session is over (res_fax.c
// report_fax_status and report_receive_fax_status, published through
// main/manager_channels.c channel_fax_cb). The sending machine ends the
// call once its pages are through; a T.38 re-INVITE from it is taken by
// the PBX itself (its fax terminates T.38: "T.38 Negotiated").
type FaxLine struct {
	DID string
}

// FaxDir is where the fax line's ReceiveFAX writes (astspooldir/fax).
const FaxDir = "/var/spool/asterisk/fax"

// faxStationID is the LOCALSTATIONID res_fax reports when the dialplan
// sets none.
const faxStationID = "unknown"

// faxRoute is the from-trunk route for a fax line.
func (p *PBX) faxRoute(f FaxLine, cidNum, cidName string) route {
	return route{
		kind: routeInbound, callerEP: p.cfg.TrunkEndpoint, callerCtx: "from-trunk",
		exten: f.DID, noop: fmt.Sprintf("Inbound fax DID %s from \"%s\" <%s>", f.DID, cidName, cidNum),
		ringTimeout: DefaultRingTimeout,
	}
}

// runFax answers the caller and receives its fax until it hangs up.
func (c *call) runFax() {
	p := c.p
	c.mu.Lock()
	c.enterDialplan()
	p.newexten(&c.caller, "Answer", "")
	c.caller.State = StateUp
	p.chanEvent("Newstate", &c.caller)
	p.devSet(c.callerDev, &c.caller, StateUp)
	p.devCheck(c.callerDev)
	c.ivr, c.faxing = true, true
	c.answer = p.now()
	c.xferStop = make(chan bool, 1)
	c.mu.Unlock()

	res := sip.NewResponseFromRequest(c.inReq, 200, "OK", rtp.BuildSDP(c.mIn.addr(), rand.Uint64N(1<<31), "pbxsim"))
	res.To().Params.Add("tag", c.in.localTag)
	res.AppendHeader(p.contact(c.inReq.Transport()))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := c.inTx.Respond(res); err != nil {
		p.log.Info("fax answer failed", "error", err)
	}
	go c.waitAck(res)

	c.mu.Lock()
	c.caller.Priority = 3
	file := fmt.Sprintf("%s/%s.tif", FaxDir, c.caller.Uniqueid)
	c.faxFile = file
	p.newexten(&c.caller, "ReceiveFAX", file)
	c.faxStatus("Allocating Resources")
	c.faxStatus("FAX Transmission In Progress")
	c.mu.Unlock()

	select {
	case <-c.xferStop:
		c.faxDone(true)
	case <-c.stop:
		c.faxDone(false)
	}
}

// faxStatus raises res_fax's FAXStatus for the session. Call with c.mu
// held.
func (c *call) faxStatus(status string) {
	c.p.chanEvent("FAXStatus", &c.caller, Field{"Operation", "receive"}, Field{"Status", status},
		Field{"LocalStationID", faxStationID}, Field{"FileName", c.faxFile})
}

// isFaxLine reports whether the call is the PBX's fax line receiving.
func (c *call) isFaxLine() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faxing
}

// faxT38 takes the sending machine's switch to T.38: the PBX's own fax
// answers it on the caller's media port.
func (c *call) faxT38(req *sip.Request, tx sip.ServerTransaction, offer rtp.Media) {
	c.mu.Lock()
	if !c.faxing || c.phase != phaseDialing {
		c.mu.Unlock()
		_ = c.p.respond(tx, req, 488, sipReason(488), "", nil)
		return
	}
	c.mIn.setRemote(offer.ImageAddr)
	c.faxStatus("T.38 Negotiated")
	c.mu.Unlock()
	_ = c.p.respond(tx, req, 200, "OK", "", rtp.BuildT38SDP(c.mIn.addr(), rand.Uint64N(1<<31), "pbxsim"))
}

// faxDone ends the session: the sender hung up (byCaller, its BYE already
// answered), or the PBX closes and hangs up itself. ReceiveFAX reports the
// fax as the session ends, before the channel is gone.
func (c *call) faxDone(byCaller bool) {
	p := c.p
	c.mu.Lock()
	c.phase = phaseEnded
	if byCaller {
		p.causeEvent("HangupRequest", &c.caller, causeNormalClearing)
	} else {
		p.causeEvent("SoftHangupRequest", &c.caller, causeNormalClearing)
	}
	p.chanEvent("ReceiveFAX", &c.caller, Field{"LocalStationID", faxStationID}, Field{"RemoteStationID", c.cidNum},
		Field{"PagesTransferred", "1"}, Field{"Resolution", "8031"}, Field{"TransferRate", "14400"}, Field{"FileName", c.faxFile})
	p.hangupEvent(&c.caller, causeNormalClearing)
	p.devSet(c.callerDev, &c.caller, StateDown)
	p.devCheck(c.callerDev)
	p.cdrEvent(c.cdr("ReceiveFAX", c.faxFile, "", c.start, c.answer, p.now(), "ANSWERED"))
	c.mu.Unlock()
	if !byCaller {
		p.bye(c.in)
	}
	c.release()
}
