package callcontrol

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// world is the PBX as the Call Control API shows it: DNs and, per DN, the
// participants of the calls it takes part in. It is driven by the PBX
// core's events, which are shaped as Asterisk's AMI events: each channel
// of a device or the trunk is one participant, a queue or IVR holding a
// caller is a participant of that DN, and transfers are the participant
// changes 3CX makes (a new participant referred by the transferer, the
// consulted party moved into the transferred call). Where the core's
// events come in Asterisk's order and 3CX would show the call otherwise,
// the world shows 3CX's: a blind transferer stays until its target's
// participant appears, a device that reconnects keeps its participant,
// and the consultation of Asterisk's attended transfer feature, which
// Asterisk places through a Local channel pair, is a call of the
// transferer's DN to the target (3CX has no Local channels: the pair is
// never a participant). The fax line is 3CX's fax extension, a DN of
// its own that takes the caller. The server's lock guards it.
type world struct {
	now  func() time.Time
	emit func(eventType int, entity string) // queues a WebSocket event, lock held
	hold func(created time.Time)            // waits out a participant's minimum visibility
	x    *xapiState

	dns    map[string]*dnState
	order  []string // DN numbers in listing order
	trunk  string   // the external line DN
	ivrDN  map[string]string
	faxDN  map[string]string // fax line DID → its fax DN
	groups map[string]bool

	nextPart, nextCall int
	parts              map[int]*part            // by participant id
	byChan             map[string]*part         // by channel Uniqueid
	calls              map[string]int           // call id by Linkedid
	callParts          map[int]map[*part]bool   // live participants by call id
	callInfo           map[int]*callInfo        // by call id
	waiting            map[string]pbx.Channel   // called channels not dialled yet
	onBehalf           map[string]string        // called channel → queue it rings for
	referral           map[string]*referral     // transferee channel → its blind transfer, until the target is dialled
	queueOf, menuOf    map[string]*part         // caller channel → its queue / IVR participant
	faxOf              map[string]*part         // caller channel → the fax DN's participant receiving its fax
	localTwo           map[string]string        // a Local pair's ;2 channel → its ;1 (LocalBridge)
	bridgeOf           map[string]string        // channel → the bridge it is in
	consults           map[string]*consultation // by the Local ;2 channel that dials the target
	log                []CallLogData
}

type dnState struct {
	number, typ, name string
	devices           []Device
}

// part is one participant and what the world knows beside its wire form.
type part struct {
	Participant
	uid     string    // the channel behind it ("" for a queue or IVR holding a call)
	channel string    // its name, for the drop action
	created time.Time // wall clock: for its minimum visibility
}

// referral is a blind transfer whose target is not dialled yet.
type referral struct {
	by     *part // the transferring extension's participant
	hungUp bool  // its channel is gone; its participant goes once the target's appears
}

// consultation is the consultation of Asterisk's attended transfer
// feature (*2). Asterisk dials the target through a Local channel pair
// whose ;1 it bridges with the transferer and whose ;2 runs the Dial; 3CX
// shows an attended transfer's consultation as a call of the
// transferer's device to the target: a participant of the transferer's
// DN in a call of its own, behind which here is the ;2 that dials.
type consultation struct {
	by     *part  // the transferer's participant in the call it transfers
	part   *part  // the transferer's participant in the consultation
	target string // the target's channel
}

// callInfo is what the call log needs of a call.
type callInfo struct {
	start            time.Time
	from, fromCaller string
	to, toCaller     string // the DN dialled first and its number (an external line's: the number called)
	answered         time.Time
	inbound          bool
}

