package sim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/phone"
)

// TestQueueStatus: a client resynchronising while a caller waits in queue
// 800 (ring-all, static members 101 and 102, both ringing) gets what
// app_queue's QueueStatus lists: the queue's parameters, each member with
// its device state, the waiting caller, and a completion event counting
// them; a Member filter lists that member alone, without the parameters.
func TestQueueStatus(t *testing.T) {
	ctx, s := startSim(t, 0, time.Minute)
	var agents []*phone.Phone
	for _, ext := range []string{"101", "102"} {
		a, _ := s.Phone(ext)
		a.SetPolicy(phone.Policy{Mode: phone.NeverAnswer})
		agents = append(agents, a)
	}
	out := callIn(t, ctx, s, "2125550800")
	for _, a := range agents {
		select {
		case in := <-a.Incoming():
			await(t, ctx, in.Ringing(), "agent not ringing")
		case <-ctx.Done():
			t.Fatal("agents not rung")
		}
	}
	conn, r := manager(t, s, false, time.Minute)
	list := func(action string) (ami.Message, []ami.Message, ami.Message) {
		t.Helper()
		fmt.Fprintf(conn, "Action: QueueStatus\r\nActionID: qs\r\n%s\r\n", action)
		head, err := ami.ReadMessage(r)
		if err != nil {
			t.Fatalf("read the response to QueueStatus %q: %v", action, err)
		}
		var evs []ami.Message
		for {
			m, err := ami.ReadMessage(r)
			if err != nil {
				t.Fatalf("read QueueStatus %q's events up to QueueStatusComplete, %d so far: %v", action, len(evs), err)
			}
			if m.Get("ActionID") != "qs" {
				t.Errorf("%s without the request's ActionID", m.Get("Event"))
			}
			if m.Get("Event") == "QueueStatusComplete" {
				return head, evs, m
			}
			evs = append(evs, m)
		}
	}

	// The PBX takes the agents' 180s in its own time: ask until both ring.
	var head, done ami.Message
	var evs []ami.Message
	waitfor.Condition(t, 20*time.Second, "both agents ringing in QueueStatus", func() string {
		head, evs, done = list("Queue: 800\r\n")
		if len(evs) == 4 && evs[1].Get("Status") == "6" && evs[2].Get("Status") == "6" {
			return ""
		}
		return fmt.Sprintf("QueueStatus lists %v", evs)
	})
	if head.Get("Response") != "Success" || head.Get("EventList") != "start" || head.Get("Message") != "Queue status will follow" {
		t.Errorf("response %v", head)
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.Get("Event"))
	}
	if got := strings.Join(names, " "); got != "QueueParams QueueMember QueueMember QueueEntry" {
		t.Fatalf("events %s", got)
	}
	if done.Get("EventList") != "Complete" || done.Get("ListItems") != "4" {
		t.Errorf("complete %v, want ListItems 4", done)
	}
	want := []map[string]string{
		{"Queue": "800", "Strategy": "ringall", "Calls": "1", "Completed": "0", "Abandoned": "0", "Max": "0"},
		{"Queue": "800", "Name": "Alice 101", "Location": "PJSIP/101", "StateInterface": "PJSIP/101",
			"Membership": "static", "Penalty": "0", "CallsTaken": "0", "InCall": "0", "Status": "6", "Paused": "0"},
		{"Queue": "800", "Name": "Bob 102", "Location": "PJSIP/102", "Membership": "static", "Status": "6"},
		{"Queue": "800", "Position": "1", "CallerIDNum": "2125559876", "CallerIDName": "John Smith"},
	}
	for i, w := range want {
		for k, v := range w {
			if got := evs[i].Get(k); got != v {
				t.Errorf("%s %s = %q, want %q", names[i], k, got, v)
			}
		}
	}
	if ch := evs[3].Get("Channel"); !strings.HasPrefix(ch, "PJSIP/trunk-") || evs[3].Get("Uniqueid") == "" {
		t.Errorf("entry channel %q uniqueid %q", ch, evs[3].Get("Uniqueid"))
	}

	_, evs, done = list("Member: PJSIP/102\r\n")
	if len(evs) != 1 || evs[0].Get("Event") != "QueueMember" || evs[0].Get("Name") != "Bob 102" || done.Get("ListItems") != "1" {
		t.Errorf("member filter: %v, %v", evs, done)
	}
	_, evs, done = list("Queue: 999\r\n")
	if len(evs) != 0 || done.Get("ListItems") != "0" {
		t.Errorf("unknown queue: %v, %v", evs, done)
	}

	if err := out.Hangup(ctx); err != nil {
		t.Fatalf("hang up the caller waiting in queue 800: %v", err)
	}
	// The abandoned call is counted and leaves the queue (app_queue counts
	// it first, then takes the caller out: wait for both).
	waitfor.Condition(t, 20*time.Second, "the abandoned caller out of the queue", func() string {
		if _, evs, _ = list("Queue: 800\r\n"); evs[0].Get("Calls") == "0" {
			return ""
		}
		return fmt.Sprintf("after hangup: %v", evs)
	})
	if evs[0].Get("Abandoned") != "1" || evs[len(evs)-1].Get("Event") == "QueueEntry" {
		t.Errorf("queue after hangup: %v", evs)
	}
}
