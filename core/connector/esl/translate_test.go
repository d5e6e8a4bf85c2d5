package esl

import (
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
)

func ev(headers ...string) Event {
	var e Event
	for i := 0; i+1 < len(headers); i += 2 {
		e.set(headers[i], headers[i+1])
	}
	return e
}

func TestEndpointOf(t *testing.T) {
	for _, c := range []struct {
		name     string
		e        Event
		outbound bool
		want     string
		loop     bool
	}{
		{"gateway out", ev("Channel-Name", "sofia/gateway/trunk/12125550199", "variable_sip_gateway_name", "trunk"), true, "trunk", false},
		{"gateway out, name only", ev("Channel-Name", "sofia/gateway/carrier/12125550199"), true, "carrier", false},
		{"gateway in", ev("Channel-Name", "sofia/external/2125559876@10.0.0.1", "variable_sip_gateway", "trunk"), false, "trunk", false},
		{"user dialled", ev("Channel-Name", "sofia/internal/101@10.0.0.5:5060", "variable_dialed_user", "101"), true, "101", false},
		{"user calling", ev("Channel-Name", "sofia/internal/101@pbx", "variable_user_name", "101"), false, "101", false},
		{"presence only", ev("Channel-Name", "sofia/internal/sip:101@10.0.0.5", "Channel-Presence-ID", "101@pbx"), false, "101", false},
		{"unauthenticated caller", ev("Channel-Name", "sofia/external/2125559876@1.2.3.4"), false, "external", false},
		{"outbound sofia", ev("Channel-Name", "sofia/internal/102@10.0.0.6"), true, "102", false},
		{"verto", ev("Channel-Name", "verto.rtc/1008@pbx"), false, "1008", false},
		{"loopback", ev("Channel-Name", "loopback/101-a"), true, "", true},
	} {
		got, loop := endpointOf(c.e, c.outbound)
		if got != c.want || loop != c.loop {
			t.Errorf("%s: endpoint %q loopback %t, want %q %t", c.name, got, loop, c.want, c.loop)
		}
	}
}

func TestCausesAndOutcomes(t *testing.T) {
	for name, want := range map[string]int{"NORMAL_CLEARING": 16, "USER_BUSY": 17, "NO_ANSWER": 19,
		"ORIGINATOR_CANCEL": 16, "LOSE_RACE": 16, "": 0, "INTERWORKING": 127} {
		if got := causeNumber(name); got != want {
			t.Errorf("causeNumber(%q) = %d, want %d", name, got, want)
		}
	}
	for cause, want := range map[string]signal.Outcome{"USER_BUSY": signal.OutcomeBusy, "NO_ANSWER": signal.OutcomeNoAnswer,
		"ORIGINATOR_CANCEL": signal.OutcomeCancelled, "LOSE_RACE": signal.OutcomeCancelled,
		"USER_NOT_REGISTERED": signal.OutcomeUnavailable, "NORMAL_CIRCUIT_CONGESTION": signal.OutcomeCongestion,
		"MANAGER_REQUEST": signal.OutcomeUnknown} {
		if got := outcomeOf(cause); got != want {
			t.Errorf("outcomeOf(%s) = %s, want %s", cause, got, want)
		}
	}
	if shortName("800@default") != "800" || shortName("support") != "support" {
		t.Error("shortName keeps the domain")
	}
}

