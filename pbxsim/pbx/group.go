package pbx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// RingGroup is a group of extensions that ring together on a DID, as
// Goto(ringgroups,<Number>,1) → Dial(PJSIP/101&PJSIP/102&...,<timeout>,tU(sub-record))
// rings them: the first to answer takes the call, the others get CANCEL
// with Reason "Call completed elsewhere" (DialEnd CANCEL, Hangup cause 26).
type RingGroup struct {
	Number      string // "600"
	DID         string // "2125550600"
	Members     []string
	RingTimeout time.Duration // DefaultRingTimeout
}

// fork is one member leg of a ring group's Dial.
type fork struct {
	ext         Extension
	ch          Channel
	dev         string
	d           *dialog
	req         *sip.Request
	tx          sip.ClientTransaction
	m           *relayLeg
	cancel      chan string
	once        sync.Once
	provisional bool
	reported    bool
	ended       bool
}

type forkEv struct {
	f    *fork
	res  *sip.Response
	code int // a final failure (408 when the transaction ended)
}

func (f *fork) stop(reason string) { f.once.Do(func() { f.cancel <- reason }) }

// groupRoute is the from-trunk route for ring group g.
func (p *PBX) groupRoute(g RingGroup, cidNum, cidName string) route {
	devs := make([]string, len(g.Members))
	for i, m := range g.Members {
		devs[i] = device(m)
	}
	return route{
		kind: routeInbound, callerEP: p.cfg.TrunkEndpoint, callerCtx: "from-trunk",
		exten: g.DID, noop: fmt.Sprintf("Inbound ring group DID %s from \"%s\" <%s>", g.DID, cidName, cidNum),
		calleeEP: g.Members[0], dialString: strings.TrimPrefix(strings.Join(devs, "&"), "PJSIP/"),
		opts: "tU(sub-record)", ringTimeout: g.RingTimeout, group: &g,
	}
}

// runGroup plays Goto(ringgroups,<n>,1) and the group's Dial: every
// member rings; the first answer wins.
func (c *call) runGroup() {
	c.mu.Lock()
	c.enterDialplan()
	c.mu.Unlock()
	c.dialGroup()
}

// dialGroup plays Goto(ringgroups,<n>,1) from the caller channel's place
// in the dialplan, then the group's Dial.
func (c *call) dialGroup() {
	p, r := c.p, &c.r
	g := r.group
	c.mu.Lock()
	p.newexten(&c.caller, "Goto", "ringgroups,"+g.Number+",1")
	c.caller.Context, c.caller.Exten, c.caller.Priority = "ringgroups", g.Number, 1
	p.newexten(&c.caller, "NoOp", "Ring group "+g.Number)
	c.caller.Priority = 2
	p.newexten(&c.caller, "Dial", c.dialData())
	var forks []*fork
	for _, num := range g.Members {
		ext, _ := p.ext(num)
		f := &fork{ext: ext, dev: device(num), cancel: make(chan string, 1)}
		f.ch = c.newChannel(num, p.now())
		f.ch.CallerIDNum, f.ch.CallerIDName = ext.Number, ext.Name
		f.ch.Context, f.ch.Exten = "from-internal", "s"
		f.ch.Linkedid = c.caller.Linkedid
		p.chanEvent("Newchannel", &f.ch)
		f.ch.ConnectedLineNum, f.ch.ConnectedLineName = c.cidNum, c.cidName
		f.ch.Exten = g.Number
		p.newexten(&f.ch, "AppDial", "(Outgoing Line)")
		p.chanEvent("NewConnectedLine", &f.ch)
		forks = append(forks, f)
	}
	// app_dial requests every peer's channel first, then calls them in
	// turn: the DialBegins follow all the Newchannels.
	for _, f := range forks {
		p.dialEvent("DialBegin", &c.caller, &f.ch, Field{"DialString", f.ext.Number})
	}
	c.mu.Unlock()
	c.toCaller(100)

	ev := make(chan forkEv, 4*len(forks))
	live := 0
	for _, f := range forks {
		if err := c.ringFork(f, ev); err != nil {
			p.log.Info("ring group member unreachable", "ext", f.ext.Number, "error", err)
			c.forkFailed(f, "CHANUNAVAIL", causeSubscriberAbs)
			continue
		}
		live++
	}
	if live == 0 {
		c.groupFailed(forks, "CHANUNAVAIL", 480)
		return
	}
	timer := time.NewTimer(r.ringTimeout)
	defer timer.Stop()
	inDone := c.callerCancel()
	rang := false
	for {
		select {
		case e := <-ev:
			switch {
			case e.res != nil && e.res.StatusCode < 200:
				e.f.provisional = true
				rang = c.flushForks(forks, rang)
			case e.res != nil:
				if e.f.ended {
					go p.bye(e.f.d)
					continue
				}
				c.forkAnswered(forks, e.f, e.res, rang)
				return
			default:
				if e.f.ended {
					continue
				}
				c.forkFailed(e.f, dialStatus(e.code), sipToCause(e.code))
				rang = c.flushForks(forks, rang)
				if allEnded(forks) {
					c.groupFailed(forks, dialStatus(e.code), e.code)
					return
				}
			}
		case <-timer.C:
			c.endForks(forks, "NOANSWER", causeUnknown, "")
			c.groupFailed(forks, "NOANSWER", 480)
			return
		case <-inDone:
			c.mu.Lock()
			c.phase = phaseEnded
			p.causeEvent("HangupRequest", &c.caller, causeInterworking)
			c.mu.Unlock()
			c.endForks(forks, "CANCEL", causeUnknown, "")
			c.mu.Lock()
			p.hangupEvent(&c.caller, causeInterworking)
			p.devSet(c.callerDev, &c.caller, StateDown)
			p.devCheck(c.callerDev)
			p.cdrEvent(c.cdr("Dial", c.dialData(), forks[0].ch.Name, c.start, time.Time{}, p.now(), "NO ANSWER"))
			c.mu.Unlock()
			c.releaseForks(forks, nil)
			c.release()
			return
		case <-c.stop:
			c.endForks(forks, "CANCEL", causeNormalClearing, "")
			c.groupFailed(forks, "CANCEL", 503)
			return
		}
	}
}

