package pbx_test

import (
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// outsideParty starts a carrier-side user agent and points the PBX's trunk
// at it, so that 9 + number reaches it.
func (e *env) outsideParty(t *testing.T, transport string) *phone.Phone {
	t.Helper()
	ph, err := phone.New(e.ctx, phone.Config{User: "carrier", Server: e.pbx.Addr(), Transport: transport, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ph.Close() })
	e.pbx.SetTrunk(pbx.Trunk{Addr: ph.Addr(), Transport: transport})
	return ph
}

// twoPartyOver reports whether an answered two-party call has ended: its
// Cdr is in and both devices are back to NOT_INUSE.
func twoPartyOver(evs []pbx.Event) bool {
	return countEvents(evs, "Cdr", "", "") == 1 &&
		countEvents(evs, "DeviceStateChange", "State", "NOT_INUSE") == 2
}

func TestCaptureOutboundAnswered(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			e := start(t, nil)
			alice := e.extPhone(t, "101", "Alice 101", tp)
			carrier := e.outsideParty(t, tp)
			out, err := alice.Dial(e.ctx, "912125550199")
			if err != nil {
				t.Fatal(err)
			}
			in := <-carrier.Incoming()
			if in.RemoteNumber() != "101" || in.RemoteName() != "Alice 101" {
				t.Errorf("carrier sees caller %q %q, want 101 \"Alice 101\"", in.RemoteNumber(), in.RemoteName())
			}
			wait(t, e.ctx, out.Ringing(), "ringing at 101")
			if err := in.Answer(e.ctx); err != nil {
				t.Fatal(err)
			}
			wait(t, e.ctx, out.Answered(), "answer at 101")
			eventually(t, "media relayed both ways", func() bool { return out.RTPReceived() > 2 && in.RTPReceived() > 2 })
			if err := out.Hangup(e.ctx); err != nil {
				t.Fatal(err)
			}
			wait(t, e.ctx, in.Done(), "BYE at the carrier")
			evs := e.rec.waitFor(t, "end of call", twoPartyOver)
			// Device state changes are published asynchronously (see compareStreams).
			compareStreams(t, readCapture(t, "07_outbound_answered.log"), render(evs), true)
		})
	}
}

func TestOutboundBusyAndNoAnswer(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	carrier := e.outsideParty(t, "udp")

	carrier.SetPolicy(phone.Policy{Mode: phone.Reject, Code: 486})
	out, err := alice.Dial(e.ctx, "912125550199")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "busy")
	if code, _ := out.Status(); code != 486 {
		t.Errorf("101 got %d, want 486 from the carrier", code)
	}
	evs := e.rec.waitFor(t, "busy call over", func(evs []pbx.Event) bool { return countEvents(evs, "Cdr", "", "") == 2 })
	if s := dialStatuses(evs); len(s) != 1 || s[0] != "BUSY" {
		t.Errorf("DialEnd statuses %v, want [BUSY]", s)
	}
	if c := hangupCauses(evs); c["101"] != "17" || c["trunk"] != "17" {
		t.Errorf("hangup causes %v, want 17 (user busy) on both", c)
	}
}

func TestOutboundNoAnswer(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	carrier := e.outsideParty(t, "udp")
	e.pbx.SetTrunk(pbx.Trunk{Addr: carrier.Addr(), Transport: "udp", RingTimeout: 300 * time.Millisecond})
	carrier.SetPolicy(phone.Policy{Mode: phone.NeverAnswer})
	out, err := alice.Dial(e.ctx, "912125550199")
	if err != nil {
		t.Fatal(err)
	}
	in := <-carrier.Incoming()
	wait(t, e.ctx, out.Done(), "no answer")
	if code, _ := out.Status(); code != 480 {
		t.Errorf("101 got %d, want 480", code)
	}
	wait(t, e.ctx, in.Done(), "CANCEL at the carrier")
	if code, reason := in.Status(); code != 487 || reason != "remote CANCEL" {
		t.Errorf("carrier status %d %q, want 487 remote CANCEL", code, reason)
	}
	evs := e.rec.waitFor(t, "unanswered call over", func(evs []pbx.Event) bool { return countEvents(evs, "Cdr", "", "") == 2 })
	if s := dialStatuses(evs); len(s) != 1 || s[0] != "NOANSWER" {
		t.Errorf("DialEnd statuses %v, want [NOANSWER]", s)
	}
}

func TestInternalCall(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	bob := e.extPhone(t, "102", "Bob 102", "tcp")
	out, err := alice.Dial(e.ctx, "102")
	if err != nil {
		t.Fatal(err)
	}
	in := <-bob.Incoming()
	if in.RemoteNumber() != "101" {
		t.Errorf("102 sees caller %q, want 101", in.RemoteNumber())
	}
	if err := in.Answer(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "answer at 101")
	if err := in.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "BYE at 101")
	evs := e.rec.waitFor(t, "end of call", twoPartyOver)
	var dial []string
	for _, ev := range evs {
		for _, f := range ev.Fields {
			if ev.Name == "Newexten" && f.Key == "AppData" && ev.Channel.Context == "from-internal" && ev.Channel.Exten == "102" {
				dial = append(dial, f.Value)
			}
		}
	}
	if len(dial) < 2 || dial[1] != "PJSIP/102,20,tTU(sub-record)" {
		t.Errorf("caller's dialplan %q, want NoOp then Dial(PJSIP/102,20,tTU(sub-record))", dial)
	}
}

func TestExtensionMustAuthenticate(t *testing.T) {
	e := start(t, nil)
	e.extPhone(t, "102", "Bob 102", "udp")
	// Claims to be 101 with the wrong password: refused, nothing rings.
	mallory, err := phone.New(e.ctx, phone.Config{User: "101", Password: "guess", Server: e.pbx.Addr(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	out, err := mallory.Dial(e.ctx, "102")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "refusal")
	if code, _ := out.Status(); code != 403 {
		t.Errorf("status %d, want 403", code)
	}
	// Without any password the 401 challenge is final.
	anon, err := phone.New(e.ctx, phone.Config{User: "101", Server: e.pbx.Addr(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	out, err = anon.Dial(e.ctx, "102")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "challenge")
	if code, _ := out.Status(); code != 401 {
		t.Errorf("status %d, want 401", code)
	}
	if n := len(e.rec.all()); n != 0 {
		t.Errorf("%d events for refused calls, want none", n)
	}
}
