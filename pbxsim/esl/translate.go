package esl

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// translator turns the PBX core's AMI-shaped events into the events a
// FreeSWITCH raises for the same call. Its sources, by FreeSWITCH event:
//
//   - CHANNEL_OUTGOING, CHANNEL_CREATE, CHANNEL_ORIGINATE:
//     switch_core_session.c (switch_core_session_outgoing_channel) and
//     switch_core_state_machine.c (CS_INIT); a leg the switch dials for
//     another carries that leg as Other-Leg ("Other-Type: originator") and
//     its call_uuid (switch_ivr_originate.c).
//   - CHANNEL_PROGRESS, CHANNEL_ANSWER: switch_channel.c
//     (switch_channel_perform_mark_ring_ready / _mark_answered).
//   - CHANNEL_BRIDGE / CHANNEL_UNBRIDGE with Bridge-A-Unique-ID and
//     Bridge-B-Unique-ID: switch_ivr_bridge.c. FreeSWITCH bridges two
//     channels at a time; an AMI bridge of two channels is one pair.
//   - CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE with Hangup-Cause,
//     variable_hangup_cause, variable_hangup_cause_q850
//     (switch_core_state_machine.c) and variable_sip_hangup_disposition
//     (mod_sofia.c: send_bye, send_cancel, send_refuse; sofia.c: recv_bye,
//     recv_cancel, recv_refuse).
//   - CUSTOM sofia::transferor / sofia::transferee / sofia::replaced with
//     transfer_to, transfer_destination, att_xfer_* (sofia.c,
//     sofia_handle_sip_i_refer; fired when the profile sets
//     fire-transfer-events).
//   - CUSTOM callcenter::info with CC-Action member-queue-start,
//     member-queue-end, agent-offering, bridge-agent-start,
//     bridge-agent-end, bridge-agent-fail, agent-status-change
//     (mod_callcenter.c).
//   - RECORD_START / RECORD_STOP with Record-File-Path (switch_ivr_async.c).
//   - CUSTOM menu::enter with Menu-Name (switch_ivr_menu.c).
//   - CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE with Application and
//     Application-Data (switch_core_session.c), for eavesdrop and rxfax.
//   - Asterisk's atxfer feature as mod_dptools' att_xfer, its Local
//     channel pair not shown (atxfer.go).
//
// What FreeSWITCH itself has no event for (call forwarding, extensions
// created or deleted, a queue callback ordered, a pause in one queue, the
// engine's sync barrier) goes out as CUSTOM callhook::* events, the ones a
// FreeSWITCH dialplan or script raises with the event application or
// sendevent (docs/esl.md).
type translator struct {
	domain, recDir string

	live    map[string]*channel   // by AMI Uniqueid
	gone    map[string]*channel   // hung up, by AMI Uniqueid (bounded)
	goneQ   []string              //
	bridges map[string][]*channel // AMI bridge → members, in entry order
	seq     uint64
	members map[string]string // caller uuid + queue → CC-Member-UUID
	queueOf map[string]string // caller uuid → the queue it waits in
	agentOn map[string]bool   // caller uuid: an agent answered it
	abandon map[string]bool   // caller uuid: hung up while waiting
	// origins are origination_uuid requests: the next channel an
	// extension's phone creates takes the uuid.
	origins map[string][]string
	// atx follows the attended transfers of Asterisk's atxfer feature,
	// shown as FreeSWITCH's att_xfer (atxfer.go): by either Local half,
	// the transferer and the target.
	atx map[*channel]*atxfer
}

const keepGone = 4096

func newTranslator(domain, recDir string) *translator {
	return &translator{
		domain: domain, recDir: recDir,
		live: map[string]*channel{}, gone: map[string]*channel{}, bridges: map[string][]*channel{},
		members: map[string]string{}, queueOf: map[string]string{}, agentOn: map[string]bool{},
		abandon: map[string]bool{}, origins: map[string][]string{}, atx: map[*channel]*atxfer{},
	}
}

// expectOrigination makes the next channel from extension's device take
// id as its Unique-ID.
func (t *translator) expectOrigination(extension, id string) {
	t.origins[extension] = append(t.origins[extension], id)
}