func allEnded(forks []*fork) bool {
	for _, f := range forks {
		if !f.ended {
			return false
		}
	}
	return true
}

// ringFork sends a member its INVITE and follows the responses.
func (c *call) ringFork(f *fork, ev chan<- forkEv) error {
	p := c.p
	b := p.lookupBinding(f.ext.Number)
	if b == nil {
		return fmt.Errorf("ring %s: not registered", f.ext.Number)
	}
	var err error
	if f.m, err = newRelayLeg(p.host); err != nil {
		return err
	}
	f.d = &dialog{
		callID: uuid.NewString(),
		local:  sip.Uri{Scheme: "sip", User: c.cidNum, Host: p.host, Port: p.port}, localName: c.cidName,
		localTag: sip.GenerateTagN(16),
		remote:   sip.Uri{Scheme: "sip", User: f.ext.Number, Host: p.host, Port: p.port},
		target:   *b.contact.Clone(), transport: b.transport, dest: b.dest,
	}
	req := p.newRequest(f.d, sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(rtp.BuildSDP(f.m.addr(), rand.Uint64N(1<<31), "pbxsim"))
	p.ladderLink(f.d.callID, f.ch.Linkedid)
	p.mu.Lock()
	p.legs[f.d.callID] = &legRef{c: c, fork: f}
	p.mu.Unlock()
	tx, err := p.client(b.transport).TransactionRequest(context.Background(), req)
	if err != nil {
		return fmt.Errorf("ring %s: %w", f.ext.Number, err)
	}
	f.req, f.tx = req, tx
	report := func(res *sip.Response) { ev <- forkEv{f: f, res: res} }
	go p.followLeg(tx, req, f.d, f.cancel, legReport{
		ringing: report, answered: report,
		failed: func(code int) { ev <- forkEv{f: f, code: code} },
	})
	return nil
}

// flushForks reports ringing members in the order they were dialled; the
// caller hears 180 with the first.
func (c *call) flushForks(forks []*fork, rang bool) bool {
	p := c.p
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range forks {
		if f.ended || f.reported {
			continue
		}
		if !f.provisional {
			break
		}
		f.reported = true
		f.ch.State = StateRinging
		p.devSet(f.dev, &f.ch, StateRinging)
		p.chanEvent("Newstate", &f.ch)
		p.dialEvent("DialState", &c.caller, &f.ch, Field{"DialStatus", "RINGING"})
		p.devCheck(f.dev)
		if !rang {
			rang = true
			c.toCaller(180)
		}
	}
	return rang
}

// forkFailed ends one member leg that failed.
func (c *call) forkFailed(f *fork, status string, cause int) {
	p := c.p
	c.mu.Lock()
	defer c.mu.Unlock()
	f.ended = true
	p.dialEvent("DialEnd", &c.caller, &f.ch, Field{"DialStatus", status})
	p.hangupEvent(&f.ch, cause)
	p.devSet(f.dev, &f.ch, StateDown)
	p.devCheck(f.dev)
}

// endForks cancels every member still ringing.
func (c *call) endForks(forks []*fork, status string, cause int, reason string) {
	for _, f := range forks {
		if f.ended {
			continue
		}
		if f.tx != nil {
			f.stop(reason)
		}
		c.forkFailed(f, status, cause)
	}
}

// forkAnswered takes the first answer: the winner becomes the call's
// callee, the others are cancelled as answered elsewhere.
func (c *call) forkAnswered(forks []*fork, w *fork, res *sip.Response, rang bool) {
	p := c.p
	if !w.reported {
		w.provisional = true
		c.flushForks(forks, rang)
	}
	c.mu.Lock()
	p.devMove(w.dev, &w.ch, &c.callee)
	c.callee, c.out, c.mOut, c.calleeDev = w.ch, w.d, w.m, w.dev
	c.outTx, c.outReq = w.tx, w.req
	for _, f := range forks {
		if f != w && !f.ended {
			c.losers = append(c.losers, f)
		}
	}
	p.mu.Lock()
	p.legs[w.d.callID] = &legRef{c: c, caller: false}
	p.mu.Unlock()
	c.mu.Unlock()
	mOut := c.mOut
	mOut.onDigit(func(d string) { c.digit(mOut, d) })
	c.answered(res)
	c.releaseForks(forks, w)
}

// cancelLosers ends the members that lost: DialEnd CANCEL, CANCEL with
// "Call completed elsewhere", Hangup cause 26. Call with c.mu held.
func (c *call) cancelLosers() {
	p := c.p
	for _, f := range c.losers {
		f.ended = true
		p.dialEvent("DialEnd", &c.caller, &f.ch, Field{"DialStatus", "CANCEL"})
		f.stop(completedElsewhere)
		p.hangupEvent(&f.ch, causeAnsweredElsewhere)
		p.devSet(f.dev, &f.ch, StateDown)
		p.devCheck(f.dev)
	}
	c.losers = nil
}

// groupFailed ends a ring group call nobody answered, as dialFailed does
// for one callee.
func (c *call) groupFailed(forks []*fork, status string, sipCode int) {
	p := c.p
	c.mu.Lock()
	c.phase = phaseEnded
	end := p.now()
	c.caller.Priority = 3
	p.newexten(&c.caller, "NoOp", "DIALSTATUS="+status)
	c.caller.Priority = 4
	p.newexten(&c.caller, "Hangup", "")
	p.causeEvent("SoftHangupRequest", &c.caller, causeNormalClearing)
	p.hangupEvent(&c.caller, causeNormalClearing)
	p.devSet(c.callerDev, &c.caller, StateDown)
	p.devCheck(c.callerDev)
	disp := cdrDisposition(status)
	for _, f := range forks {
		p.cdrEvent(c.cdr("Dial", c.dialData(), f.ch.Name, c.start, time.Time{}, end, disp))
	}
	c.mu.Unlock()
	if sipCode < 400 {
		sipCode = 480
	}
	c.toCaller(sipCode)
	c.releaseForks(forks, nil)
	c.release()
}

// releaseForks frees the losing members' legs (keep stays with the call).
func (c *call) releaseForks(forks []*fork, keep *fork) {
	p := c.p
	p.mu.Lock()
	for _, f := range forks {
		if f != keep && f.d != nil {
			delete(p.legs, f.d.callID)
		}
	}
	p.mu.Unlock()
	for _, f := range forks {
		if f != keep {
			f.m.close()
		}
	}
}
