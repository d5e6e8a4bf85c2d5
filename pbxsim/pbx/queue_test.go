package pbx_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// fastQueue shortens queue 800's timers for tests.
func fastQueue(member, retry, timeout time.Duration) func(*pbx.Config) {
	return func(c *pbx.Config) {
		c.Queues[0].MemberTimeout, c.Queues[0].Retry, c.Queues[0].Timeout = member, retry, timeout
	}
}

func TestCaptureQueueRingAllAnswered(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	bob := e.extPhone(t, "102", "Bob 102", "udp")
	caller := e.carrier(t, "udp")
	out, err := caller.Dial(e.ctx, "2125550800")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "the PBX answers the queue call")
	inA := <-alice.Incoming()
	inB := <-bob.Incoming()
	e.rec.waitFor(t, "both members ringing", func(evs []pbx.Event) bool { return countEvents(evs, "DialState", "", "") == 2 })
	if err := inA.Answer(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, inB.Done(), "CANCEL at 102")
	if code, reason := inB.Status(); code != 487 || reason != "remote CANCEL" {
		t.Errorf("102 status %d %q, want 487 remote CANCEL", code, reason)
	}
	if r := inB.CancelReason(); r != `SIP;cause=200;text="Call completed elsewhere"` {
		t.Errorf("102's CANCEL Reason %q, want call completed elsewhere", r)
	}
	eventually(t, "media relayed both ways", func() bool { return out.RTPReceived() > 2 && inA.RTPReceived() > 2 })
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, inA.Done(), "BYE at 101")
	evs := e.rec.waitFor(t, "end of call", func(evs []pbx.Event) bool {
		return countEvents(evs, "Cdr", "", "") == 2 && countEvents(evs, "DeviceStateChange", "Device", "PJSIP/trunk") == 2
	})
	compareStreams(t, queueOrder(readCapture(t, "05_queue_ringall_answered.log")), queueOrder(render(evs)), true)
}

func TestCaptureQueueAbandon(t *testing.T) {
	e := start(t, fastQueue(300*time.Millisecond, 100*time.Millisecond, 10*time.Second))
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	bob := e.extPhone(t, "102", "Bob 102", "udp")
	alice.SetPolicy(phone.Policy{Mode: phone.NeverAnswer})
	bob.SetPolicy(phone.Policy{Mode: phone.NeverAnswer})
	caller := e.carrier(t, "udp")
	out, err := caller.Dial(e.ctx, "2125550800")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "the PBX answers the queue call")
	e.rec.waitFor(t, "second round ringing", func(evs []pbx.Event) bool { return countEvents(evs, "DialState", "", "") == 4 })
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	evs := e.rec.waitFor(t, "end of call", func(evs []pbx.Event) bool {
		return countEvents(evs, "Cdr", "", "") == 4 && countEvents(evs, "DeviceStateChange", "Device", "PJSIP/trunk") == 2 &&
			countEvents(evs, "DeviceStateChange", "State", "NOT_INUSE") == 5
	})
	compareStreams(t, queueOrder(readCapture(t, "06_queue_missed_abandon.log")), queueOrder(render(evs)), true)
}

// queueOrder puts a queue call's events in a canonical order for
// comparison: the caller's own events in order, then each member
// channel's events (those naming it as Channel or DestChannel) in order of
// the channels' creation, then each device's state changes, devices by
// name. app_queue rings members from several threads, so how one member's
// events interleave with another's differs from run to run on a real
// Asterisk too; each sequence on its own does not, except that a member's
// DialState RINGING may come before or after its Newstate (capture 06 has
// both orders in one call, with the Dest state Down or Ringing): it is put
// after NewConnectedLine and its Dest state read as Ringing.
// QueueMemberStatus is left out as readCapture leaves it out.
func queueOrder(ms []ami.Message) []ami.Message {
	var caller []ami.Message
	var order, devs []string
	per := map[string][]ami.Message{}
	for _, m := range ms {
		if !ami.Simulated(m) {
			continue
		}
		key := ""
		if m.Get("Event") == "DeviceStateChange" {
			key = "device " + m.Get("Device")
			if _, seen := per[key]; !seen {
				devs = append(devs, key)
			}
			per[key] = append(per[key], m)
			continue
		}
		for _, k := range []string{"DestChannel", "Channel"} {
			if v := m.Get(k); v != "" && !strings.HasPrefix(v, "PJSIP/trunk-") {
				key = v
				break
			}
		}
		if key == "" || m.Get("Event") == "Cdr" {
			caller = append(caller, m)
			continue
		}
		if _, seen := per[key]; !seen {
			order = append(order, key)
		}
		per[key] = append(per[key], m)
	}
	for _, k := range order {
		caller = append(caller, ringingAfterState(per[k])...)
	}
	sort.Strings(devs)
	for _, k := range devs {
		caller = append(caller, per[k]...)
	}
	return caller
}