// find returns the live channel an AMI block names.
func (t *translator) find(pc *pbx.Channel) *channel {
	if pc == nil || pc.Uniqueid == "" {
		return nil
	}
	c := t.live[pc.Uniqueid]
	if c != nil {
		c.update(pc)
	}
	return c
}

func (t *translator) byID(id string) *channel {
	if c := t.live[id]; c != nil {
		return c
	}
	return t.gone[id]
}

// open starts following an AMI channel.
func (t *translator) open(pc *pbx.Channel, at time.Time) *channel {
	t.seq++
	c := &channel{
		ami: pc.Uniqueid, amiName: pc.Name, endpoint: endpointOf(pc.Name), seq: t.seq, linked: pc.Linkedid,
		created: at, state: "CS_INIT", callstate: "DOWN", context: pc.Context,
	}
	c.outbound = pc.State == pbx.StateDown
	c.local = strings.HasPrefix(pc.Name, "Local/")
	c.uuid = uuid.NewString()
	if !c.outbound {
		if q := t.origins[c.endpoint]; len(q) > 0 {
			c.uuid, t.origins[c.endpoint] = q[0], q[1:]
			c.setVar("origination_uuid", c.uuid)
		}
	}
	if c.outbound {
		c.calleeNum, c.calleeName = known(pc.CallerIDNum), known(pc.CallerIDName)
		c.cidNum, c.cidName = known(pc.ConnectedLineNum), known(pc.ConnectedLineName)
	} else {
		c.cidNum, c.cidName = known(pc.CallerIDNum), known(pc.CallerIDName)
		c.dest = pc.Exten
	}
	t.name(c)
	t.live[c.ami] = c
	return c
}

// name gives a channel its sofia name and the variables of its kind:
// extensions register on the internal profile, the trunk is a gateway.
func (t *translator) name(c *channel) {
	switch {
	case isExtension(c.endpoint) && c.outbound:
		c.name = "sofia/internal/" + c.endpoint + "@" + t.domain
		c.setVar("dialed_user", c.endpoint)
		c.setVar("dialed_domain", t.domain)
	case isExtension(c.endpoint):
		c.name = "sofia/internal/" + c.endpoint + "@" + t.domain
		c.setVar("user_name", c.endpoint)
		c.setVar("domain_name", t.domain)
		c.setVar("sip_from_user", c.endpoint)
	case c.outbound:
		c.name = "sofia/gateway/" + c.endpoint + "/" + c.dest
		c.setVar("sip_gateway_name", c.endpoint)
	default:
		c.name = "sofia/external/" + c.cidNum + "@" + t.domain
		c.setVar("sip_gateway", c.endpoint)
		c.setVar("sip_from_user", c.cidNum)
	}
}

// callUUID is Channel-Call-UUID: the uuid of the call's first leg (its
// call_uuid, copied to the legs originated for it).
func (t *translator) callUUID(c *channel) string {
	if c.linked != "" && c.linked != c.ami {
		if first := t.byID(c.linked); first != nil {
			return first.uuid
		}
	}
	return c.uuid
}

// event builds a channel event: switch_channel_event_set_data's basic
// data, the caller profile, the other leg's profile and the variables.
func (t *translator) event(name string, c *channel) *Event {
	e := &Event{}
	e.Add("Event-Name", name)
	t.channelData(e, c)
	return e
}

