package ami

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
)

const capturesDir = "../../../fixtures/ami/asterisk22"

// replayDone is appended to every replay: a UserEvent the client turns into
// a signal, so the test knows it has seen everything before it.
const replayDone = "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: ReplayDone\r\n\r\n"

// replayServer serves a real Asterisk capture: its banner, then (after the
// client's Login) its login response with the client's ActionID, then every
// further byte as captured, in chunks of random small sizes, then replayDone.
// The capture holds only what Asterisk sent, so the client's actions are
// read, not replayed.
func replayServer(t *testing.T, file string) *testServer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(capturesDir, file))
	if err != nil {
		t.Fatalf("read capture: %v", err)
	}
	bannerLine, rest, ok := bytes.Cut(data, []byte("\r\n"))
	if !ok {
		t.Fatalf("%s: no banner line", file)
	}
	loginResp, events, ok := bytes.Cut(rest, []byte("\r\n\r\n"))
	if !ok || !bytes.Contains(loginResp, []byte("Authentication accepted")) {
		t.Fatalf("%s: first packet is not the login response", file)
	}
	answer := strings.Replace(string(loginResp), "ActionID: gt-1", "ActionID: %s", 1) + "\r\n\r\n"
	events = append(events[:len(events):len(events)], replayDone...)
	rng := rand.New(rand.NewPCG(1, uint64(len(data))))
	return newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(string(bannerLine)+"\r\n", answer); !ok {
			return
		}
		written := make(chan error, 1)
		go func() { written <- sc.writeChunks(events, func() int { return 1 + rng.IntN(64) }) }()
		sc.serveActions(nil) // until the client logs off
		if err := <-written; err != nil {
			t.Errorf("replay %s: %v", file, err)
		}
	})
}

// replay runs a connector against a capture and returns every signal before
// the closing replayDone (Connected first).
func replay(t *testing.T, file string) []signal.Signal {
	t.Helper()
	ts := replayServer(t, file)
	rec := newRecorder()
	_, stop := startRun(t, testConfig(ts.addr), rec)
	var got []signal.Signal
	for {
		s := rec.next(t)
		if s.Kind == signal.UserEvent && s.Name == "ReplayDone" {
			break
		}
		got = append(got, s)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return got
}

// legSignals drops the signals about queue members, recordings and CDRs,
// which these captures carry beside the call's legs.
func legSignals(in []signal.Signal) []signal.Signal {
	var out []signal.Signal
	for _, s := range in {
		switch s.Kind {
		case signal.MemberStatus, signal.RecordingStarted, signal.RecordingStopped, signal.CDR:
			continue
		}
		out = append(out, s)
	}
	return out
}

func checkShown(t *testing.T, got []signal.Signal, want []string) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = show(got[i])
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("signal %d:\n got  %s\n want %s", i, g, w)
		}
	}
}

func TestReplayInboundAnswered(t *testing.T) {
	const bridge = "6316f43c-eecf-4383-a8db-fbd3eb569fcd"
	got := legSignals(replay(t, "01_inbound_answered.log"))
	want := []string{
		"Connected",
		"LegCreated 1795482057.0 trunk Ring @1795482057.322272",
		"LegCreated 1795482057.1 101 Down @1795482057.324596",
		"DialBegin 1795482057.0>1795482057.1 101  @1795482057.330436",
		"StateChanged 1795482057.1 101 Ringing @1795482057.331180",
		"DialState 1795482057.0>1795482057.1 101 RINGING @1795482057.331520",
		"StateChanged 1795482057.1 101 Up @1795482060.338561",
		"DialEnd 1795482057.0>1795482057.1 101 ANSWER @1795482060.342108",
		"StateChanged 1795482057.0 trunk Up @1795482060.342125",
		"BridgeEnter 1795482057.1 101 " + bridge + " @1795482060.343531",
		"BridgeEnter 1795482057.0 trunk " + bridge + " @1795482060.343884",
		"BridgeLeave 1795482057.0 trunk " + bridge + " @1795482068.349687",
		"BridgeLeave 1795482057.1 101 " + bridge + " @1795482068.350299",
		"Hangup 1795482057.1 101 16 Normal Clearing @1795482068.351884",
		"Hangup 1795482057.0 trunk 16 Normal Clearing @1795482068.352090",
	}
	checkShown(t, got, want)

	// Whole legs, field by field, for one event of each block layout.
	trunk := signal.Leg{
		ID: "1795482057.0", ChainID: "1795482057.0", Name: "PJSIP/trunk-00000000", Endpoint: "trunk",
		CallerNum: "2125559876", CallerName: "John Smith", Context: "from-trunk", Exten: "2125550100",
		State: signal.StateRing,
	}
	if got[1].Leg != trunk {
		t.Errorf("Newchannel leg:\n got  %+v\n want %+v", got[1].Leg, trunk)
	}
	if ds := got[3].DialString; ds != "101" {
		t.Errorf("DialBegin DialString %q, want 101", ds)
	}
	if loc := got[1].Time.Location(); loc != time.UTC {
		t.Errorf("signal time in %v, want the configured UTC", loc)
	}
	dialEnd := signal.Signal{
		Kind: signal.DialEnd,
		Time: time.Unix(1795482060, 342108000).UTC(),
		Leg: signal.Leg{
			ID: "1795482057.0", ChainID: "1795482057.0", Name: "PJSIP/trunk-00000000", Endpoint: "trunk",
			CallerNum: "2125559876", CallerName: "John Smith", ConnectedNum: "101", ConnectedName: "Alice 101",
			Context: "from-trunk", Exten: "2125550100", State: signal.StateRing,
		},
		Peer: signal.Leg{
			ID: "1795482057.1", ChainID: "1795482057.0", Name: "PJSIP/101-00000001", Endpoint: "101",
			CallerNum: "101", CallerName: "Alice 101", ConnectedNum: "2125559876", ConnectedName: "John Smith",
			Context: "from-internal", Exten: "", State: signal.StateUp,
		},
		DialStatus: "ANSWER",
	}
	if !reflect.DeepEqual(got[7], dialEnd) {
		t.Errorf("DialEnd:\n got  %+v\n want %+v", got[7], dialEnd)
	}
}