func newWorld(topo pbx.Config, trunkDN string, now func() time.Time, x *xapiState) *world {
	w := &world{
		now: now, x: x, trunk: trunkDN,
		dns: map[string]*dnState{}, ivrDN: map[string]string{}, faxDN: map[string]string{}, groups: map[string]bool{},
		parts: map[int]*part{}, byChan: map[string]*part{}, calls: map[string]int{},
		callParts: map[int]map[*part]bool{}, callInfo: map[int]*callInfo{}, waiting: map[string]pbx.Channel{},
		onBehalf: map[string]string{}, referral: map[string]*referral{}, queueOf: map[string]*part{}, menuOf: map[string]*part{},
		faxOf: map[string]*part{}, localTwo: map[string]string{}, bridgeOf: map[string]string{}, consults: map[string]*consultation{},
	}
	for _, e := range topo.Extensions {
		w.addDN(e.Number, TypeExtension, e.Name)
	}
	for _, q := range topo.Queues {
		w.addDN(q.Number, TypeQueue, "Queue "+q.Number)
	}
	for _, g := range topo.RingGroups {
		w.addDN(g.Number, TypeRingGroup, "Ring group "+g.Number)
		w.groups[g.Number] = true
	}
	// The simulator's IVRs have DIDs but no numbers; 3CX's digital
	// receptionists are DNs, numbered here from 500.
	for i, m := range topo.IVRs {
		n := strconv.Itoa(500 + i)
		w.addDN(n, TypeIVR, "IVR "+n)
		w.ivrDN[m.DID] = n
	}
	// A fax line is a DID routed to one of 3CX's fax extensions (XAPI
	// Pbx.Fax, a DN: Pbx.PeerType Fax), numbered here from 888.
	for i, f := range topo.Faxes {
		n := strconv.Itoa(888 + i)
		w.addDN(n, TypeFax, "Fax "+n)
		w.faxDN[f.DID] = n
	}
	w.addDN(trunkDN, TypeExternalLine, "Trunk")
	return w
}

func (w *world) addDN(number, typ, name string) {
	if _, ok := w.dns[number]; ok {
		return
	}
	d := &dnState{number: number, typ: typ, name: name}
	if typ == TypeExtension {
		d.devices = []Device{{DN: number, DeviceID: "sip:" + number + "@127.0.0.1", UserAgent: "pbxsim phone"}}
	}
	w.dns[number] = d
	w.order = append(w.order, number)
}

func (w *world) removeDN(number string) {
	delete(w.dns, number)
	w.order = slices.DeleteFunc(w.order, func(n string) bool { return n == number })
}

func (w *world) typeOf(dn string) string {
	if d := w.dns[dn]; d != nil {
		return d.typ
	}
	return TypeNone
}

// dnOf is the DN of a device or trunk channel ("PJSIP/101-00000001").
func (w *world) dnOf(channel string) string {
	_, rest, ok := strings.Cut(channel, "/")
	if !ok || strings.HasPrefix(channel, "Local/") {
		return ""
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		rest = rest[:i]
	}
	if _, ok := w.dns[rest]; ok && w.dns[rest].typ == TypeExtension {
		return rest
	}
	if rest == "trunk" {
		return w.trunk
	}
	return ""
}

func entityOf(p *part) string {
	return fmt.Sprintf("/callcontrol/%s/participants/%d", p.DN, p.ID)
}

func (w *world) upsert(p *part) { w.emit(EventUpsert, entityOf(p)) }

func (w *world) callOf(linkedid string) int {
	if id, ok := w.calls[linkedid]; ok {
		return id
	}
	w.nextCall++
	w.calls[linkedid] = w.nextCall
	return w.nextCall
}

// add makes a participant live and announces it.
func (w *world) add(p *part) {
	w.nextPart++
	p.ID = w.nextPart
	p.LegID = p.ID
	if p.OriginatedBy == "" {
		p.OriginatedBy = TypeNone
	}
	if p.ReferredByType == "" {
		p.ReferredByType = TypeNone
	}
	if p.OnBehalfOfType == "" {
		p.OnBehalfOfType = TypeNone
	}
	if p.PartyDNType == "" {
		p.PartyDNType = TypeNone
	}
	if d := w.dns[p.DN]; d != nil && len(d.devices) > 0 {
		p.DeviceID = d.devices[0].DeviceID
	}
	p.created = time.Now()
	w.parts[p.ID] = p
	if p.uid != "" {
		w.byChan[p.uid] = p
	}
	w.join(p, p.CallID)
	w.upsert(p)
}

func (w *world) join(p *part, call int) {
	p.CallID = call
	if w.callParts[call] == nil {
		w.callParts[call] = map[*part]bool{}
	}
	w.callParts[call][p] = true
	if w.callInfo[call] == nil {
		w.callInfo[call] = &callInfo{start: w.now(), from: p.DN, fromCaller: p.PartyCallerID, inbound: w.typeOf(p.DN) == TypeExternalLine}
	}
}

