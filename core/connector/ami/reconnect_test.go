package ami_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/dialect"
	_ "github.com/callhook/callhook/core/dialect/all"
	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// within bounds every wait: a loaded machine is slow, not wrong.
const within = 60 * time.Second

// watched is a connector on the simulator's manager interface, its
// signals fed to a call model.
type watched struct {
	mu        sync.Mutex
	signals   []signal.Signal
	events    []callmodel.Event
	connects  int
	tokens    []string
	model     *callmodel.Model
	sim       *sim.Sim
	cancelRun context.CancelFunc
	done      chan error
}

func watch(t *testing.T, speed float64) *watched {
	t.Helper()
	s, err := sim.Start(t.Context(), sim.Config{Speed: speed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := ami.New(ami.Config{Addr: s.AMIAddr(), Username: s.AMIUser(), Secret: ami.Secret(s.AMISecret()),
		Location: time.UTC, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := &watched{model: callmodel.New(), sim: s, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancelRun = cancel
	go func() {
		w.done <- c.Run(ctx, signal.HandlerFunc(func(_ context.Context, sig signal.Signal) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			switch sig.Kind {
			case signal.Connected:
				w.connects++
			case signal.Sync:
				w.tokens = append(w.tokens, sig.Token)
			}
			w.signals = append(w.signals, sig)
			w.events = append(w.events, w.model.Handle(sig)...)
			return nil
		}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-w.done; err != nil {
			t.Errorf("connector Run: %v", err)
		}
	})
	waitfor.True(t, within, "the connector's first session", func() bool { return w.connected() >= 1 })
	return w
}

func (w *watched) connected() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.connects
}

// has says whether the model reported an event f accepts.
func (w *watched) has(f func(callmodel.Event) bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.events, f)
}

// said says whether the connector reported a signal f accepts.
func (w *watched) said(f func(signal.Signal) bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.signals, f)
}

// moments are the model's events as a CRM sees them, without the times
// and ids a second run changes.
func (w *watched) moments() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, ev := range w.events {
		out = append(out, moment(ev))
	}
	return out
}

func moment(ev callmodel.Event) string {
	return fmt.Sprintf("%s user=%s link=%d n=%d transfer=%d finish=%d transferred=%t", ev.Kind, ev.User, ev.ID.Link, ev.N,
		ev.Transfer, ev.Finish, ev.Transferred)
}

// webhooks are the 3CX module's requests for the model's events, the
// query parameters that a second run changes (times, durations, ids)
// left out.
func (w *watched) webhooks(t *testing.T) []string {
	t.Helper()
	spec, err := dialect.Lookup("3cx")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://crm.example/hook")
	r, err := spec.New(dialect.Webhook{Name: "crm", URL: u, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	evs := slices.Clone(w.events)
	w.mu.Unlock()
	var out []string
	for _, ev := range evs {
		req, ok := r.Render(ev)
		if !ok {
			continue
		}
		ru, err := url.Parse(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := ru.Query()
		for k := range q {
			switch strings.ToLower(k) {
			case "callid", "datetime", "duration", "talktime", "time", "starttime", "endtime", "date":
				q.Del(k)
			case "id":
				// The call's start time, then its link: only the link
				// is the same in a second run.
				if _, link, ok := strings.Cut(q.Get(k), "_"); ok {
					q.Set(k, link)
				}
			case "title":
				q.Set(k, titleDuration.ReplaceAllString(q.Get(k), "duration"))
			}
		}
		out = append(out, q.Encode())
	}
	return out
}

// titleDuration is the call's length in a 3CX title, which a second run
// on a loaded machine can change by a second.
var titleDuration = regexp.MustCompile(`duration \d+:\d\d(:\d\d)?`)

// synced raises a barrier and waits for it: every signal before it has
// been handled.
func (w *watched) synced(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	tok, err := w.sim.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, within, "the barrier "+tok, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return slices.Contains(w.tokens, tok)
	})
}

// play plays a built-in scenario in the background; the returned wait
// gives its result.
func (w *watched) play(t *testing.T, name string) (wait func()) {
	t.Helper()
	sc, err := scenarios.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- w.sim.Play(t.Context(), sc) }()
	return func() {
		t.Helper()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("play %s: %v", name, err)
			}
		case <-time.After(within):
			t.Fatalf("play %s: not done within %s", name, within)
		}
	}
}

// pbxHas says whether the PBX has a channel of endpoint ext in state st
// (bridged, when bridged).
func pbxHas(s *sim.Sim, ext string, st pbx.ChannelState, bridged bool) bool {
	for _, c := range s.PBX().Channels() {
		if strings.HasPrefix(c.Channel.Name, "PJSIP/"+ext+"-") && c.Channel.State == st && (!bridged || c.BridgeID != "") {
			return true
		}
	}
	return false
}

