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

// replayDone is appended to every replay: a sync user event the client
// turns into a signal, so the test knows it has seen everything before it.
const replayDone = "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: CallhookSync\r\nToken: replay-done\r\n\r\n"

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
		if s.Kind == signal.Sync && s.Token == "replay-done" {
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
		case signal.MemberState, signal.RecordingStarted, signal.RecordingStopped, signal.CallRecorded:
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
		"LegAppeared 1795482057.0 trunk calling @1795482057.322272",
		"LegAppeared 1795482057.1 101 idle @1795482057.324596",
		"Dialling 1795482057.0>1795482057.1 101 101 @1795482057.330436",
		"LegAlerting 1795482057.1 101 alerting @1795482057.331180",
		"LegAlerting 1795482057.1 101 alerting @1795482057.331520",
		"LegAnswered 1795482057.1 101 up @1795482060.338561",
		"DialEnded 1795482057.0>1795482057.1 101 answered @1795482060.342108",
		"LegAnswered 1795482057.0 trunk up @1795482060.342125",
		"Joined 1795482057.1 101 " + bridge + " @1795482060.343531",
		"Joined 1795482057.0 trunk " + bridge + " @1795482060.343884",
		"Left 1795482057.0 trunk " + bridge + " @1795482068.349687",
		"Left 1795482057.1 101 " + bridge + " @1795482068.350299",
		"LegGone 1795482057.1 101 16 @1795482068.351884",
		"LegGone 1795482057.0 trunk 16 @1795482068.352090",
	}
	checkShown(t, got, want)

	// Whole legs, field by field, for one event of each block layout.
	trunk := signal.Leg{
		ID: "1795482057.0", Call: "1795482057.0", Endpoint: "trunk",
		CallerNum: "2125559876", CallerName: "John Smith", Number: "2125550100",
		State: signal.StateCalling,
	}
	if got[1].Leg != trunk {
		t.Errorf("Newchannel leg:\n got  %+v\n want %+v", got[1].Leg, trunk)
	}
	if n := got[3].Number; n != "101" {
		t.Errorf("DialBegin dialled number %q, want 101 (its DialString)", n)
	}
	if loc := got[1].Time.Location(); loc != time.UTC {
		t.Errorf("signal time in %v, want the configured UTC", loc)
	}
	dialEnd := signal.Signal{
		Kind: signal.DialEnded,
		Time: time.Unix(1795482060, 342108000).UTC(),
		Leg: signal.Leg{
			ID: "1795482057.0", Call: "1795482057.0", Endpoint: "trunk",
			CallerNum: "2125559876", CallerName: "John Smith", ConnectedNum: "101", ConnectedName: "Alice 101",
			Number: "2125550100", State: signal.StateCalling,
		},
		Peer: signal.Leg{
			ID: "1795482057.1", Call: "1795482057.0", Endpoint: "101",
			CallerNum: "101", CallerName: "Alice 101", ConnectedNum: "2125559876", ConnectedName: "John Smith",
			Number: "", State: signal.StateUp,
		},
		Outcome: signal.OutcomeAnswered,
	}
	if !reflect.DeepEqual(got[7], dialEnd) {
		t.Errorf("DialEnd:\n got  %+v\n want %+v", got[7], dialEnd)
	}
}

func TestReplayInboundMissed(t *testing.T) {
	got := legSignals(replay(t, "02_inbound_missed.log"))
	checkShown(t, got, []string{
		"Connected",
		"LegAppeared 1795482078.2 trunk calling @1795482078.508576",
		"LegAppeared 1795482078.3 101 idle @1795482078.510792",
		"Dialling 1795482078.2>1795482078.3 101 101 @1795482078.511478",
		"LegAlerting 1795482078.3 101 alerting @1795482078.512896",
		"LegAlerting 1795482078.3 101 alerting @1795482078.513537",
		"DialEnded 1795482078.2>1795482078.3 101 no-answer @1795482098.520025",
		"LegGone 1795482078.3 101 0 @1795482098.521157",
		"LegGone 1795482078.2 trunk 16 @1795482098.522213",
	})
	if got[1].Leg.ConnectedNum != "" || got[1].Leg.ConnectedName != "" {
		t.Errorf("<unknown> connected line not mapped to empty: %+v", got[1].Leg)
	}
}

// TestReplayOtherFlows replays the queue and outbound captures over a live
// connection delivered in random small chunks: the connector reports
// exactly the signals Decode reads from the same bytes (nothing lost or
// doubled by the framing), each with a leg, times in stream order.
func TestReplayOtherFlows(t *testing.T) {
	for _, file := range []string{"05_queue_ringall_answered.log", "06_queue_missed_abandon.log", "07_outbound_answered.log"} {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(capturesDir, file))
			if err != nil {
				t.Fatal(err)
			}
			decoded, err := Decode(f, time.UTC)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := replay(t, file)
			if got[0].Kind != signal.Connected {
				t.Fatalf("first signal %s, want Connected", show(got[0]))
			}
			got = got[1:]
			if len(got) != len(decoded) || len(got) < 15 {
				t.Fatalf("%d signals live, %d decoded from the same capture", len(got), len(decoded))
			}
			var last time.Time
			for i, s := range got {
				if d := decoded[i]; d.Kind != s.Kind || d.Leg.ID != s.Leg.ID || !d.Time.Equal(s.Time) {
					t.Errorf("signal %d: live %s, decoded %s", i, show(s), show(d))
				}
				member := s.Kind == signal.MemberAdded || s.Kind == signal.MemberRemoved || s.Kind == signal.MemberPaused || s.Kind == signal.MemberState
				if member && (s.Queue == "" || s.Member.Endpoint == "") {
					t.Errorf("signal %d without queue member: %+v", i, s)
				}
				if !member && (s.Leg.ID == "" || s.Leg.Endpoint == "") {
					t.Errorf("signal %d without a proper leg: %+v", i, s)
				}
				if s.Time.Before(last) || s.Time.Year() != 2026 {
					t.Errorf("signal %d: time %v out of order (after %v) or not from Timestamp", i, s.Time, last)
				}
				last = s.Time
				switch s.Kind {
				case signal.Dialling, signal.DialEnded:
					if s.Peer.ID == "" || s.Peer.Endpoint == "" {
						t.Errorf("signal %d without peer: %s", i, show(s))
					}
					if s.Kind == signal.DialEnded && s.Outcome == signal.OutcomeUnknown {
						t.Errorf("signal %d without dial outcome: %s", i, show(s))
					}
				case signal.Joined, signal.Left:
					if s.Bridge == "" {
						t.Errorf("signal %d without bridge: %s", i, show(s))
					}
				}
			}
			if file == "07_outbound_answered.log" {
				first := got[0]
				if first.Kind != signal.LegAppeared || first.Leg.Endpoint != "101" || first.Leg.Number != "912125550199" {
					t.Errorf("outbound call starts with %s number %q, want LegAppeared on 101 dialling 912125550199",
						show(first), first.Leg.Number)
				}
			}
		})
	}
}
