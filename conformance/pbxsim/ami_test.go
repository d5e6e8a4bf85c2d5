package pbxsim_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/callhook/callhook/pbxsim/ami"
)

// AMI expectations (fixtures/sip/ami.yaml): per scenario either a real
// Asterisk 22 capture of the same flow, compared event by event, or a
// hand-written list of key events.

// AMIExpect is one scenario's entry.
type AMIExpect struct {
	Capture string `yaml:"capture"`
	// Events are key events in order; an entry that is itself a list
	// holds events of concurrent legs, in any order among themselves
	// (one channel's events keep their order).
	Events []yaml.Node `yaml:"events"`
	// Cdrs are the Cdr events in order; cdr_manager posts them
	// asynchronously, so their place among call events is not compared.
	Cdrs []string `yaml:"cdrs"`
	// Real is a real Asterisk capture of the scenario the Events must
	// hold for too.
	Real string `yaml:"real"`
}

func loadAMI() (map[string]AMIExpect, error) {
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "sip", "ami.yaml"))
	if err != nil {
		return nil, err
	}
	var f struct {
		Scenarios map[string]AMIExpect `yaml:"scenarios"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("fixtures/sip/ami.yaml: %w", err)
	}
	return f.Scenarios, nil
}

// keyEvents are the event types a hand-written list is held to; the rest
// (Newexten, VarSet, NewConnectedLine, Newstate, DialState, bridge
// lifecycle, hangup requests, device and member states) are compared
// only where a capture exists.
var keyEvents = map[string]bool{
	"Newchannel": true, "DialBegin": true, "DialEnd": true, "BridgeEnter": true, "Hangup": true,
	"Hold": true, "Unhold": true, "BlindTransfer": true, "AttendedTransfer": true,
	"QueueCallerJoin": true, "QueueCallerLeave": true, "QueueCallerAbandon": true,
	"AgentCalled": true, "AgentRingNoAnswer": true, "AgentConnect": true, "AgentComplete": true,
	"QueueMemberAdded": true, "QueueMemberRemoved": true, "QueueMemberPause": true,
	"ChanSpyStart": true, "ChanSpyStop": true, "UserEvent": true, "MixMonitorStart": true,
	"FAXStatus": true, "ReceiveFAX": true,
	"LocalBridge": true, "LocalOptimizationBegin": true, "LocalOptimizationEnd": true,
}

// keyEvent is one parsed line: "Event [chan [dest]] Key=Value ...";
// bare words are Channel and DestChannel (DestinationChannel for Cdr)
// endpoints; a value may be quoted. Fields ending in "Channel", and
// Interface, are compared as endpoints (PJSIP/101-0000000a is 101).
type keyEvent struct {
	text   string
	fields [][2]string
}

func parseKeyEvent(s string) (keyEvent, error) {
	toks, err := tokens(s)
	if err != nil || len(toks) == 0 {
		return keyEvent{}, fmt.Errorf("event %q: %v", s, err)
	}
	ev := keyEvent{text: s, fields: [][2]string{{"Event", toks[0]}}}
	bare := 0
	for _, t := range toks[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			key := "Channel"
			if bare == 1 {
				key = "DestChannel"
				if toks[0] == "Cdr" {
					key = "DestinationChannel"
				}
			}
			bare++
			ev.fields = append(ev.fields, [2]string{key, t})
			continue
		}
		ev.fields = append(ev.fields, [2]string{k, v})
	}
	return ev, nil
}

func tokens(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, any = !quoted, true
		case r == ' ' && !quoted:
			if any {
				out = append(out, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	if any {
		out = append(out, cur.String())
	}
	return out, nil
}

// endpoint is a channel's device without the technology and sequence:
// PJSIP/101-0000000a is 101; a Local channel keeps its technology and
// half, Local/103@from-internal-00000003;1 is Local/103@from-internal;1.
func endpoint(ch string) string {
	if base, half, ok := strings.Cut(ch, ";"); ok && strings.HasPrefix(ch, "Local/") {
		if i := strings.LastIndexByte(base, '-'); i > 0 && len(base)-i == 9 {
			base = base[:i]
		}
		return base + ";" + half
	}
	ch = strings.TrimPrefix(ch, "PJSIP/")
	if i := strings.LastIndexByte(ch, '-'); i > 0 && len(ch)-i == 9 {
		ch = ch[:i]
	}
	return ch
}

func (e keyEvent) matches(m ami.Message) bool {
	for _, f := range e.fields {
		got := m.Get(f[0])
		if strings.HasSuffix(f[0], "Channel") || f[0] == "Interface" {
			got = endpoint(got)
		}
		if got != f[1] {
			return false
		}
	}
	return true
}

// leg is the channel an event is about: the dialled one for dial and
// agent events, else Channel.
func (e keyEvent) leg() string {
	ch := ""
	for _, f := range e.fields {
		switch f[0] {
		case "DestChannel":
			return f[1]
		case "Channel":
			ch = f[1]
		}
	}
	return ch
}

func legOf(m ami.Message) string {
	if m.Has("DestChannel") {
		return endpoint(m.Get("DestChannel"))
	}
	return endpoint(m.Get("Channel"))
}

// matchKeyEvents holds pbxsim's stream to a hand-written expectation:
// its key events (Cdr aside) in the listed order, concurrent groups in
// any order that keeps each channel's own order; its Cdr events in the
// listed order.
func matchKeyEvents(want AMIExpect, got []ami.Message) error {
	var groups [][]keyEvent
	for _, n := range want.Events {
		var lines []string
		switch n.Kind {
		case yaml.ScalarNode:
			lines = []string{n.Value}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				lines = append(lines, c.Value)
			}
		default:
			return fmt.Errorf("events: line %d: want a string or a list of strings", n.Line)
		}
		var g []keyEvent
		for _, l := range lines {
			e, err := parseKeyEvent(l)
			if err != nil {
				return err
			}
			g = append(g, e)
		}
		groups = append(groups, g)
	}
	var calls, cdrs []ami.Message
	for _, m := range got {
		switch ev := m.Get("Event"); {
		case ev == "Cdr":
			cdrs = append(cdrs, m)
		case keyEvents[ev]:
			calls = append(calls, m)
		}
	}
	i := 0
	for gi, g := range groups {
		if i+len(g) > len(calls) {
			return fmt.Errorf("stream ends before %q\n%s", g[0].text, listEvents(calls))
		}
		seg := calls[i : i+len(g)]
		used := make([]bool, len(seg))
		for _, e := range g {
			// e takes the first unused event of its channel.
			k := -1
			for j, m := range seg {
				if !used[j] && (len(g) == 1 || legOf(m) == e.leg()) {
					k = j
					break
				}
			}
			if k < 0 || !e.matches(seg[k]) {
				return fmt.Errorf("event %d: want %q\n%s", gi+1, e.text, listEvents(calls))
			}
			used[k] = true
		}
		i += len(g)
	}
	if i < len(calls) {
		return fmt.Errorf("unexpected events from %d on\n%s", i+1, listEvents(calls))
	}
	if want.Cdrs == nil {
		return nil
	}
	if len(cdrs) != len(want.Cdrs) {
		return fmt.Errorf("%d Cdr events, want %d\n%s", len(cdrs), len(want.Cdrs), listEvents(cdrs))
	}
	for k, s := range want.Cdrs {
		e, err := parseKeyEvent(s)
		if err != nil {
			return err
		}
		if !e.matches(cdrs[k]) {
			return fmt.Errorf("Cdr %d: want %q\n%s", k+1, s, listEvents(cdrs))
		}
	}
	return nil
}

// listEvents shows a stream the way the fixture writes it, for failures.
func listEvents(ms []ami.Message) string {
	var b strings.Builder
	for i, m := range ms {
		fmt.Fprintf(&b, "  %2d %s %s", i+1, m.Get("Event"), endpoint(m.Get("Channel")))
		for _, k := range []string{"DestChannel", "DestinationChannel", "TransfererChannel", "SpyeeChannel", "Interface"} {
			if m.Has(k) {
				fmt.Fprintf(&b, " %s=%s", k, endpoint(m.Get(k)))
			}
		}
		for _, k := range []string{"DialStatus", "Cause", "Disposition", "Queue", "Result", "Extension", "Paused", "PausedReason", "UserEvent"} {
			if m.Has(k) {
				fmt.Fprintf(&b, " %s=%q", k, m.Get(k))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// readCapture returns a capture's messages after the banner.
func readCapture(name string) ([]ami.Message, error) {
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ms, err := ami.ReadSession(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return ms, nil
}

// capturedFields are held equal between capture and simulation.
var capturedFields = []string{
	"ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName",
	"Context", "Exten", "Priority", "DestChannelState", "DestCallerIDNum", "DestContext", "DestExten",
	"DialStatus", "DialString", "Cause", "Cause-txt", "Extension", "Application", "Device", "State",
	"BridgeType", "BridgeTechnology", "BridgeNumChannels", "Source", "Destination", "DestinationContext",
	"CallerID", "LastApplication", "Disposition", "AMAFlags", "Queue", "Interface", "MemberName",
	"Position", "Count",
}

// bijection maps the capture's ids to the simulation's one to one.
type bijection struct{ fwd, back map[string]string }

func (b *bijection) match(want, got string) bool {
	if b.fwd == nil {
		b.fwd, b.back = map[string]string{}, map[string]string{}
	}
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

// compareCapture holds got to a capture: the same events in the same
// order with the same key fields, channels, Uniqueids and bridges mapped
// one to one. Device state changes and Cdrs are compared as sequences of
// their own: Asterisk publishes them asynchronously.
func compareCapture(capture string, got []ami.Message) error {
	all, err := readCapture(capture)
	if err != nil {
		return err
	}
	split := func(ms []ami.Message) (calls, side []ami.Message) {
		for _, m := range ms {
			if !ami.Simulated(m) {
				continue
			}
			if ev := m.Get("Event"); ev == "DeviceStateChange" || ev == "Cdr" {
				side = append(side, m)
			} else {
				calls = append(calls, m)
			}
		}
		return
	}
	wc, ws := split(all)
	gc, gs := split(got)
	// Per leg: the leg's raw channel name, in order of first appearance
	// per endpoint, so the n-th 101 channel of one stream is the n-th of
	// the other.
	byLeg := func(ms []ami.Message) map[string][]ami.Message {
		out := map[string][]ami.Message{}
		nth := map[string]int{}
		name := map[string]string{}
		for _, m := range ms {
			raw := m.Get("DestChannel")
			if raw == "" {
				raw = m.Get("Channel")
			}
			if m.Get("Event") == "DialState" {
				// Published on the dial topic: before or after the
				// dialled channel's Newstate (capture 06 has both).
				raw = "DialState " + raw
			}
			k, ok := name[raw]
			if !ok {
				ep := endpoint(raw)
				k = fmt.Sprintf("%s#%d", ep, nth[ep])
				nth[ep]++
				name[raw] = k
			}
			out[k] = append(out[k], m)
		}
		return out
	}
	names := func(ms []ami.Message) string {
		var n []string
		for _, m := range ms {
			n = append(n, m.Get("Event"))
		}
		return strings.Join(n, " ")
	}
	wl, gl := byLeg(wc), byLeg(gc)
	if len(wl) != len(gl) {
		return fmt.Errorf("%d legs, %s has %d\nwant %s\ngot  %s", len(gl), capture, len(wl), names(wc), names(gc))
	}
	var pairs [][2]ami.Message
	for k, w := range wl {
		g := gl[k]
		if names(w) != names(g) {
			return fmt.Errorf("leg %s: event sequence differs from %s\nwant %s\ngot  %s", k, capture, names(w), names(g))
		}
		for i := range w {
			pairs = append(pairs, [2]ami.Message{w[i], g[i]})
		}
	}
	// Device states per device, Cdrs in order.
	side := func(ms []ami.Message) map[string][]string {
		out := map[string][]string{}
		for _, m := range ms {
			if m.Get("Event") == "Cdr" {
				out["Cdr"] = append(out["Cdr"], m.Get("Disposition")+" "+endpoint(m.Get("Channel"))+">"+endpoint(m.Get("DestinationChannel")))
				continue
			}
			out[m.Get("Device")] = append(out[m.Get("Device")], m.Get("State"))
		}
		return out
	}
	if w, g := fmt.Sprint(side(ws)), fmt.Sprint(side(gs)); w != g {
		return fmt.Errorf("device states or Cdrs differ from %s\nwant %s\ngot  %s", capture, w, g)
	}
	var chans, ids, bridges bijection
	var errs []string
	for i, p := range pairs {
		w, g := p[0], p[1]
		ev := w.Get("Event")
		for _, k := range capturedFields {
			if ev == "DialState" && k == "DestChannelState" {
				continue // follows where the DialState fell (see byLeg)
			}
			if w.Has(k) != g.Has(k) || w.Get(k) != g.Get(k) {
				errs = append(errs, fmt.Sprintf("event %d %s: %s = %q, capture has %q", i+1, ev, k, g.Get(k), w.Get(k)))
			}
		}
		for _, k := range []string{"Channel", "DestChannel", "DestinationChannel"} {
			if endpoint(w.Get(k)) != endpoint(g.Get(k)) || !chans.match(w.Get(k), g.Get(k)) {
				errs = append(errs, fmt.Sprintf("event %d %s: %s = %q, capture has %q", i+1, ev, k, g.Get(k), w.Get(k)))
			}
		}
		for _, k := range []string{"Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid"} {
			if !ids.match(w.Get(k), g.Get(k)) {
				errs = append(errs, fmt.Sprintf("event %d %s: %s = %q does not map to the capture's %q", i+1, ev, k, g.Get(k), w.Get(k)))
			}
		}
		if !bridges.match(w.Get("BridgeUniqueid"), g.Get("BridgeUniqueid")) {
			errs = append(errs, fmt.Sprintf("event %d %s: BridgeUniqueid does not map to the capture's", i+1, ev))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("differs from %s:\n%s", capture, strings.Join(errs, "\n"))
	}
	return nil
}

func scalar(s string) yaml.Node { return yaml.Node{Kind: yaml.ScalarNode, Value: s} }
func seq() *yaml.Node           { return &yaml.Node{Kind: yaml.SequenceNode} }
