package pbx_test

import (
	"slices"
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// keyNames lists the events of evs named in names, with their channel's
// endpoint, in order.
func keyNames(evs []pbx.Event, names ...string) []string {
	var out []string
	for _, ev := range evs {
		if slices.Contains(names, ev.Name) {
			out = append(out, ev.Name+" "+ep(ev.Channel))
		}
	}
	return out
}

// TestAttendedFeatureAbort: 101 presses *2 and dials 103, 103 answers,
// then 101 presses *1 (atxferabort): the Local pair and 103 hang up, 101
// is back with the caller (Unhold), and no AttendedTransfer is raised,
// as in xfer-atxfer-feature-cancelled.log.
func TestAttendedFeatureAbort(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	carol := e.extPhone(t, "103", "Carol 103", "udp")
	carol.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out, in := answeredCall(t, e, alice, "udp")
	if err := in.SendDTMF(e.ctx, "*2", phone.DTMFRFC4733); err != nil {
		t.Fatal(err)
	}
	if err := in.SendDTMF(e.ctx, "103", phone.DTMFRFC4733); err != nil {
		t.Fatal(err)
	}
	var consult *phone.Call
	select {
	case consult = <-carol.Incoming():
	case <-e.ctx.Done():
		t.Fatal("103 was not called")
	}
	wait(t, e.ctx, consult.Answered(), "103 up")
	e.rec.waitFor(t, "the consultation bridged", func(evs []pbx.Event) bool {
		return slices.Contains(keyNames(evs, "BridgeEnter"), "BridgeEnter Local/103@from-internal;2")
	})
	if err := in.SendDTMF(e.ctx, "*1", phone.DTMFRFC4733); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, consult.Done(), "103 hung up by the abort")
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, in.Done(), "101 hung up after the caller")
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	evs := e.rec.all()
	if got := keyNames(evs, "AttendedTransfer", "BlindTransfer"); len(got) != 0 {
		t.Errorf("transfer events %q after an abort", got)
	}
	sameLines(t, "holds", keyNames(evs, "Hold", "Unhold", "MusicOnHoldStart", "MusicOnHoldStop"),
		[]string{"Hold 101", "MusicOnHoldStart trunk", "MusicOnHoldStop trunk", "Unhold 101"})
	// The transferer goes back first, then the pair and the target end.
	sameLines(t, "hangups", keyNames(evs, "Hangup"), []string{
		"Hangup Local/103@from-internal;1", "Hangup Local/103@from-internal;2", "Hangup 103", "Hangup 101", "Hangup trunk"})
}

// TestBlindFeatureUnknownTarget: ## and a number the dialplan does not
// know (the digit timeout ends it) give the call back to 101: Unhold, no
// transfer.
func TestBlindFeatureUnknownTarget(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	out, in := answeredCall(t, e, alice, "udp")
	if err := in.SendDTMF(e.ctx, "##", phone.DTMFRFC4733); err != nil {
		t.Fatal(err)
	}
	if err := in.SendDTMF(e.ctx, "55", phone.DTMFRFC4733); err != nil {
		t.Fatal(err)
	}
	e.rec.waitFor(t, "the transferer back after the digit timeout", func(evs []pbx.Event) bool {
		return slices.Contains(keyNames(evs, "Unhold"), "Unhold 101")
	})
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	evs := e.rec.all()
	if got := keyNames(evs, "BlindTransfer"); len(got) != 0 {
		t.Errorf("transfer events %q for an unknown target", got)
	}
	sameLines(t, "hangups", keyNames(evs, "Hangup"), []string{"Hangup 101", "Hangup trunk"})
}
