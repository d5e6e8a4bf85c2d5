package sim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/phone"
)

// TestCoreShowChannels: a client resynchronising mid-call gets the call's
// two channels, bridged together.
func TestCoreShowChannels(t *testing.T) {
	ctx, s := startSim(t, 0, time.Minute)
	alice, _ := s.Phone("101")
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out := callIn(t, ctx, s, "2125550100")
	await(t, ctx, out.Answered(), "not answered")
	conn, r := manager(t, s, false, time.Minute)
	fmt.Fprintf(conn, "Action: CoreShowChannels\r\nActionID: c\r\n\r\n")
	var chans []ami.Message
	for {
		m, err := ami.ReadMessage(r)
		if err != nil {
			t.Fatalf("read CoreShowChannels' events up to CoreShowChannelsComplete, %d channels so far: %v", len(chans), err)
		}
		if m.Get("Event") == "CoreShowChannel" {
			chans = append(chans, m)
		}
		if m.Get("Event") == "CoreShowChannelsComplete" {
			if m.Get("ListItems") != "2" {
				t.Errorf("ListItems %q, want 2", m.Get("ListItems"))
			}
			break
		}
	}
	if len(chans) != 2 || chans[0].Get("BridgeId") == "" || chans[0].Get("BridgeId") != chans[1].Get("BridgeId") {
		t.Fatalf("channels %v", chans)
	}
	apps := map[string]bool{chans[0].Get("Application"): true, chans[1].Get("Application"): true}
	if !apps["Dial"] || !apps["AppDial"] {
		t.Errorf("applications %v", apps)
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatalf("hang up the answered call: %v", err)
	}
}

// TestHangupAction: the manager's Hangup on one channel of a bridged call
// ends the call, both phones getting the PBX's BYE; an unknown channel or
// none is an error.
func TestHangupAction(t *testing.T) {
	ctx, s := startSim(t, 0, time.Minute)
	alice, _ := s.Phone("101")
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out := callIn(t, ctx, s, "2125550100")
	var in *phone.Call
	select {
	case in = <-alice.Incoming():
	case <-ctx.Done():
		t.Fatal("no call at 101")
	}
	await(t, ctx, out.Answered(), "not answered")
	conn, r := manager(t, s, false, time.Minute)
	ask := func(action string) ami.Message {
		t.Helper()
		fmt.Fprintf(conn, "%s\r\n", action)
		m, err := ami.ReadMessage(r)
		if err != nil {
			t.Fatalf("read the response to %q: %v", action, err)
		}
		return m
	}
	for action, want := range map[string]string{
		"Action: Hangup\r\nChannel: PJSIP/999-00000000\r\n": "No such channel",
		"Action: Hangup\r\n": "No channel specified",
	} {
		if m := ask(action); m.Get("Response") != "Error" || m.Get("Message") != want {
			t.Errorf("%q: %v, want Error %q", action, m, want)
		}
	}
	// 101's channel, from the PBX's channel list.
	fmt.Fprintf(conn, "Action: CoreShowChannels\r\n\r\n")
	callee := ""
	for {
		m, err := ami.ReadMessage(r)
		if err != nil {
			t.Fatalf("read CoreShowChannels' events up to CoreShowChannelsComplete: %v", err)
		}
		if m.Get("Event") == "CoreShowChannel" && m.Get("Application") == "AppDial" {
			callee = m.Get("Channel")
		}
		if m.Get("Event") == "CoreShowChannelsComplete" {
			break
		}
	}
	if callee == "" {
		t.Fatal("no AppDial channel listed")
	}
	if m := ask("Action: Hangup\r\nChannel: " + callee + "\r\n"); m.Get("Response") != "Success" || m.Get("Message") != "Channel Hungup" {
		t.Fatalf("Hangup %s: %v", callee, m)
	}
	for _, c := range []*phone.Call{out, in} {
		await(t, ctx, c.Done(), "call not ended by the Hangup action")
		if code, reason := c.Status(); code != 200 || reason != "remote BYE" {
			t.Errorf("status %d %q, want the PBX's BYE", code, reason)
		}
	}
}
