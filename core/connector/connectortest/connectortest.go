// Package connectortest is the suite every connector must pass, in the
// manner of testing/slogtest: the connector's test supplies a Target (its
// connector watching a PBX that can play the built-in call flows, real or
// simulated) and Run checks the contract the call model relies on: the
// session is announced, every leg appears before anything else is said of
// it and is gone at the end, legs carry their call, a barrier raised
// through the PBX arrives after everything before it, the model makes the
// documented moments of the call from the signals alone, and a lost
// session is announced and re-established.
package connectortest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/signal"
)

// Target is a connector watching a PBX.
type Target struct {
	Connector connector.Connector
	// Play makes the PBX carry the built-in call flow name (a scenario of
	// scenarios/) and returns once the PBX has finished it.
	Play func(ctx context.Context, name string) error
	// Sync raises a barrier through the PBX and returns its token: the
	// connector reports it (signal.Sync) after everything before it.
	Sync func(ctx context.Context) (string, error)
	// Drop cuts the connection between the PBX and the connector, as a
	// network failure would; the PBX goes on.
	Drop func()
}

// Within bounds each wait of the suite; a loaded machine is slow, not
// wrong.
var Within = 60 * time.Second

// Run runs the suite; newTarget makes a fresh PBX and connector for each
// subtest, so the subtests run in parallel (they mostly wait on the PBX).
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("the session is announced first", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t)
		w := watch(t, tg)
		first := w.next(t, "the first signal")
		if first.Kind != signal.Connected {
			t.Fatalf("first signal %s, want Connected", first.Kind)
		}
	})
	for _, name := range []string{"inbound-answered", "inbound-missed", "outbound-answered", "blind-transfer", "queue-ringall-answered"} {
		t.Run("legs of "+name, func(t *testing.T) {
			t.Parallel()
			sigs := played(t, newTarget(t), name)
			checkLegs(t, sigs)
		})
	}
	t.Run("the model makes the call's moments from the signals", func(t *testing.T) {
		t.Parallel()
		sigs := played(t, newTarget(t), "inbound-answered")
		m := callmodel.New()
		var kinds []string
		for _, s := range sigs {
			for _, ev := range m.Handle(s) {
				if ev.Kind == callmodel.Initiated || ev.Kind == callmodel.Ringing || ev.Kind == callmodel.Answered || ev.Kind == callmodel.Ended {
					kinds = append(kinds, fmt.Sprintf("%s:%s:%d", ev.Kind, ev.User, ev.ID.Link))
				}
			}
		}
		// The 3CX document's moments of an answered inbound call: rings
		// on link 0, answered and ended on link 1, by extension 101.
		want := []string{"initiated::0", "ringing:101:0", "answered:101:1", "ended:101:1"}
		if !slices.Equal(kinds, want) {
			t.Errorf("model events %v, want %v", kinds, want)
		}
		if m.Calls() != 0 {
			t.Errorf("the model still follows %d calls: some leg never went", m.Calls())
		}
	})
	t.Run("a lost session is announced and re-established", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t)
		w := watch(t, tg)
		w.until(t, "Connected", func(s signal.Signal) bool { return s.Kind == signal.Connected })
		tg.Drop()
		d := w.until(t, "Disconnected after the drop", func(s signal.Signal) bool { return s.Kind == signal.Disconnected })
		if d.Err == nil {
			t.Error("Disconnected says nothing of why")
		}
		w.until(t, "Connected again", func(s signal.Signal) bool { return s.Kind == signal.Connected })
		ctx, cancel := context.WithTimeout(t.Context(), Within)
		defer cancel()
		tok, err := tg.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.until(t, "the barrier raised after reconnecting", func(s signal.Signal) bool { return s.Kind == signal.Sync && s.Token == tok })
	})
}

