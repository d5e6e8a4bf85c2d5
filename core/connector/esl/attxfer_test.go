package esl

import (
	"slices"
	"testing"

	"github.com/callhook/callhook/core/signal"
)

// attXferStart is an outside caller (t) bridged with 101 (x), 101
// running att_xfer to 103 (y), which answers: the inner bridge.
func attXferStart(answer bool) []Event {
	out := []Event{
		ev("Event-Name", "CHANNEL_CREATE", "Unique-ID", "t", "Call-Direction", "inbound", "Channel-Name", "sofia/external/2125559876@c",
			"variable_sip_gateway", "trunk", "Caller-Caller-ID-Number", "2125559876", "Caller-Destination-Number", "2125550100"),
		ev("Event-Name", "CHANNEL_CREATE", "Unique-ID", "x", "Call-Direction", "outbound", "Channel-Name", "sofia/internal/101@p",
			"variable_dialed_user", "101", "Other-Type", "originator", "Other-Leg-Unique-ID", "t", "Caller-Destination-Number", "101"),
		ev("Event-Name", "CHANNEL_ANSWER", "Unique-ID", "x", "Call-Direction", "outbound"),
		ev("Event-Name", "CHANNEL_ANSWER", "Unique-ID", "t", "Call-Direction", "inbound"),
		ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "t", "Bridge-A-Unique-ID", "t", "Bridge-B-Unique-ID", "x"),
		ev("Event-Name", "CHANNEL_EXECUTE", "Unique-ID", "x", "Call-Direction", "outbound", "Application", "att_xfer",
			"Application-Data", "user/103@p", "variable_signal_bond", "t"),
		ev("Event-Name", "CHANNEL_CREATE", "Unique-ID", "y", "Call-Direction", "outbound", "Channel-Name", "sofia/internal/103@p",
			"variable_dialed_user", "103", "Other-Type", "originator", "Other-Leg-Unique-ID", "x", "Caller-Destination-Number", "103"),
		ev("Event-Name", "CHANNEL_PROGRESS", "Unique-ID", "y", "Call-Direction", "outbound"),
	}
	if answer {
		out = append(out,
			ev("Event-Name", "CHANNEL_ANSWER", "Unique-ID", "y", "Call-Direction", "outbound"),
			ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "x", "Bridge-A-Unique-ID", "x", "Bridge-B-Unique-ID", "y"))
	}
	return out
}

func hangupOf(id, cause string, more ...string) Event {
	return ev(append([]string{"Event-Name", "CHANNEL_HANGUP_COMPLETE", "Unique-ID", id, "Hangup-Cause", cause,
		"Answer-State", "hangup"}, more...)...)
}

// playTracker feeds events to a new tracker and returns its signals.
func playTracker(events []Event) []signal.Signal {
	tr := newTracker(nil, nil)
	var out []signal.Signal
	for _, e := range events {
		out = append(out, tr.handle(e, t0)...)
	}
	return out
}

func transfers(sigs []signal.Signal) []*signal.Transfer {
	var out []*signal.Transfer
	for _, s := range sigs {
		if s.Kind == signal.Transferred {
			out = append(out, s.Transfer)
		}
	}
	return out
}

func index(sigs []signal.Signal, f func(signal.Signal) bool) int {
	return slices.IndexFunc(sigs, f)
}

// The target's leg att_xfer originates is a dial the PBX makes for the
// call: the consultation, not a call of 101's own.
func TestAttXferConsultationDialledByThePBX(t *testing.T) {
	sigs := playTracker(attXferStart(true))
	i := index(sigs, func(s signal.Signal) bool { return s.Kind == signal.Dialling && s.Peer.ID == "y" })
	if i < 0 {
		t.Fatalf("no Dialling of 103: %v", kinds(sigs))
	}
	if d := sigs[i]; d.Leg.ID != "" || d.Leg.Call != "t" {
		t.Errorf("the consultation dialled by %+v, want the call t itself", d.Leg)
	}
	if j := index(sigs, func(s signal.Signal) bool { return s.Kind == signal.DialEnded && s.Peer.ID == "y" }); j < 0 || sigs[j].Leg.ID != "" {
		t.Errorf("the consultation's dial end: %v", kinds(sigs))
	}
}

