package callcontrol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/pbxsim/callcontrol"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// recordFlows rewrites fixtures/3cx-callcontrol/flows from what a client
// of the front-end sees (go test ./pbxsim/callcontrol -run TestFlow
// -record-flows): every flow there, each played again. They play in real
// time then, as the conformance suite does: sped up, a client misses
// states shorter than its GET (a phone ringing for 0.3 s).
var recordFlows = flag.Bool("record-flows", false, "rewrite fixtures/3cx-callcontrol/flows, each scenario played in real time")

const flowsDir = "../../fixtures/3cx-callcontrol/flows"

// flowStep is one message of the event stream and, for a participant's
// upsert, what GET of its entity answered right after: a line of a
// fixtures/3cx-callcontrol/flows file.
type flowStep struct {
	Get     *callcontrol.Participant `json:"get,omitempty"`
	Message callcontrol.WSMessage    `json:"message"`
	at      time.Time                // when the client had it
}

func (s flowStep) String() string {
	if s.Message.Event.EventType == callcontrol.EventRemove {
		return "remove " + s.Message.Event.Entity
	}
	if s.Get == nil {
		return "upsert " + s.Message.Event.Entity + " (gone)"
	}
	p := s.Get
	out := fmt.Sprintf("upsert %s/%d %s call %d party %s", p.DN, p.ID, p.Status, p.CallID, p.PartyDN)
	if p.ReferredByDN != "" {
		out += " referred by " + p.ReferredByDN
	}
	return out
}

// playFlow plays a built-in scenario on s while a client follows the
// event stream as the connector does (each participant's upsert is
// followed by GET of it, in order), and returns what it saw up to the
// sync barrier after the scenario.
func playFlow(t *testing.T, name string) []flowStep {
	t.Helper()
	speed := 10.0
	if *recordFlows {
		speed = 1
	}
	s, err := sim.Start(t.Context(), sim.Config{Speed: speed, ThreeCXAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cc := s.ThreeCX()
	_, tok, _ := token(t, cc, cc.ClientSecret())
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + tok.AccessToken}})}
	conn, _, _, err := d.Dial(context.Background(), strings.Replace(cc.URL(), "http://", "ws://", 1)+"/callcontrol/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var (
		mu    sync.Mutex
		steps []flowStep
		syncs []string
	)
	go func() {
		for {
			b, _, err := wsutil.ReadServerData(conn)
			if err != nil {
				return
			}
			var m callcontrol.WSMessage
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			if m.Event.EventType == callcontrol.EventResponse {
				mu.Lock()
				if m.Event.AttachedData != nil {
					syncs = append(syncs, m.Event.AttachedData.RequestID)
				}
				mu.Unlock()
				continue
			}
			if !strings.Contains(m.Event.Entity, "/participants/") {
				continue
			}
			st := flowStep{Message: m, at: time.Now()}
			if m.Event.EventType == callcontrol.EventUpsert {
				var p callcontrol.Participant
				req, _ := http.NewRequest(http.MethodGet, cc.URL()+m.Event.Entity, nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				if res, err := http.DefaultClient.Do(req); err == nil {
					if res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&p) == nil {
						st.Get = &p
					}
					res.Body.Close()
				}
			}
			mu.Lock()
			steps = append(steps, st)
			mu.Unlock()
		}
	}()
	sc, err := scenarios.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.Play(ctx, sc); err != nil {
		t.Fatalf("play %s: %v", name, err)
	}
	barrier, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, "the barrier "+barrier+" after "+name+" on the event stream", func() string {
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(syncs, "callhook-sync:"+barrier) {
			return ""
		}
		return fmt.Sprintf("%d participant events so far, barriers %v", len(steps), syncs)
	})
	mu.Lock()
	defer mu.Unlock()
	if *recordFlows {
		var buf bytes.Buffer
		for _, st := range steps {
			b, _ := json.Marshal(st)
			buf.Write(b)
			buf.WriteByte('\n')
		}
		path := filepath.Join(flowsDir, name+".jsonl")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return slices.Clone(steps)
}

// TestFlowRecord plays, with -record-flows, every flow of the fixtures
// that no test below plays, and rewrites it.
func TestFlowRecord(t *testing.T) {
	if !*recordFlows {
		t.Skip("rewrites fixtures/3cx-callcontrol/flows with -record-flows")
	}
	files, err := filepath.Glob(filepath.Join(flowsDir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		if slices.Contains([]string{"blind-transfer", "queue-blind-transfer", "blind-transfer-feature", "mobile-reconnect",
			"attended-transfer-feature", "attended-transfer-feature-cancelled", "fax-inbound"}, name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			playFlow(t, name)
		})
	}
}

