package sim_test

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
)

// TestQueueMemberActions drives QueueAdd, QueuePause and QueueRemove over
// the simulator's AMI and reads Asterisk's responses and member events.
func TestQueueMemberActions(t *testing.T) {
	_, s := startSim(t, 0, time.Minute)
	conn, err := net.Dial("tcp", s.AMIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatalf("read the AMI banner: %v", err)
	}
	send := func(lines string) {
		if _, err := fmt.Fprintf(conn, "%s\r\n", lines); err != nil {
			t.Fatal(err)
		}
	}
	// next returns the next message named name (an event or a response
	// to ActionID id).
	// Events raised by an action may come before or after its response.
	var seen []ami.Message
	next := func(event, id string) ami.Message {
		t.Helper()
		match := func(m ami.Message) bool {
			return (event != "" && m.Get("Event") == event) || (id != "" && m.Get("ActionID") == id && m.Get("Response") != "")
		}
		for i, m := range seen {
			if match(m) {
				seen = append(seen[:i], seen[i+1:]...)
				return m
			}
		}
		for {
			m, err := ami.ReadMessage(r)
			if err != nil {
				t.Fatalf("waiting for %s%s: %v", event, id, err)
			}
			if match(m) {
				return m
			}
			seen = append(seen, m)
		}
	}
	send("Action: Login\r\nUsername: " + s.AMIUser() + "\r\nSecret: " + s.AMISecret() + "\r\nActionID: l\r\n")
	if m := next("", "l"); m.Get("Response") != "Success" {
		t.Fatalf("login: %v", m)
	}
	send("Action: QueueAdd\r\nActionID: a\r\nQueue: 800\r\nInterface: PJSIP/103\r\nMemberName: Carol 103\r\n")
	if m := next("", "a"); m.Get("Message") != "Added interface to queue" {
		t.Errorf("QueueAdd: %v", m)
	}
	if m := next("QueueMemberAdded", ""); m.Get("Membership") != "dynamic" || m.Get("MemberName") != "Carol 103" {
		t.Errorf("QueueMemberAdded: %v", m)
	}
	send("Action: QueuePause\r\nActionID: p\r\nQueue: 800\r\nInterface: PJSIP/103\r\nPaused: true\r\nReason: Lunch\r\n")
	if m := next("", "p"); m.Get("Message") != "Interface paused successfully" {
		t.Errorf("QueuePause: %v", m)
	}
	if m := next("QueueMemberPause", ""); m.Get("Paused") != "1" || m.Get("PausedReason") != "Lunch" {
		t.Errorf("QueueMemberPause: %v", m)
	}
	send("Action: QueueRemove\r\nActionID: r\r\nQueue: 800\r\nInterface: PJSIP/101\r\n")
	if m := next("", "r"); m.Get("Response") != "Error" || m.Get("Message") != "Unable to remove interface: 'Not Dynamic'" {
		t.Errorf("QueueRemove of a static member: %v", m)
	}
	send("Action: QueueRemove\r\nActionID: r2\r\nQueue: 800\r\nInterface: PJSIP/103\r\n")
	if m := next("", "r2"); m.Get("Message") != "Removed interface from queue" {
		t.Errorf("QueueRemove: %v", m)
	}
	if m := next("QueueMemberRemoved", ""); m.Get("Interface") != "PJSIP/103" {
		t.Errorf("QueueMemberRemoved: %v", m)
	}
}