// played plays name and returns the signals up to the barrier after it,
// the session's own signals left out.
func played(t *testing.T, tg Target, name string) []signal.Signal {
	t.Helper()
	w := watch(t, tg)
	w.until(t, "Connected", func(s signal.Signal) bool { return s.Kind == signal.Connected })
	ctx, cancel := context.WithTimeout(t.Context(), Within)
	defer cancel()
	if err := tg.Play(ctx, name); err != nil {
		t.Fatalf("play %s: %v", name, err)
	}
	tok, err := tg.Sync(ctx)
	if err != nil {
		t.Fatalf("sync after %s: %v", name, err)
	}
	var out []signal.Signal
	for {
		s := w.next(t, "the barrier "+tok+" after "+name)
		switch {
		case s.Kind == signal.Sync && s.Token == tok:
			return out
		case s.Kind == signal.Disconnected:
			t.Fatalf("session lost while playing %s: %v", name, s.Err)
		case s.Kind != signal.Connected && s.Kind != signal.Sync:
			out = append(out, s)
		}
	}
}

// reporter is the part of testing.T the checks report through.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
}

// checkLegs holds a call flow's signals to the contract on legs.
func checkLegs(t reporter, sigs []signal.Signal) {
	t.Helper()
	type state struct{ appeared, gone bool }
	legs := map[string]*state{}
	seqs := map[string]int{}
	legSignals := 0
	for i, s := range sigs {
		if s.Kind == signal.CallRecorded || s.Kind == signal.MemberState || s.Kind == signal.MemberAdded ||
			s.Kind == signal.MemberRemoved || s.Kind == signal.MemberPaused || s.Leg.ID == "" {
			continue
		}
		legSignals++
		l := s.Leg
		st := legs[l.ID]
		if st == nil {
			st = &state{}
			legs[l.ID] = st
		}
		switch {
		case s.Kind == signal.LegAppeared:
			if st.appeared {
				t.Errorf("signal %d: leg %s appears twice", i, l.ID)
			}
			st.appeared = true
		case !st.appeared:
			t.Errorf("signal %d: %s on leg %s before it appeared", i, s.Kind, l.ID)
		case st.gone:
			t.Errorf("signal %d: %s on leg %s after it went", i, s.Kind, l.ID)
		}
		if s.Kind == signal.LegGone {
			st.gone = true
		}
		if l.Call == "" {
			t.Errorf("signal %d: %s on leg %s names no call", i, s.Kind, l.ID)
		}
		if n, ok := seqs[l.Call]; ok && n != l.CallSeq {
			t.Errorf("signal %d: call %s numbered %d, before %d", i, l.Call, l.CallSeq, n)
		}
		seqs[l.Call] = l.CallSeq
		if !l.Loopback && l.Endpoint == "" {
			t.Errorf("signal %d: %s on leg %s names no endpoint", i, s.Kind, l.ID)
		}
		if strings.ContainsAny(l.Endpoint, "/;") {
			t.Errorf("signal %d: endpoint %q is the PBX's channel name, not its device", i, l.Endpoint)
		}
	}
	if legSignals == 0 {
		t.Fatal("the call flow gave no signal about any leg")
	}
	for id, st := range legs {
		if !st.gone {
			t.Errorf("leg %s never went", id)
		}
	}
}

// watcher runs the target's connector and queues what it reports.
type watcher struct {
	mu    sync.Mutex
	queue []signal.Signal
	more  chan struct{}
}

func watch(t *testing.T, tg Target) *watcher {
	t.Helper()
	w := &watcher{more: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tg.Connector.Run(ctx, signal.HandlerFunc(func(_ context.Context, s signal.Signal) error {
			w.mu.Lock()
			w.queue = append(w.queue, s)
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
			return nil
		}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("connector Run after cancel: %v", err)
		}
	})
	return w
}

// next returns the next signal, failing t when none comes within Within.
func (w *watcher) next(t *testing.T, what string) signal.Signal {
	t.Helper()
	timer := time.NewTimer(Within)
	defer timer.Stop()
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			s := w.queue[0]
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return s
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-timer.C:
			t.Fatalf("waited %s for %s: the connector reported nothing more", Within, what)
		}
	}
}

// until skips signals up to the first that f accepts.
func (w *watcher) until(t *testing.T, what string, f func(signal.Signal) bool) signal.Signal {
	t.Helper()
	for {
		if s := w.next(t, what); f(s) {
			return s
		}
	}
}
