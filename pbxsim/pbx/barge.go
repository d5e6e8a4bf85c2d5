package pbx

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callhook/callhook/pbxsim/rtp"
)

// Barge. A supervisor's extension dials BargePrefix + an extension
// (exten => _555X.,n,ChanSpy(PJSIP/${EXTEN:3}-,qE)) and listens in on that
// extension's live call: the PBX answers, raises ChanSpyStart with the
// Spyer and Spyee channel blocks, and copies both sides' media to the
// supervisor. ChanSpyStop and the supervisor's Hangup follow when either
// the supervisor or the call hangs up.

// BargePrefix is what a supervisor dials before the extension to listen
// in on.
const BargePrefix = "555"

// spy is a supervisor listening in on a call.
type spy struct {
	p     *PBX
	c     *call
	ch    Channel
	spyee Channel
	dev   string
	d     *dialog
	m     *relayLeg
	once  sync.Once
	start time.Time
}

// barge answers a supervisor's call to BargePrefix+target.
func (p *PBX) barge(req *sip.Request, tx sip.ServerTransaction, sup Extension, target string) {
	var c *call
	p.mu.Lock()
	for lc := range p.live {
		if cc, ok := lc.(*call); ok {
			cc.mu.Lock()
			up := cc.phase == phaseUp && (cc.callee.CallerIDNum == target || cc.caller.CallerIDNum == target)
			cc.mu.Unlock()
			if up {
				c = cc
				break
			}
		}
	}
	p.mu.Unlock()
	if c == nil {
		_ = p.respond(tx, req, 404, sipReason(404), sip.GenerateTagN(16), nil)
		return
	}
	m, err := newRelayLeg(p.host)
	if err != nil {
		_ = p.respond(tx, req, 500, sipReason(500), sip.GenerateTagN(16), nil)
		return
	}
	if offer, err := rtp.ParseSDP(req.Body()); err == nil && offer.Addr != nil {
		m.setRemote(offer.Addr)
	}
	from, to := req.From(), req.To()
	tgt := from.Address
	if ct := req.Contact(); ct != nil {
		tgt = ct.Address
	}
	s := &spy{p: p, c: c, dev: device(sup.Number), m: m, d: &dialog{
		callID: req.CallID().Value(), local: *to.Address.Clone(), localTag: sip.GenerateTagN(16),
		remote: *from.Address.Clone(), remoteName: from.DisplayName, remoteTag: tagOf(from.Params),
		target: *tgt.Clone(), transport: strings.ToUpper(req.Transport()), dest: requestDest(req),
	}}
	c.mu.Lock()
	if c.phase != phaseUp {
		c.mu.Unlock()
		m.close()
		_ = p.respond(tx, req, 404, sipReason(404), sip.GenerateTagN(16), nil)
		return
	}
	now := p.now()
	s.start = now
	s.ch = c.newChannel(sup.Number, now)
	s.ch.State = StateRing
	s.ch.CallerIDNum, s.ch.CallerIDName = sup.Number, sup.Name
	s.ch.Context, s.ch.Exten = "from-internal", req.Recipient.User
	s.ch.Linkedid = s.ch.Uniqueid
	p.ladderLink(s.d.callID, s.ch.Linkedid)
	s.spyee = c.callee
	if c.caller.CallerIDNum == target {
		s.spyee = c.caller
	}
	p.chanEvent("Newchannel", &s.ch)
	p.newexten(&s.ch, "ChanSpy", fmt.Sprintf("PJSIP/%s,q", target))
	s.ch.State = StateUp
	p.chanEvent("Newstate", &s.ch)
	p.devSet(s.dev, &s.ch, StateUp)
	p.devCheck(s.dev)
	fields := append(s.ch.Fields("Spyer"), s.spyee.Fields("Spyee")...)
	p.emit(Event{Name: "ChanSpyStart", Time: p.now(), Fields: fields})
	c.spies = append(c.spies, s)
	c.mIn.listen(m)
	c.mOut.listen(m)
	c.mu.Unlock()
	p.mu.Lock()
	p.legs[s.d.callID] = &legRef{spy: s}
	p.live[s] = struct{}{}
	p.mu.Unlock()
	_ = p.respond(tx, req, 200, "OK", s.d.localTag, rtp.BuildSDP(m.addr(), rand.Uint64N(1<<31), "pbxsim"))
}

// stop ends the listening: ChanSpyStop and the supervisor's Hangup; bye
// says whether the PBX hangs up the supervisor's dialog (the call ended).
// Call with s.c.mu held.
func (s *spy) stop(bye bool) {
	s.once.Do(func() {
		p := s.p
		s.c.mIn.unlisten(s.m)
		s.c.mOut.unlisten(s.m)
		fields := append(s.ch.Fields("Spyer"), s.spyee.Fields("Spyee")...)
		p.emit(Event{Name: "ChanSpyStop", Time: p.now(), Fields: fields})
		// A supervisor who hangs up leaves ChanSpy's channel with no
		// cause (0, as on Asterisk 22); one the PBX hangs up, 16.
		cause := causeUnknown
		if bye {
			cause = causeNormalClearing
		}
		p.hangupEvent(&s.ch, cause)
		// The supervisor's call is a call of its own: its Cdr (cdr_manager)
		// names the ChanSpy application and the extension listened in on.
		p.cdrEvent(cdr{
			src: s.ch.CallerIDNum, dst: s.ch.Exten, dstContext: "from-internal",
			callerID: fmt.Sprintf("\"%s\" <%s>", s.ch.CallerIDName, s.ch.CallerIDNum),
			channel:  s.ch.Name, lastApp: "ChanSpy", lastData: "PJSIP/" + s.spyee.CallerIDNum + "-,qE",
			start: s.start, answer: s.start, end: p.now(), disposition: "ANSWERED", uniqueid: s.ch.Uniqueid,
		})
		p.devSet(s.dev, &s.ch, StateDown)
		p.devCheck(s.dev)
		go func() {
			if bye {
				p.bye(s.d)
			}
			p.mu.Lock()
			delete(p.legs, s.d.callID)
			delete(p.live, s)
			p.mu.Unlock()
			s.m.close()
		}()
	})
}

// shutdown ends the listening for Close.
func (s *spy) shutdown() {
	s.c.mu.Lock()
	s.stop(true)
	s.c.mu.Unlock()
}

// listen copies what l receives to spy leg s as well.
func (l *relayLeg) listen(s *relayLeg) {
	if l == nil {
		return
	}
	for {
		old := l.spies.Load()
		var next []*relayLeg
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, s)
		if l.spies.CompareAndSwap(old, &next) {
			return
		}
	}
}

// unlisten stops copying to s.
func (l *relayLeg) unlisten(s *relayLeg) {
	if l == nil {
		return
	}
	for {
		old := l.spies.Load()
		if old == nil {
			return
		}
		var next []*relayLeg
		for _, x := range *old {
			if x != s {
				next = append(next, x)
			}
		}
		if l.spies.CompareAndSwap(old, &next) {
			return
		}
	}
}