func (t *translator) channelData(e *Event, c *channel) {
	e.Add("Channel-State", c.state)
	e.Add("Channel-Call-State", c.callstate)
	e.Add("Channel-State-Number", stateNumber(c.state))
	e.Add("Channel-Name", c.name)
	e.Add("Unique-ID", c.uuid)
	e.Add("Call-Direction", c.direction())
	e.Add("Presence-Call-Direction", c.direction())
	hit := "false"
	if !c.outbound {
		hit = "true"
	}
	e.Add("Channel-HIT-Dialplan", hit)
	e.Add("Channel-Call-UUID", t.callUUID(c))
	e.Add("Answer-State", c.answerState())
	if !c.hungup.IsZero() {
		name, _ := t.cause(c)
		e.Add("Hangup-Cause", name)
	}
	e.Add("Channel-Read-Codec-Name", "PCMU")
	e.Add("Channel-Read-Codec-Rate", "8000")
	e.Add("Channel-Read-Codec-Bit-Rate", "64000")
	e.Add("Channel-Write-Codec-Name", "PCMU")
	e.Add("Channel-Write-Codec-Rate", "8000")
	e.Add("Channel-Write-Codec-Bit-Rate", "64000")
	c.profile(e, "Caller")
	switch {
	case c.originator != nil:
		e.Add("Other-Type", "originator")
		c.originator.profile(e, "Other-Leg")
	case c.partner != nil:
		e.Add("Other-Type", "originatee")
		c.partner.profile(e, "Other-Leg")
	}
	e.Add("variable_direction", c.direction())
	e.Add("variable_uuid", c.uuid)
	e.Add("variable_call_uuid", t.callUUID(c))
	e.Add("variable_channel_name", c.name)
	e.Add("variable_sip_profile_name", profileOf(c.name))
	for _, v := range c.vars {
		e.Add("variable_"+v.Name, v.Value)
	}
	if c.partner != nil {
		e.Add("variable_bridge_uuid", c.partner.uuid)
		e.Add("variable_signal_bond", c.partner.uuid)
	}
	if c.originator != nil {
		e.Add("variable_originator", c.originator.uuid)
	}
	if c.app != "" {
		e.Add("variable_current_application", c.app)
		e.Add("variable_current_application_data", c.appData)
	}
}

