package callcontrol

import (
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// The world takes every event pbxsim raises in any shape: with or without
// its Channel, Dest and Bridge blocks (Asterisk raises a Local ;1's
// DialState and DialEnd with a Dest block only, bridge and transfer events
// with no channel at all), about channels it knows or not, in any order.
func TestObserveEveryShape(t *testing.T) {
	names := []string{"AgentCalled", "AgentComplete", "AgentConnect", "AgentRingNoAnswer", "AttendedTransfer", "BlindTransfer",
		"BridgeCreate", "BridgeDestroy", "BridgeEnter", "BridgeLeave", "BridgeMerge", "Cdr", "ChanSpyStart", "ChanSpyStop",
		"DTMFBegin", "DTMFEnd", "DeviceStateChange", "DialBegin", "DialEnd", "DialState", "FAXStatus", "Hangup", "HangupRequest",
		"Hold", "LocalBridge", "LocalOptimizationBegin", "LocalOptimizationEnd", "MixMonitorStart", "MusicOnHoldStart",
		"MusicOnHoldStop", "NewCallerid", "NewConnectedLine", "Newchannel", "Newexten", "Newstate", "QueueCallerAbandon",
		"QueueCallerJoin", "QueueCallerLeave", "QueueMemberAdded", "QueueMemberPause", "QueueMemberRemoved", "QueueMemberStatus",
		"ReceiveFAX", "SoftHangupRequest", "Unhold", "UserEvent", "VarSet"}
	topo := pbx.DefaultTopology()
	var w *world
	trunk := &pbx.Channel{Name: "PJSIP/trunk-00000001", State: pbx.StateRing, CallerIDNum: "2125559876", Exten: "2125550100",
		Uniqueid: "1.1", Linkedid: "1.1"}
	ext := &pbx.Channel{Name: "PJSIP/101-00000002", State: pbx.StateDown, CallerIDNum: "101", Exten: "101", Uniqueid: "1.2", Linkedid: "1.1"}
	two := &pbx.Channel{Name: "Local/103@from-internal-00000001;2", State: pbx.StateRing, Exten: "103", Uniqueid: "1.4", Linkedid: "1.1"}
	target := &pbx.Channel{Name: "PJSIP/103-00000005", State: pbx.StateDown, CallerIDNum: "103", Exten: "103", Uniqueid: "1.5", Linkedid: "1.1"}
	unknown := &pbx.Channel{Name: "PJSIP/999-00000009", State: pbx.StateUp, Uniqueid: "9.9", Linkedid: "9.9"}
	bridge := &pbx.Bridge{Uniqueid: "b1", Type: "basic"}
	start := func() {
		// A call in progress for the shapes to meet: the line dials 101,
		// which answers, and a Local pair in a bridge with it dials 103.
		w = newWorld(topo, DefaultTrunkDN, time.Now, newXAPI(topo))
		w.emit = func(int, string) {}
		for _, e := range []pbx.Event{
			{Name: "Newchannel", Channel: trunk}, {Name: "Newchannel", Channel: ext},
			{Name: "DialBegin", Channel: trunk, Dest: ext}, {Name: "DialEnd", Channel: trunk, Dest: ext, Fields: []pbx.Field{{Key: "DialStatus", Value: "ANSWER"}}},
			{Name: "LocalBridge", Fields: []pbx.Field{{Key: "LocalOneUniqueid", Value: "1.3"}, {Key: "LocalTwoUniqueid", Value: "1.4"}}},
			{Name: "BridgeEnter", Bridge: bridge, Channel: &pbx.Channel{Name: "Local/103@from-internal-00000001;1", Uniqueid: "1.3"}},
			{Name: "BridgeEnter", Bridge: bridge, Channel: ext},
			{Name: "Newchannel", Channel: target}, {Name: "DialBegin", Channel: two, Dest: target},
		} {
			w.observe(e)
		}
	}
	fieldSets := [][]pbx.Field{
		nil,
		{{Key: "DialStatus", Value: "ANSWER"}, {Key: "Result", Value: "Success"}, {Key: "Application", Value: "Background"},
			{Key: "Queue", Value: "800"}, {Key: "DestType", Value: "Bridge"}, {Key: "TransfererUniqueid", Value: "1.2"},
			{Key: "TransfereeUniqueid", Value: "1.1"}, {Key: "OrigTransfererUniqueid", Value: "1.2"},
			{Key: "SecondTransfererUniqueid", Value: "1.2"}, {Key: "SpyerUniqueid", Value: "1.5"}, {Key: "SpyeeUniqueid", Value: "1.2"},
			{Key: "LocalOneUniqueid", Value: "1.3"}, {Key: "LocalTwoUniqueid", Value: "1.4"}, {Key: "UserEvent", Value: "CallhookExtension"},
			{Key: "Extension", Value: "105"}, {Key: "Status", Value: "created"}, {Key: "Interface", Value: "PJSIP/101"}},
		{{Key: "DialStatus", Value: "RINGING"}, {Key: "Application", Value: "ReceiveFAX"}, {Key: "TransferTargetUniqueid", Value: "1.5"},
			{Key: "Result", Value: "Success"}, {Key: "UserEvent", Value: "CallhookForwarding"}, {Key: "Extension", Value: "101"}},
	}
	chans := []*pbx.Channel{nil, trunk, ext, two, target, unknown}
	for _, name := range names {
		for _, ch := range chans {
			for _, dest := range chans {
				for _, b := range []*pbx.Bridge{nil, bridge} {
					for _, f := range fieldSets {
						start()
						if len(w.parts) != 4 {
							t.Fatalf("the call in progress shows %d participants, want the line, 101, 101's consultation and 103", len(w.parts))
						}
						w.observe(pbx.Event{Name: name, Channel: ch, Dest: dest, Bridge: b, Fields: f})
						for _, c := range []*pbx.Channel{trunk, ext, two, target} {
							w.observe(pbx.Event{Name: "Hangup", Channel: c})
						}
						_ = w.all()
						if n := len(w.parts); n != 0 {
							t.Errorf("%s (channel %v, dest %v, bridge %v, fields %v): %d participants left after every channel hung up",
								name, ch, dest, b, f, n)
						}
					}
				}
			}
		}
	}
}
