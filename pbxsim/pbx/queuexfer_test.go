package pbx_test

import (
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// TestQueueCallBlindTransfer: the agent who took a queue call transfers
// the caller blind to 103; the queue reports AgentComplete (transfer).
func TestQueueCallBlindTransfer(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	e.extPhone(t, "102", "Bob 102", "udp")
	carol := e.extPhone(t, "103", "Carol 103", "udp")
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	carol.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550800")
	if err != nil {
		t.Fatal(err)
	}
	var in *phone.Call
	select {
	case in = <-alice.Incoming():
	case <-e.ctx.Done():
		t.Fatal("101 not rung")
	}
	wait(t, e.ctx, in.Answered(), "agent up")
	e.rec.waitFor(t, "agent connected", func(evs []pbx.Event) bool { return countEvents(evs, "AgentConnect", "", "") == 1 })
	if err := in.BlindTransfer(e.ctx, "103"); err != nil {
		t.Fatal(err)
	}
	var c *phone.Call
	select {
	case c = <-carol.Incoming():
	case <-e.ctx.Done():
		t.Fatal("103 not rung")
	}
	wait(t, e.ctx, c.Answered(), "103 up")
	eventually(t, "rtp between caller and 103", func() bool { return c.RTPReceived() >= 5 })
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, c.Done(), "103 hung up")
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range e.rec.all() {
		switch ev.Name {
		case "AgentComplete":
			got = append(got, "AgentComplete "+field(ev, "Reason"))
		case "BlindTransfer", "Hangup":
			got = append(got, transferEvents([]pbx.Event{ev})...)
		}
	}
	sameLines(t, "AMI", got, []string{"Hangup 102", "BlindTransfer Success 101>trunk 103", "AgentComplete transfer", "Hangup 101", "Hangup trunk", "Hangup 103"})
}
