package callmodel_test

import (
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/signal"
)

// A PBX's own account of the hangup that ended the call reaches Ended:
// its cause name as it is, its disposition as the caller's leg saw it
// (the called leg's "recv_bye", its party hanging up, is the caller's
// "send_bye").
func TestEndedCarriesThePBXsWords(t *testing.T) {
	at := time.Unix(1796228924, 0)
	trunk := signal.Leg{ID: "t", Call: "t", CallSeq: 1, Endpoint: "trunk", CallerNum: "2125559876", Number: "2125550100"}
	ext := signal.Leg{ID: "x", Call: "t", CallSeq: 1, Endpoint: "101"}
	for _, c := range []struct {
		name   string
		gone   signal.Signal
		detail string
	}{
		{"the callee hangs up", signal.Signal{Kind: signal.LegGone, Leg: ext, Cause: 16,
			Teardown: signal.Teardown{Cause: "NORMAL_CLEARING", Disposition: "recv_bye"}}, "send_bye"},
		{"the caller hangs up", signal.Signal{Kind: signal.LegGone, Leg: trunk, Cause: 16,
			Teardown: signal.Teardown{Cause: "NORMAL_CLEARING", Disposition: "recv_bye"}}, "recv_bye"},
		{"a PBX without words", signal.Signal{Kind: signal.LegGone, Leg: trunk, Cause: 16}, ""},
	} {
		m := callmodel.New()
		var ended *callmodel.Event
		for _, s := range []signal.Signal{
			{Kind: signal.LegAppeared, Leg: trunk}, {Kind: signal.LegAppeared, Leg: ext},
			{Kind: signal.Dialling, Leg: trunk, Peer: ext}, {Kind: signal.LegAlerting, Leg: ext},
			{Kind: signal.LegAnswered, Leg: ext}, {Kind: signal.Joined, Leg: trunk, Bridge: "b"},
			{Kind: signal.Joined, Leg: ext, Bridge: "b"}, {Kind: signal.Left, Leg: trunk, Bridge: "b"},
			{Kind: signal.Left, Leg: ext, Bridge: "b"}, c.gone,
		} {
			s.Time = at
			for _, ev := range m.Handle(s) {
				if ev.Kind == callmodel.Ended {
					ended = &ev
				}
			}
		}
		if ended == nil {
			t.Fatalf("%s: no Ended", c.name)
		}
		if ended.HangupCause != c.gone.Teardown.Cause || ended.HangupDisposition != c.detail {
			t.Errorf("%s: HangupCause %q HangupDisposition %q, want %q %q", c.name, ended.HangupCause, ended.HangupDisposition,
				c.gone.Teardown.Cause, c.detail)
		}
	}
}
