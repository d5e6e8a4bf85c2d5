package connectortest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/callhook/callhook/core/signal"
)

// recorder keeps what the checks report, to show they reject a connector
// that breaks the contract.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }

func TestCheckLegsRejects(t *testing.T) {
	leg := func(id, endpoint, call string) signal.Leg {
		return signal.Leg{ID: id, Call: call, CallSeq: 1, Endpoint: endpoint}
	}
	a := leg("a", "101", "c1")
	good := []signal.Signal{{Kind: signal.LegAppeared, Leg: a}, {Kind: signal.LegAnswered, Leg: a}, {Kind: signal.LegGone, Leg: a}}
	bare, named := leg("x", "101", ""), leg("y", "PJSIP/101-00000001", "c2")
	for name, tc := range map[string]struct {
		sigs []signal.Signal
		want string
	}{
		"a signal before the leg appeared": {append([]signal.Signal{{Kind: signal.LegAlerting, Leg: leg("b", "102", "c1")}}, good...), "before it appeared"},
		"a signal after the leg went":      {append(append([]signal.Signal{}, good...), signal.Signal{Kind: signal.LegAnswered, Leg: a}), "after it went"},
		"a leg that never goes":            {good[:2], "never went"},
		"a leg without its call":           {[]signal.Signal{{Kind: signal.LegAppeared, Leg: bare}, {Kind: signal.LegGone, Leg: bare}}, "names no call"},
		"a channel name for endpoint":      {[]signal.Signal{{Kind: signal.LegAppeared, Leg: named}, {Kind: signal.LegGone, Leg: named}}, "channel name"},
		"nothing about legs":               {[]signal.Signal{{Kind: signal.Sync, Token: "t"}}, "no signal about any leg"},
	} {
		r := &recorder{}
		checkLegs(r, tc.sigs)
		if !strings.Contains(strings.Join(r.errs, " | "), tc.want) {
			t.Errorf("%s: the checks said %q, want %q", name, r.errs, tc.want)
		}
	}
	r := &recorder{}
	checkLegs(r, good)
	if len(r.errs) != 0 {
		t.Errorf("a flow that keeps the contract is rejected: %v", r.errs)
	}
}