// remove ends a participant. The call's log row is written before the
// last participant's removal is announced, so that a client reading the
// log on that event finds it.
func (w *world) remove(p *part) {
	if w.parts[p.ID] != p {
		return
	}
	if w.hold != nil {
		w.hold(p.created)
		if w.parts[p.ID] != p {
			return
		}
	}
	delete(w.parts, p.ID)
	if p.uid != "" && w.byChan[p.uid] == p {
		delete(w.byChan, p.uid)
	}
	if live := w.callParts[p.CallID]; live != nil {
		delete(live, p)
		if len(live) == 0 {
			delete(w.callParts, p.CallID)
			w.writeLog(p.CallID)
		}
	}
	w.emit(EventRemove, entityOf(p))
}

func (w *world) writeLog(call int) {
	ci := w.callInfo[call]
	if ci == nil {
		return
	}
	delete(w.callInfo, call)
	row := CallLogData{CallID: call, SegmentID: 1, StartTime: ci.start.UTC().Format(time.RFC3339Nano), SourceDn: ci.from,
		SourceCallerID: ci.fromCaller, DestinationDn: ci.to, DestinationCaller: ci.toCaller, Status: "Unanswered", Direction: "Internal"}
	if ci.inbound {
		row.Direction = "Inbound"
	} else if w.typeOf(ci.to) == TypeExternalLine {
		row.Direction = "Outbound"
	}
	if !ci.answered.IsZero() {
		row.Answered, row.Status = true, "Answered"
		row.TalkingDuration = isoDuration(w.now().Sub(ci.answered))
	}
	w.log = append(w.log, row)
	if len(w.log) > 10000 {
		w.log = w.log[len(w.log)-10000:]
	}
}

// isoDuration renders d as an OData duration (Edm.Duration, "PT8S").
func isoDuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64) + "S"
}

// partyOf is how p appears as the party of another participant: an
// external line shows the outside party it carries, any other DN itself.
func (w *world) partyOf(p *part) (dn, typ, callerID, name, did string) {
	if w.typeOf(p.DN) == TypeExternalLine {
		return p.DN, TypeExternalLine, p.PartyCallerID, p.PartyCallerName, p.PartyDID
	}
	name = ""
	if d := w.dns[p.DN]; d != nil {
		name = d.name
	}
	return p.DN, w.typeOf(p.DN), p.DN, name, p.PartyDID
}

func (w *world) setParty(p, of *part) {
	p.PartyDN, p.PartyDNType, p.PartyCallerID, p.PartyCallerName, p.PartyDID = w.partyOf(of)
}

