package pbx_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// userEvents lists the UserEvents of evs as "Name k=v k=v".
func userEvents(evs []pbx.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Name != "UserEvent" {
			continue
		}
		s := ""
		for _, f := range e.Fields {
			if f.Key == "UserEvent" {
				s = f.Value + s
				continue
			}
			s += " " + f.Key + "=" + f.Value
		}
		out = append(out, s)
	}
	return out
}

func TestAdminChanges(t *testing.T) {
	e := start(t, nil)
	if err := e.pbx.CreateExtension(pbx.Extension{Number: "105", Name: "Erin 105", Password: "secret105"}); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.CreateExtension(pbx.Extension{Number: "105"}); !errors.Is(err, pbx.ErrExtensionExists) {
		t.Errorf("second create: %v", err)
	}
	// The new extension registers with its password.
	e.extPhone(t, "105", "Erin 105", "udp")
	if err := e.pbx.SetForwarding("102", "12125550199"); err != nil {
		t.Fatal(err)
	}
	if e.pbx.Forwarding("102") != "12125550199" {
		t.Error("forwarding not kept")
	}
	if err := e.pbx.SetForwarding("102", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.AgentLogin("101", "", false); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.AgentLogin("101", "800", true); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.DeleteExtension("105"); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.SetForwarding("105", "1"); !errors.Is(err, pbx.ErrNoExtension) {
		t.Errorf("forwarding of a deleted extension: %v", err)
	}
	sameLines(t, "user events", userEvents(e.rec.all()), []string{
		"CallhookExtension Extension=105 Status=created Name=Erin 105",
		"CallhookForwarding Extension=102 Status=on Destination=12125550199",
		"CallhookForwarding Extension=102 Status=off",
		"CallhookQueueLogin Extension=101 Status=out",
		"CallhookQueueLogin Extension=101 Status=in Queue=800",
		"CallhookExtension Extension=105 Status=deleted",
	})
}

// TestQueueCallbackByDTMF: a waiting caller's keys (SIP INFO or RFC 4733)
// are DTMFBegin/DTMFEnd on its channel and nothing else, as on Asterisk
// (scenario-queue-missed-callback.log): the engine takes the callback key
// from them.
func TestQueueCallbackByDTMF(t *testing.T) {
	for _, method := range []string{phone.DTMFInfo, phone.DTMFRFC4733} {
		t.Run(method, func(t *testing.T) {
			e := start(t, nil)
			e.extPhone(t, "101", "Alice 101", "udp")
			e.extPhone(t, "102", "Bob 102", "udp")
			caller := e.carrier(t, "udp")
			out, err := caller.Dial(e.ctx, "2125550800")
			if err != nil {
				t.Fatal(err)
			}
			wait(t, e.ctx, out.Answered(), "queue answered")
			if err := out.SendDTMF(e.ctx, "5", method); err != nil {
				t.Fatal(err)
			}
			if err := out.SendDTMF(e.ctx, "1", method); err != nil {
				t.Fatal(err)
			}
			e.rec.waitFor(t, "the caller's key 1", func(evs []pbx.Event) bool {
				return slices.ContainsFunc(evs, func(ev pbx.Event) bool { return ev.Name == "DTMFEnd" && field(ev, "Digit") == "1" })
			})
			if err := out.Hangup(e.ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.pbx.WaitIdle(e.ctx); err != nil {
				t.Fatal(err)
			}
			evs := e.rec.all()
			var seq []string
			for _, ev := range evs {
				switch ev.Name {
				case "DTMFEnd":
					seq = append(seq, "DTMFEnd "+ep(ev.Channel)+" "+field(ev, "Digit"))
				case "UserEvent", "QueueCallerAbandon":
					seq = append(seq, ev.Name+" "+ep(ev.Channel))
				}
			}
			sameLines(t, "AMI", seq, []string{"DTMFEnd trunk 5", "DTMFEnd trunk 1", "QueueCallerAbandon trunk"})
			sameLines(t, "user events", userEvents(evs), nil)
			if method == phone.DTMFInfo {
				ladder := out.Ladder()
				if !slices.Contains(ladder, "send INFO 1") || !slices.Contains(ladder, "recv 200 INFO") {
					t.Errorf("ladder %q", ladder)
				}
			}
		})
	}
}
