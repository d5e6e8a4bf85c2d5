package callmodel_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
)

// flowEvent is what the model must report of a call's way through the
// PBX; Bulutfon's documents name the moments (a call landing on an
// extension, a group, a menu; a missed call; a fax arriving).
type flowEvent struct {
	kind     callmodel.Kind
	user     string
	userType callmodel.UserType
}

func replaySequence(t *testing.T, name string) []callmodel.Event {
	t.Helper()
	sigs, err := ami.DecodeFile(filepath.Join("..", "..", "fixtures", "ami", "sequences", name), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, sigs)
}

func replayCapture(t *testing.T, name string) []callmodel.Event {
	t.Helper()
	sigs, err := ami.DecodeFile(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", name), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, sigs)
}

func TestFlow(t *testing.T) {
	menu, group, ext := callmodel.UserOther, callmodel.UserQueue, callmodel.UserExtension
	tests := []struct {
		name, file string
		want       []flowEvent
		steps      []string // the ended event's history: destination:type
	}{
		{"call_init_menu: the caller reaches the menu and hangs up there; the call ends missed, in the menu, and counts as missing_call",
			"ivr_menu_caller_hangs_up.log",
			[]flowEvent{{callmodel.Initiated, "", ext}, {callmodel.Landed, "ivr-main", menu},
				{callmodel.Ended, "ivr-main", menu}, {callmodel.Missed, "ivr-main", menu}},
			[]string{"2125550500:0", "ivr-main:3"}},
		{"incoming_call_group: a ring group rings its members together; the call lands on the group, not on each member",
			"ring_group_answered.log",
			[]flowEvent{{callmodel.Initiated, "", ext}, {callmodel.Landed, "600", group},
				{callmodel.Ringing, "101", ext}, {callmodel.Ringing, "102", ext}, {callmodel.Ringing, "103", ext},
				{callmodel.Answered, "102", ext},
				{callmodel.StoppedRinging, "101", ext}, {callmodel.StoppedRinging, "103", ext},
				{callmodel.Ended, "102", ext}},
			[]string{"2125550600:0", "600:2"}},
		{"incoming_call_group: a queue is a group the call lands on",
			"queue_timeout.log",
			[]flowEvent{{callmodel.Initiated, "", ext}, {callmodel.Landed, "800", group},
				{callmodel.Ringing, "101", group}, {callmodel.Ringing, "102", group},
				{callmodel.Ended, "800", group}, {callmodel.Missed, "800", group}},
			[]string{"2125550800:0", "800:2"}},
		{"fax_init: the PBX receives a fax on the call",
			"fax_inbound.log",
			[]flowEvent{{callmodel.Initiated, "", ext}, {callmodel.FaxReceived, "", ext},
				{callmodel.Ended, "", menu}, {callmodel.Missed, "", menu}},
			[]string{"2125550700:0"}},
		{"fax_init: a real Asterisk's fax line (Answer, ReceiveFAX on DID 2125550700); the call ends there, missed",
			"scenario-fax-inbound.log",
			[]flowEvent{{callmodel.Initiated, "", ext}, {callmodel.FaxReceived, "", ext},
				{callmodel.Ended, "", menu}, {callmodel.Missed, "", menu}},
			[]string{"2125550700:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []callmodel.Event
			if strings.HasPrefix(tt.file, "scenario-") {
				got = replayCapture(t, tt.file)
			} else {
				got = replaySequence(t, tt.file)
			}
			var shown []string
			for _, ev := range got {
				if ev.Kind != callmodel.Record {
					shown = append(shown, ev.Kind.String()+":"+ev.User)
				}
			}
			var evs []callmodel.Event
			for _, ev := range got {
				if ev.Kind != callmodel.Record {
					evs = append(evs, ev)
				}
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("events %v, want %d", shown, len(tt.want))
			}
			for i, w := range tt.want {
				if ev := evs[i]; ev.Kind != w.kind || ev.User != w.user || ev.UserType != w.userType {
					t.Errorf("event %d = %s user %q type %d, want %+v (all: %v)", i, ev.Kind, ev.User, ev.UserType, w, shown)
				}
			}
			for _, ev := range evs {
				if ev.Kind == callmodel.Ended {
					if ev.History == nil {
						t.Fatal("the call's last Ended carries no history")
					}
					var steps []string
					for _, s := range ev.History.Steps {
						steps = append(steps, s.Destination+":"+string(rune('0'+s.Type)))
					}
					if strings.Join(steps, " ") != strings.Join(tt.steps, " ") {
						t.Errorf("history %v, want %v", steps, tt.steps)
					}
				}
			}
		})
	}
}

// The model reports the same events whatever consumes them, and each
// event's key is its chain, kind, link and rank among its kind on that
// link: ring-all gives one key per ringing phone, all under one chain.
func TestKeys(t *testing.T) {
	got := replaySequence(t, "ring_group_answered.log")
	seen := map[string]bool{}
	var ringing []string
	for _, ev := range got {
		k := ev.Key()
		if seen[k] {
			t.Errorf("key %s given twice", k)
		}
		seen[k] = true
		if ev.Kind == callmodel.Ringing {
			ringing = append(ringing, k)
		}
	}
	chain := got[0].ID.Chain()
	want := []string{chain + "-ringing-0-0", chain + "-ringing-0-1", chain + "-ringing-0-2"}
	if strings.Join(ringing, " ") != strings.Join(want, " ") {
		t.Errorf("ringing keys %v, want %v", ringing, want)
	}
	again := replaySequence(t, "ring_group_answered.log")
	for i := range got {
		if got[i].Key() != again[i].Key() {
			t.Errorf("event %d: key %s on one replay, %s on the next", i, got[i].Key(), again[i].Key())
		}
	}
}

// A ring group's members can ring before the dial has reached them all:
// app_dial creates every member's channel, then dials them one by one,
// and on a real Asterisk 22 a member's Newstate Ringing was seen before
// the next member's DialBegin. The call still lands on the group, once.
func TestRingGroupRingingBeforeEveryDial(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", "scenario-ring-group.log"))
	if err != nil {
		t.Fatal(err)
	}
	packets := strings.Split(string(raw), "\r\n\r\n")
	find := func(event, channel string) int {
		for i, p := range packets {
			if strings.Contains(p, "Event: "+event+"\r\n") && strings.Contains(p, channel) {
				return i
			}
		}
		t.Fatalf("no %s of %s in the capture", event, channel)
		return -1
	}
	// 101 rings right after its own DialBegin, before 102's.
	ring := find("Newstate", "ChannelStateDesc: Ringing\r\nCallerIDNum: 101")
	dial102 := find("DialBegin", "DestChannel: PJSIP/102-")
	if ring < dial102 {
		t.Fatalf("capture already has 101 ringing before 102 is dialled")
	}
	p := packets[ring]
	packets = append(packets[:ring], packets[ring+1:]...)
	packets = slices.Insert(packets, dial102, p)
	sigs, err := ami.Decode(strings.NewReader(strings.Join(packets, "\r\n\r\n")), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var landed []string
	for _, ev := range run(t, sigs) {
		if ev.Kind == callmodel.Landed {
			landed = append(landed, ev.Destination)
		}
	}
	if !slices.Equal(landed, []string{"600"}) {
		t.Errorf("landed on %v, want the ring group 600 only", landed)
	}
}
