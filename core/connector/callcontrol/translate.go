package callcontrol

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// translator turns what the PBX shows of its participants into signals.
// 3CX tells only the present state of each participant (an upsert names
// the entity; its GET returns what it is now; a removal says it is gone),
// so the translator keeps the last state it saw of every participant and
// reports the difference: a new participant of an extension or external
// line is a leg, its status changes are the leg's alerting and answer,
// its removal the leg's end. Who dialled whom, transfers, queues and
// menus follow from the participants' party, referred_by and
// on_behalf_of fields (docs/3cx-callcontrol.md has the table). It is not
// safe for concurrent use; it outlives sessions, so a resync after a
// reconnect reports only what changed.
type translator struct {
	typeOf func(dn string) string
	nameOf func(ext string) string

	parts map[string]*tpart // by "dn/id"
	calls map[int]*tcall    // by 3CX call id
	// Legs are named "<epoch>.<n>": the translator's start in Unix
	// seconds and a count of the participants it met, unique while it
	// lives; a call is named by its first leg, as signal.Leg asks, which
	// also gives the form receivers of Asterisk-born dialects expect
	// (VOIPEX UniqueId).
	epoch int64
	met   int
	// resyncing: new participants are met after an absence, so one
	// referred by an extension with a consultation open is that
	// consultation's party (an attended transfer the connector missed).
	resyncing bool
}

type partKind uint8

const (
	kindLeg    partKind = iota + 1 // an extension's or external line's participant: a leg
	kindQueue                      // a queue holding a caller
	kindMenu                       // an IVR holding a caller
	kindFax                        // a fax extension receiving a caller's fax
	kindIgnore                     // another DN's participant (route point, ring group, ...)
)

type tpart struct {
	key      string // "dn/id"
	id       string // the leg's ID
	p        Participant
	kind     partKind
	leg      signal.Leg
	call     *tcall
	dialler  *tpart // the leg that dialled it
	caller   *tpart // queue, menu: the caller held
	listens  *tpart // a supervisor's leg: the leg listened in on
	rang     bool
	answered bool
	ended    bool // its dial's end was reported
	gone     bool
}

type tcall struct {
	id       int
	name     string
	live     []*tpart // in order of appearance
	first    *tpart
	answered bool // a dialled leg of the call answered
}

func newTranslator(typeOf, nameOf func(string) string, epoch time.Time) *translator {
	return &translator{typeOf: typeOf, nameOf: nameOf, parts: map[string]*tpart{}, calls: map[int]*tcall{}, epoch: epoch.Unix()}
}

func partKey(dn string, id int) string { return dn + "/" + strconv.Itoa(id) }

// call finds or opens 3CX call id; it is named when its first leg appears.
func (t *translator) call(id int, _ time.Time) *tcall {
	c := t.calls[id]
	if c == nil {
		c = &tcall{id: id}
		t.calls[id] = c
	}
	return c
}

func (c *tcall) find(f func(*tpart) bool) *tpart {
	for _, p := range c.live {
		if f(p) {
			return p
		}
	}
	return nil
}

func (c *tcall) drop(p *tpart) {
	c.live = slices.DeleteFunc(c.live, func(q *tpart) bool { return q == p })
}

func (t *translator) kindOf(dn string) partKind {
	switch t.typeOf(dn) {
	case typeExtension, typeExternalLine:
		return kindLeg
	case typeQueue:
		return kindQueue
	case typeIVR:
		return kindMenu
	case typeFax:
		return kindFax
	}
	return kindIgnore
}

