package callmodel

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/signal"
)

// TestCallOf: on the real capture of an answered inbound call, the
// recorded leg belongs to link 1 of the call when MixMonitor starts, and
// to no call once every leg has hung up.
func TestCallOf(t *testing.T) {
	f, err := os.Open(filepath.Join("../../fixtures/ami/asterisk22", "01_inbound_answered.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := ami.Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	var atStart CallID
	var started bool
	for _, s := range sigs {
		m.Handle(s)
		if s.Kind == signal.RecordingStarted {
			id, ok := m.CallOf(s.Leg.ID)
			if !ok {
				t.Fatalf("recorded leg %s not followed", s.Leg.ID)
			}
			atStart, started = id, true
		}
	}
	if !started || atStart.Link != 1 || atStart.Number != 0 {
		t.Errorf("id at MixMonitorStart = %+v (started %v), want link 1 of call 0", atStart, started)
	}
	if _, ok := m.CallOf("1795482057.1"); ok {
		t.Error("call still followed after every leg hung up")
	}
	if _, ok := m.CallOf("no-such-leg"); ok {
		t.Error("unknown leg found")
	}
}
