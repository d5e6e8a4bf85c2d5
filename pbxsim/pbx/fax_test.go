package pbx_test

import (
	"testing"
)

// TestFaxT38 switches an answered call to T.38: the PBX passes the
// re-INVITE on to the other leg and answers with its own UDPTL port;
// datagrams then flow both ways through the relay.
func TestFaxT38(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	out, in := answeredCall(t, e, alice, "udp")
	if err := out.SwitchToT38(e.ctx); err != nil {
		t.Fatal(err)
	}
	if !out.Fax() || !in.Fax() {
		t.Fatalf("fax: caller %t, 101 %t", out.Fax(), in.Fax())
	}
	a, b := out.RTPReceived(), in.RTPReceived()
	eventually(t, "datagrams both ways after the switch", func() bool {
		return out.RTPReceived() >= a+5 && in.RTPReceived() >= b+5
	})
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, in.Done(), "101 hung up")
	sameLines(t, "caller's switch", after(out.Ladder(), "send INVITE t38"), []string{"send INVITE t38", "recv 200 INVITE", "send ACK", "send BYE", "recv 200 BYE"})
	sameLines(t, "101's switch", after(in.Ladder(), "recv INVITE t38"), []string{"recv INVITE t38", "send 200 INVITE t38", "recv BYE", "send 200 BYE"})
}
