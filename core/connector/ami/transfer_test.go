package ami

import (
	"errors"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// block returns a channel block with the given prefix, shaped as Asterisk 22
// writes it.
func block(prefix, channel, uniqueid, linkedid string) Message {
	return Message{
		{prefix + "Channel", channel}, {prefix + "ChannelState", "6"}, {prefix + "ChannelStateDesc", "Up"},
		{prefix + "CallerIDNum", "2125559876"}, {prefix + "CallerIDName", "John Smith"},
		{prefix + "ConnectedLineNum", "<unknown>"}, {prefix + "ConnectedLineName", "<unknown>"},
		{prefix + "Context", "from-trunk"}, {prefix + "Exten", "2125550100"},
		{prefix + "Uniqueid", uniqueid}, {prefix + "Linkedid", linkedid},
	}
}

func event(name string, parts ...Message) Message {
	m := Message{{"Event", name}, {"Privilege", "call,all"}, {"Timestamp", "1795482057.5"}}
	for _, p := range parts {
		m = append(m, p...)
	}
	return m
}

func TestTranslateTransfers(t *testing.T) {
	recv := time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	t.Run("blind transfer by the phone", func(t *testing.T) {
		m := event("BlindTransfer", Message{{"Result", "Success"}},
			block("Transferer", "PJSIP/101-00000001", "1.1", "1.0"),
			block("Transferee", "PJSIP/trunk-00000000", "1.0", "1.0"),
			Message{{"BridgeUniqueid", "b1"}, {"IsExternal", "Yes"}, {"Context", "from-internal"}, {"Extension", "102"}})
		s, err := translate(m, recv, time.UTC)
		if err != nil || s.Kind != signal.Transferred || s.Leg.ID != "1.0" {
			t.Fatalf("got %+v, %v", s, err)
		}
		x := s.Transfer
		if x.Kind != signal.Blind || !x.Done || !x.ByPhone || x.Transferer.Endpoint != "101" || x.Transferee.Endpoint != "trunk" ||
			x.Number != "102" {
			t.Errorf("transfer %+v", x)
		}
	})
	t.Run("blind transfer by DTMF", func(t *testing.T) {
		m := event("BlindTransfer", Message{{"Result", "Success"}},
			block("Transferer", "PJSIP/101-00000001", "1.1", "1.0"),
			block("Transferee", "PJSIP/trunk-00000000", "1.0", "1.0"),
			Message{{"IsExternal", "No"}, {"Extension", "102"}})
		s, _ := translate(m, recv, time.UTC)
		if s.Transfer.ByPhone {
			t.Error("IsExternal No read as external")
		}
	})
	t.Run("attended transfer merging bridges", func(t *testing.T) {
		m := event("AttendedTransfer", Message{{"Result", "Success"}},
			block("OrigTransferer", "PJSIP/101-00000001", "1.1", "1.0"), Message{{"OrigBridgeUniqueid", "b1"}},
			block("SecondTransferer", "PJSIP/101-00000002", "1.2", "1.2"), Message{{"SecondBridgeUniqueid", "b2"}},
			block("Transferee", "PJSIP/trunk-00000000", "1.0", "1.0"),
			block("TransferTarget", "PJSIP/103-00000003", "1.3", "1.2"),
			Message{{"IsExternal", "Yes"}, {"DestType", "Bridge"}, {"DestBridgeUniqueid", "b2"}})
		s, err := translate(m, recv, time.UTC)
		if err != nil || s.Kind != signal.Transferred || s.Leg.ID != "1.0" {
			t.Fatalf("got %+v, %v", s, err)
		}
		x := s.Transfer
		if x.Kind != signal.Attended || !x.Done || x.Transferer.ID != "1.1" || x.SecondTransferer.ID != "1.2" || x.Target.Endpoint != "103" ||
			x.Target.Call != "1.2" || len(x.Via) != 0 {
			t.Errorf("transfer %+v", x)
		}
	})
	t.Run("attended transfer through a local channel pair", func(t *testing.T) {
		m := event("AttendedTransfer", Message{{"Result", "Success"}},
			block("OrigTransferer", "PJSIP/101-00000001", "1.1", "1.0"),
			block("SecondTransferer", "PJSIP/101-00000002", "1.2", "1.2"),
			Message{{"DestType", "Link"}},
			block("LocalOne", "Local/103@from-internal-00000001;1", "1.5", "1.0"),
			block("LocalTwo", "Local/103@from-internal-00000001;2", "1.6", "1.0"))
		s, err := translate(m, recv, time.UTC)
		if err != nil || len(s.Transfer.Via) != 2 || !s.Transfer.Via[0].Loopback || s.Transfer.Via[0].ID != "1.5" || s.Transfer.Via[1].ID != "1.6" {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	t.Run("attended transfer failed", func(t *testing.T) {
		m := event("AttendedTransfer", Message{{"Result", "Fail"}},
			block("OrigTransferer", "PJSIP/101-00000001", "1.1", "1.0"), Message{{"DestType", "Fail"}})
		s, err := translate(m, recv, time.UTC)
		if err != nil || s.Transfer.Done {
			t.Errorf("got %+v, %v", s, err)
		}
	})
	t.Run("transfers without their legs are rejected", func(t *testing.T) {
		for _, m := range []Message{event("BlindTransfer", Message{{"Result", "Success"}}), event("AttendedTransfer")} {
			if _, err := translate(m, recv, time.UTC); err == nil || errors.Is(err, errSkip) {
				t.Errorf("%v: error %v", m, err)
			}
		}
	})
}

func TestTranslateQueue(t *testing.T) {
	recv := time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	caller := block("", "PJSIP/trunk-00000013", "9.21", "9.21")
	agent := block("Dest", "PJSIP/101-00000014", "9.22", "9.21")
	t.Run("caller events", func(t *testing.T) {
		for name, kind := range map[string]signal.Kind{
			"QueueCallerJoin": signal.QueueJoined, "QueueCallerLeave": signal.QueueLeft, "QueueCallerAbandon": signal.QueueAbandoned,
		} {
			s, err := translate(event(name, caller, Message{{"Queue", "800"}, {"Position", "1"}}), recv, time.UTC)
			if err != nil || s.Kind != kind || s.Queue != "800" || s.Leg.ID != "9.21" {
				t.Errorf("%s: got %+v, %v", name, s, err)
			}
		}
		if _, err := translate(event("QueueCallerJoin", caller), recv, time.UTC); err == nil {
			t.Error("QueueCallerJoin without Queue accepted")
		}
	})
	t.Run("agent events", func(t *testing.T) {
		for name, kind := range map[string]signal.Kind{
			"AgentCalled": signal.AgentRinging, "AgentRingNoAnswer": signal.AgentNoAnswer,
			"AgentConnect": signal.AgentAnswered, "AgentComplete": signal.AgentDone,
		} {
			m := event(name, caller, agent, Message{{"Queue", "800"}, {"Interface", "PJSIP/101"}, {"MemberName", "Alice 101"}, {"HoldTime", "3"}})
			s, err := translate(m, recv, time.UTC)
			if err != nil || s.Kind != kind || s.Peer.ID != "9.22" || s.Member.Endpoint != "101" || s.Member.Name != "Alice 101" {
				t.Errorf("%s: got %+v, %v", name, s, err)
			}
		}
	})
	t.Run("member events", func(t *testing.T) {
		m := Message{{"Queue", "800"}, {"MemberName", "Carol 103"}, {"Interface", "PJSIP/103"}, {"Membership", "dynamic"},
			{"Status", "1"}, {"Paused", "1"}, {"PausedReason", "Lunch"}}
		for name, kind := range map[string]signal.Kind{
			"QueueMemberAdded": signal.MemberAdded, "QueueMemberRemoved": signal.MemberRemoved,
			"QueueMemberPause": signal.MemberPaused, "QueueMemberStatus": signal.MemberState,
		} {
			s, err := translate(event(name, m), recv, time.UTC)
			want := signal.Member{Endpoint: "103", Name: "Carol 103", Dynamic: true, Paused: true, Reason: "Lunch", State: signal.DeviceIdle}
			if err != nil || s.Kind != kind || s.Queue != "800" || s.Member != want {
				t.Errorf("%s: got %+v, %v", name, s, err)
			}
		}
		if _, err := translate(event("QueueMemberAdded", Message{{"Queue", "800"}}), recv, time.UTC); err == nil {
			t.Error("member event without Interface accepted")
		}
	})
	t.Run("local bridge, recording, cdr", func(t *testing.T) {
		// Local channel pairs are the connector's plumbing: their legs are
		// marked loopback, their LocalBridge reports nothing.
		_, err := translate(event("LocalBridge", block("LocalOne", "Local/101@q-00000001;1", "9.30", "9.21"),
			block("LocalTwo", "Local/101@q-00000001;2", "9.31", "9.21"), Message{{"LocalOptimization", "Yes"}}), recv, time.UTC)
		if !errors.Is(err, errSkip) {
			t.Errorf("LocalBridge: error %v, want it skipped", err)
		}
		s, err := translate(event("Newchannel", block("", "Local/101@q-00000001;1", "9.30", "9.21")), recv, time.UTC)
		if err != nil || !s.Leg.Loopback {
			t.Errorf("Local channel: got %+v, %v, want a loopback leg", s, err)
		}
		s, err = translate(event("MixMonitorStart", block("", "PJSIP/101-00000014", "9.22", "9.21")), recv, time.UTC)
		if err != nil || s.Kind != signal.RecordingStarted || s.Leg.Endpoint != "101" {
			t.Errorf("MixMonitorStart: got %+v, %v", s, err)
		}
		s, err = translate(event("Cdr", Message{{"Channel", "PJSIP/trunk-00000013"}, {"UniqueID", "9.21"}, {"Disposition", "ANSWERED"}}), recv, time.UTC)
		if err != nil || s.Kind != signal.CallRecorded || s.Leg.ID != "9.21" || s.Record.Disposition != signal.DispositionAnswered {
			t.Errorf("Cdr: got %+v, %v", s, err)
		}
	})
}
