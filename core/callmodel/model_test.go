package callmodel_test

import (
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/signal"
)

var t0 = time.Date(2026, 11, 24, 1, 0, 57, 322272000, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func trunkLeg(state signal.LegState) signal.Leg {
	return signal.Leg{ID: "1795482057.0", Call: "1795482057.0", Endpoint: "trunk",
		CallerNum: "2125559876", CallerName: "John Smith", Number: "2125550100", State: state}
}

func extLeg(state signal.LegState) signal.Leg {
	return signal.Leg{ID: "1795482057.1", Call: "1795482057.0", Endpoint: "101",
		CallerNum: "101", CallerName: "Alice 101", Number: "2125550100", State: state}
}

// inbound is the signal sequence of a DID call to extension 101 (as the
// real capture 01 gives it), up to the point where the dial ends with
// outcome.
func inbound(outcome signal.Outcome) []signal.Signal {
	s := []signal.Signal{
		{Kind: signal.LegAppeared, Time: at(0), Leg: trunkLeg(signal.StateCalling)},
		{Kind: signal.LegAppeared, Time: at(0.002), Leg: extLeg(signal.StateIdle)},
		{Kind: signal.Dialling, Time: at(0.008), Leg: trunkLeg(signal.StateCalling), Peer: extLeg(signal.StateIdle), Number: "101"},
		{Kind: signal.LegAlerting, Time: at(0.009), Leg: extLeg(signal.StateAlerting)},
		{Kind: signal.LegAlerting, Time: at(0.009), Leg: extLeg(signal.StateAlerting), Peer: trunkLeg(signal.StateCalling)},
	}
	if outcome == signal.OutcomeAnswered {
		return append(s,
			signal.Signal{Kind: signal.LegAnswered, Time: at(3.016), Leg: extLeg(signal.StateUp)},
			signal.Signal{Kind: signal.DialEnded, Time: at(3.020), Leg: trunkLeg(signal.StateCalling), Peer: extLeg(signal.StateUp), Outcome: outcome},
			signal.Signal{Kind: signal.LegAnswered, Time: at(3.020), Leg: trunkLeg(signal.StateUp)},
			signal.Signal{Kind: signal.Joined, Time: at(3.021), Leg: extLeg(signal.StateUp), Bridge: "b1"},
			signal.Signal{Kind: signal.Joined, Time: at(3.021), Leg: trunkLeg(signal.StateUp), Bridge: "b1"},
			signal.Signal{Kind: signal.Left, Time: at(11.027), Leg: trunkLeg(signal.StateUp), Bridge: "b1"},
			signal.Signal{Kind: signal.Left, Time: at(11.028), Leg: extLeg(signal.StateUp), Bridge: "b1"},
			signal.Signal{Kind: signal.LegGone, Time: at(11.029), Leg: extLeg(signal.StateUp), Cause: 16},
			signal.Signal{Kind: signal.LegGone, Time: at(11.030), Leg: trunkLeg(signal.StateUp), Cause: 16},
		)
	}
	return append(s,
		signal.Signal{Kind: signal.DialEnded, Time: at(20.2), Leg: trunkLeg(signal.StateCalling), Peer: extLeg(signal.StateAlerting), Outcome: outcome},
		signal.Signal{Kind: signal.LegGone, Time: at(20.201), Leg: extLeg(signal.StateAlerting), Cause: 0},
		signal.Signal{Kind: signal.LegGone, Time: at(20.202), Leg: trunkLeg(signal.StateCalling), Cause: 16},
	)
}

type want struct {
	kind     callmodel.Kind
	user     string
	link     int
	finish   callmodel.Finish
	talk     time.Duration
	transfer callmodel.TransferType
}

func run(t *testing.T, sigs []signal.Signal, opts ...callmodel.Option) []callmodel.Event {
	t.Helper()
	m := callmodel.New(opts...)
	var out []callmodel.Event
	for i, s := range sigs {
		out = append(out, m.Handle(s)...)
		if kept, walked := m.CheckCalls(); kept != walked {
			t.Fatalf("after signal %d (%v): the model counts %d calls, holds %d", i, s.Kind, kept, walked)
		}
	}
	if m.Calls() != 0 {
		t.Errorf("model still follows %d calls after every leg hung up", m.Calls())
	}
	return out
}

// flowKinds report a call's way through the PBX (TestFlow covers them)
// and phones that stopped ringing (the sequences cover them);
// check looks at the call's links only.
func flowKinds(ev callmodel.Event) bool {
	return ev.Kind == callmodel.Landed || ev.Kind == callmodel.Missed || ev.Kind == callmodel.FaxReceived ||
		ev.Kind == callmodel.StoppedRinging
}

func check(t *testing.T, all []callmodel.Event, wants []want) {
	t.Helper()
	var got []callmodel.Event
	for _, ev := range all {
		if !flowKinds(ev) {
			got = append(got, ev)
		}
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Kind != w.kind || g.User != w.user || g.ID.Link != w.link || g.Finish != w.finish || g.Talk != w.talk || g.Transfer != w.transfer {
			t.Errorf("event %d = %v user %s link %d finish %d talk %v transfer %d; want %+v",
				i, g.Kind, g.User, g.ID.Link, g.Finish, g.Talk, g.Transfer, w)
		}
		if g.N != 0 {
			t.Errorf("event %d (%v) has N %d, want 0: the first of its kind on its link", i, g.Kind, g.N)
		}
	}
}

func TestInbound(t *testing.T) {
	tests := []struct {
		name    string
		outcome signal.Outcome
		want    []want
	}{
		// 3CX document: link 0 until answered, 1 once answered; call ended
		// reports finishtype Ok with the talk time.
		{"answered", signal.OutcomeAnswered, []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Answered, user: "101", link: 1, transfer: callmodel.NotTransferred},
			{kind: callmodel.Ended, user: "101", link: 1, finish: callmodel.FinishOK, talk: 8 * time.Second},
		}},
		// Nobody answered at the PBX: finishtype Missed, still link 0.
		{"ring timeout", signal.OutcomeNoAnswer, []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Ended, user: "101", link: 0, finish: callmodel.FinishMissed},
		}},
		{"busy", signal.OutcomeBusy, []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Ended, user: "101", link: 0, finish: callmodel.FinishMissed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, inbound(tt.outcome))
			check(t, got, tt.want)
			for _, ev := range got {
				if ev.Direction != callmodel.Inbound || ev.External != "2125559876" || ev.DID != "2125550100" {
					t.Errorf("event %v: direction %v external %q did %q", ev.Kind, ev.Direction, ev.External, ev.DID)
				}
				if ev.ID.Number != 0 || !ev.ID.Start.Equal(t0) {
					t.Errorf("event %v: id %+v, want number 0 (the call's sequence) and start %v", ev.Kind, ev.ID, t0)
				}
			}
		})
	}
}

