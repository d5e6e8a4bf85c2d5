package callmodel_test

import (
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/signal"
)

var t0 = time.Date(2026, 11, 24, 1, 0, 57, 322272000, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func trunkLeg(state signal.State) signal.Leg {
	return signal.Leg{ID: "1795482057.0", ChainID: "1795482057.0", Name: "PJSIP/trunk-00000000", Endpoint: "trunk",
		CallerNum: "2125559876", CallerName: "John Smith", Context: "from-trunk", Exten: "2125550100", State: state}
}

func extLeg(state signal.State) signal.Leg {
	return signal.Leg{ID: "1795482057.1", ChainID: "1795482057.0", Name: "PJSIP/101-00000001", Endpoint: "101",
		CallerNum: "101", CallerName: "Alice 101", Context: "from-internal", Exten: "2125550100", State: state}
}

// inbound is the signal sequence of the Asterisk 22 capture of a DID call to
// extension 101, up to the point where the dial ends with status.
func inbound(status string) []signal.Signal {
	s := []signal.Signal{
		{Kind: signal.LegCreated, Time: at(0), Leg: trunkLeg(signal.StateRing)},
		{Kind: signal.LegCreated, Time: at(0.002), Leg: extLeg(signal.StateDown)},
		{Kind: signal.DialBegin, Time: at(0.008), Leg: trunkLeg(signal.StateRing), Peer: extLeg(signal.StateDown), DialString: "101"},
		{Kind: signal.StateChanged, Time: at(0.009), Leg: extLeg(signal.StateRinging)},
		{Kind: signal.DialState, Time: at(0.009), Leg: trunkLeg(signal.StateRing), Peer: extLeg(signal.StateRinging), DialStatus: "RINGING"},
	}
	if status == "ANSWER" {
		return append(s,
			signal.Signal{Kind: signal.StateChanged, Time: at(3.016), Leg: extLeg(signal.StateUp)},
			signal.Signal{Kind: signal.DialEnd, Time: at(3.020), Leg: trunkLeg(signal.StateRing), Peer: extLeg(signal.StateUp), DialStatus: "ANSWER"},
			signal.Signal{Kind: signal.StateChanged, Time: at(3.020), Leg: trunkLeg(signal.StateUp)},
			signal.Signal{Kind: signal.BridgeEnter, Time: at(3.021), Leg: extLeg(signal.StateUp), BridgeID: "b1"},
			signal.Signal{Kind: signal.BridgeEnter, Time: at(3.021), Leg: trunkLeg(signal.StateUp), BridgeID: "b1"},
			signal.Signal{Kind: signal.BridgeLeave, Time: at(11.027), Leg: trunkLeg(signal.StateUp), BridgeID: "b1"},
			signal.Signal{Kind: signal.BridgeLeave, Time: at(11.028), Leg: extLeg(signal.StateUp), BridgeID: "b1"},
			signal.Signal{Kind: signal.Hangup, Time: at(11.029), Leg: extLeg(signal.StateUp), Cause: 16, CauseText: "Normal Clearing"},
			signal.Signal{Kind: signal.Hangup, Time: at(11.030), Leg: trunkLeg(signal.StateUp), Cause: 16, CauseText: "Normal Clearing"},
		)
	}
	return append(s,
		signal.Signal{Kind: signal.DialEnd, Time: at(20.2), Leg: trunkLeg(signal.StateRing), Peer: extLeg(signal.StateRinging), DialStatus: status},
		signal.Signal{Kind: signal.Hangup, Time: at(20.201), Leg: extLeg(signal.StateRinging), Cause: 0, CauseText: "Unknown"},
		signal.Signal{Kind: signal.Hangup, Time: at(20.202), Leg: trunkLeg(signal.StateRing), Cause: 16, CauseText: "Normal Clearing"},
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
	for _, s := range sigs {
		out = append(out, m.Handle(s)...)
	}
	if m.Calls() != 0 {
		t.Errorf("model still follows %d calls after every leg hung up", m.Calls())
	}
	return out
}

func check(t *testing.T, got []callmodel.Event, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Kind != w.kind || g.User != w.user || g.ID.Link != w.link || g.Finish != w.finish || g.Talk != w.talk || g.Transfer != w.transfer {
			t.Errorf("event %d = %v user %s link %d finish %d talk %v transfer %d; want %+v",
				i, g.Kind, g.User, g.ID.Link, g.Finish, g.Talk, g.Transfer, w)
		}
		if g.Seq != i {
			t.Errorf("event %d has Seq %d", i, g.Seq)
		}
	}
}

func TestInbound(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   []want
	}{
		// 3CX document: link 0 until answered, 1 once answered; call ended
		// reports finishtype Ok with the talk time.
		{"answered", "ANSWER", []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Answered, user: "101", link: 1, transfer: callmodel.NotTransferred},
			{kind: callmodel.Ended, user: "101", link: 1, finish: callmodel.FinishOK, talk: 8 * time.Second},
		}},
		// Nobody answered at the PBX: finishtype Missed, still link 0.
		{"ring timeout", "NOANSWER", []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Ended, user: "101", link: 0, finish: callmodel.FinishMissed},
		}},
		{"busy", "BUSY", []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Ended, user: "101", link: 0, finish: callmodel.FinishMissed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, inbound(tt.status))
			check(t, got, tt.want)
			for _, ev := range got {
				if ev.Direction != callmodel.Inbound || ev.External != "2125559876" || ev.DID != "2125550100" {
					t.Errorf("event %v: direction %v external %q did %q", ev.Kind, ev.Direction, ev.External, ev.DID)
				}
				if ev.ID.Number != 0 || !ev.ID.Start.Equal(t0) {
					t.Errorf("event %v: id %+v, want number 0 (Linkedid sequence) and start %v", ev.Kind, ev.ID, t0)
				}
			}
		})
	}
}

