package ami

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
)

func callbacks(sigs []signal.Signal) []signal.Signal {
	var out []signal.Signal
	for _, s := range sigs {
		if s.Kind == signal.CallbackRequested {
			out = append(out, s)
		}
	}
	return out
}

// TestCallbackKeyFromCapture: on a real Asterisk 22 the caller's key 1
// in queue 800 is only a DTMFEnd on its channel (Direction Received)
// between QueueCallerJoin and QueueCallerLeave; the connector reports it
// as the callback ordered, live and through Decode.
func TestCallbackKeyFromCapture(t *testing.T) {
	const file = "scenario-queue-missed-callback.log"
	check := func(how string, sigs []signal.Signal) {
		t.Helper()
		caller := ""
		for _, s := range sigs {
			if s.Kind == signal.QueueJoined {
				caller = s.Leg.ID
			}
		}
		got := callbacks(sigs)
		if len(got) != 1 {
			t.Fatalf("%s: %d CallbackRequested signals, want 1", how, len(got))
		}
		if caller == "" || got[0].Leg.ID != caller || got[0].Leg.Call != caller || got[0].Time.IsZero() {
			t.Errorf("%s: callback on leg %q of call %q at %s, want the queued caller's %q", how, got[0].Leg.ID, got[0].Leg.Call, got[0].Time, caller)
		}
	}
	check("live", replay(t, file))
	sigs, err := DecodeFile(capturesDir+"/"+file, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	check("decode", sigs)
}

// TestCallbackKeyOnlyInQueue: the key counts only from a caller waiting
// in a queue, only received (not sent to the channel), and only the
// configured one; a dialplan's CallhookCallback user event still counts.
func TestCallbackKeyOnlyInQueue(t *testing.T) {
	block := func(uid string) string {
		return "Channel: PJSIP/trunk-00000001\r\nChannelState: 6\r\nUniqueid: " + uid + "\r\nLinkedid: 9.0\r\n"
	}
	join := "Event: QueueCallerJoin\r\n" + block("9.0") + "Queue: 800\r\nPosition: 1\r\nCount: 1\r\n\r\n"
	leave := "Event: QueueCallerLeave\r\n" + block("9.0") + "Queue: 800\r\nPosition: 1\r\nCount: 0\r\n\r\n"
	key := func(uid, digit, dir string) string {
		return "Event: DTMFEnd\r\n" + block(uid) + "Digit: " + digit + "\r\nDurationMs: 120\r\nDirection: " + dir + "\r\n\r\n"
	}
	for _, tc := range []struct {
		name, stream string
		want         int
	}{
		{"key 1 while waiting", join + key("9.0", "1", "Received") + leave, 1},
		{"key 1 before joining", key("9.0", "1", "Received") + join + leave, 0},
		{"key 1 after leaving (an agent answered)", join + leave + key("9.0", "1", "Received"), 0},
		{"another key", join + key("9.0", "5", "Received") + leave, 0},
		{"another channel's key", join + key("9.7", "1", "Received") + leave, 0},
		{"a key sent to the caller", join + key("9.0", "1", "Sent") + leave, 0},
		{"the dialplan's user event", join + "Event: UserEvent\r\n" + block("9.0") + "UserEvent: CallhookCallback\r\nQueue: 800\r\n\r\n" + leave, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs, err := Decode(strings.NewReader(tc.stream), time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(callbacks(sigs)); got != tc.want {
				t.Errorf("%d CallbackRequested signals, want %d", got, tc.want)
			}
		})
	}
}

// TestCallbackKeyConfigured: [pbx] callback_key = 2 makes key 2 the one,
// over a live connection; a key that is no DTMF key is refused.
func TestCallbackKeyConfigured(t *testing.T) {
	block := "Channel: PJSIP/trunk-00000001\r\nChannelState: 6\r\nUniqueid: 9.0\r\nLinkedid: 9.0\r\n"
	stream := "Event: QueueCallerJoin\r\n" + block + "Queue: 800\r\n\r\n" +
		"Event: DTMFEnd\r\n" + block + "Digit: 1\r\nDirection: Received\r\n\r\n" +
		"Event: DTMFEnd\r\n" + block + "Digit: 2\r\nDirection: Received\r\n\r\n" + replayDone
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		if _, err := sc.conn.Write([]byte(stream)); err != nil {
			t.Errorf("write: %v", err)
		}
		sc.serveActions(nil)
	})
	cfg := testConfig(ts.addr)
	cfg.CallbackKey = "2"
	rec := newRecorder()
	_, stop := startRun(t, cfg, rec)
	var got []signal.Signal
	for {
		s := rec.next(t)
		if s.Kind == signal.Sync {
			break
		}
		got = append(got, s)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if cb := callbacks(got); len(cb) != 1 || cb[0].Leg.ID != "9.0" {
		t.Errorf("callbacks %+v, want one for the key 2 on 9.0", cb)
	}
	bad := testConfig(ts.addr)
	bad.CallbackKey = "12"
	if _, err := New(bad); !errors.Is(err, ErrConfig) {
		t.Errorf("callback key 12: %v, want ErrConfig", err)
	}
}
