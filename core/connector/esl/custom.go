package esl

import (
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// custom translates the CUSTOM events the connector subscribes to.
func (t *tracker) custom(e Event, emit func(signal.Signal)) {
	switch sub := e.Subclass(); sub {
	case "sofia::transferor":
		t.transfer(e, emit)
	case "callcenter::info":
		t.callcenter(e, emit)
	case "menu::enter":
		// switch_ivr_menu.c ivr_send_event: Menu-Name, with the channel's
		// data.
		if l := t.own(e, emit); l != nil && !l.loopback {
			emit(signal.Signal{Kind: signal.MenuEntered, Leg: t.sig(l), Menu: e.Get("Menu-Name")})
		}
	case "spandsp::rxfaxnegociateresult":
		// mod_spandsp_fax.c: the receiving side agreed on the fax session.
		if l := t.own(e, emit); l != nil && !l.loopback {
			emit(signal.Signal{Kind: signal.FaxReceiving, Leg: t.sig(l)})
		}
	case SubclassSync:
		emit(signal.Signal{Kind: signal.Sync, Token: e.Get("Token")})
	case SubclassCallback:
		s := signal.Signal{Kind: signal.CallbackRequested}
		if l := t.own(e, emit); l != nil {
			s.Leg = t.sig(l)
		} else if cu := e.Get("Channel-Call-UUID"); cu != "" {
			s.Leg = signal.Leg{Call: cu}
			if c := t.calls[cu]; c != nil {
				s.Leg.CallSeq = c.seq
			}
		} else {
			return
		}
		emit(s)
	case SubclassMenu:
		if l := t.own(e, emit); l != nil && e.Get("Menu") != "" {
			emit(signal.Signal{Kind: signal.MenuEntered, Leg: t.sig(l), Menu: e.Get("Menu")})
		}
	case SubclassFax:
		if l := t.own(e, emit); l != nil {
			emit(signal.Signal{Kind: signal.FaxReceiving, Leg: t.sig(l)})
		}
	case SubclassForwarding, SubclassQueueLogin, SubclassExtension:
		t.statusEvent(e, emit)
	case SubclassQueuePause:
		ext := strings.TrimSpace(e.Get("Extension"))
		if ext == "" {
			t.log.Warn("esl dropped event", "subclass", sub, "err", "no Extension header")
			return
		}
		p := strings.TrimSpace(e.Get("Paused"))
		emit(signal.Signal{Kind: signal.MemberPaused, Queue: shortName(e.Get("Queue")),
			Member: signal.Member{Endpoint: ext, Paused: p == "1" || strings.EqualFold(p, "true"), Reason: e.Get("Reason")}})
	}
}

// status translates the callhook status events, as the AMI connector
// translates its Callhook* user events.
func (t *tracker) statusEvent(e Event, emit func(signal.Signal)) {
	get := func(k string) string { return strings.TrimSpace(e.Get(k)) }
	st := signal.Status{Extension: get("Extension"), Name: get("Name"), Queue: shortName(get("Queue")), Reason: get("Reason")}
	if st.Extension == "" {
		t.log.Warn("esl dropped event", "subclass", e.Subclass(), "err", "no Extension header")
		return
	}
	status := strings.ToLower(get("Status"))
	s := signal.Signal{Status: st}
	switch e.Subclass() {
	case SubclassForwarding:
		s.Kind = signal.ForwardingChanged
		s.Status.On = status == "on" || status == "1" || status == "yes"
		s.Status.Destination = get("Destination")
	case SubclassQueueLogin:
		s.Kind = signal.QueueLoginChanged
		s.Status.On = status == "in" || status == "login" || status == "1"
	case SubclassExtension:
		switch status {
		case "created":
			s.Kind = signal.ExtensionCreated
		case "deleted":
			s.Kind = signal.ExtensionDeleted
		default:
			t.log.Warn("esl dropped event", "subclass", e.Subclass(), "status", status, "err", "want created or deleted")
			return
		}
	}
	emit(s)
}

// transfer translates sofia::transferor (sofia.c, sofia_handle_sip_i_refer,
// fired when the profile sets fire-transfer-events): a blind transfer
// sets transfer_destination "blind:<extension>" and transfer_to
// "blind:<the transferee's uuid>" on the referring channel; an attended
// one (a REFER with Replaces) carries att_xfer_original_call_id (the
// transferee), att_xfer_destination_call_id (the target) and, when
// known, att_xfer_destination_peer_uuid (the referrer's leg in the
// consultation).
func (t *tracker) transfer(e Event, emit func(signal.Signal)) {
	er := t.own(e, emit)
	if er == nil {
		return
	}
	if orig := e.Get("att_xfer_original_call_id"); orig != "" {
		x := signal.Transfer{Kind: signal.Attended, Done: true, ByPhone: true, Transferer: t.sig(er),
			Transferee: t.sig(t.legs[orig])}
		target := t.legs[e.Get("att_xfer_destination_call_id")]
		x.Target = t.sig(target)
		second := t.legs[e.Get("att_xfer_destination_peer_uuid")]
		if second == nil && target != nil {
			second = t.legs[target.partner]
		}
		x.SecondTransferer = t.sig(second)
		emit(signal.Signal{Kind: signal.Transferred, Leg: x.Transferee, Transfer: &x})
		return
	}
	dest := e.Var("transfer_destination")
	number, blind := strings.CutPrefix(dest, "blind:")
	if !blind {
		return
	}
	number, _, _ = strings.Cut(number, "@")
	tee := er.partner
	if to, ok := strings.CutPrefix(e.Var("transfer_to"), "blind:"); ok && t.legs[to] != nil {
		tee = to
	}
	x := signal.Transfer{Kind: signal.Blind, Done: true, ByPhone: true, Transferer: t.sig(er),
		Transferee: t.sig(t.legs[tee]), Number: number}
	emit(signal.Signal{Kind: signal.Transferred, Leg: x.Transferee, Transfer: &x})
}

// callcenter translates mod_callcenter's callcenter::info events by
// CC-Action (mod_callcenter.c).
func (t *tracker) callcenter(e Event, emit func(signal.Signal)) {
	queue := shortName(e.Get("CC-Queue"))
	agent := shortName(e.Get("CC-Agent"))
	member := t.legs[e.Get("CC-Member-Session-UUID")]
	if member == nil && e.Has("Unique-ID") {
		member = t.own(e, emit)
	}
	switch e.Get("CC-Action") {
	case "member-queue-start", "member-queue-resume":
		if member == nil {
			return
		}
		member.inQueue = queue
		emit(signal.Signal{Kind: signal.QueueJoined, Leg: t.sig(member), Queue: queue})
	case "member-queue-end":
		// mod_callcenter ends the member's queue session after its
		// conversation (CC-Cause Terminated) or when it gave up (Cancel;
		// CC-Cancel-Reason NONE: it hung up).
		if member == nil || member.inQueue == "" {
			return
		}
		if strings.EqualFold(e.Get("CC-Cause"), "Cancel") && strings.EqualFold(e.Get("CC-Cancel-Reason"), "NONE") {
			emit(signal.Signal{Kind: signal.QueueAbandoned, Leg: t.sig(member), Queue: queue})
		}
		member.inQueue = ""
		emit(signal.Signal{Kind: signal.QueueLeft, Leg: t.sig(member), Queue: queue})
	case "bridge-agent-start":
		if member == nil {
			return
		}
		ag := t.legs[e.Get("CC-Agent-UUID")]
		// The caller waits no more once an agent's bridge starts, though
		// mod_callcenter reports member-queue-end only after it.
		if member.inQueue != "" {
			member.inQueue = ""
			emit(signal.Signal{Kind: signal.QueueLeft, Leg: t.sig(member), Queue: queue})
		}
		emit(signal.Signal{Kind: signal.AgentAnswered, Leg: t.sig(member), Peer: t.sig(ag), Queue: queue,
			Member: signal.Member{Endpoint: agent}})
	case "bridge-agent-end":
		if member == nil {
			return
		}
		emit(signal.Signal{Kind: signal.AgentDone, Leg: t.sig(member), Peer: t.sig(t.legs[e.Get("CC-Agent-UUID")]),
			Queue: queue, Member: signal.Member{Endpoint: agent}})
	case "bridge-agent-fail":
		if member == nil {
			return
		}
		emit(signal.Signal{Kind: signal.AgentNoAnswer, Leg: t.sig(member), Peer: t.sig(t.legs[t.agents[member.id+"/"+agent]]),
			Queue: queue, Member: signal.Member{Endpoint: agent}})
	case "agent-status-change":
		// An agent's status is its state in every queue: Logged Out and
		// Available are a login, On Break a pause.
		st := e.Get("CC-Agent-Status")
		prev := t.status[agent]
		t.status[agent] = st
		if agent == "" {
			return
		}
		switch {
		case strings.EqualFold(st, "On Break"):
			emit(signal.Signal{Kind: signal.MemberPaused, Member: signal.Member{Endpoint: agent, Paused: true}})
		case strings.EqualFold(prev, "On Break") && strings.HasPrefix(strings.ToLower(st), "available"):
			emit(signal.Signal{Kind: signal.MemberPaused, Member: signal.Member{Endpoint: agent}})
		case strings.EqualFold(st, "Logged Out"):
			emit(signal.Signal{Kind: signal.QueueLoginChanged, Status: signal.Status{Extension: agent}})
		case strings.HasPrefix(strings.ToLower(st), "available"):
			emit(signal.Signal{Kind: signal.QueueLoginChanged, Status: signal.Status{Extension: agent, On: true}})
		}
	}
}