// ringingAfterState moves a member's DialState RINGING behind its
// NewConnectedLine, Dest state Ringing (see queueOrder).
func ringingAfterState(ms []ami.Message) []ami.Message {
	var out []ami.Message
	var held ami.Message
	seen := false // NewConnectedLine already passed
	for _, m := range ms {
		if m.Get("Event") == "NewConnectedLine" {
			seen = true
		}
		if m.Get("Event") == "DialState" && m.Get("DialStatus") == "RINGING" {
			var cp ami.Message
			for _, f := range m {
				switch f.Key {
				case "DestChannelState":
					f.Value = "5"
				case "DestChannelStateDesc":
					f.Value = "Ringing"
				}
				cp = append(cp, f)
			}
			if seen {
				out = append(out, cp)
			} else {
				held = cp
			}
			continue
		}
		out = append(out, m)
		if held != nil && m.Get("Event") == "NewConnectedLine" {
			out = append(out, held)
			held = nil
		}
	}
	if held != nil {
		out = append(out, held)
	}
	return out
}

// TestCaptureQueueMembers plays capture 08's member actions and compares
// the member events and pause devices with it.
func TestCaptureQueueMembers(t *testing.T) {
	e := start(t, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.pbx.QueueAdd("800", "PJSIP/103", "Carol 103", 0, false, ""))
	must(e.pbx.QueuePause("800", "PJSIP/103", true, "Lunch"))
	must(e.pbx.QueuePause("800", "PJSIP/103", false, ""))
	must(e.pbx.QueuePause("", "PJSIP/101", true, "Break"))
	must(e.pbx.QueuePause("", "PJSIP/101", false, ""))
	must(e.pbx.QueueRemove("800", "PJSIP/103"))
	if err := e.pbx.QueueRemove("800", "PJSIP/101"); !errors.Is(err, pbx.ErrNotDynamic) {
		t.Errorf("removing a static member: %v, want ErrNotDynamic", err)
	}
	if err := e.pbx.QueueAdd("800", "PJSIP/101", "", 0, false, ""); !errors.Is(err, pbx.ErrMemberExists) {
		t.Errorf("adding a member twice: %v, want ErrMemberExists", err)
	}
	if err := e.pbx.QueuePause("900", "PJSIP/101", true, ""); !errors.Is(err, pbx.ErrNoQueue) {
		t.Errorf("pausing in an unknown queue: %v, want ErrNoQueue", err)
	}
	keep := func(ms []ami.Message) []ami.Message {
		var out []ami.Message
		for _, m := range ms {
			switch ev := m.Get("Event"); {
			case ev == "QueueMemberAdded" || ev == "QueueMemberPause" || ev == "QueueMemberRemoved":
				out = append(out, m)
			case ev == "DeviceStateChange" && strings.Contains(m.Get("Device"), "_pause_"):
				out = append(out, m)
			}
		}
		return out
	}
	want := keep(readAll(t, "08_queue_member_pause.log"))
	got := keep(render(e.rec.all()))
	if len(want) != len(got) {
		t.Fatalf("%d member events, capture has %d", len(got), len(want))
	}
	for i := range want {
		for _, k := range []string{"Event", "Device", "State", "Queue", "MemberName", "Interface", "Membership", "Paused", "PausedReason", "Status"} {
			if want[i].Get(k) != got[i].Get(k) {
				t.Errorf("event %d %s: %s = %q, capture has %q", i, want[i].Get("Event"), k, got[i].Get(k), want[i].Get(k))
			}
		}
	}
}
