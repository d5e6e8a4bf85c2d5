package callcontrol

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/signal"
)

const fixturesDir = "../../../fixtures/3cx-callcontrol"

// step is one line of a flow fixture: a message of the event stream and,
// for a participant's upsert, what GET of its entity answered.
type step struct {
	Message json.RawMessage `json:"message"`
	Get     *Participant    `json:"get"`
}

func loadFlow(t *testing.T, name string) []step {
	t.Helper()
	f, err := os.Open(filepath.Join(fixturesDir, "flows", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []step
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s step
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, s)
	}
	return out
}

func loadTypes(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, "callcontrol.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dns []DNInfo
	if err := json.Unmarshal(b, &dns); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, d := range dns {
		types[d.DN] = d.Type
	}
	return types
}

func newTestTranslator(t *testing.T) *translator {
	types := loadTypes(t)
	return newTranslator(func(dn string) string { return types[dn] }, func(ext string) string { return "Name " + ext }, time.Unix(1796230000, 0))
}

// clock hands out times a second apart, so the model's durations are
// visible.
type clock struct{ t time.Time }

func (c *clock) next() time.Time {
	c.t = c.t.Add(time.Second)
	return c.t
}

// apply runs one step through tr.
func apply(t *testing.T, tr *translator, now time.Time, s step) []signal.Signal {
	t.Helper()
	var m wsMessage
	if err := json.Unmarshal(s.Message, &m); err != nil || m.Event == nil {
		t.Fatalf("step %s: %v", s.Message, err)
	}
	e, err := parseEntity(m.Event.Entity)
	if err != nil || e.kind != "participants" {
		return nil
	}
	if m.Event.EventType == eventRemove || s.Get == nil {
		sigs, _ := tr.remove(now, e.dn, e.id)
		return sigs
	}
	return tr.upsert(now, *s.Get)
}

func replay(t *testing.T, name string) []signal.Signal {
	t.Helper()
	tr := newTestTranslator(t)
	clk := &clock{t: time.Date(2026, 12, 2, 16, 30, 0, 0, time.UTC)}
	var out []signal.Signal
	for _, s := range loadFlow(t, name) {
		out = append(out, apply(t, tr, clk.next(), s)...)
	}
	return out
}

// applyLogged runs one step as the session does: a removal that ends a
// call nobody was seen to answer asks the call log (log) first.
func applyLogged(t *testing.T, tr *translator, now time.Time, s step, log map[int]logAnswer) []signal.Signal {
	t.Helper()
	var m wsMessage
	_ = json.Unmarshal(s.Message, &m)
	var out []signal.Signal
	if e, err := parseEntity(m.Event.Entity); err == nil && e.kind == "participants" && (m.Event.EventType == eventRemove || s.Get == nil) {
		if c := tr.ending(e.dn, e.id); c != nil {
			out = tr.answerUnseen(now, c, log[c.id])
		}
	}
	return append(out, apply(t, tr, now, s)...)
}

// compact renders signals as "Kind endpoint[>peer endpoint]".
func compact(sigs []signal.Signal) []string {
	var out []string
	for _, s := range sigs {
		line := s.Kind.String() + " " + s.Leg.Endpoint
		if s.Peer.Endpoint != "" {
			line += ">" + s.Peer.Endpoint
		}
		switch s.Kind {
		case signal.DialEnded:
			line += " " + s.Outcome.String()
		case signal.QueueJoined, signal.QueueLeft, signal.AgentRinging, signal.AgentAnswered:
			line += " " + s.Queue
		case signal.MenuEntered:
			line += " " + s.Menu
		case signal.Transferred:
			x := s.Transfer
			line = fmt.Sprintf("Transferred kind=%d %s by %s/%s to %s%s", x.Kind, x.Transferee.Endpoint, x.Transferer.Endpoint,
				x.SecondTransferer.Endpoint, x.Target.Endpoint, x.Number)
		}
		out = append(out, line)
	}
	return out
}