func TestInboundAnswerSignalOrder(t *testing.T) {
	// A PBX may report the dial's answer before the dialled leg's own;
	// the model must answer once either way.
	sigs := inbound(signal.OutcomeAnswered)
	sigs[5], sigs[6] = sigs[6], sigs[5]
	check(t, run(t, sigs), []want{
		{kind: callmodel.Initiated, link: 0},
		{kind: callmodel.Ringing, user: "101", link: 0},
		{kind: callmodel.Answered, user: "101", link: 1, transfer: callmodel.NotTransferred},
		{kind: callmodel.Ended, user: "101", link: 1, finish: callmodel.FinishOK, talk: 8 * time.Second},
	})
}

func TestDIDNames(t *testing.T) {
	got := run(t, inbound(signal.OutcomeAnswered), callmodel.WithDIDNames(map[string]string{"2125550100": "Main line"}))
	if got[0].DIDName != "Main line" || got[0].DID != "2125550100" {
		t.Errorf("DID %q name %q", got[0].DID, got[0].DIDName)
	}
}

func TestCallNumberFromConnector(t *testing.T) {
	sigs := inbound(signal.OutcomeAnswered)
	for i := range sigs {
		sigs[i].Leg.Call, sigs[i].Peer.Call = "call-a", "call-a"
		sigs[i].Leg.CallSeq, sigs[i].Peer.CallSeq = 42, 42
	}
	got := run(t, sigs)
	if got[0].ID.Number != 42 || got[0].PBXCallID != "call-a" {
		t.Errorf("call number %d, PBX call id %q; want the connector's 42 and call-a", got[0].ID.Number, got[0].PBXCallID)
	}
}

func TestOutboundDialing(t *testing.T) {
	ext := signal.Leg{ID: "1795482359.29", Call: "1795482359.29", CallSeq: 29, Endpoint: "101",
		CallerNum: "101", Number: "912125550199", State: signal.StateCalling}
	trunk := signal.Leg{ID: "1795482359.30", Call: "1795482359.29", CallSeq: 29, Endpoint: "trunk"}
	up := func(l signal.Leg) signal.Leg { l.State = signal.StateUp; return l }
	sigs := []signal.Signal{
		{Kind: signal.LegAppeared, Time: at(0), Leg: ext},
		{Kind: signal.LegAppeared, Time: at(0.001), Leg: trunk},
		{Kind: signal.Dialling, Time: at(0.002), Leg: ext, Peer: trunk, Number: "12125550199"},
		{Kind: signal.LegAnswered, Time: at(3), Leg: up(trunk)},
		{Kind: signal.LegAnswered, Time: at(3.04), Leg: up(ext)},
		{Kind: signal.LegGone, Time: at(13.05), Leg: up(ext), Cause: 16},
		{Kind: signal.LegGone, Time: at(13.06), Leg: up(trunk), Cause: 16},
	}
	got := run(t, sigs)
	check(t, got, []want{
		{kind: callmodel.Initiated, user: "101", link: 0},
		{kind: callmodel.Dialing, user: "101", link: 0},
		{kind: callmodel.Answered, user: "101", link: 1, transfer: callmodel.NotTransferred},
		{kind: callmodel.Ended, user: "101", link: 1, finish: callmodel.FinishOK, talk: 10 * time.Second},
	})
	for _, ev := range got[:2] {
		if ev.External != "12125550199" || ev.Direction != callmodel.Outbound {
			t.Errorf("%v: external %q direction %v", ev.Kind, ev.External, ev.Direction)
		}
	}
	for _, ev := range got {
		if ev.PBXCallID != "1795482359.29" {
			t.Errorf("%v: PBXCallID %q, want the call's id", ev.Kind, ev.PBXCallID)
		}
	}
}