// observe applies one PBX event.
func (w *world) observe(e pbx.Event) {
	get := func(k string) string {
		for _, f := range e.Fields {
			if strings.EqualFold(f.Key, k) {
				return f.Value
			}
		}
		return ""
	}
	// Events about no channel (bridges, LocalBridge, AttendedTransfer)
	// and the ones Asterisk raises with a Dest block only (a Local ;1
	// following its ;2's Dial) have Channel nil: uid is then "".
	uid := ""
	if e.Channel != nil {
		uid = e.Channel.Uniqueid
	}
	switch e.Name {
	case "Newchannel":
		if e.Channel != nil {
			w.newChannel(*e.Channel)
		}
	case "DialBegin":
		if e.Dest != nil {
			w.dialBegin(e.Channel, *e.Dest, get("DialString"))
		}
	case "DialState":
		if e.Dest != nil && strings.EqualFold(get("DialStatus"), "RINGING") {
			w.status(e.Dest.Uniqueid, StatusRinging)
		}
	case "Newstate":
		if e.Channel == nil {
			break
		}
		switch e.Channel.State {
		case pbx.StateRinging:
			w.status(uid, StatusRinging)
		case pbx.StateUp:
			w.status(uid, StatusConnected)
		}
	case "DialEnd":
		if e.Dest != nil && strings.EqualFold(get("DialStatus"), "ANSWER") {
			w.status(e.Dest.Uniqueid, StatusConnected)
			if c, d := w.byChan[uid], w.byChan[e.Dest.Uniqueid]; uid != "" && c != nil && d != nil && w.typeOf(c.DN) != TypeExternalLine {
				w.setParty(c, d)
				w.upsert(c)
			}
		}
	case "Hangup":
		if e.Channel != nil {
			w.hangup(*e.Channel)
		}
	case "QueueCallerJoin":
		w.holder(uid, get("Queue"), w.queueOf)
	case "QueueCallerLeave", "QueueCallerAbandon":
		if q := w.queueOf[uid]; uid != "" && q != nil {
			delete(w.queueOf, uid)
			w.remove(q)
		}
	case "AgentCalled":
		if e.Dest != nil {
			w.onBehalf[e.Dest.Uniqueid] = get("Queue")
		}
	case "Newexten":
		switch strings.ToLower(get("Application")) {
		case "background", "waitexten", "read":
			if c := w.byChan[uid]; uid != "" && c != nil && w.menuOf[c.uid] == nil {
				if n := w.ivrDN[c.PartyDID]; n != "" {
					w.holder(c.uid, n, w.menuOf)
				}
			}
		case "receivefax":
			w.faxing(uid)
		}
	case "FAXStatus":
		w.faxing(uid)
	case "LocalBridge":
		if one, two := get("LocalOneUniqueid"), get("LocalTwoUniqueid"); one != "" && two != "" {
			w.localTwo[two] = one
		}
	case "BridgeEnter":
		if e.Bridge != nil && uid != "" {
			w.bridgeOf[uid] = e.Bridge.Uniqueid
		}
	case "BridgeLeave":
		if e.Bridge != nil && uid != "" && w.bridgeOf[uid] == e.Bridge.Uniqueid {
			delete(w.bridgeOf, uid)
		}
	case "BridgeDestroy":
		if e.Bridge != nil {
			for ch, b := range w.bridgeOf {
				if b == e.Bridge.Uniqueid {
					delete(w.bridgeOf, ch)
				}
			}
		}
	case "BlindTransfer":
		if strings.EqualFold(get("Result"), "Success") {
			if t := w.byChan[get("TransfererUniqueid")]; t != nil {
				w.referral[get("TransfereeUniqueid")] = &referral{by: t}
			}
		}
	case "AttendedTransfer":
		if strings.EqualFold(get("Result"), "Success") && !strings.EqualFold(get("DestType"), "Fail") {
			target := get("TransferTargetUniqueid")
			if target == "" {
				// The attended transfer feature merges the consultation's
				// bridge into the caller's and names no target: the
				// target is the one the transferer's consultation dialled.
				if x := w.consultationOf(get("SecondTransfererUniqueid")); x != nil {
					target = x.target
				} else if x := w.consultationOf(get("OrigTransfererUniqueid")); x != nil {
					target = x.target
				}
			}
			w.attended(get("OrigTransfererUniqueid"), get("TransfereeUniqueid"), target)
		}
	case "ChanSpyStart":
		// A supervisor listening in: the supervisor's participant shows the
		// extension listened in on as its party.
		if s, t := w.byChan[get("SpyerUniqueid")], w.byChan[get("SpyeeUniqueid")]; s != nil && t != nil {
			w.setParty(s, t)
			s.PartyDID = ""
			w.upsert(s)
		}
	case "UserEvent":
		w.userEvent(get)
	case "QueueMemberAdded", "QueueMemberRemoved":
		_, ext, _ := strings.Cut(get("Interface"), "/")
		w.x.member(get("Queue"), ext, get("MemberName"), e.Name == "QueueMemberAdded")
	}
}