// index is the position of the first step f accepts, or -1.
func index(steps []flowStep, f func(flowStep) bool) int {
	return slices.IndexFunc(steps, f)
}

func upsertOf(dn string) func(flowStep) bool {
	return func(s flowStep) bool { return s.Get != nil && s.Get.DN == dn }
}

func removalOf(dn string) func(flowStep) bool {
	return func(s flowStep) bool {
		return s.Message.Event.EventType == callcontrol.EventRemove && strings.HasPrefix(s.Message.Event.Entity, "/callcontrol/"+dn+"/")
	}
}

func render(steps []flowStep) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString("\n\t" + s.String())
	}
	return b.String()
}

// What the front-end shows of a blind transfer is 3CX's view, whatever
// order the PBX core reports it in (Asterisk hangs the transferer up
// before it dials the target): the target's new participant, referred by
// the transferring extension, appears while the transferer's is still in
// the call, and the transferer's goes after it. Asterisk's own blind
// transfer feature (##) shows as the REFER does.
func TestFlowBlindTransfer(t *testing.T) {
	for _, tc := range []struct{ scenario, transferer, target string }{
		{"blind-transfer", "101", "102"},
		{"queue-blind-transfer", "101", "103"},
		{"blind-transfer-feature", "101", "102"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			steps := playFlow(t, tc.scenario)
			appear := index(steps, upsertOf(tc.target))
			gone := index(steps, removalOf(tc.transferer))
			if appear < 0 || gone < 0 {
				t.Fatalf("no participant of %s, or no removal of %s's:%s", tc.target, tc.transferer, render(steps))
			}
			if p := steps[appear].Get; p.ReferredByDN != tc.transferer || p.ReferredByType != callcontrol.TypeExtension {
				t.Errorf("%s's participant is referred by %q (%s), want %s (%s)", tc.target, p.ReferredByDN, p.ReferredByType,
					tc.transferer, callcontrol.TypeExtension)
			}
			if gone < appear {
				t.Errorf("%s's participant went before %s's appeared:%s", tc.transferer, tc.target, render(steps))
			}
		})
	}
}

// A mobile app that reconnects (an INVITE with Replaces) keeps its
// participant: the extension has one participant throughout the call,
// removed once, when the call ends.
func TestFlowMobileReconnect(t *testing.T) {
	steps := playFlow(t, "mobile-reconnect")
	// The scenario talks 8 s before the reconnect and 10 s after it: the
	// participant goes 18 s (1.8 s at the simulator's speed of 10) after
	// its answer at the earliest, and 8 s after it if it went with the
	// lost leg.
	talked := 1300 * time.Millisecond
	if *recordFlows {
		talked *= 10
	}
	ids := map[int]bool{}
	for _, s := range steps {
		if s.Get != nil && s.Get.DN == "101" {
			ids[s.Get.ID] = true
		}
	}
	removals := 0
	for _, s := range steps {
		if removalOf("101")(s) {
			removals++
		}
	}
	if len(ids) != 1 || removals != 1 {
		t.Errorf("101 had participants %v, removed %d times; want one, removed once:%s", ids, removals, render(steps))
	}
	answered := index(steps, func(s flowStep) bool { return upsertOf("101")(s) && s.Get.Status == callcontrol.StatusConnected })
	gone := index(steps, removalOf("101"))
	if answered < 0 || gone < 0 {
		t.Fatalf("101's participant was not seen answered and removed:%s", render(steps))
	}
	if d := steps[gone].at.Sub(steps[answered].at); d < talked {
		t.Errorf("101's participant went %s after its answer, before the conversation after the reconnect:%s", d, render(steps))
	}
}

