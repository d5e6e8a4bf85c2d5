package pbx_test

import (
	"slices"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/phone"
)

func TestRingGroup(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	bob := e.extPhone(t, "102", "Bob 102", "udp")
	carol := e.extPhone(t, "103", "Carol 103", "udp")
	bob.SetPolicy(phone.Policy{Mode: phone.AnswerAfter, Delay: 200 * time.Millisecond})
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550600")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "answered by the group")
	var a, b, c *phone.Call
	for _, x := range []struct {
		p  *phone.Phone
		cp **phone.Call
	}{{alice, &a}, {bob, &b}, {carol, &c}} {
		select {
		case *x.cp = <-x.p.Incoming():
		case <-e.ctx.Done():
			t.Fatal("a member did not ring")
		}
	}
	wait(t, e.ctx, a.Done(), "101 cancelled")
	wait(t, e.ctx, c.Done(), "103 cancelled")
	for _, l := range []*phone.Call{a, c} {
		if l.CancelReason() != `SIP;cause=200;text="Call completed elsewhere"` {
			t.Errorf("loser's CANCEL Reason %q", l.CancelReason())
		}
	}
	eventually(t, "rtp between caller and 102", func() bool { return b.RTPReceived() >= 5 && out.RTPReceived() >= 5 })
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, b.Done(), "102 hung up")
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	if l := a.Ladder(); !slices.Equal(l, []string{"recv INVITE", "send 180 INVITE", "recv CANCEL"}) {
		t.Errorf("101's ladder %q", l)
	}
	sameLines(t, "AMI", transferEvents(e.rec.all()), []string{
		"DialBegin trunk>101", "DialBegin trunk>102", "DialBegin trunk>103",
		"MixMonitorStart 102", "DialEnd trunk>102 ANSWER",
		"DialEnd trunk>101 CANCEL", "Hangup 101", "DialEnd trunk>103 CANCEL", "Hangup 103",
		"BridgeEnter 102", "BridgeEnter trunk",
		"BridgeLeave trunk", "BridgeLeave 102", "Hangup 102", "Hangup trunk",
	})
	if got := hangupCauses(e.rec.all()); got["101"] != "26" || got["103"] != "26" {
		t.Errorf("losers' causes %v, want 26", got)
	}
}
