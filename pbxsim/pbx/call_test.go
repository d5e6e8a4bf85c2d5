package pbx_test

import (
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

func TestInboundAnsweredUDP(t *testing.T) { testInboundAnswered(t, "udp") }
func TestInboundAnsweredTCP(t *testing.T) { testInboundAnswered(t, "tcp") }

func testInboundAnswered(t *testing.T, transport string) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", transport)
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	caller := e.carrier(t, transport)
	out, err := caller.Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Ringing(), "ringing")
	wait(t, e.ctx, out.Answered(), "answer")
	var in *phone.Call
	select {
	case in = <-alice.Incoming():
	default:
		t.Fatal("alice saw no incoming call")
	}
	if in.RemoteNumber() != "2125559876" || in.RemoteName() != "John Smith" {
		t.Errorf("caller id at 101 = %q %q", in.RemoteNumber(), in.RemoteName())
	}
	wait(t, e.ctx, in.Answered(), "callee up")
	// RTP flows both ways through the PBX's relay.
	eventually(t, "rtp both ways", func() bool { return out.RTPReceived() >= 5 && in.RTPReceived() >= 5 })
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, in.Done(), "callee BYE")
	if code, reason := in.Status(); code != 200 || reason != "remote BYE" {
		t.Errorf("callee status %d %q", code, reason)
	}
	e.rec.waitFor(t, "NOT_INUSE", func(evs []pbx.Event) bool {
		return countEvents(evs, "DeviceStateChange", "State", "NOT_INUSE") == 2
	})
}