func TestReplayInboundMissed(t *testing.T) {
	got := legSignals(replay(t, "02_inbound_missed.log"))
	checkShown(t, got, []string{
		"Connected",
		"LegCreated 1795482078.2 trunk Ring @1795482078.508576",
		"LegCreated 1795482078.3 101 Down @1795482078.510792",
		"DialBegin 1795482078.2>1795482078.3 101  @1795482078.511478",
		"StateChanged 1795482078.3 101 Ringing @1795482078.512896",
		"DialState 1795482078.2>1795482078.3 101 RINGING @1795482078.513537",
		"DialEnd 1795482078.2>1795482078.3 101 NOANSWER @1795482098.520025",
		"Hangup 1795482078.3 101 0 Unknown @1795482098.521157",
		"Hangup 1795482078.2 trunk 16 Normal Clearing @1795482098.522213",
	})
	if got[1].Leg.ConnectedNum != "" || got[1].Leg.ConnectedName != "" {
		t.Errorf("<unknown> connected line not mapped to empty: %+v", got[1].Leg)
	}
}

// TestReplayOtherFlows replays the queue and outbound captures: one signal
// per translated event (counted in the capture independently), each with a
// leg, times in stream order, nothing lost.
func TestReplayOtherFlows(t *testing.T) {
	for _, file := range []string{"05_queue_ringall_answered.log", "06_queue_missed_abandon.log", "07_outbound_answered.log"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(capturesDir, file))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for name := range translators {
				for line := range strings.SplitSeq(string(data), "\r\n") {
					if strings.EqualFold(line, "Event: "+name) {
						n++
					}
				}
			}
			got := replay(t, file)
			if len(got) != 1+n {
				t.Errorf("%d signals, want Connected and %d translated events", len(got), n)
			}
			if got[0].Kind != signal.Connected {
				t.Fatalf("first signal %s, want Connected", show(got[0]))
			}
			var last time.Time
			for i, s := range got[1:] {
				if s.Kind == signal.Connected || s.Kind == signal.Disconnected {
					t.Fatalf("signal %d: unexpected %s", i+1, show(s))
				}
				member := s.Kind == signal.MemberAdded || s.Kind == signal.MemberRemoved || s.Kind == signal.MemberPaused || s.Kind == signal.MemberStatus
				if member && (s.Queue == "" || s.Member.Endpoint == "") {
					t.Errorf("signal %d without queue member: %+v", i+1, s)
				}
				if !member && (s.Leg.ID == "" || !strings.HasPrefix(s.Leg.Name, "PJSIP/") || s.Leg.Endpoint == "") {
					t.Errorf("signal %d without a proper leg: %+v", i+1, s)
				}
				if s.Time.Before(last) || s.Time.Year() != 2026 {
					t.Errorf("signal %d: time %v out of order (after %v) or not from Timestamp", i+1, s.Time, last)
				}
				last = s.Time
				switch s.Kind {
				case signal.DialBegin, signal.DialState, signal.DialEnd:
					if s.Peer.ID == "" || s.Peer.Endpoint == "" {
						t.Errorf("signal %d without peer: %s", i+1, show(s))
					}
					if s.Kind != signal.DialBegin && s.DialStatus == "" {
						t.Errorf("signal %d without dial status: %s", i+1, show(s))
					}
				case signal.BridgeEnter, signal.BridgeLeave:
					if s.BridgeID == "" {
						t.Errorf("signal %d without bridge: %s", i+1, show(s))
					}
				case signal.Hangup:
					if s.CauseText == "" {
						t.Errorf("signal %d without cause text: %s", i+1, show(s))
					}
				}
			}
			if file == "07_outbound_answered.log" {
				first := got[1]
				if first.Kind != signal.LegCreated || first.Leg.Endpoint != "101" || first.Leg.Exten != "912125550199" {
					t.Errorf("outbound call starts with %s exten %q, want LegCreated on 101 dialling 912125550199",
						show(first), first.Leg.Exten)
				}
			}
		})
	}
}