// legOf is the leg a participant stands for. An extension's leg is the
// extension's own (its number, its user's name); an external line's is
// the outside party it carries (3CX's party of an external line
// participant), with the DID it called.
func (t *translator) legOf(tp *tpart) signal.Leg {
	p := tp.p
	l := signal.Leg{ID: tp.id, Call: tp.call.name, CallSeq: tp.call.id, ConnectedNum: p.PartyCallerID, ConnectedName: p.PartyCallerName}
	if t.typeOf(p.DN) == typeExternalLine {
		l.Endpoint = "line-" + p.DN
		l.CallerNum, l.CallerName, l.Number = p.PartyCallerID, p.PartyCallerName, p.PartyDID
		l.ConnectedNum, l.ConnectedName = "", ""
	} else {
		l.Endpoint, l.CallerNum, l.CallerName = p.DN, p.DN, t.nameOf(p.DN)
	}
	switch {
	case tp.answered:
		l.State = signal.StateUp
	case tp.rang:
		l.State = signal.StateAlerting
	case tp.dialler == nil && p.Status == statusDialing:
		l.State = signal.StateCalling
	}
	return l
}

func (t *translator) refresh(tp *tpart) { tp.leg = t.legOf(tp) }

// upsert applies a participant's present state and returns what changed.
func (t *translator) upsert(now time.Time, p Participant) []signal.Signal {
	key := partKey(p.DN, p.ID)
	tp := t.parts[key]
	if tp == nil {
		return t.appear(now, p)
	}
	old := tp.p
	tp.p = p
	var out []signal.Signal
	if tp.kind != kindLeg {
		return nil
	}
	if p.CallID != old.CallID {
		// What it did in its old call (answered the consultation) came
		// before the move.
		out = append(out, t.progress(now, tp)...)
		out = append(out, t.moved(now, tp)...)
	}
	if tp.listens == nil && tp.dialler == nil && p.PartyDN != old.PartyDN {
		out = append(out, t.listen(now, tp)...)
	}
	t.refresh(tp)
	return append(out, t.progress(now, tp)...)
}