// moments runs signals through the call model and renders its call events.
func moments(sigs []signal.Signal) ([]string, int) {
	m := callmodel.New()
	var out []string
	for _, s := range sigs {
		for _, ev := range m.Handle(s) {
			switch ev.Kind {
			case callmodel.Initiated, callmodel.Dialing, callmodel.Ringing, callmodel.Answered, callmodel.Ended, callmodel.FaxReceived:
				x := fmt.Sprintf("%s:%s:%d", ev.Kind, ev.User, ev.ID.Link)
				if ev.Kind == callmodel.Ended && ev.Transferred {
					x += ":transferred"
				}
				switch {
				case ev.Kind != callmodel.Answered:
				case ev.Transfer == callmodel.TransferBlind:
					x += ":blind"
				case ev.Transfer == callmodel.TransferAttended:
					x += ":attended"
				}
				out = append(out, x)
			}
		}
	}
	return out, m.Calls()
}

// Each flow pbxsim plays over 3CX's API becomes the signals of the same
// call flow over AMI, and the model makes the scenario's documented
// moments of them.
func TestTranslateFlows(t *testing.T) {
	for _, tc := range []struct {
		flow    string
		signals []string // nil: not compared
		moments []string
	}{
		{"inbound-answered", []string{
			"LegAppeared line-10000", "LegAppeared 101", "Dialling line-10000>101", "LegAlerting 101",
			"LegAnswered 101", "DialEnded line-10000>101 answered", "LegAnswered line-10000", "LegGone 101", "LegGone line-10000",
		}, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1"}},
		{"outbound-busy", []string{
			"LegAppeared 101", "LegAppeared line-10000", "Dialling 101>line-10000", "DialEnded 101>line-10000 busy",
			"LegGone line-10000", "LegGone 101",
		}, []string{"initiated:101:0", "dialing:101:0", "ended:101:0"}},
		{"blind-transfer", nil, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1:transferred",
			"ringing:102:2", "answered:102:2:blind", "ended:102:2"}},
		{"attended-transfer", nil, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1:transferred",
			"answered:103:2:attended", "ended:103:2"}},
		// Asterisk's transfer features show as 3CX's own transfers: the
		// same moments as the REFER flows above.
		{"attended-transfer-feature", nil, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1:transferred",
			"answered:103:2:attended", "ended:103:2"}},
		// Cancelled (*1): the consultation ends, no transfer.
		{"attended-transfer-feature-cancelled", nil, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1"}},
		{"blind-transfer-feature", nil, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1:transferred",
			"ringing:102:2", "answered:102:2:blind", "ended:102:2"}},
		// The fax extension takes the call and receives its fax; no
		// extension answers.
		{"fax-inbound", []string{
			"LegAppeared line-10000", "LegAnswered line-10000", "FaxReceiving line-10000", "LegGone line-10000",
		}, []string{"initiated::0", "fax-received::0", "ended::0"}},
		{"queue-ringall-answered", nil, []string{"initiated::0", "ringing:101:0", "ringing:102:0", "answered:101:1", "ended:101:1"}},
		{"ivr-menu", nil, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1"}},
		{"queue-blind-transfer", nil, []string{"initiated::0", "ringing:101:0", "ringing:102:0", "answered:101:1",
			"ended:101:1:transferred", "ringing:103:2", "answered:103:2:blind", "ended:103:2"}},
		// The app that reconnected kept its participant: one leg throughout.
		{"mobile-reconnect", []string{
			"LegAppeared line-10000", "LegAppeared 101", "Dialling line-10000>101", "LegAlerting 101",
			"LegAnswered 101", "DialEnded line-10000>101 answered", "LegAnswered line-10000", "LegGone 101", "LegGone line-10000",
		}, []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1"}},
	} {
		t.Run(tc.flow, func(t *testing.T) {
			sigs := replay(t, tc.flow)
			if tc.signals != nil {
				if got := compact(sigs); !slices.Equal(got, tc.signals) {
					t.Errorf("signals\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.signals, "\n  "))
				}
			}
			got, calls := moments(sigs)
			if !slices.Equal(got, tc.moments) {
				t.Errorf("model events %v, want %v", got, tc.moments)
			}
			if calls != 0 {
				t.Errorf("the model still follows %d calls", calls)
			}
			checkLegs(t, sigs)
		})
	}
}

// checkLegs: every leg appears once before anything else is said of it,
// names its call and device, and goes in the end.
func checkLegs(t *testing.T, sigs []signal.Signal) {
	t.Helper()
	appeared, gone := map[string]bool{}, map[string]bool{}
	for i, s := range sigs {
		if s.Leg.ID == "" {
			continue
		}
		switch {
		case s.Kind == signal.LegAppeared:
			if appeared[s.Leg.ID] {
				t.Errorf("signal %d: %s appears twice", i, s.Leg.ID)
			}
			appeared[s.Leg.ID] = true
		case !appeared[s.Leg.ID]:
			t.Errorf("signal %d: %s of %s before it appeared", i, s.Kind, s.Leg.ID)
		case gone[s.Leg.ID]:
			t.Errorf("signal %d: %s of %s after it went", i, s.Kind, s.Leg.ID)
		}
		if s.Kind == signal.LegGone {
			gone[s.Leg.ID] = true
		}
		if s.Leg.Call == "" || s.Leg.Endpoint == "" || s.Leg.CallSeq == 0 {
			t.Errorf("signal %d: %s of %s lacks call, sequence or endpoint: %+v", i, s.Kind, s.Leg.ID, s.Leg)
		}
	}
	for id := range appeared {
		if !gone[id] {
			t.Errorf("leg %s never went", id)
		}
	}
}

// snapshotAt is the PBX's state after the first n steps of a flow: every
// participant as its last GET showed it, less the removed ones.
func snapshotAt(t *testing.T, flow []step, n int) []DNInfo {
	t.Helper()
	state := map[string]Participant{}
	var order []string
	for _, s := range flow[:n] {
		var m wsMessage
		_ = json.Unmarshal(s.Message, &m)
		e, err := parseEntity(m.Event.Entity)
		if err != nil || e.kind != "participants" {
			continue
		}
		k := partKey(e.dn, e.id)
		if m.Event.EventType == eventRemove || s.Get == nil {
			delete(state, k)
			continue
		}
		if _, ok := state[k]; !ok {
			order = append(order, k)
		}
		state[k] = *s.Get
	}
	byDN := map[string]*DNInfo{}
	var out []DNInfo
	for _, k := range order {
		p, ok := state[k]
		if !ok {
			continue
		}
		if byDN[p.DN] == nil {
			out = append(out, DNInfo{DN: p.DN})
			byDN[p.DN] = &out[len(out)-1]
		}
	}
	for _, k := range order {
		if p, ok := state[k]; ok {
			for i := range out {
				if out[i].DN == p.DN {
					out[i].Participants = append(out[i].Participants, p)
				}
			}
		}
	}
	return out
}

// flowNames are the flows of fixtures/3cx-callcontrol/flows the resync
// tests cut. attended-transfer-feature-cancelled is not one of them: for
// the instant between the removal of the transferer's consultation
// participant and the target's, the target is alone in its call with the
// transferer, who talks in another call, as its party, which is how a
// supervisor listening in shows (docs/3cx-callcontrol.md); a resync at
// that instant reports a listen.
var flowNames = []string{"inbound-answered", "blind-transfer", "attended-transfer", "queue-ringall-answered", "ivr-menu", "outbound-busy",
	"queue-blind-transfer", "mobile-reconnect", "attended-transfer-feature", "blind-transfer-feature", "fax-inbound"}

// A resync reports nothing the translator already knows: at every point
// of every flow, reconciling with the PBX's present state says nothing.
func TestResyncRepeatsNothing(t *testing.T) {
	for _, name := range flowNames {
		flow := loadFlow(t, name)
		tr := newTestTranslator(t)
		clk := &clock{t: time.Unix(1796230000, 0)}
		for i, s := range flow {
			apply(t, tr, clk.next(), s)
			if sigs, ended := tr.resync(clk.next(), snapshotAt(t, flow, i+1), nil); len(sigs) > 0 || len(ended) > 0 {
				t.Errorf("%s after step %d: resync reported %v", name, i+1, compact(sigs))
			}
		}
	}
}

// A connection lost for a stretch of a flow and a resync at its end: the
// model's events are the uninterrupted flow's, less moments that began
// and ended while away (3CX shows only the present; a transfer unseen
// leaves the link numbers behind); none comes twice, none is made up (a
// call answered while away is never reported missed, the call log saying
// who answered), and every call ends.
func TestResyncAfterLoss(t *testing.T) {
	for _, name := range flowNames {
		flow := loadFlow(t, name)
		full, _ := moments(replay(t, name))
		log := answeredIn(t, flow)
		for from := 1; from < len(flow); from++ {
			for to := from + 1; to <= len(flow); to++ {
				tr := newTestTranslator(t)
				clk := &clock{t: time.Unix(1796230000, 0)}
				var sigs []signal.Signal
				for _, s := range flow[:from] {
					sigs = append(sigs, apply(t, tr, clk.next(), s)...)
				}
				answeredBy := map[int]logAnswer{}
				for _, id := range tr.goneCalls(snapshotAt(t, flow, to)) {
					answeredBy[id] = log[id]
				}
				re, _ := tr.resync(clk.next(), snapshotAt(t, flow, to), answeredBy)
				sigs = append(sigs, re...)
				for _, s := range flow[to:] {
					sigs = append(sigs, applyLogged(t, tr, clk.next(), s, log)...)
				}
				got, calls := moments(sigs)
				where := fmt.Sprintf("%s, away for steps %d-%d", name, from+1, to)
				if calls != 0 {
					t.Errorf("%s: the model still follows %d calls", where, calls)
				}
				if extra := notIn(got, full); len(extra) > 0 {
					t.Errorf("%s: events %v: %v are not the uninterrupted flow's %v", where, got, extra, full)
				}
				checkLegs(t, sigs)
			}
		}
	}
}

// answeredIn is what pbxsim's call log says of a flow's calls: the DN
// that answered each, its first participant other than the call's first
// to be connected, queues and menus left out, with its number.
func answeredIn(t *testing.T, flow []step) map[int]logAnswer {
	types := loadTypes(t)
	first, out := map[int]string{}, map[int]logAnswer{}
	for _, s := range flow {
		p := s.Get
		if p == nil || (types[p.DN] != typeExtension && types[p.DN] != typeExternalLine) {
			continue
		}
		key := partKey(p.DN, p.ID)
		if _, ok := first[p.CallID]; !ok {
			first[p.CallID] = key
		}
		if _, done := out[p.CallID]; !done && p.Status == statusConnected && first[p.CallID] != key {
			a := logAnswer{DN: p.DN, Number: p.DN}
			if types[p.DN] == typeExternalLine {
				a.Number = p.PartyCallerID
			}
			out[p.CallID] = a
		}
	}
	return out
}

// notIn lists the events of got that full cannot account for: more of a
// kind and user than full has, or an end before any answer (link 0) where
// full's call was answered.
func notIn(got, full []string) []string {
	count := map[string]int{}
	answered := false
	key := func(e string) string {
		parts := strings.SplitN(e, ":", 3)
		return parts[0] + ":" + parts[1]
	}
	for _, e := range full {
		count[key(e)]++
		answered = answered || strings.HasPrefix(e, "answered:")
	}
	var extra []string
	for _, e := range got {
		k := key(e)
		if count[k] == 0 || (answered && strings.HasPrefix(e, "ended:") && strings.HasSuffix(strings.SplitN(e, ":", 4)[2], "0")) {
			extra = append(extra, e)
			continue
		}
		count[k]--
	}
	return extra
}

// An outbound call whose external line participant the connector never
// read (every GET of it came after it was gone, as under load): the call
// log's answer stands in for it, and the model still learns the number
// the call went to, from the log or else from the extension's party.
func TestAnswerUnseenOutbound(t *testing.T) {
	// 101 dialling out on line 10000, as GET answered it (the party is the
	// number dialled).
	dialling := Participant{ID: 1, Status: statusDialing, DN: "101", PartyDN: "10000", PartyCallerID: "12125550199",
		PartyDNType: typeExternalLine, CallID: 1}
	for _, tc := range []struct {
		name  string
		first Participant
		log   logAnswer
		want  string
	}{
		{"the log's number", dialling, logAnswer{DN: "10000", Number: "12125550199"}, "12125550199"},
		{"no number in the log: the extension's party", dialling, logAnswer{DN: "10000"}, "12125550199"},
		{"the log's number over what the extension dialled", Participant{ID: 1, Status: statusDialing, DN: "101",
			PartyCallerID: "912125550199", CallID: 1}, logAnswer{DN: "10000", Number: "12125550199"}, "12125550199"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTranslator(t)
			clk := &clock{t: time.Unix(1796230000, 0)}
			sigs := tr.upsert(clk.next(), tc.first)
			// The line's participant: upserted, removed, its GET a 404.
			gone, _ := tr.remove(clk.next(), "10000", 2)
			sigs = append(sigs, gone...)
			c := tr.ending("101", 1)
			if c == nil {
				t.Fatalf("removing 101's participant does not end an unanswered call")
			}
			sigs = append(sigs, tr.answerUnseen(clk.next(), c, tc.log)...)
			gone, _ = tr.remove(clk.next(), "101", 1)
			sigs = append(sigs, gone...)

			var dialled []string
			for _, s := range sigs {
				if s.Kind == signal.Dialling {
					dialled = append(dialled, s.Leg.Endpoint+">"+s.Peer.Endpoint+" "+s.Number)
				}
			}
			if want := []string{"101>line-10000 " + tc.want}; !slices.Equal(dialled, want) {
				t.Errorf("Dialling signals %q, want %q (all: %v)", dialled, want, compact(sigs))
			}
			m := callmodel.New()
			var got []string
			for _, s := range sigs {
				for _, ev := range m.Handle(s) {
					got = append(got, fmt.Sprintf("%s:%s:%s:%s", ev.Kind, ev.Direction, ev.User, ev.External))
				}
			}
			want := []string{"initiated:outbound:101:" + tc.want, "dialing:outbound:101:" + tc.want,
				"answered:outbound:101:" + tc.want, "ended:outbound:101:" + tc.want}
			if !slices.Equal(got, want) {
				t.Errorf("model events\n %q, want\n %q", got, want)
			}
		})
	}
}

