package sim_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/scenarios"
)

// played plays a built-in scenario at speed and returns the AMI events of
// the run, up to the simulator's sync event.
func played(t *testing.T, name string, speed float64) []ami.Message {
	t.Helper()
	ctx, s := startSim(t, speed, time.Minute)
	_, r := manager(t, s, true, time.Minute)
	sc, err := scenarios.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, sc); err != nil {
		t.Fatalf("play %s at speed %v: %v", name, speed, err)
	}
	if _, err := s.Sync(ctx); err != nil {
		t.Fatalf("sync after %s: %v", name, err)
	}
	var out []ami.Message
	for {
		m, err := ami.ReadMessage(r)
		if err != nil {
			t.Fatalf("read %s's events up to the sync event, %d so far: %v", name, len(out), err)
		}
		if m.Get("UserEvent") == "CallhookSync" {
			return out
		}
		if ev := m.Get("Event"); ev != "" && ev != "FullyBooted" && ev != "SuccessfulAuth" {
			out = append(out, m)
		}
	}
}

// callEvents names the events that describe the call (device states are
// published asynchronously by Asterisk too, so their place may vary).
func callEvents(ms []ami.Message) []string {
	var out []string
	for _, m := range ms {
		if m.Get("Event") == "DeviceStateChange" {
			continue
		}
		out = append(out, m.Get("Event")+" "+m.Get("Channel"))
	}
	return out
}

func stamp(t *testing.T, ms []ami.Message, event string) time.Time {
	t.Helper()
	for _, m := range ms {
		if m.Get("Event") == event {
			f, err := strconv.ParseFloat(m.Get("Timestamp"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return time.Unix(0, int64(f*1e9))
		}
	}
	t.Fatalf("no %s event", event)
	return time.Time{}
}

// TestSpeedKeepsOrder: a scenario played at two speeds gives the same
// events in the same order, and the PBX's clock keeps scenario time (101
// talks 10 s before the transfer at either speed).
func TestSpeedKeepsOrder(t *testing.T) {
	slow := played(t, "blind-transfer", 20)
	fast := played(t, "blind-transfer", 40)
	if a, b := callEvents(slow), callEvents(fast); !slices.Equal(a, b) {
		t.Fatalf("event order differs with speed:\n x20 %q\n x40 %q", a, b)
	}
	for _, run := range [][]ami.Message{slow, fast} {
		talk := stamp(t, run, "BlindTransfer").Sub(stamp(t, run, "BridgeEnter"))
		if talk < 9*time.Second || talk > 11*time.Second {
			t.Errorf("talk before the transfer %s in PBX time, want 10 s", talk)
		}
	}
}