func profileOf(name string) string {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// announce fires the creation events of a channel once.
func (t *translator) announce(c *channel) []*Event {
	if c.announced {
		return nil
	}
	c.announced = true
	if !c.outbound {
		return []*Event{t.event("CHANNEL_CREATE", c)}
	}
	// The switch placed it: CHANNEL_OUTGOING from the originating thread,
	// then the new session's CHANNEL_CREATE and CHANNEL_ORIGINATE.
	if c.originator != nil && c.cidNum == "" {
		c.cidNum, c.cidName = c.originator.cidNum, c.originator.cidName
	}
	t.name(c)
	return []*Event{t.event("CHANNEL_OUTGOING", c), t.event("CHANNEL_CREATE", c), t.event("CHANNEL_ORIGINATE", c)}
}

// flush announces every channel still held back.
func (t *translator) flush() []*Event {
	var out []*Event
	for _, c := range t.sorted() {
		out = append(out, t.announce(c)...)
	}
	return out
}

// sorted lists live channels by creation.
func (t *translator) sorted() []*channel {
	out := make([]*channel, 0, len(t.live))
	for _, c := range t.live {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].seq < out[j-1].seq; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ensure announces c before anything else is said of it.
func (t *translator) ensure(out []*Event, c *channel) []*Event {
	if c == nil {
		return out
	}
	return append(out, t.announce(c)...)
}

// translate is the translation of one PBX event.
func (t *translator) translate(e pbx.Event) []*Event {
	var out []*Event
	get := func(k string) string {
		for _, f := range e.Fields {
			if f.Key == k {
				return f.Value
			}
		}
		return ""
	}
	if pc := e.Channel; pc != nil {
		// Local channels show nothing of their own; what they do for the
		// call shows as att_xfer (atxfer.go).
		if c := t.live[pc.Uniqueid]; c != nil && c.local {
			switch e.Name {
			case "DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave":
			case "Hangup":
				delete(t.live, c.ami)
				delete(t.atx, c)
				return nil
			default:
				return nil
			}
		}
	}
	switch e.Name {
	case "Newchannel":
		c := t.open(e.Channel, e.Time)
		if !c.outbound && !c.local {
			out = t.ensure(out, c)
			c.state = "CS_EXECUTE"
		}
		// A leg the switch places is announced once its dial says who it
		// is for (DialBegin, AgentCalled).
	case "NewCallerid", "NewConnectedLine":
		t.find(e.Channel)
	case "DialBegin":
		caller, dest := t.find(e.Channel), t.find(e.Dest)
		if dest == nil || dest.local {
			break
		}
		out = t.resolve(out, caller)
		if !dest.announced {
			if caller != nil && caller.local {
				// ;2 of a Local pair dials the att_xfer target: the
				// transferer's leg originates it.
				caller = t.atxTarget(caller, dest)
			}
			if caller != nil && !dest.ccAgent {
				dest.originator = caller
			}
			if num, _, _ := strings.Cut(get("DialString"), "@"); num != "" && !strings.Contains(num, "/") {
				dest.dest = num
			} else if dest.dest == "" {
				dest.dest = dest.endpoint
			}
			if dest.calleeNum == "" {
				dest.calleeNum = dest.dest
			}
			out = t.ensure(out, dest)
			dest.state = "CS_CONSUME_MEDIA"
		}
	case "AgentCalled":
		caller, dest := t.find(e.Channel), t.find(e.Dest)
		if caller == nil || dest == nil {
			break
		}
		queue := get("Queue")
		out = append(out, t.cc("agent-offering", caller, queue, func(ev *Event) {
			ev.Add("CC-Agent", agentName(endpointOf(get("Interface")), t.domain))
			ev.Add("CC-Agent-Type", "callback")
			ev.Add("CC-Agent-System", "single_box")
		}))
		if !dest.announced {
			// mod_callcenter originates the agent without a caller
			// session, its cc_* variables naming the member.
			dest.ccAgent = true
			dest.dest = dest.endpoint
			dest.calleeNum = dest.endpoint
			dest.cidNum, dest.cidName = caller.cidNum, caller.cidName
			dest.setVar("cc_queue", queueName(queue, t.domain))
			dest.setVar("cc_member_uuid", t.memberUUID(caller, queue))
			dest.setVar("cc_member_session_uuid", caller.uuid)
			dest.setVar("cc_agent", agentName(dest.endpoint, t.domain))
			dest.setVar("cc_side", "agent")
			out = t.ensure(out, dest)
			dest.state = "CS_CONSUME_MEDIA"
		}
	case "Newstate":
		c := t.find(e.Channel)
		if c == nil {
			break
		}
		out = t.ensure(out, c)
		switch e.Channel.State {
		case pbx.StateRinging:
			if c.progress.IsZero() {
				c.progress = e.Time
				c.callstate = "RINGING"
				out = append(out, t.event("CHANNEL_PROGRESS", c))
			}
		case pbx.StateUp:
			if c.answered.IsZero() {
				c.answered = e.Time
				c.callstate = "ACTIVE"
				c.setVar("answer_epoch", strconv.FormatInt(e.Time.Unix(), 10))
				out = append(out, t.event("CHANNEL_ANSWER", c))
			}
		}
	case "DialEnd":
		caller, dest := t.find(e.Channel), t.find(e.Dest)
		status := strings.ToUpper(strings.TrimSpace(get("DialStatus")))
		if dest != nil && caller != nil && status == "ANSWER" && dest.ccAgent {
			t.agentOn[caller.uuid] = true
		}
		if dest != nil && status != "ANSWER" && status != "" {
			dest.dialFail = status
			if caller != nil && status != "CANCEL" {
				caller.bridgeErr = status
			}
		}
	case "BridgeEnter":
		out = t.bridgeEnter(out, e)
	case "BridgeLeave":
		out = t.bridgeLeave(out, e)
	case "BridgeDestroy":
		if e.Bridge != nil {
			for _, m := range t.bridges[e.Bridge.Uniqueid] {
				if !m.local && m.pairedIn == e.Bridge.Uniqueid {
					out = t.unbridge(out, m)
				}
			}
			delete(t.bridges, e.Bridge.Uniqueid)
		}
	case "HangupRequest":
		if c := t.find(e.Channel); c != nil {
			c.hangupReq = true
		}
	case "Hangup":
		out = t.hangup(out, e)
	case "BlindTransfer":
		out = t.blindTransfer(out, e)
	case "AttendedTransfer":
		out = t.attendedTransfer(out, e)
	case "LocalBridge":
		t.localBridge(e, get("Exten"))
	case "QueueCallerJoin":
		if c := t.find(e.Channel); c != nil {
			out = t.ensure(out, c)
			queue := get("Queue")
			t.queueOf[c.uuid] = queue
			out = append(out, t.memberEvent("member-queue-start", c, queue))
		}
	case "QueueCallerAbandon":
		if c := t.find(e.Channel); c != nil {
			t.abandon[c.uuid] = true
		}
	case "QueueCallerLeave":
		// mod_callcenter says the member left only when its session
		// leaves the queue application: at once when it gave up, after
		// the agent's conversation when one answered (AgentComplete).
		if c := t.find(e.Channel); c != nil && !t.agentOn[c.uuid] {
			out = append(out, t.memberEnd(c, get("Queue"), "Cancel"))
		}
	case "AgentConnect":
		caller, dest := t.find(e.Channel), t.find(e.Dest)
		if caller == nil || dest == nil {
			break
		}
		t.agentOn[caller.uuid] = true
		out = append(out, t.cc("bridge-agent-start", caller, get("Queue"), func(ev *Event) {
			ev.Add("CC-Agent", agentName(endpointOf(get("Interface")), t.domain))
			ev.Add("CC-Agent-System", "single_box")
			ev.Add("CC-Agent-UUID", dest.uuid)
			ev.Add("CC-Agent-Called-Time", strconv.FormatInt(dest.created.Unix(), 10))
			ev.Add("CC-Agent-Answered-Time", strconv.FormatInt(e.Time.Unix(), 10))
		}))
	case "AgentComplete":
		caller, dest := t.find(e.Channel), t.find(e.Dest)
		if caller == nil {
			break
		}
		queue := get("Queue")
		out = append(out, t.cc("bridge-agent-end", caller, queue, func(ev *Event) {
			ev.Add("CC-Hangup-Cause", "NORMAL_CLEARING")
			ev.Add("CC-Agent", agentName(endpointOf(get("Interface")), t.domain))
			ev.Add("CC-Agent-System", "single_box")
			if dest != nil {
				ev.Add("CC-Agent-UUID", dest.uuid)
			}
			ev.Add("CC-Agent-Bridged", "true")
		}))
		if t.agentOn[caller.uuid] {
			delete(t.agentOn, caller.uuid)
			out = append(out, t.memberEnd(caller, queue, "Terminated"))
		}
	case "AgentRingNoAnswer":
		caller := t.find(e.Channel)
		if caller == nil {
			break
		}
		out = append(out, t.cc("bridge-agent-fail", caller, get("Queue"), func(ev *Event) {
			ev.Add("CC-Hangup-Cause", "NO_ANSWER")
			ev.Add("CC-Agent", agentName(endpointOf(get("Interface")), t.domain))
			ev.Add("CC-Agent-System", "single_box")
		}))
	case "QueueMemberPause":
		// mod_callcenter pauses agents in every queue (status On Break)
		// and has no event for a pause in one queue.
		paused := "0"
		if get("Paused") == "1" {
			paused = "1"
		}
		out = append(out, custom("callhook::queue-pause",
			Header{"Queue", get("Queue")}, Header{"Extension", endpointOf(get("Interface"))},
			Header{"Paused", paused}, Header{"Reason", get("PausedReason")}))
	case "MixMonitorStart":
		if c := t.find(e.Channel); c != nil {
			file := c.mixFile
			if file == "" {
				file = c.uuid + ".wav"
			}
			c.recording = filepath.Join(t.recDir, filepath.Base(file))
			ev := t.event("RECORD_START", c)
			ev.Add("Record-File-Path", c.recording)
			out = append(out, ev)
		}
	case "MixMonitorStop":
		if c := t.find(e.Channel); c != nil {
			out = t.recordStop(out, c)
		}
	case "VarSet":
		if c := t.find(e.Channel); c != nil && strings.EqualFold(get("Variable"), "MIXMONITOR_FILENAME") {
			c.mixFile = get("Value")
		}
	case "Newexten":
		out = t.newexten(out, e, get("Application"), get("AppData"))
	case "ChanSpyStart", "ChanSpyStop":
		spyer, spyee := t.chanByPrefix(e, "Spyer"), t.chanByPrefix(e, "Spyee")
		if spyer == nil {
			break
		}
		name := "CHANNEL_EXECUTE"
		if e.Name == "ChanSpyStop" {
			name = "CHANNEL_EXECUTE_COMPLETE"
		}
		ev := t.event(name, spyer)
		ev.Add("Application", "eavesdrop")
		if spyee != nil {
			ev.Add("Application-Data", spyee.uuid)
		}
		ev.Add("Application-UUID", uuid.NewString())
		out = append(out, ev)
	case "Hold", "Unhold":
		if c := t.find(e.Channel); c != nil && c.announced {
			name := "CHANNEL_HOLD"
			if e.Name == "Unhold" {
				name = "CHANNEL_UNHOLD"
			}
			out = append(out, t.event(name, c))
		}
	case "UserEvent":
		out = t.userEvent(out, e, get)
	}
	return out
}

// chanByPrefix finds the channel a prefixed AMI block names
// (SpyerUniqueid, TransfereeUniqueid, ...).
func (t *translator) chanByPrefix(e pbx.Event, prefix string) *channel {
	for _, f := range e.Fields {
		if f.Key == prefix+"Uniqueid" {
			return t.live[f.Value]
		}
	}
	return nil
}

func custom(subclass string, headers ...Header) *Event {
	e := &Event{}
	e.Add("Event-Name", "CUSTOM")
	e.Add("Event-Subclass", subclass)
	for _, h := range headers {
		e.Add(h.Name, h.Value)
	}
	return e
}

// newexten follows the dialplan: menus, fax reception, a transfer's new
// destination.
func (t *translator) newexten(out []*Event, e pbx.Event, app, data string) []*Event {
	c := t.find(e.Channel)
	if c == nil {
		return out
	}
	switch strings.ToLower(app) {
	case "background", "waitexten", "read":
		out = t.ensure(out, c)
		menu := e.Channel.Exten
		if menu == "" || menu == "s" || !isExtension(menu) {
			menu = e.Channel.Context
		}
		ev := custom("menu::enter", Header{"Menu-Name", menu})
		t.channelData(ev, c)
		out = append(out, ev)
		c.app, c.appData = "ivr", menu
	case "receivefax":
		out = t.ensure(out, c)
		c.app, c.appData = "rxfax", data
		ev := t.event("CHANNEL_EXECUTE", c)
		ev.Add("Application", "rxfax")
		ev.Add("Application-Data", data)
		out = append(out, ev)
	case "goto":
		parts := strings.Split(data, ",")
		if len(parts) >= 2 && parts[1] != "" && parts[1] != "s" && !c.outbound {
			c.rdnis, c.dest = c.dest, parts[1]
		}
	case "dial":
		c.app, c.appData = "bridge", data
	case "queue":
		c.app, c.appData = "callcenter", data
	}
	return out
}

// hangup fires CHANNEL_HANGUP and CHANNEL_HANGUP_COMPLETE, the latter with
// the leg's CDR variables.
func (t *translator) hangup(out []*Event, e pbx.Event) []*Event {
	c := t.find(e.Channel)
	if c == nil {
		return out
	}
	out = t.ensure(out, c)
	if p := c.partner; p != nil && !c.stale {
		out = t.unbridge(out, c)
	}
	cause := 0
	for _, f := range e.Fields {
		if f.Key == "Cause" {
			cause, _ = strconv.Atoi(f.Value)
		}
	}
	c.setVar("ami_cause", strconv.Itoa(cause))
	if c.recording != "" {
		out = t.recordStop(out, c)
	}
	c.hungup = e.Time
	c.callstate = "HANGUP"
	c.state = "CS_HANGUP"
	name, q850 := t.cause(c)
	c.setVar("hangup_cause", name)
	c.setVar("hangup_cause_q850", strconv.Itoa(q850))
	c.setVar("sip_hangup_disposition", disposition(c))
	out = append(out, t.event("CHANNEL_HANGUP", c))
	if x := t.atx[c]; x != nil && c == x.transferer && !x.completing {
		t.atxForget(x)
	}
	out = t.attXferReturns(out, c)
	c.state = "CS_REPORTING"
	dur := int64(e.Time.Sub(c.created).Round(time.Second) / time.Second)
	bill := int64(0)
	if !c.answered.IsZero() {
		bill = int64(e.Time.Sub(c.answered).Round(time.Second) / time.Second)
	}
	c.setVar("duration", strconv.FormatInt(dur, 10))
	c.setVar("billsec", strconv.FormatInt(bill, 10))
	c.setVar("start_epoch", strconv.FormatInt(c.created.Unix(), 10))
	c.setVar("end_epoch", strconv.FormatInt(e.Time.Unix(), 10))
	out = append(out, t.event("CHANNEL_HANGUP_COMPLETE", c))
	delete(t.live, c.ami)
	t.gone[c.ami] = c
	t.goneQ = append(t.goneQ, c.ami)
	if len(t.goneQ) > keepGone {
		delete(t.gone, t.goneQ[0])
		t.goneQ = t.goneQ[1:]
	}
	if q := t.queueOf[c.uuid]; q != "" && t.agentOn[c.uuid] {
		delete(t.agentOn, c.uuid)
		out = append(out, t.memberEnd(c, q, "Terminated"))
	}
	// What the queue kept of a caller goes with it.
	for k := range t.members {
		if strings.HasPrefix(k, c.uuid+"/") {
			delete(t.members, k)
		}
	}
	delete(t.queueOf, c.uuid)
	delete(t.agentOn, c.uuid)
	delete(t.abandon, c.uuid)
	return t.atxGone(out, c, e.Time)
}

func (t *translator) recordStop(out []*Event, c *channel) []*Event {
	if c.recording == "" {
		return out
	}
	ev := t.event("RECORD_STOP", c)
	ev.Add("Record-File-Path", c.recording)
	ev.Add("Record-Completion-Cause", "success")
	c.recording = ""
	return append(out, ev)
}

// cause is the FreeSWITCH hangup cause of a leg that hangs up: a dial the
// switch gave up takes the dial's outcome, a losing leg of a ring-all
// LOSE_RACE, a caller whose bridge failed the failure's cause, a caller
// who cancelled ORIGINATOR_CANCEL; else the Q.850 cause the core gave.
// q850 is variable_hangup_cause_q850: the cause for Q.850 causes, 16 for
// FreeSWITCH's own (switch_channel_cause_q850).
func (t *translator) cause(c *channel) (name string, q850 int) {
	ami, _ := strconv.Atoi(c.getVar("ami_cause"))
	n := 0
	switch {
	case c.dialFail != "" && c.answered.IsZero():
		switch c.dialFail {
		case "NOANSWER":
			n = 19
		case "BUSY":
			n = 17
		case "CONGESTION":
			n = 34
		case "CHANUNAVAIL":
			return "USER_NOT_REGISTERED", 16
		default: // CANCEL
			if ami == 26 {
				return "LOSE_RACE", 16
			}
			return "ORIGINATOR_CANCEL", 16
		}
	case ami == 26:
		return "LOSE_RACE", 16
	case c.answered.IsZero() && !c.outbound && c.bridgeErr != "":
		switch c.bridgeErr {
		case "NOANSWER":
			n = 19
		case "BUSY":
			n = 17
		case "CONGESTION":
			n = 34
		default:
			return "USER_NOT_REGISTERED", 16
		}
	case c.answered.IsZero() && !c.outbound && c.hangupReq:
		return "ORIGINATOR_CANCEL", 16
	default:
		n = ami
	}
	if n == 0 {
		n = 16
	}
	return causeName(n), n
}

// disposition is variable_sip_hangup_disposition: who ended the leg's
// dialog, seen from the switch.
func disposition(c *channel) string {
	switch {
	case !c.answered.IsZero() && c.hangupReq:
		return "recv_bye"
	case !c.answered.IsZero():
		return "send_bye"
	case !c.outbound && c.hangupReq:
		return "recv_cancel"
	case !c.outbound:
		return "send_refuse"
	case c.dialFail == "BUSY" || c.dialFail == "CONGESTION" || c.dialFail == "CHANUNAVAIL":
		return "recv_refuse"
	}
	return "send_cancel"
}