// The transferer hanging up with the target up completes the transfer,
// whether the switch reports the new bridge of target and transferee
// before the transferer's hangup or after it: once, before the
// transferer goes, and before the target joins the transferee.
func TestAttXferCompleted(t *testing.T) {
	tail := map[string][]Event{
		"bridge first": {
			ev("Event-Name", "CHANNEL_UNBRIDGE", "Unique-ID", "x", "Bridge-A-Unique-ID", "x", "Bridge-B-Unique-ID", "y"),
			ev("Event-Name", "CHANNEL_UNBRIDGE", "Unique-ID", "t", "Bridge-A-Unique-ID", "t", "Bridge-B-Unique-ID", "x"),
			ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "y", "Bridge-A-Unique-ID", "y", "Bridge-B-Unique-ID", "t",
				"variable_transfer_source", "1:y:uuid_br:t", "variable_att_xfer_result", "success"),
			ev("Event-Name", "CHANNEL_EXECUTE_COMPLETE", "Unique-ID", "x", "Application", "att_xfer", "Answer-State", "hangup",
				"Hangup-Cause", "NORMAL_CLEARING"),
			hangupOf("x", "NORMAL_CLEARING"),
		},
		"hangup first": {
			ev("Event-Name", "CHANNEL_UNBRIDGE", "Unique-ID", "x", "Bridge-A-Unique-ID", "x", "Bridge-B-Unique-ID", "y"),
			ev("Event-Name", "CHANNEL_EXECUTE_COMPLETE", "Unique-ID", "x", "Application", "att_xfer", "Answer-State", "hangup",
				"Hangup-Cause", "NORMAL_CLEARING"),
			hangupOf("x", "NORMAL_CLEARING"),
			ev("Event-Name", "CHANNEL_UNBRIDGE", "Unique-ID", "t", "Bridge-A-Unique-ID", "t", "Bridge-B-Unique-ID", "x"),
			ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "y", "Bridge-A-Unique-ID", "y", "Bridge-B-Unique-ID", "t"),
		},
		"no execute complete": {
			hangupOf("x", "NORMAL_CLEARING"),
			ev("Event-Name", "CHANNEL_UNBRIDGE", "Unique-ID", "x", "Bridge-A-Unique-ID", "x", "Bridge-B-Unique-ID", "y"),
			ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "y", "Bridge-A-Unique-ID", "y", "Bridge-B-Unique-ID", "t"),
		},
	}
	for name, more := range tail {
		sigs := playTracker(append(attXferStart(true), more...))
		xs := transfers(sigs)
		if len(xs) != 1 {
			t.Errorf("%s: %d transfers: %v", name, len(xs), kinds(sigs))
			continue
		}
		x := xs[0]
		if x.Kind != signal.Attended || !x.Done || x.ByPhone || x.Transferer.ID != "x" || x.SecondTransferer.ID != "x" ||
			x.Transferee.ID != "t" || x.Target.ID != "y" {
			t.Errorf("%s: transfer %+v", name, *x)
		}
		at := index(sigs, func(s signal.Signal) bool { return s.Kind == signal.Transferred })
		gone := index(sigs, func(s signal.Signal) bool { return s.Kind == signal.LegGone && s.Leg.ID == "x" })
		joined := index(sigs, func(s signal.Signal) bool { return s.Kind == signal.Joined && s.Bridge == "y/t" })
		if gone < at || joined < at {
			t.Errorf("%s: the transfer at %d, the transferer gone at %d, the target joined at %d: %v", name, at, gone, joined, kinds(sigs))
		}
	}
}

// The target gone (the cancel key) with the transferer still there
// hands the transferer back: no transfer. A target that never answers
// moves nothing either; the dial ends as its cause says.
func TestAttXferCancelled(t *testing.T) {
	back := append(attXferStart(true),
		ev("Event-Name", "CHANNEL_UNBRIDGE", "Unique-ID", "x", "Bridge-A-Unique-ID", "x", "Bridge-B-Unique-ID", "y"),
		hangupOf("y", "NORMAL_CLEARING"),
		ev("Event-Name", "CHANNEL_UNBRIDGE", "Unique-ID", "t", "Bridge-A-Unique-ID", "t", "Bridge-B-Unique-ID", "x"),
		ev("Event-Name", "CHANNEL_EXECUTE_COMPLETE", "Unique-ID", "x", "Application", "att_xfer", "Answer-State", "answered"),
		ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "x", "Bridge-A-Unique-ID", "x", "Bridge-B-Unique-ID", "t"),
		hangupOf("t", "NORMAL_CLEARING"),
		hangupOf("x", "NORMAL_CLEARING"))
	sigs := playTracker(back)
	if xs := transfers(sigs); len(xs) != 0 {
		t.Errorf("cancelled: transfers %v", kinds(sigs))
	}
	if index(sigs, func(s signal.Signal) bool { return s.Kind == signal.Joined && s.Bridge == "x/t" && s.Leg.ID == "t" }) < 0 {
		t.Errorf("the transferee back with the transferer: %v", kinds(sigs))
	}

	busy := append(attXferStart(false),
		hangupOf("y", "USER_BUSY"),
		ev("Event-Name", "CHANNEL_EXECUTE_COMPLETE", "Unique-ID", "x", "Application", "att_xfer", "Answer-State", "answered"),
		hangupOf("x", "NORMAL_CLEARING"))
	sigs = playTracker(busy)
	if xs := transfers(sigs); len(xs) != 0 {
		t.Errorf("busy: transfers %v", kinds(sigs))
	}
	i := index(sigs, func(s signal.Signal) bool { return s.Kind == signal.DialEnded && s.Peer.ID == "y" })
	if i < 0 || sigs[i].Outcome != signal.OutcomeBusy || sigs[i].Leg.ID != "" {
		t.Errorf("busy: the consultation's dial end: %v", kinds(sigs))
	}
}