func (t *translator) appear(now time.Time, p Participant) []signal.Signal {
	c := t.call(p.CallID, now)
	t.met++
	tp := &tpart{key: partKey(p.DN, p.ID), id: fmt.Sprintf("%d.%d", t.epoch, t.met), p: p, kind: t.kindOf(p.DN), call: c}
	t.parts[tp.key] = tp
	switch tp.kind {
	case kindQueue, kindMenu, kindFax:
		// A queue, IVR or fax extension holding a caller: its party is
		// the caller.
		tp.caller = c.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.PartyDN })
		if tp.caller == nil {
			return nil
		}
		s := signal.Signal{Time: now, Leg: tp.caller.leg}
		switch tp.kind {
		case kindQueue:
			s.Kind, s.Queue = signal.QueueJoined, p.DN
		case kindMenu:
			s.Kind, s.Menu = signal.MenuEntered, p.DN
		default:
			s.Kind = signal.FaxReceiving
		}
		return []signal.Signal{s}
	case kindIgnore:
		return nil
	}
	var out []signal.Signal
	if c.first == nil {
		c.first = tp
	}
	if c.name == "" {
		c.name = tp.id
	}
	if p.ReferredByDN != "" && t.typeOf(p.ReferredByDN) == typeExtension {
		if consult := t.consultation(c, p.ReferredByDN); consult != nil {
			// Referred by an extension that also has a call of its own
			// open: the party it consulted, met only now (the connector
			// was away): it was dialled in the consultation, then moved.
			if c.first == tp {
				c.first = nil
			}
			if consult.name == "" {
				consult.name = tp.id
			}
			var stand *tpart
			if c.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.ReferredByDN }) == nil {
				// The transferer's leg in the transferred call came and
				// went unseen: it answered the transferee, who is the
				// consulted party's party now.
				sp := Participant{ID: math.MaxInt32 - len(t.parts), DN: p.ReferredByDN, Status: statusConnected, CallID: c.id, PartyDN: p.PartyDN}
				t.resyncing = false
				out = append(out, t.appear(now, sp)...)
				t.resyncing = true
				stand = t.parts[partKey(sp.DN, sp.ID)]
			}
			q2 := consult.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.ReferredByDN })
			tp.call, tp.dialler = consult, q2
			consult.live = append(consult.live, tp)
			t.refresh(tp)
			out = append(out, signal.Signal{Kind: signal.LegAppeared, Time: now, Leg: tp.leg},
				signal.Signal{Kind: signal.Dialling, Time: now, Leg: q2.leg, Peer: tp.leg, Number: p.DN})
			out = append(out, t.progress(now, tp)...)
			out = append(out, t.moved(now, tp)...)
			t.refresh(tp)
			out = append(out, t.progress(now, tp)...)
			if stand != nil {
				gone, _ := t.remove(now, stand.p.DN, stand.p.ID)
				out = append(out, gone...)
			}
			return out
		}
	}
	// A new participant referred by an extension talking in the same
	// call: that extension transferred the call blind to it.
	var transferee *tpart
	if p.ReferredByDN != "" && t.typeOf(p.ReferredByDN) == typeExtension {
		trer := c.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.ReferredByDN && q.answered })
		transferee = c.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.PartyDN && q != trer })
		if trer != nil && transferee != nil {
			out = append(out, signal.Signal{Kind: signal.Transferred, Time: now, Leg: transferee.leg, Transfer: &signal.Transfer{
				Kind: signal.Blind, Done: true, Transferer: trer.leg, Transferee: transferee.leg, Number: p.DN}})
		} else {
			transferee = nil
		}
	}
	tp.dialler = transferee
	if tp.dialler == nil {
		tp.dialler = t.dialler(c, tp)
	}
	c.live = append(c.live, tp)
	t.refresh(tp)
	out = append(out, signal.Signal{Kind: signal.LegAppeared, Time: now, Leg: tp.leg})
	if d := tp.dialler; d != nil {
		from := d.leg
		if p.OnBehalfOfType == typeRingGroup {
			// The caller dials the group's members: the number it
			// dials from is the group's.
			from.Number = p.OnBehalfOfDN
		}
		if p.OnBehalfOfType == typeQueue {
			out = append(out, signal.Signal{Kind: signal.AgentRinging, Time: now, Leg: from, Peer: tp.leg, Queue: p.OnBehalfOfDN,
				Member: signal.Member{Endpoint: p.DN, Name: t.nameOf(p.DN)}})
		}
		number := p.DN
		if t.typeOf(p.DN) == typeExternalLine {
			number = p.PartyCallerID
		}
		out = append(out, signal.Signal{Kind: signal.Dialling, Time: now, Leg: from, Peer: tp.leg, Number: number})
	}
	out = append(out, t.listen(now, tp)...)
	return append(out, t.progress(now, tp)...)
}

// consultation is, after an absence, the other call of the extension dn
// beside c: the call an attended transfer's transferer opened to consult.
func (t *translator) consultation(c *tcall, dn string) *tcall {
	if !t.resyncing {
		return nil
	}
	for _, o := range t.calls {
		if o != c && o.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == dn && q.dialler == nil }) != nil {
			return o
		}
	}
	return nil
}

// dialler is the leg that called p: a leg of the call whose party is p's
// DN, or whose DN is p's party, the call's first leg preferred.
func (t *translator) dialler(c *tcall, tp *tpart) *tpart {
	p := tp.p
	var found *tpart
	for _, q := range c.live {
		if q.kind != kindLeg || q == tp || (p.ReferredByDN != "" && q.p.DN == p.ReferredByDN) {
			continue
		}
		if q.p.PartyDN == p.DN || (p.PartyDN != "" && p.PartyDN == q.p.DN) {
			if found == nil || q == c.first {
				found = q
			}
		}
	}
	return found
}