func TestInboundAnswerSignalOrder(t *testing.T) {
	// Asterisk may report DialEnd ANSWER before the dialled leg's Newstate
	// Up; the model must answer once either way.
	sigs := inbound("ANSWER")
	sigs[5], sigs[6] = sigs[6], sigs[5]
	check(t, run(t, sigs), []want{
		{kind: callmodel.Initiated, link: 0},
		{kind: callmodel.Ringing, user: "101", link: 0},
		{kind: callmodel.Answered, user: "101", link: 1, transfer: callmodel.NotTransferred},
		{kind: callmodel.Ended, user: "101", link: 1, finish: callmodel.FinishOK, talk: 8 * time.Second},
	})
}

func TestDIDNames(t *testing.T) {
	got := run(t, inbound("ANSWER"), callmodel.WithDIDNames(map[string]string{"2125550100": "Main line"}))
	if got[0].DIDName != "Main line" || got[0].DID != "2125550100" {
		t.Errorf("DID %q name %q", got[0].DID, got[0].DIDName)
	}
}

func TestCallNumberWithoutAsteriskIDs(t *testing.T) {
	sigs := inbound("ANSWER")
	for i := range sigs {
		sigs[i].Leg.ChainID, sigs[i].Peer.ChainID = "call-a", "call-a"
	}
	got := run(t, sigs)
	if got[0].ID.Number != 1 || got[0].UniqueID != "call-a" {
		t.Errorf("call number %d, want the model's own counter (1)", got[0].ID.Number)
	}
}

func TestOutboundDialing(t *testing.T) {
	ext := signal.Leg{ID: "1795482359.29", ChainID: "1795482359.29", Name: "PJSIP/101-0000001b", Endpoint: "101",
		CallerNum: "101", Context: "from-internal", Exten: "912125550199", State: signal.StateRing}
	trunk := signal.Leg{ID: "1795482359.30", ChainID: "1795482359.29", Name: "PJSIP/trunk-0000001c", Endpoint: "trunk",
		Context: "from-trunk", Exten: "s"}
	up := func(l signal.Leg) signal.Leg { l.State = signal.StateUp; return l }
	sigs := []signal.Signal{
		{Kind: signal.LegCreated, Time: at(0), Leg: ext},
		{Kind: signal.LegCreated, Time: at(0.001), Leg: trunk},
		{Kind: signal.DialBegin, Time: at(0.002), Leg: ext, Peer: trunk, DialString: "12125550199@trunk"},
		{Kind: signal.StateChanged, Time: at(3), Leg: up(trunk)},
		{Kind: signal.StateChanged, Time: at(3.04), Leg: up(ext)},
		{Kind: signal.Hangup, Time: at(13.05), Leg: up(ext), Cause: 16},
		{Kind: signal.Hangup, Time: at(13.06), Leg: up(trunk), Cause: 16},
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
		if ev.UniqueID != "1795482359.29" {
			t.Errorf("%v: UniqueID %q, want the chain's Linkedid", ev.Kind, ev.UniqueID)
		}
	}
}
