package esl_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/esl"
	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// within bounds every wait: a loaded machine is slow, not wrong.
const within = 60 * time.Second

// watched is a connector running on the simulator's event socket, its
// signals fed to a call model.
type watched struct {
	mu        sync.Mutex
	events    []callmodel.Event
	connects  int
	tokens    []string
	model     *callmodel.Model
	sim       *sim.Sim
	conn      *esl.Connector
	cancelRun context.CancelFunc
	done      chan error
}

func watch(t *testing.T, speed float64) *watched {
	t.Helper()
	return watchFormat(t, speed, "plain")
}

// watchFormat is watch with the events asked for as format (plain, json).
func watchFormat(t *testing.T, speed float64, format string) *watched {
	t.Helper()
	s, err := sim.Start(t.Context(), sim.Config{Speed: speed, ESLAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := esl.New(esl.Config{Addr: s.ESLAddr(), Password: esl.Secret(s.ESLPassword()), Location: time.UTC, Format: format,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := &watched{model: callmodel.New(), sim: s, conn: c, done: make(chan error, 1)}
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

// A drop of the switch's connection, at the moment trigger reports, lasts
// until the PBX has moved on (moved); after the connector's resync the
// model has reported the call's end, no event twice, and nothing the same
// call without a drop does not report.
func testReconnect(t *testing.T, scenario string, trigger func(callmodel.Event) bool, moved func(*sim.Sim) bool, what string) {
	if testing.Short() {
		t.Skip("plays call flows on the simulator; run without -short")
	}
	t.Parallel()
	const speed = 2
	// The same call without a drop plays beside it, on a simulator of its
	// own.
	base := watch(t, speed)
	baseWait := base.play(t, scenario)

	w := watch(t, speed)
	wait := w.play(t, scenario)
	waitfor.True(t, within, "the moment to drop the connection", func() bool { return w.has(trigger) })
	w.sim.ESL().Hold()
	waitfor.True(t, within, what+" while the connector is away", func() bool { return moved(w.sim) })
	w.sim.ESL().Release()
	waitfor.True(t, within, "the connector's new session", func() bool { return w.connected() >= 2 })
	wait()
	isEnd := func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ended && !ev.Transferred }
	waitfor.True(t, within, "the call's end, reported after the resync", func() bool { return w.has(isEnd) })
	w.synced(t)
	baseWait()
	base.synced(t)
	want := base.moments()

	got := w.moments()
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m] {
			t.Errorf("reported twice: %s", m)
		}
		seen[m] = true
		if !slices.Contains(want, m) {
			t.Errorf("phantom: %s (without a drop: %v)", m, want)
		}
	}
	if w.model.Calls() != 0 {
		t.Errorf("the model still follows %d calls", w.model.Calls())
	}
	t.Logf("without a drop: %v\nwith one: %v", want, got)
}

func TestReconnectDuringRinging(t *testing.T) {
	testReconnect(t, "inbound-answered",
		func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ringing },
		func(s *sim.Sim) bool { return pbxHas(s, "101", pbx.StateUp, true) },
		"101 answering")
}

func TestReconnectDuringTalk(t *testing.T) {
	testReconnect(t, "inbound-answered",
		func(ev callmodel.Event) bool { return ev.Kind == callmodel.Answered },
		func(s *sim.Sim) bool { return len(s.PBX().Channels()) == 0 },
		"the call ending")
}

func TestReconnectDuringTransfer(t *testing.T) {
	testReconnect(t, "blind-transfer",
		func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ended && ev.Transferred },
		func(s *sim.Sim) bool { return pbxHas(s, "102", pbx.StateUp, true) },
		"102 answering the transferred caller")
}

// Events asked for as text/event-json make the same moments as plain
// ones.
func TestJSONEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("plays call flows on the simulator; run without -short")
	}
	t.Parallel()
	// Each flow plays on two simulators at once, one per format; the
	// moments carry no times.
	for _, name := range []string{"queue-ringall-answered", "attended-transfer"} {
		plain := watch(t, 10)
		plainWait := plain.play(t, name)
		js := watchFormat(t, 10, "json")
		jsWait := js.play(t, name)
		plainWait()
		plain.synced(t)
		jsWait()
		js.synced(t)
		if p, j := plain.moments(), js.moments(); !slices.Equal(p, j) {
			t.Errorf("%s: json events make\n%v\nplain ones\n%v", name, j, p)
		}
	}
}