// listen reports a supervisor listening in: an extension's participant
// that nobody dialled, alone in its call and connected, whose party is
// an extension talking in another call.
func (t *translator) listen(now time.Time, tp *tpart) []signal.Signal {
	p := tp.p
	if tp.listens != nil || tp.dialler != nil || p.Status != statusConnected || t.typeOf(p.DN) != typeExtension ||
		t.typeOf(p.PartyDN) != typeExtension || len(tp.call.live) != 1 {
		return nil
	}
	var target *tpart
	for _, q := range t.parts {
		if q.kind == kindLeg && q.call != tp.call && q.p.DN == p.PartyDN && q.answered && !q.gone {
			target = q
		}
	}
	if target == nil {
		return nil
	}
	tp.listens = target
	var out []signal.Signal
	if !tp.answered {
		tp.answered = true
		t.refresh(tp)
		out = append(out, signal.Signal{Kind: signal.LegAnswered, Time: now, Leg: tp.leg})
	}
	return append(out, signal.Signal{Kind: signal.ListenStarted, Time: now, Leg: tp.leg, Peer: target.leg})
}

// moved follows a participant into another call: the consulted party of
// an attended transfer, now referred by the transferring extension, with
// the transferee as its party.
func (t *translator) moved(now time.Time, tp *tpart) []signal.Signal {
	from := tp.call
	to := t.call(tp.p.CallID, now)
	from.drop(tp)
	p := tp.p
	var out []signal.Signal
	if p.ReferredByDN != "" && t.typeOf(p.ReferredByDN) == typeExtension {
		first := to.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.ReferredByDN })
		second := from.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.ReferredByDN })
		tee := to.find(func(q *tpart) bool { return q.kind == kindLeg && q.p.DN == p.PartyDN && q != first })
		tp.call = to
		t.refresh(tp)
		if tee != nil && (first != nil || second != nil) {
			x := signal.Transfer{Kind: signal.Attended, Done: true, Transferee: tee.leg, Target: tp.leg}
			if first != nil {
				x.Transferer = first.leg
			}
			if second != nil {
				x.SecondTransferer = second.leg
			}
			out = append(out, signal.Signal{Kind: signal.Transferred, Time: now, Leg: tee.leg, Transfer: &x})
			tp.dialler = tee
		}
	}
	tp.call = to
	to.live = append(to.live, tp)
	if to.first == nil {
		to.first = tp
	}
	if len(from.live) == 0 {
		delete(t.calls, from.id)
	}
	return out
}

// progress reports a leg's status moving on: ringing, then answered.
func (t *translator) progress(now time.Time, tp *tpart) []signal.Signal {
	var out []signal.Signal
	switch tp.p.Status {
	case statusRinging:
		if !tp.rang && !tp.answered {
			tp.rang = true
			t.refresh(tp)
			out = append(out, signal.Signal{Kind: signal.LegAlerting, Time: now, Leg: tp.leg})
		}
	case statusConnected:
		if tp.answered {
			return nil
		}
		tp.answered = true
		t.refresh(tp)
		out = append(out, signal.Signal{Kind: signal.LegAnswered, Time: now, Leg: tp.leg})
		if d := tp.dialler; d != nil {
			tp.call.answered = true
			out = append(out, signal.Signal{Kind: signal.DialEnded, Time: now, Leg: d.leg, Peer: tp.leg, Outcome: signal.OutcomeAnswered})
			if tp.p.OnBehalfOfType == typeQueue {
				out = append(out, signal.Signal{Kind: signal.AgentAnswered, Time: now, Leg: d.leg, Peer: tp.leg, Queue: tp.p.OnBehalfOfDN,
					Member: signal.Member{Endpoint: tp.p.DN, Name: t.nameOf(tp.p.DN)}})
			}
		}
	}
	return out
}