func (w *world) newChannel(ch pbx.Channel) {
	dn := w.dnOf(ch.Name)
	if dn == "" || w.byChan[ch.Uniqueid] != nil {
		return
	}
	if l := w.rejoining(dn, ch); l != nil {
		// The device is back (an INVITE with Replaces): 3CX keeps the DN's
		// participant; only the device's leg behind it changed. The lost
		// leg's hangup, which follows, is not the participant's.
		delete(w.byChan, l.uid)
		l.uid, l.channel = ch.Uniqueid, ch.Name
		w.byChan[l.uid] = l
		return
	}
	if ch.State != pbx.StateRing {
		// A leg the PBX is about to dial: it becomes a participant when
		// it is dialled.
		w.waiting[ch.Uniqueid] = ch
		return
	}
	p := &part{uid: ch.Uniqueid, channel: ch.Name, Participant: Participant{DN: dn, Status: StatusDialing, CallID: w.callOf(ch.Linkedid)}}
	if w.typeOf(dn) == TypeExternalLine {
		// A call from outside: the line's party is the caller, and the
		// number it called is the DID.
		p.PartyCallerID, p.PartyCallerName, p.PartyDID = ch.CallerIDNum, ch.CallerIDName, ch.Exten
		p.PartyDNType = TypeNone
	} else {
		// An extension starts a call: what it dialled, until the PBX
		// dials someone for it.
		p.PartyCallerID = ch.Exten
	}
	w.add(p)
}

// rejoining is the participant whose device a new channel of extension dn
// replaces: a call from the device (state Ring) that the PBX put into a
// call already in progress, where dn talks. Asterisk gives a channel its
// call's Linkedid only so; a call the device places is a call of its own.
func (w *world) rejoining(dn string, ch pbx.Channel) *part {
	call, ok := w.calls[ch.Linkedid]
	if !ok || ch.State != pbx.StateRing || w.typeOf(dn) != TypeExtension {
		return nil
	}
	for p := range w.callParts[call] {
		if p.DN == dn && p.uid != "" && p.Status == StatusConnected {
			return p
		}
	}
	return nil
}

func (w *world) dialBegin(caller *pbx.Channel, dest pbx.Channel, dialString string) {
	delete(w.waiting, dest.Uniqueid)
	dn := w.dnOf(dest.Name)
	if dn == "" || w.byChan[dest.Uniqueid] != nil {
		// No DN's channel (a Local channel), or one shown already.
		return
	}
	var c *part
	call := 0
	if caller != nil {
		c = w.byChan[caller.Uniqueid]
		if c == nil {
			// A Local ;2 dialling for an attended transfer's transferer:
			// the transferer's device calls the target.
			if x := w.consult(*caller, dest); x != nil {
				c, call = x.part, x.part.CallID
			}
		}
	}
	if call == 0 {
		call = w.callOf(dest.Linkedid)
	}
	p := &part{uid: dest.Uniqueid, channel: dest.Name, Participant: Participant{DN: dn, Status: StatusDialing, CallID: call}}
	if w.typeOf(dn) == TypeExternalLine {
		// A call to outside: the line's party is the number dialled.
		num, _, _ := strings.Cut(dialString, "@")
		if strings.Contains(num, "/") {
			num = dest.Exten
		}
		p.PartyCallerID, p.PartyDNType = num, TypeNone
	} else if c != nil {
		w.setParty(p, c)
	}
	var ref *referral
	if c != nil {
		if q := w.onBehalf[dest.Uniqueid]; q != "" {
			p.OnBehalfOfDN, p.OnBehalfOfType = q, TypeQueue
		} else if caller != nil && w.groups[caller.Exten] {
			p.OnBehalfOfDN, p.OnBehalfOfType = caller.Exten, TypeRingGroup
		}
		if ref = w.referral[c.uid]; ref != nil {
			delete(w.referral, c.uid)
			p.ReferredByDN, p.ReferredByType = ref.by.DN, w.typeOf(ref.by.DN)
		} else if m := w.menuOf[c.uid]; m != nil {
			// The IVR hands the caller on.
			delete(w.menuOf, c.uid)
			p.ReferredByDN, p.ReferredByType = m.DN, TypeIVR
			w.remove(m)
		}
		if w.typeOf(c.DN) != TypeExternalLine && p.OnBehalfOfDN == "" {
			w.setParty(c, p)
			w.upsert(c)
		}
	}
	delete(w.onBehalf, dest.Uniqueid)
	if ci := w.callInfo[p.CallID]; ci != nil && ci.to == "" {
		ci.to, ci.toCaller = dn, dn
		if w.typeOf(dn) == TypeExternalLine {
			ci.toCaller = p.PartyCallerID
		}
	}
	w.add(p)
	if ref != nil && ref.hungUp {
		// The transferer leaves once its target is in the call.
		w.remove(ref.by)
	}
}

