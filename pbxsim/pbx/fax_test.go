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

// TestFaxLine: DID 2125550700 is the PBX's own fax line. It answers,
// runs ReceiveFAX and reports the session as res_fax does with
// statusevents (FAXStatus), takes a T.38 switch itself, and once the
// sending machine hangs up raises ReceiveFAX before the Hangup.
func TestFaxLine(t *testing.T) {
	e := start(t, nil)
	caller := e.carrier(t, "udp")
	out, err := caller.Dial(e.ctx, "2125550700")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "fax line answered")
	if err := out.SwitchToT38(e.ctx); err != nil {
		t.Fatal(err)
	}
	if !out.Fax() {
		t.Fatal("the fax line did not take the T.38 switch")
	}
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, ev := range e.rec.all() {
		switch ev.Name {
		case "Newexten":
			seq = append(seq, "Newexten "+field(ev, "Application"))
		case "FAXStatus":
			seq = append(seq, "FAXStatus "+field(ev, "Operation")+" "+field(ev, "Status"))
		case "ReceiveFAX", "Newstate", "HangupRequest":
			seq = append(seq, ev.Name+" "+ep(ev.Channel))
		case "Hangup":
			seq = append(seq, "Hangup "+ep(ev.Channel)+" "+field(ev, "Cause"))
		case "Cdr":
			seq = append(seq, "Cdr "+field(ev, "LastApplication")+" "+field(ev, "Disposition"))
		}
	}
	sameLines(t, "AMI", seq, []string{
		"Newexten NoOp", "Newexten Answer", "Newstate trunk", "Newexten ReceiveFAX",
		"FAXStatus receive Allocating Resources", "FAXStatus receive FAX Transmission In Progress",
		"FAXStatus receive T.38 Negotiated",
		"HangupRequest trunk", "ReceiveFAX trunk", "Hangup trunk 16", "Cdr ReceiveFAX ANSWERED",
	})
}