// A leg first seen in an event that is not its creation (the connector
// missed CHANNEL_CREATE) is adopted; an event about a leg gone stays
// unreported; a repeated answer is reported once.
func TestTrackerAdoptsAndDeduplicates(t *testing.T) {
	tr := newTracker(nil, nil)
	answer := ev("Event-Name", "CHANNEL_ANSWER", "Unique-ID", "a", "Call-Direction", "inbound",
		"Channel-Name", "sofia/internal/101@pbx", "variable_user_name", "101", "Caller-Destination-Number", "102")
	sigs := tr.handle(answer, t0)
	if len(sigs) != 2 || sigs[0].Kind != signal.LegAppeared || sigs[1].Kind != signal.LegAnswered {
		t.Fatalf("adopted answer: %v", kinds(sigs))
	}
	if got := tr.handle(answer, t0); len(got) != 0 {
		t.Errorf("repeated answer: %v", kinds(got))
	}
	hangup := ev("Event-Name", "CHANNEL_HANGUP_COMPLETE", "Unique-ID", "a", "Call-Direction", "inbound",
		"Hangup-Cause", "NORMAL_CLEARING", "variable_hangup_cause_q850", "16", "variable_sip_hangup_disposition", "recv_bye")
	sigs = tr.handle(hangup, t0)
	if len(sigs) != 2 || sigs[0].Kind != signal.LegGone || sigs[0].Cause != 16 ||
		sigs[0].Teardown != (signal.Teardown{Cause: "NORMAL_CLEARING", Disposition: "recv_bye"}) || sigs[1].Kind != signal.CallRecorded {
		t.Fatalf("hangup: %+v", sigs)
	}
	if sigs[1].Record.Disposition != signal.DispositionAnswered {
		t.Errorf("record disposition %s", sigs[1].Record.Disposition)
	}
	for _, late := range []Event{hangup, answer} {
		if got := tr.handle(late, t0); len(got) != 0 {
			t.Errorf("late %s about a gone leg: %v", late.Name(), kinds(got))
		}
	}
}

var t0 = time.Unix(1796228924, 0)

func kinds(sigs []signal.Signal) []string {
	var out []string
	for _, s := range sigs {
		out = append(out, s.Kind.String())
	}
	return out
}

// A loopback pair (mod_loopback) is plumbing: its halves show no signal,
// the real leg its b half dials is dialled by the PBX for the call, and
// the caller bridged to the a half is in a bridge as it would be with the
// real leg.
func TestLoopbackAbsorbed(t *testing.T) {
	tr := newTracker(nil, nil)
	var sigs []signal.Signal
	for _, e := range []Event{
		ev("Event-Name", "CHANNEL_CREATE", "Unique-ID", "t", "Call-Direction", "inbound", "Channel-Name", "sofia/external/2125559876@c",
			"variable_sip_gateway", "trunk", "Caller-Destination-Number", "2125550100"),
		ev("Event-Name", "CHANNEL_CREATE", "Unique-ID", "la", "Call-Direction", "outbound", "Channel-Name", "loopback/103-a",
			"Other-Type", "originator", "Other-Leg-Unique-ID", "t"),
		ev("Event-Name", "CHANNEL_CREATE", "Unique-ID", "lb", "Call-Direction", "inbound", "Channel-Name", "loopback/103-b",
			"variable_other_loopback_leg_uuid", "la"),
		ev("Event-Name", "CHANNEL_CREATE", "Unique-ID", "x", "Call-Direction", "outbound", "Channel-Name", "sofia/internal/103@p",
			"variable_dialed_user", "103", "Other-Type", "originator", "Other-Leg-Unique-ID", "lb", "Caller-Destination-Number", "103"),
		ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "t", "Bridge-A-Unique-ID", "t", "Bridge-B-Unique-ID", "la"),
		ev("Event-Name", "CHANNEL_HANGUP_COMPLETE", "Unique-ID", "la", "Hangup-Cause", "NORMAL_CLEARING"),
	} {
		sigs = append(sigs, tr.handle(e, t0)...)
	}
	got := kinds(sigs)
	want := []string{"LegAppeared", "LegAppeared", "Dialling", "Joined"}
	if len(got) != len(want) {
		t.Fatalf("signals %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("signals %v, want %v", got, want)
		}
	}
	if sigs[1].Leg.ID != "x" || sigs[1].Leg.Call != "t" || sigs[2].Leg.ID != "" || sigs[2].Leg.Call != "t" || sigs[2].Peer.ID != "x" {
		t.Errorf("the real leg and its dial: %+v / %+v", sigs[1], sigs[2])
	}
}