// consult opens the consultation of an attended transfer that Asterisk's
// feature places through a Local pair: two is the pair's ;2 dialling
// dest, and the pair's ;1 is bridged with the transferer's channel. The
// transferer's DN gets a participant in a call of its own, dialling what
// ;2 dials, as a device placing the consultation call does; nil when two
// is no such channel.
func (w *world) consult(two, dest pbx.Channel) *consultation {
	if x := w.consults[two.Uniqueid]; x != nil {
		return x
	}
	one, ok := w.localTwo[two.Uniqueid]
	bridge := w.bridgeOf[one]
	if !ok || bridge == "" {
		return nil
	}
	var by *part
	for ch, b := range w.bridgeOf {
		if p := w.byChan[ch]; b == bridge && ch != one && p != nil && w.typeOf(p.DN) == TypeExtension {
			by = p
		}
	}
	if by == nil {
		return nil
	}
	w.nextCall++
	// The consultation has no channel of its own for the drop action to
	// hang up: only the pair's ;2 stands behind it.
	cp := &part{uid: two.Uniqueid, Participant: Participant{DN: by.DN, Status: StatusDialing, CallID: w.nextCall, PartyCallerID: two.Exten}}
	x := &consultation{by: by, part: cp, target: dest.Uniqueid}
	w.consults[two.Uniqueid] = x
	w.add(cp)
	return x
}

// consultationOf is the open consultation of the transferer whose
// channel is uid, if any.
func (w *world) consultationOf(uid string) *consultation {
	by := w.byChan[uid]
	if by == nil {
		return nil
	}
	for _, x := range w.consults {
		if x.by == by {
			return x
		}
	}
	return nil
}

// status moves the participant of a channel to st, once.
func (w *world) status(uid, st string) {
	p := w.byChan[uid]
	if p == nil || p.Status == st || (st == StatusRinging && p.Status == StatusConnected) {
		return
	}
	if w.hold != nil {
		// Shown first as it was created, long enough to be read so.
		w.hold(p.created)
		if w.byChan[uid] != p || p.Status == st {
			return
		}
	}
	p.Status = st
	if st == StatusConnected {
		if ci := w.callInfo[p.CallID]; ci != nil && ci.answered.IsZero() && w.typeOf(p.DN) == TypeExtension {
			ci.answered = w.now()
			ci.to = p.DN
		}
		if ci := w.callInfo[p.CallID]; ci != nil && ci.answered.IsZero() && w.typeOf(p.DN) == TypeExternalLine && !ci.inbound {
			ci.answered = w.now()
		}
	}
	w.upsert(p)
}

// faxing is the fax line receiving a fax from the caller on channel uid
// (ReceiveFAX): 3CX's fax extension takes the call, a participant of the
// fax DN whose party is the caller, and the call log has the call
// answered by it.
func (w *world) faxing(uid string) {
	c := w.byChan[uid]
	if uid == "" || c == nil || w.faxOf[uid] != nil {
		return
	}
	n := w.faxDN[c.PartyDID]
	if n == "" {
		return
	}
	w.holder(c.uid, n, w.faxOf)
	if ci := w.callInfo[c.CallID]; ci != nil && ci.answered.IsZero() {
		ci.answered, ci.to = w.now(), n
	}
}

// holder puts a caller into a queue, IVR or fax extension: a participant
// of that DN whose party is the caller.
func (w *world) holder(uid, dn string, into map[string]*part) {
	c := w.byChan[uid]
	if c == nil || w.dns[dn] == nil || into[uid] != nil {
		return
	}
	h := &part{Participant: Participant{DN: dn, Status: StatusConnected, CallID: c.CallID}}
	w.setParty(h, c)
	into[uid] = h
	w.add(h)
}

