package esl

import (
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// An attended transfer by the switch's own feature is mod_dptools'
// att_xfer (bound to a key with bind_meta_app), run on the transferer's
// channel (mod_dptools.c att_thread_run):
//
//   - CHANNEL_EXECUTE att_xfer on the transferer, bridged with the
//     transferee, which it holds (soft_holding_uuid) while it consults;
//   - the target's leg is originated from the transferer's session (its
//     originator): a dial the PBX makes for the call, the consultation;
//   - the transferer and the target talk in an inner bridge
//     (CHANNEL_BRIDGE / CHANNEL_UNBRIDGE, the transferer as A);
//   - the transferer hangs up while the target is up: the switch bridges
//     the target with the transferee (switch_ivr_uuid_bridge): the
//     transfer is done;
//   - the target goes (the cancel key hangs it up) with the transferer
//     still there: the switch bridges the transferer with the transferee
//     again; the consultation ended without a transfer;
//   - the originate fails (busy, no answer, cancelled): nothing moved;
//   - CHANNEL_EXECUTE_COMPLETE when the application returns.
//
// The transfer is reported when the target is bridged with the
// transferee, or, as the switch will then bridge them (att_thread_run:
// the transferer not ready, the target not down), when the transferer is
// seen hung up while the target is up and the transferee still there,
// whichever the connector reads first: the threads of the switch may
// report the transferer's hangup before the new bridge.

// attXfer takes att_xfer starting (CHANNEL_EXECUTE) or returning
// (CHANNEL_EXECUTE_COMPLETE) on a leg.
func (t *tracker) attXfer(e Event, emit func(signal.Signal)) {
	l := t.own(e, emit)
	if l == nil || l.loopback {
		return
	}
	if e.Name() == "CHANNEL_EXECUTE" {
		// The leg it is bridged with is the one it holds.
		l.holding = first(l.partner, e.Var("signal_bond"), e.Var("bridge_uuid"))
		l.consult = ""
		return
	}
	if down(e) {
		t.attXferDown(l, emit)
	}
	l.holding, l.consult = "", ""
}

// down says whether a channel event shows its channel hung up.
func down(e Event) bool {
	return strings.EqualFold(e.Get("Answer-State"), "hangup") || e.Get("Hangup-Cause") != "" ||
		strings.EqualFold(e.Get("Channel-Call-State"), "HANGUP")
}

// attXferDown takes a transferer seen hung up: with the target up and the
// transferee there, the switch hands the transferee to the target.
func (t *tracker) attXferDown(er *leg, emit func(signal.Signal)) {
	if er.holding == "" {
		return
	}
	target, tee := t.legs[er.consult], t.legs[er.holding]
	if target == nil || tee == nil || !target.answered {
		return
	}
	t.attXferDone(er, tee, target, emit)
}

// attXferBridged takes a new pair: the target bridged with the
// transferee it was consulted for completes the transfer.
func (t *tracker) attXferBridged(a, b *leg, emit func(signal.Signal)) {
	for _, p := range [][2]*leg{{a, b}, {b, a}} {
		target, tee := p[0], p[1]
		er := t.legs[target.consultOf]
		if er != nil && er.consult == target.id && er.holding == tee.id {
			t.attXferDone(er, tee, target, emit)
			return
		}
	}
}

// attXferDone reports the transfer: the transferer handed the transferee
// to the target, by the switch's feature (not a REFER). The transferer's
// leg is its leg in both calls.
func (t *tracker) attXferDone(er, tee, target *leg, emit func(signal.Signal)) {
	x := signal.Transfer{Kind: signal.Attended, Done: true, Transferer: t.sig(er), SecondTransferer: t.sig(er),
		Transferee: t.sig(tee), Target: t.sig(target)}
	er.holding, er.consult = "", ""
	target.consultOf = ""
	emit(signal.Signal{Kind: signal.Transferred, Leg: x.Transferee, Transfer: &x})
}