// pbxLacks says whether the PBX has no channel of endpoint ext.
func pbxLacks(s *sim.Sim, ext string) bool {
	for _, c := range s.PBX().Channels() {
		if strings.HasPrefix(c.Channel.Name, "PJSIP/"+ext+"-") {
			return false
		}
	}
	return true
}

// reconnectCase is one drop: when the connection goes (trigger, on what
// the connector reported so far), what the PBX does before it comes back
// (moved).
type reconnectCase struct {
	scenario string
	trigger  func(w *watched) bool
	moved    func(s *sim.Sim) bool
	what     string
}

// The manager connection is cut at the moment trigger reports and kept
// down until the PBX has moved on; after the connector's resync the
// model has reported the call's end, no event twice, nothing the same
// call without a drop does not report, and the same holds for the 3CX
// module's requests.
func testReconnect(t *testing.T, c reconnectCase) {
	if testing.Short() {
		t.Skip("plays call flows on the simulator; run without -short")
	}
	t.Parallel()
	const speed = 2
	// The same call without a drop plays beside it, on a simulator of its
	// own.
	base := watch(t, speed)
	baseWait := base.play(t, c.scenario)

	w := watch(t, speed)
	wait := w.play(t, c.scenario)
	waitfor.True(t, within, "the moment to drop the connection", func() bool { return c.trigger(w) })
	w.sim.AMI().Hold()
	waitfor.True(t, within, c.what+" while the connector is away", func() bool { return c.moved(w.sim) })
	w.sim.AMI().Release()
	waitfor.True(t, within, "the connector's new session", func() bool { return w.connected() >= 2 })
	wait()
	isEnd := func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ended && !ev.Transferred }
	waitfor.True(t, within, "the call's end, reported after the resync", func() bool { return w.has(isEnd) })
	w.synced(t)
	baseWait()
	base.synced(t)
	want, wantHooks := base.moments(), base.webhooks(t)

	got, gotHooks := w.moments(), w.webhooks(t)
	check := func(what string, got, want []string) {
		t.Helper()
		seen := map[string]bool{}
		for _, m := range got {
			if seen[m] {
				t.Errorf("%s reported twice: %s", what, m)
			}
			seen[m] = true
			if !slices.Contains(want, m) {
				t.Errorf("phantom %s: %s (without a drop: %v)", what, m, want)
			}
		}
	}
	check("event", got, want)
	check("3CX request", gotHooks, wantHooks)
	if w.model.Calls() != 0 {
		t.Errorf("the model still follows %d calls", w.model.Calls())
	}
	t.Logf("without a drop: %v\nwith one: %v", want, got)
}

func TestReconnectDuringRinging(t *testing.T) {
	testReconnect(t, reconnectCase{scenario: "inbound-answered",
		trigger: func(w *watched) bool {
			return w.has(func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ringing })
		},
		moved: func(s *sim.Sim) bool { return pbxHas(s, "101", pbx.StateUp, true) },
		what:  "101 answering"})
}

func TestReconnectDuringTalk(t *testing.T) {
	testReconnect(t, reconnectCase{scenario: "inbound-answered",
		trigger: func(w *watched) bool {
			return w.has(func(ev callmodel.Event) bool { return ev.Kind == callmodel.Answered })
		},
		moved: func(s *sim.Sim) bool { return len(s.PBX().Channels()) == 0 },
		what:  "the call ending"})
}

func TestReconnectDuringBlindTransfer(t *testing.T) {
	testReconnect(t, reconnectCase{scenario: "blind-transfer",
		trigger: func(w *watched) bool {
			return w.has(func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ended && ev.Transferred })
		},
		moved: func(s *sim.Sim) bool { return pbxHas(s, "102", pbx.StateUp, true) },
		what:  "102 answering the transferred caller"})
}

// The connection goes while 101 consults 103 and comes back once 101 has
// transferred the caller to 103: the connector rebuilds the transfer
// from what Asterisk lists.
func TestReconnectAcrossAttendedTransfer(t *testing.T) {
	testReconnect(t, reconnectCase{scenario: "attended-transfer",
		trigger: func(w *watched) bool {
			return w.said(func(s signal.Signal) bool { return s.Kind == signal.Joined && s.Leg.Endpoint == "103" })
		},
		moved: func(s *sim.Sim) bool { return pbxLacks(s, "101") && pbxHas(s, "103", pbx.StateUp, true) },
		what:  "101 transferring the caller to 103"})
}

// The connection goes as 101's consultation rings at 103 and comes back
// once 103 answered; the transfer itself is seen live.
func TestReconnectDuringAttendedTransfer(t *testing.T) {
	testReconnect(t, reconnectCase{scenario: "attended-transfer",
		trigger: func(w *watched) bool {
			return w.said(func(s signal.Signal) bool { return s.Kind == signal.Dialling && s.Peer.Endpoint == "103" })
		},
		moved: func(s *sim.Sim) bool { return pbxHas(s, "103", pbx.StateUp, true) },
		what:  "103 answering the consultation"})
}