func (w *world) hangup(ch pbx.Channel) {
	delete(w.waiting, ch.Uniqueid)
	delete(w.onBehalf, ch.Uniqueid)
	delete(w.bridgeOf, ch.Uniqueid)
	delete(w.localTwo, ch.Uniqueid)
	delete(w.consults, ch.Uniqueid)
	for two, one := range w.localTwo {
		if one == ch.Uniqueid {
			delete(w.localTwo, two)
		}
	}
	if ref := w.referral[ch.Uniqueid]; ref != nil {
		// The transferee went before its target was dialled.
		delete(w.referral, ch.Uniqueid)
		if ref.hungUp {
			w.remove(ref.by)
		}
	}
	p := w.byChan[ch.Uniqueid]
	if p == nil {
		return
	}
	for _, ref := range w.referral {
		if ref.by == p {
			// A blind transferer: Asterisk hangs its channel up before it
			// dials the target; 3CX shows the target's participant,
			// referred by the transferer, before the transferer's goes.
			ref.hungUp = true
			delete(w.byChan, ch.Uniqueid)
			return
		}
	}
	for _, held := range []map[string]*part{w.queueOf, w.menuOf, w.faxOf} {
		if h := held[ch.Uniqueid]; h != nil {
			delete(held, ch.Uniqueid)
			w.remove(h)
		}
	}
	w.remove(p)
}

// attended completes an attended transfer: the consulted party's
// participant moves into the transferred call, referred by the
// transferring DN, with the transferee as its party.
func (w *world) attended(origUID, transfereeUID, targetUID string) {
	orig, tee, target := w.byChan[origUID], w.byChan[transfereeUID], w.byChan[targetUID]
	if tee == nil || target == nil {
		return
	}
	if live := w.callParts[target.CallID]; live != nil {
		delete(live, target)
		if len(live) == 0 {
			delete(w.callParts, target.CallID)
			w.writeLog(target.CallID)
		}
	}
	w.join(target, tee.CallID)
	w.setParty(target, tee)
	if orig != nil {
		target.ReferredByDN, target.ReferredByType = orig.DN, w.typeOf(orig.DN)
	}
	if ci := w.callInfo[tee.CallID]; ci != nil && target.Status == StatusConnected {
		ci.to = target.DN
	}
	w.upsert(target)
	if w.typeOf(tee.DN) != TypeExternalLine {
		w.setParty(tee, target)
		w.upsert(tee)
	}
}

// userEvent applies the administrative changes the PBX announces
// (pbx/admin.go) to the configuration the XAPI serves.
func (w *world) userEvent(get func(string) string) {
	ext, status := get("Extension"), strings.ToLower(get("Status"))
	switch get("UserEvent") {
	case "CallhookForwarding":
		w.x.forwarding(ext, status == "on", get("Destination"))
	case "CallhookQueueLogin":
		if get("Queue") == "" {
			// 3CX's XAPI has the global queue status only (Pbx.User
			// QueueStatus); a log-in to one queue is not published.
			w.x.queueStatus(ext, status == "in")
		}
	case "CallhookExtension":
		switch status {
		case "created":
			w.x.createUser(ext, get("Name"))
			w.addDN(ext, TypeExtension, get("Name"))
			w.emit(EventUpsert, "/callcontrol/"+ext)
		case "deleted":
			w.x.deleteUser(ext)
			w.removeDN(ext)
			w.emit(EventRemove, "/callcontrol/"+ext)
		}
	}
}

// Snapshots, for the REST handlers.

func (w *world) participants(dn string) []Participant {
	var out []Participant
	for _, p := range w.parts {
		if p.DN == dn {
			out = append(out, p.Participant)
		}
	}
	slices.SortFunc(out, func(a, b Participant) int { return a.ID - b.ID })
	if out == nil {
		out = []Participant{}
	}
	return out
}

func (w *world) dnInfo(dn string) (DNInfo, bool) {
	d := w.dns[dn]
	if d == nil {
		return DNInfo{}, false
	}
	devs := append([]Device{}, d.devices...)
	return DNInfo{DN: dn, Type: d.typ, Devices: devs, Participants: w.participants(dn)}, true
}

func (w *world) all() []DNInfo {
	out := []DNInfo{}
	for _, n := range w.order {
		info, _ := w.dnInfo(n)
		out = append(out, info)
	}
	return out
}

func (w *world) participant(dn string, id int) (*part, bool) {
	p := w.parts[id]
	if p == nil || p.DN != dn {
		return nil, false
	}
	return p, true
}
