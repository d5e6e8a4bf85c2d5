package pbx_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// captureDir holds the real Asterisk 22 AMI captures pbxsim is held to.
var captureDir = filepath.Join("..", "..", "fixtures", "ami", "asterisk22")

// readCapture returns the capture's call events, without what pbxsim does
// not model: VarSet, QueueMemberStatus, and login events.
func readCapture(t *testing.T, name string) []ami.Message {
	t.Helper()
	var out []ami.Message
	for _, m := range readAll(t, name) {
		if ami.Simulated(m) {
			out = append(out, m)
		}
	}
	return out
}

// readAll returns every message of a capture after the banner.
func readAll(t *testing.T, name string) []ami.Message {
	t.Helper()
	f, err := os.Open(filepath.Join(captureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := ami.ReadSession(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return ms
}

// compared are the fields held equal between capture and simulation.
var compared = []string{
	"ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName",
	"Context", "Exten", "Priority", "DestChannelState", "DestCallerIDNum", "DestContext", "DestExten",
	"DialStatus", "DialString", "Cause", "Cause-txt", "Extension", "Application", "Device", "State",
	"BridgeType", "BridgeTechnology", "BridgeNumChannels", "Source", "Destination", "DestinationContext",
	"CallerID", "LastApplication", "Disposition", "AMAFlags", "Privilege",
}

// bijection maps the capture's ids (channel names, Uniqueids, bridges) to
// the simulation's one to one.
type bijection struct {
	fwd, back map[string]string
}

func newBijection() *bijection {
	return &bijection{fwd: map[string]string{}, back: map[string]string{}}
}

func (b *bijection) match(want, got string) bool {
	if want == "" || got == "" {
		return want == got
	}
	if g, ok := b.fwd[want]; ok {
		return g == got
	}
	if w, ok := b.back[got]; ok {
		return w == want
	}
	b.fwd[want], b.back[got] = got, want
	return true
}

// endpoint is a channel name without its sequence suffix.
func endpoint(ch string) string {
	if i := strings.LastIndexByte(ch, '-'); i > 0 && len(ch)-i == 9 {
		return ch[:i]
	}
	return ch
}

// compareStreams holds got to want: the same events in the same order and
// the same key fields, ids matched one to one. With looseDevices, device
// state changes are compared as their own sequence only: Asterisk
// publishes them asynchronously, so their place among call events varies
// from capture to capture.
func compareStreams(t *testing.T, want, got []ami.Message, looseDevices bool) {
	t.Helper()
	split := func(ms []ami.Message) (calls, devices []ami.Message) {
		for _, m := range ms {
			if looseDevices && m.Get("Event") == "DeviceStateChange" {
				devices = append(devices, m)
			} else {
				calls = append(calls, m)
			}
		}
		return
	}
	var kept []ami.Message
	for _, m := range got {
		if ami.Simulated(m) {
			kept = append(kept, m)
		}
	}
	wc, wd := split(want)
	gc, gd := split(kept)
	names := func(ms []ami.Message) []string {
		var n []string
		for _, m := range ms {
			n = append(n, m.Get("Event"))
		}
		return n
	}
	if strings.Join(names(wc), ",") != strings.Join(names(gc), ",") {
		t.Fatalf("event sequence differs\nwant %v\ngot  %v", names(wc), names(gc))
	}
	if strings.Join(names(wd), ",") != strings.Join(names(gd), ",") {
		t.Fatalf("device state sequence differs\nwant %v\ngot  %v", names(wd), names(gd))
	}
	chans, ids, bridges := newBijection(), newBijection(), newBijection()
	check := func(i int, w, g ami.Message) {
		ev := w.Get("Event")
		for _, k := range compared {
			if w.Has(k) != g.Has(k) || w.Get(k) != g.Get(k) {
				t.Errorf("event %d %s: %s = %q, want %q", i, ev, k, g.Get(k), w.Get(k))
			}
		}
		for _, k := range []string{"Channel", "DestChannel", "DestinationChannel"} {
			wv, gv := w.Get(k), g.Get(k)
			if endpoint(wv) != endpoint(gv) || !chans.match(wv, gv) {
				t.Errorf("event %d %s: %s = %q, capture has %q", i, ev, k, gv, wv)
			}
		}
		for _, k := range []string{"Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid", "UniqueID"} {
			if !ids.match(w.Get(k), g.Get(k)) {
				t.Errorf("event %d %s: %s = %q does not match capture's %q", i, ev, k, g.Get(k), w.Get(k))
			}
		}
		if !bridges.match(w.Get("BridgeUniqueid"), g.Get("BridgeUniqueid")) {
			t.Errorf("event %d %s: BridgeUniqueid does not match", i, ev)
		}
		if w.Has("Timestamp") != g.Has("Timestamp") {
			t.Errorf("event %d %s: Timestamp presence differs", i, ev)
		}
	}
	for i := range wc {
		check(i, wc[i], gc[i])
	}
	for i := range wd {
		check(i, wd[i], gd[i])
	}
}

func render(evs []pbx.Event) []ami.Message {
	out := make([]ami.Message, len(evs))
	for i, e := range evs {
		out[i] = ami.Render(e, true)
	}
	return out
}

// callOver reports whether the stream ends a call: the trunk's last Cdr
// and device state change are in.
func callOver(cdrs int) func([]pbx.Event) bool {
	return func(evs []pbx.Event) bool {
		return countEvents(evs, "Cdr", "", "") == cdrs &&
			countEvents(evs, "DeviceStateChange", "Device", "PJSIP/trunk") == 2
	}
}

func TestCaptureInboundAnswered(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	caller := e.carrier(t, "udp")
	out, err := caller.Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	in := <-alice.Incoming()
	wait(t, e.ctx, out.Ringing(), "ringing")
	if err := in.Answer(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "answer")
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	evs := e.rec.waitFor(t, "end of call", callOver(1))
	compareStreams(t, readCapture(t, "01_inbound_answered.log"), render(evs), false)
}

func TestCaptureInboundMissed(t *testing.T) {
	e := start(t, func(c *pbx.Config) { c.DIDs[0].RingTimeout = 300 * time.Millisecond })
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	alice.SetPolicy(phone.Policy{Mode: phone.NeverAnswer})
	caller := e.carrier(t, "udp")
	out, err := caller.Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	in := <-alice.Incoming()
	wait(t, e.ctx, out.Done(), "caller's final response")
	if code, _ := out.Status(); code != 480 {
		t.Errorf("caller got %d, want 480", code)
	}
	wait(t, e.ctx, in.Done(), "CANCEL at 101")
	if code, reason := in.Status(); code != 487 || reason != "remote CANCEL" {
		t.Errorf("101 status %d %q, want 487 remote CANCEL", code, reason)
	}
	evs := e.rec.waitFor(t, "end of call", callOver(2))
	compareStreams(t, readCapture(t, "02_inbound_missed.log"), render(evs), true)
}