// Asterisk's attended transfer feature (*2) dials the target through a
// Local channel pair, which 3CX does not have: the front-end shows what
// 3CX shows of an attended transfer. The transferer's device calls the
// target in a call of its own (a second participant of the transferer's
// DN, whose party is the target, and the target's participant, whose
// party is the transferer); completed, the target's participant moves
// into the caller's call, referred by the transferer, with the caller as
// its party, and then both of the transferer's participants go;
// cancelled (*1), the target's participant goes without moving. No
// other DN takes part.
func TestFlowAttendedTransferFeature(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		completes bool
	}{
		{"attended-transfer-feature", true},
		{"attended-transfer-feature-cancelled", false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			steps := playFlow(t, tc.scenario)
			if len(steps) == 0 || steps[0].Get == nil || steps[0].Get.DN != callcontrol.DefaultTrunkDN {
				t.Fatalf("the call does not start with the line's participant:%s", render(steps))
			}
			call := steps[0].Get.CallID
			calls := map[string]map[int]int{} // DN → participant → its first call
			for _, s := range steps {
				p := s.Get
				if p == nil {
					continue
				}
				if p.DN != callcontrol.DefaultTrunkDN && p.DN != "101" && p.DN != "103" {
					t.Errorf("a participant of %s:%s", p.DN, render(steps))
				}
				if calls[p.DN] == nil {
					calls[p.DN] = map[int]int{}
				}
				if _, ok := calls[p.DN][p.ID]; !ok {
					calls[p.DN][p.ID] = p.CallID
				}
			}
			consult := 0
			for _, c := range calls["101"] {
				if c != call {
					consult = c
				}
			}
			if len(calls["101"]) != 2 || consult == 0 || len(calls["103"]) != 1 {
				t.Fatalf("101 has participants in calls %v, 103 in %v; want 101 in the caller's call and a consultation, 103 once:%s",
					calls["101"], calls["103"], render(steps))
			}
			dialled := index(steps, upsertOf("103"))
			if p := steps[dialled].Get; p.CallID != consult || p.PartyDN != "101" {
				t.Errorf("103 first shows in call %d with party %q, want the consultation %d with 101:%s", p.CallID, p.PartyDN, consult, render(steps))
			}
			moved := index(steps, func(s flowStep) bool { return upsertOf("103")(s) && s.Get.CallID == call })
			gone := index(steps, removalOf("103"))
			if !tc.completes {
				if moved >= 0 {
					t.Errorf("103's participant joined the caller's call though the transfer was cancelled:%s", render(steps))
				}
				// 101 is back with the caller: its participant in the
				// caller's call outlives the consultation.
				back := index(steps, func(s flowStep) bool {
					return removalOf("101")(s) && s.Message.Event.Entity == steps[index(steps, upsertOf("101"))].Message.Event.Entity
				})
				if gone < 0 || back < gone {
					t.Errorf("103's participant never went, or 101's in the caller's call went first:%s", render(steps))
				}
				return
			}
			if moved < 0 {
				t.Fatalf("103's participant never joined the caller's call:%s", render(steps))
			}
			if p := steps[moved].Get; p.ReferredByDN != "101" || p.ReferredByType != callcontrol.TypeExtension || p.PartyDN != callcontrol.DefaultTrunkDN {
				t.Errorf("103 joins referred by %q (%s) with party %q, want 101 (%s) with the line:%s", p.ReferredByDN, p.ReferredByType,
					p.PartyDN, callcontrol.TypeExtension, render(steps))
			}
			removed := 0
			for i, s := range steps {
				if removalOf("101")(s) {
					removed++
					if i < moved {
						t.Errorf("a participant of 101 went before the transfer:%s", render(steps))
					}
				}
			}
			if removed != 2 {
				t.Errorf("101's participants went %d times, want 2:%s", removed, render(steps))
			}
		})
	}
}

// A fax to the PBX's fax line is 3CX's fax extension (DN 888, type
// Wfax) receiving it: a participant of that DN, connected, whose party is
// the line that brought the call, until the caller hangs up.
func TestFlowFaxInbound(t *testing.T) {
	steps := playFlow(t, "fax-inbound")
	fax := index(steps, upsertOf("888"))
	if fax < 0 {
		t.Fatalf("no participant of the fax extension:%s", render(steps))
	}
	if p := steps[fax].Get; p.Status != callcontrol.StatusConnected || p.PartyDN != callcontrol.DefaultTrunkDN || p.PartyCallerID != "2125559876" {
		t.Errorf("the fax extension's participant is %s with party %q (%s), want connected with the line carrying 2125559876:%s",
			p.Status, p.PartyDN, p.PartyCallerID, render(steps))
	}
	for _, s := range steps {
		if s.Get != nil && s.Get.DN != "888" && s.Get.DN != callcontrol.DefaultTrunkDN {
			t.Errorf("a participant of %s:%s", s.Get.DN, render(steps))
		}
	}
	if gone := index(steps, removalOf("888")); gone < fax || gone > index(steps, removalOf(callcontrol.DefaultTrunkDN)) {
		t.Errorf("the fax extension's participant does not go with the call:%s", render(steps))
	}
}