// remove reports a participant gone. ended is the 3CX call id when it was
// the call's last participant, else 0.
func (t *translator) remove(now time.Time, dn string, id int) (out []signal.Signal, ended *tcall) {
	tp := t.parts[partKey(dn, id)]
	if tp == nil {
		return nil, nil
	}
	delete(t.parts, tp.key)
	tp.gone = true
	c := tp.call
	switch tp.kind {
	case kindQueue:
		if tp.caller != nil && !tp.caller.gone {
			out = append(out, signal.Signal{Kind: signal.QueueLeft, Time: now, Leg: tp.caller.leg, Queue: dn})
		}
		return out, nil
	case kindMenu, kindFax, kindIgnore:
		return nil, nil
	}
	if tp.listens != nil {
		out = append(out, signal.Signal{Kind: signal.ListenStopped, Time: now, Leg: tp.leg, Peer: tp.listens.leg})
	}
	// A caller that goes while the legs it dialled still ring cancels
	// their dials, before it is gone.
	for _, q := range c.live {
		if q.dialler == tp && !q.answered && !q.ended {
			q.ended = true
			out = append(out, signal.Signal{Kind: signal.DialEnded, Time: now, Leg: tp.leg, Peer: q.leg, Outcome: signal.OutcomeCancelled})
		}
	}
	cause := 16 // an answered leg's end: 3CX gives no cause; a normal clearing is what a removal after a conversation is
	if d := tp.dialler; d != nil && !tp.answered && tp.ended {
		cause = 0
	} else if d != nil && !tp.answered {
		// 3CX says nothing of why a called participant went: a removal
		// after another leg of the call answered, or after the caller
		// went, is a cancel; while the caller waits, one that rang went
		// unanswered and one that never rang was refused.
		outcome := signal.OutcomeBusy
		cause = 17
		switch {
		case c.answered || d.gone:
			outcome, cause = signal.OutcomeCancelled, 0
		case tp.rang:
			outcome, cause = signal.OutcomeNoAnswer, 19
		}
		if tp.p.OnBehalfOfType == typeQueue && outcome == signal.OutcomeNoAnswer {
			out = append(out, signal.Signal{Kind: signal.AgentNoAnswer, Time: now, Leg: d.leg, Peer: tp.leg, Queue: tp.p.OnBehalfOfDN,
				Member: signal.Member{Endpoint: tp.p.DN, Name: t.nameOf(tp.p.DN)}})
		}
		out = append(out, signal.Signal{Kind: signal.DialEnded, Time: now, Leg: d.leg, Peer: tp.leg, Outcome: outcome})
	} else if !tp.answered {
		cause = 0
	}
	out = append(out, signal.Signal{Kind: signal.LegGone, Time: now, Leg: tp.leg, Cause: cause})
	c.drop(tp)
	if len(c.live) == 0 {
		delete(t.calls, c.id)
		for _, q := range t.parts {
			if q.call == c {
				// Queues and menus still holding the call's legs go with it.
				delete(t.parts, q.key)
			}
		}
		return out, c
	}
	return out, nil
}

