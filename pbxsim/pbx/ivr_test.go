package pbx_test

import (
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// TestIVR answers DID 2125550500, takes a key and routes the caller: 1
// to 101's DID, 2 to queue 800, 3 to ring group 600; 9 is invalid.
func TestIVR(t *testing.T) {
	tests := []struct {
		key, method string
		want        []string
	}{
		{"1", phone.DTMFInfo, []string{"DTMFEnd trunk 1", "DialBegin trunk>101", "MixMonitorStart 101", "DialEnd trunk>101 ANSWER",
			"BridgeEnter 101", "BridgeEnter trunk", "BridgeLeave trunk", "BridgeLeave 101", "Hangup 101", "Hangup trunk"}},
		{"2", phone.DTMFRFC4733, []string{"DTMFEnd trunk 2", "QueueCallerJoin trunk", "DialBegin trunk>101", "DialBegin trunk>102",
			"DialEnd trunk>101 ANSWER", "DialEnd trunk>102 CANCEL", "DialEnd trunk>102 CANCEL", "Hangup 102", "MixMonitorStart 101", "BridgeEnter 101", "BridgeEnter trunk", "BridgeLeave trunk", "BridgeLeave 101", "Hangup 101", "Hangup trunk"}},
		{"3", phone.DTMFRFC4733, []string{"DTMFEnd trunk 3", "DialBegin trunk>101", "DialBegin trunk>102", "DialBegin trunk>103",
			"MixMonitorStart 101", "DialEnd trunk>101 ANSWER", "DialEnd trunk>102 CANCEL", "Hangup 102", "DialEnd trunk>103 CANCEL", "Hangup 103",
			"BridgeEnter 101", "BridgeEnter trunk", "BridgeLeave trunk", "BridgeLeave 101", "Hangup 101", "Hangup trunk"}},
		{"9", phone.DTMFInfo, []string{"DTMFEnd trunk 9", "Hangup trunk"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			e := start(t, nil)
			alice := e.extPhone(t, "101", "Alice 101", "udp")
			e.extPhone(t, "102", "Bob 102", "udp")
			e.extPhone(t, "103", "Carol 103", "udp")
			alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
			out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550500")
			if err != nil {
				t.Fatal(err)
			}
			wait(t, e.ctx, out.Answered(), "IVR answered")
			if err := out.SendDTMF(e.ctx, tt.key, tt.method); err != nil {
				t.Fatal(err)
			}
			if tt.key == "9" {
				wait(t, e.ctx, out.Done(), "invalid key hangs up")
			} else {
				var in *phone.Call
				select {
				case in = <-alice.Incoming():
				case <-e.ctx.Done():
					t.Fatal("101 did not ring")
				}
				wait(t, e.ctx, in.Answered(), "101 up")
				eventually(t, "rtp between caller and 101", func() bool { return in.RTPReceived() >= 5 })
				if err := out.Hangup(e.ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.pbx.WaitIdle(e.ctx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range e.rec.all() {
				switch ev.Name {
				case "DTMFEnd":
					got = append(got, "DTMFEnd "+ep(ev.Channel)+" "+field(ev, "Digit"))
				case "QueueCallerJoin":
					got = append(got, ev.Name+" "+ep(ev.Channel))
				}
				if s := transferEvents([]pbx.Event{ev}); len(s) > 0 {
					got = append(got, s...)
				}
			}
			sameLines(t, "AMI", got, tt.want)
		})
	}
}