func TestParseEntity(t *testing.T) {
	for _, tc := range []struct {
		path string
		want entity
		err  string
	}{
		{"/callcontrol/101/participants/12", entity{dn: "101", kind: "participants", id: 12}, ""},
		{"/callcontrol/105", entity{dn: "105"}, ""},
		{"/callcontrol/101/devices/sip:101@10.0.0.2", entity{dn: "101", kind: "devices"}, ""},
		{"/callcontrol/101/participants/x", entity{}, `entity "/callcontrol/101/participants/x"`},
		{"/xapi/v1/Users", entity{}, "not under /callcontrol/{dn}"},
		{"/callcontrol/101/calls/3", entity{}, "want /callcontrol/{dn}/participants/{id}"},
		{"/callcontrol/101/participants/3/stream", entity{}, "unknown path"},
		{"", entity{}, "not under"},
	} {
		got, err := parseEntity(tc.path)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("parseEntity(%q): %v", tc.path, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseEntity(%q) error %v, want one saying %q", tc.path, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("parseEntity(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

func TestWireDecoding(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixturesDir, "ws-messages.json"))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []wsMessage
	if err := json.Unmarshal(b, &msgs); err != nil {
		t.Fatal(err)
	}
	var kinds []eventType
	for _, m := range msgs {
		kinds = append(kinds, m.Event.EventType)
	}
	if want := []eventType{eventUpsert, eventRemove, eventUpsert, eventResponse}; !slices.Equal(kinds, want) {
		t.Errorf("event types %v, want %v", kinds, want)
	}
	var r wsResponse
	if err := json.Unmarshal(msgs[3].Event.AttachedData, &r); err != nil || r.id() != "callhook-sync:3" {
		t.Errorf("response %+v %v, want request callhook-sync:3", r, err)
	}
	for in, want := range map[string]eventType{`0`: eventUpsert, `"Upsert"`: eventUpsert, `"remove"`: eventRemove, `4`: eventResponse, `"DTMFstring"`: eventDTMF} {
		var et eventType
		if err := json.Unmarshal([]byte(in), &et); err != nil || et != want {
			t.Errorf("event_type %s: %v %v, want %v", in, et, err, want)
		}
	}
	for _, in := range []string{`"Sideways"`, `{}`, `true`} {
		var et eventType
		if err := json.Unmarshal([]byte(in), &et); err == nil {
			t.Errorf("event_type %s decoded", in)
		}
	}
	var mc struct {
		Response callControlResult `json:"response"`
	}
	b, _ = os.ReadFile(filepath.Join(fixturesDir, "makecall.json"))
	if err := json.Unmarshal(b, &mc); err != nil || mc.Response.FinalStatus != 1 || mc.Response.Result == nil || mc.Response.Result.CallID != 4 {
		t.Errorf("makecall answer %+v %v", mc.Response, err)
	}
	for in, want := range map[string]finalStatus{`1`: 1, `"Success"`: 1, `"Failed"`: -1, `-1`: -1, `"Rejected"`: 0} {
		var f finalStatus
		if err := json.Unmarshal([]byte(in), &f); err != nil || f != want {
			t.Errorf("finalstatus %s: %v %v", in, f, err)
		}
	}
}

// A removal of a participant the translator never saw, and an upsert of
// a DN it does not follow, say nothing.
func TestTranslateUnknown(t *testing.T) {
	tr := newTestTranslator(t)
	if sigs, ended := tr.remove(time.Now(), "101", 99); sigs != nil || ended != nil {
		t.Errorf("removal of an unknown participant: %v %v", sigs, ended)
	}
	if sigs := tr.upsert(time.Now(), Participant{ID: 5, DN: "900", Status: statusConnected, CallID: 3}); sigs != nil {
		t.Errorf("route point participant: %v", compact(sigs))
	}
}

func TestForwardingOf(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixturesDir, "xapi-users.json"))
	if err != nil {
		t.Fatal(err)
	}
	var users odataCollection[xapiUser]
	if err := json.Unmarshal(b, &users); err != nil || len(users.Value) == 0 {
		t.Fatalf("users: %v", err)
	}
	u := users.Value[0]
	if got := forwardingOf(u); got != "" {
		t.Errorf("Available profile: forwarding to %q", got)
	}
	u.CurrentProfileName = "Away"
	if got := forwardingOf(u); got != "" {
		t.Errorf("Away to voicemail: forwarding to %q", got)
	}
	for i := range u.ForwardingProfiles {
		if u.ForwardingProfiles[i].Name == "Away" {
			u.ForwardingProfiles[i].AwayRoute.External = &xapiDestination{To: "External", External: "12125550199"}
		}
	}
	if got := forwardingOf(u); got != "12125550199" {
		t.Errorf("Away to a number: forwarding to %q", got)
	}
}

func TestStatusDiff(t *testing.T) {
	old := config{users: map[string]userState{"101": {name: "Alice", loggedIn: true}, "102": {name: "Bob", loggedIn: true}},
		queues: map[string]map[string]string{"800": {"101": "Alice"}}}
	cur := config{users: map[string]userState{"101": {name: "Alice", loggedIn: false}, "103": {name: "Carol", loggedIn: true},
		"102": {name: "Bob", loggedIn: true, forwardTo: "104"}}, queues: map[string]map[string]string{"800": {"102": "Bob"}}}
	var got []string
	for _, s := range diff(time.Now(), old, cur) {
		got = append(got, fmt.Sprintf("%s %s%s on=%v %s", s.Kind, s.Status.Extension, s.Member.Endpoint, s.Status.On, s.Status.Destination))
	}
	want := []string{"QueueLoginChanged 101 on=false ", "ForwardingChanged 102 on=true 104", "ExtensionCreated 103 on=false ",
		"MemberAdded 102 on=false ", "MemberRemoved 101 on=false "}
	if !slices.Equal(got, want) {
		t.Errorf("diff\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if s := diff(time.Now(), cur, cur); len(s) != 0 {
		t.Errorf("no change reported %v", s)
	}
}