// goneCalls are the calls of which no participant is left in a
// snapshot: they ended while the connector was away.
func (t *translator) goneCalls(snapshot []DNInfo) []int {
	left := map[int]bool{}
	for _, d := range snapshot {
		for _, p := range d.Participants {
			left[p.CallID] = true
		}
	}
	var out []int
	for id := range t.calls {
		if !left[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// answerUnseen reports call c answered as the call log says (a), when
// the translator saw no answer (it was away, or its reads of the
// participants came too late to see them): a's leg, known or met only
// now, answers. It does nothing when c was seen answered.
func (t *translator) answerUnseen(now time.Time, c *tcall, a logAnswer) []signal.Signal {
	dn := a.DN
	if c == nil || dn == "" || c.answered || c.first == nil || t.kindOf(dn) != kindLeg {
		// A fax extension that took the call is no leg's answer.
		return nil
	}
	if tp := c.find(func(q *tpart) bool { return q.p.DN == dn && q.kind == kindLeg && q.dialler != nil }); tp != nil {
		if tp.answered {
			return nil
		}
		tp.p.Status = statusConnected
		return t.progress(now, tp)
	}
	// The leg that answered came and went unseen: it is the call log's,
	// dialled by the call's first leg.
	p := Participant{ID: math.MaxInt32 - len(t.parts), DN: dn, Status: statusConnected, CallID: c.id, PartyDN: c.first.p.DN}
	if t.typeOf(dn) == typeExternalLine {
		// An external line's participant shows the outside number it
		// reached: the log's, else the one the first leg last showed
		// as its party on that line.
		p.PartyCallerID = a.Number
		if first := c.first.p; p.PartyCallerID == "" && first.PartyDN == dn {
			p.PartyCallerID = first.PartyCallerID
		}
	}
	out := t.appear(now, p)
	gone, _ := t.remove(now, p.DN, p.ID)
	return append(out, gone...)
}

// ending is the call that removing dn/id would end unanswered, if any.
func (t *translator) ending(dn string, id int) *tcall {
	tp := t.parts[partKey(dn, id)]
	if tp == nil || tp.kind != kindLeg || tp.call.answered || len(tp.call.live) != 1 {
		return nil
	}
	return tp.call
}

// resync reconciles the translator with a snapshot of every DN's
// participants: the known ones move on to their present state, a leg that
// went meanwhile and must have answered does, the new ones appear
// (oldest first), calls that ended meanwhile are answered as the call
// log says (answeredBy: who answered each, for the calls
// goneCalls names; 3CX shows only the present, so without it such a call
// would look unanswered), and the ones gone meanwhile go (queues and
// menus first, then the newest legs). Nothing the translator already
// reported is reported again, and nothing that did not happen is.
func (t *translator) resync(now time.Time, snapshot []DNInfo, answeredBy map[int]logAnswer) (out []signal.Signal, ended []*tcall) {
	var known, fresh []Participant
	seen := map[string]bool{}
	for _, d := range snapshot {
		for _, p := range d.Participants {
			k := partKey(p.DN, p.ID)
			seen[k] = true
			if t.parts[k] != nil {
				known = append(known, p)
			} else {
				fresh = append(fresh, p)
			}
		}
	}
	byID := func(a, b Participant) int { return a.ID - b.ID }
	slices.SortFunc(known, byID)
	slices.SortFunc(fresh, byID)
	for _, p := range known {
		out = append(out, t.upsert(now, p)...)
	}
	var gone []*tpart
	for k, tp := range t.parts {
		if !seen[k] {
			gone = append(gone, tp)
		}
	}
	// The one leg that went while away, dialled by a caller that talks
	// now in a call where nobody else does and no queue or menu holds it,
	// answered that caller before it went. (With several, the call log
	// says which, once the call ends: see answerUnseen.)
	candidates := map[*tcall][]*tpart{}
	for _, tp := range gone {
		d := tp.dialler
		if tp.kind != kindLeg || tp.answered || d == nil || !seen[d.key] || d.p.Status != statusConnected || tp.call.answered {
			continue
		}
		held := false
		for k, h := range t.parts {
			if seen[k] && h.caller == d {
				held = true
			}
		}
		if !held {
			candidates[tp.call] = append(candidates[tp.call], tp)
		}
	}
	for _, tps := range candidates {
		if len(tps) == 1 {
			tps[0].p.Status = statusConnected
			out = append(out, t.progress(now, tps[0])...)
		}
	}
	t.resyncing = true
	for _, p := range fresh {
		out = append(out, t.upsert(now, p)...)
	}
	t.resyncing = false
	for _, id := range t.goneCalls(snapshot) {
		out = append(out, t.answerUnseen(now, t.calls[id], answeredBy[id])...)
	}
	slices.SortFunc(gone, func(a, b *tpart) int {
		if (a.kind == kindLeg) != (b.kind == kindLeg) {
			if a.kind == kindLeg {
				return 1
			}
			return -1
		}
		return b.p.ID - a.p.ID
	})
	gone = slices.DeleteFunc(gone, func(tp *tpart) bool { return t.parts[tp.key] != tp })
	for _, tp := range gone {
		s, c := t.remove(now, tp.p.DN, tp.p.ID)
		out = append(out, s...)
		if c != nil {
			ended = append(ended, c)
		}
	}
	return out, ended
}
