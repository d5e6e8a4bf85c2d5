package esl_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/esl"
	"github.com/callhook/callhook/core/signal"
)

// fixtures are event socket streams of pbxsim (fixtures/esl/pbxsim, see
// its README): what an engine read on one connection, greeting and
// replies included.
const fixtures = "../../../fixtures/esl/pbxsim"

func decode(t *testing.T, name string) []signal.Signal {
	t.Helper()
	sigs, err := esl.DecodeFile(filepath.Join(fixtures, name), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return sigs
}

// legsContract: every leg appears before anything else is said of it,
// names its call and its device, and goes in the end.
func legsContract(t *testing.T, sigs []signal.Signal) {
	t.Helper()
	appeared, gone := map[string]bool{}, map[string]bool{}
	for i, s := range sigs {
		if s.Leg.ID == "" || s.Kind == signal.CallRecorded {
			continue
		}
		switch {
		case s.Kind == signal.LegAppeared:
			if appeared[s.Leg.ID] {
				t.Errorf("signal %d: %s appears twice", i, s.Leg.ID)
			}
			appeared[s.Leg.ID] = true
		case !appeared[s.Leg.ID]:
			t.Errorf("signal %d: %s on %s before it appeared", i, s.Kind, s.Leg.ID)
		case gone[s.Leg.ID]:
			t.Errorf("signal %d: %s on %s after it went", i, s.Kind, s.Leg.ID)
		}
		if s.Kind == signal.LegGone {
			gone[s.Leg.ID] = true
		}
		if s.Leg.Call == "" || s.Leg.CallSeq == 0 || s.Leg.Endpoint == "" {
			t.Errorf("signal %d: %s on %s: call %q seq %d endpoint %q", i, s.Kind, s.Leg.ID, s.Leg.Call, s.Leg.CallSeq, s.Leg.Endpoint)
		}
	}
	for id := range appeared {
		if !gone[id] {
			t.Errorf("leg %s never went", id)
		}
	}
}

func TestDecodeFixtures(t *testing.T) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".plain" && filepath.Ext(e.Name()) != ".json" {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			sigs := decode(t, e.Name())
			legsContract(t, sigs)
			if sigs[len(sigs)-1].Kind != signal.Sync {
				t.Errorf("last signal %s, want the barrier", sigs[len(sigs)-1].Kind)
			}
			m := callmodel.New()
			for _, s := range sigs {
				m.Handle(s)
			}
			if m.Calls() != 0 {
				t.Errorf("the model still follows %d calls", m.Calls())
			}
		})
	}
	if n == 0 {
		t.Fatal("no fixtures")
	}
}

func TestDecodeInboundAnswered(t *testing.T) {
	var got []string
	sigs := decode(t, "inbound-answered.plain")
	for _, s := range sigs {
		got = append(got, s.Kind.String()+" "+s.Leg.Endpoint)
	}
	want := []string{"LegAppeared trunk", "LegAppeared 101", "Dialling trunk", "LegAlerting 101", "LegAnswered 101",
		"DialEnded trunk", "RecordingStarted 101", "LegAnswered trunk", "Joined trunk", "Joined 101", "Left trunk",
		"Left 101", "RecordingStopped 101", "LegGone 101", "CallRecorded 101", "LegGone trunk", "CallRecorded trunk", "Sync "}
	if !slices.Equal(got, want) {
		t.Fatalf("signals\n%v\nwant\n%v", got, want)
	}
	trunk := sigs[0].Leg
	if trunk.Call != trunk.ID || trunk.CallerNum != "2125559876" || trunk.Number != "2125550100" || trunk.CallerName != "John Smith" {
		t.Errorf("trunk leg %+v", trunk)
	}
	if callee := sigs[1].Leg; callee.Call != trunk.ID {
		t.Errorf("101's leg is in call %s, want the caller's %s", callee.Call, trunk.ID)
	}
	if d := sigs[2]; d.Peer.ID != sigs[1].Leg.ID || d.Number != "101" {
		t.Errorf("dialling %+v", d)
	}
	if r := sigs[6]; r.File == "" || filepath.Ext(r.File) != ".wav" {
		t.Errorf("recording file %q", r.File)
	}
	if g := sigs[15]; g.Teardown.Disposition != "recv_bye" || g.Teardown.Cause != "NORMAL_CLEARING" || g.Cause != 16 {
		t.Errorf("the caller's hangup %+v", g)
	}
}

func TestDecodeMissedJSON(t *testing.T) {
	sigs := decode(t, "inbound-missed.json")
	var ended signal.Signal
	var gone []signal.Signal
	for _, s := range sigs {
		switch s.Kind {
		case signal.DialEnded:
			ended = s
		case signal.LegGone:
			gone = append(gone, s)
		}
	}
	if ended.Outcome != signal.OutcomeNoAnswer {
		t.Errorf("dial outcome %s, want no-answer", ended.Outcome)
	}
	if len(gone) != 2 || gone[1].Teardown.Cause != "NO_ANSWER" || gone[1].Cause != 19 || gone[1].Teardown.Disposition != "send_refuse" {
		t.Errorf("hangups %+v", gone)
	}
}

func TestDecodeBlindTransfer(t *testing.T) {
	for _, s := range decode(t, "blind-transfer.plain") {
		if s.Kind != signal.Transferred {
			continue
		}
		x := s.Transfer
		if x.Kind != signal.Blind || !x.Done || !x.ByPhone || x.Number != "102" || x.Transferer.Endpoint != "101" ||
			x.Transferee.Endpoint != "trunk" || s.Leg.ID != x.Transferee.ID {
			t.Errorf("transfer %+v", x)
		}
		return
	}
	t.Fatal("no transfer")
}

func TestDecodeAttendedTransfer(t *testing.T) {
	for _, s := range decode(t, "attended-transfer.plain") {
		if s.Kind != signal.Transferred {
			continue
		}
		x := s.Transfer
		if x.Kind != signal.Attended || !x.Done || x.Transferer.Endpoint != "101" || x.SecondTransferer.Endpoint != "101" ||
			x.Transferer.ID == x.SecondTransferer.ID || x.Transferee.Endpoint != "trunk" || x.Target.Endpoint != "103" {
			t.Errorf("transfer %+v", x)
		}
		return
	}
	t.Fatal("no transfer")
}

func TestDecodeQueue(t *testing.T) {
	var got []string
	for _, s := range decode(t, "queue-ringall-answered.plain") {
		switch s.Kind {
		case signal.QueueJoined, signal.QueueLeft, signal.AgentRinging, signal.AgentAnswered, signal.AgentDone:
			got = append(got, s.Kind.String()+" "+s.Queue+" "+s.Member.Endpoint+" "+s.Peer.Endpoint)
		}
	}
	want := []string{"QueueJoined 800  ", "AgentRinging 800 101 101", "AgentRinging 800 102 102", "QueueLeft 800  ",
		"AgentAnswered 800 101 101", "AgentDone 800 101 101"}
	if !slices.Equal(got, want) {
		t.Errorf("queue signals\n%v\nwant\n%v", got, want)
	}
}
