package pbx_test

import (
	"slices"
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// TestBarge: supervisor 104 dials 555101 and hears both sides of 101's
// call; ChanSpyStart/Stop name the spyer and the spyee.
func TestBarge(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	dave := e.extPhone(t, "104", "Dave 104", "udp")
	out, in := answeredCall(t, e, alice, "udp")
	sup, err := dave.Dial(e.ctx, pbx.BargePrefix+"101")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, sup.Answered(), "barge answered")
	// Both the caller's and 101's streams reach the supervisor.
	eventually(t, "both sides' audio at the supervisor", func() bool { return sup.RTPReceived() >= 20 })
	if err := sup.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	if !out.Up() || !in.Up() {
		t.Fatal("the call ended with the supervisor")
	}
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range e.rec.all() {
		switch ev.Name {
		case "ChanSpyStart", "ChanSpyStop":
			got = append(got, ev.Name+" "+fieldEP(ev, "Spyer")+">"+fieldEP(ev, "Spyee"))
		case "Hangup":
			got = append(got, "Hangup "+ep(ev.Channel))
		case "Cdr":
			if field(ev, "LastApplication") == "ChanSpy" {
				got = append(got, "Cdr "+field(ev, "Source")+">"+field(ev, "Destination")+" "+field(ev, "Disposition"))
			}
		}
	}
	sameLines(t, "AMI", got, []string{"ChanSpyStart 104>101", "ChanSpyStop 104>101", "Hangup 104", "Cdr 104>555101 ANSWERED", "Hangup 101", "Hangup trunk"})
	if l := sup.Ladder(); !slices.Contains(l, "recv 200 INVITE") {
		t.Errorf("supervisor's ladder %q", l)
	}
}
