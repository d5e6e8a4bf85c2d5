package realpbx_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/callhook/callhook/conformance/realpbx"
	"github.com/callhook/callhook/pbxsim/phone"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// Transfers as Asterisk users make them, beside the REFER transfers of
// the built-in scenarios: the in-call feature codes of features.conf (*2
// attended, ## blind, pressed as RFC 4733 DTMF by the transferer) and the
// manager actions a CRM or an operator panel sends (Atxfer, CancelAtxfer,
// BlindTransfer). An attended transfer dials its target through a Local
// channel pair (Local/103@from-internal-xxxx;1 and ;2), which Asterisk
// optimises away once the transfer completes. Each flow is played on the
// real Asterisk, recorded with CALLHOOK_ASTERISK_RECORD (xfer-NAME.log;
// fixtures/ami/asterisk22/README.md describes them), and checked in every
// dialect against the webhooks of the REFER scenario it matches.

// flowTimes are a flow's measured durations, for its expectations.
type flowTimes struct {
	link1 time.Duration // the first link's talk (answer of 101 to its end)
	link2 time.Duration // the target's link's talk
}

type xferFlow struct {
	name    string
	like    string // the built-in scenario with the same webhooks
	summary string
	// pending says, per dialect, what the engine's call model lacks to
	// report the flow (docs/realpbx.md has the AMI events): those
	// dialects' expectation specs are pending until the core is fixed.
	pending map[string]string
	play    func(ctx context.Context, w *realpbx.World) (flowTimes, error)
	expect  func(t flowTimes) []scenario.Expect
}

const (
	caller, callerName, did = "2125559876", "John Smith", "2125550100"
)

func attendedExpect(t flowTimes) []scenario.Expect {
	return []scenario.Expect{
		{Event: "ringing", User: "101", External: caller, DID: did, Link: 0},
		{Event: "answered", User: "101", External: caller, DID: did, Link: 1, Transfer: "none"},
		{Event: "ended", User: "101", External: caller, DID: did, Link: 1, Finish: "ok", Transferred: true, Talk: dur(t.link1)},
		{Event: "answered", User: "103", External: caller, DID: did, Link: 2, Transfer: "attended"},
		{Event: "ended", User: "103", External: caller, DID: did, Link: 2, Finish: "ok", Talk: dur(t.link2)},
	}
}

func cancelledExpect(t flowTimes) []scenario.Expect {
	return []scenario.Expect{
		{Event: "ringing", User: "101", External: caller, DID: did, Link: 0},
		{Event: "answered", User: "101", External: caller, DID: did, Link: 1, Transfer: "none"},
		{Event: "ended", User: "101", External: caller, DID: did, Link: 1, Finish: "ok", Transferred: false, Talk: dur(t.link1)},
	}
}

func blindExpect(t flowTimes) []scenario.Expect {
	return []scenario.Expect{
		{Event: "ringing", User: "101", External: caller, DID: did, Link: 0},
		{Event: "answered", User: "101", External: caller, DID: did, Link: 1, Transfer: "none"},
		{Event: "ended", User: "101", External: caller, DID: did, Link: 1, Finish: "ok", Transferred: true, Talk: dur(t.link1)},
		{Event: "ringing", User: "102", External: caller, DID: did, Link: 2},
		{Event: "answered", User: "102", External: caller, DID: did, Link: 2, Transfer: "blind"},
		{Event: "ended", User: "102", External: caller, DID: did, Link: 2, Finish: "ok", Talk: dur(t.link2)},
	}
}

func dur(d time.Duration) scenario.Duration { return scenario.Duration(d.Round(time.Second)) }

var xferFlows = []xferFlow{
	{
		name: "xfer-atxfer-feature-completed", like: "attended-transfer", expect: attendedExpect,
		summary: "101 answers the caller after 3 s; 10 s later presses *2 and dials 103; 103 answers after 3 s; " +
			"after 4 s of consultation 101 hangs up, which completes the transfer; the caller hangs up 9 s later",
		play: func(ctx context.Context, w *realpbx.World) (flowTimes, error) {
			return attended(ctx, w, func(leg *phone.Call) error { return leg.SendDTMF(ctx, "*2", "rfc4733") },
				func(leg *phone.Call) error { return leg.Hangup(ctx) }, true, "103")
		},
	},
	{
		name: "xfer-atxfer-feature-cancelled", like: "attended-transfer-cancelled", expect: cancelledExpect,
		summary: "as xfer-atxfer-feature-completed, but after 4 s of consultation 101 presses *1 (atxferabort): " +
			"103 is hung up, 101 is back with the caller, who hangs up 7 s later",
		play: func(ctx context.Context, w *realpbx.World) (flowTimes, error) {
			return attended(ctx, w, func(leg *phone.Call) error { return leg.SendDTMF(ctx, "*2", "rfc4733") },
				func(leg *phone.Call) error { return leg.SendDTMF(ctx, "*1", "rfc4733") }, false, "103")
		},
	},
	{
		name: "xfer-atxfer-ami-completed", like: "attended-transfer", expect: attendedExpect,
		summary: "as xfer-atxfer-feature-completed, with the transfer started by the manager action " +
			"Atxfer (Channel: 101's channel, Exten: 103, Context: from-internal)",
		play: func(ctx context.Context, w *realpbx.World) (flowTimes, error) {
			return attended(ctx, w, func(*phone.Call) error { return amiOn(w, "Atxfer", "Exten", "103", "Context", "from-internal") },
				func(leg *phone.Call) error { return leg.Hangup(ctx) }, true, "")
		},
	},
	{
		name: "xfer-atxfer-ami-cancelled", like: "attended-transfer-cancelled", expect: cancelledExpect,
		summary: "as xfer-atxfer-ami-completed, but after 4 s of consultation the manager action CancelAtxfer " +
			"(Channel: 101's channel) ends it: 103 is hung up, 101 is back with the caller, who hangs up 7 s later",
		play: func(ctx context.Context, w *realpbx.World) (flowTimes, error) {
			var ch string
			return attended(ctx, w, func(*phone.Call) error {
				var err error
				if ch, err = w.Channel("101"); err != nil {
					return err
				}
				return w.Action("Atxfer", "Channel", ch, "Exten", "103", "Context", "from-internal")
			}, func(*phone.Call) error { return w.Action("CancelAtxfer", "Channel", ch) }, false, "")
		},
	},
	{
		name: "xfer-blind-feature", like: "blind-transfer", expect: blindExpect,
		summary: "101 answers the caller after 3 s; 10 s later presses ## and dials 102; the caller waits while " +
			"102 rings, 102 answers after 3 s; the caller hangs up 10 s after the transfer",
		play: func(ctx context.Context, w *realpbx.World) (flowTimes, error) {
			return blind(ctx, w, func(leg *phone.Call) error {
				if err := leg.SendDTMF(ctx, "##", "rfc4733"); err != nil {
					return err
				}
				if err := pause(ctx, time.Second); err != nil {
					return err
				}
				return leg.SendDTMF(ctx, "102", "rfc4733")
			})
		},
	},
	{
		name: "xfer-blind-ami", like: "blind-transfer", expect: blindExpect,
		summary: "as xfer-blind-feature, with the transfer made by the manager action BlindTransfer " +
			"(Channel: 101's channel, Exten: 102, Context: from-internal)",
		play: func(ctx context.Context, w *realpbx.World) (flowTimes, error) {
			return blind(ctx, w, func(*phone.Call) error {
				return amiOn(w, "BlindTransfer", "Exten", "102", "Context", "from-internal")
			})
		},
	},
}

// amiOn runs a manager action on 101's channel.
func amiOn(w *realpbx.World, action string, kv ...string) error {
	ch, err := w.Channel("101")
	if err != nil {
		return err
	}
	return w.Action(action, append([]string{"Channel", ch}, kv...)...)
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitFor waits for ch (a call's state), saying what it waited for.
func waitFor(ctx context.Context, ch <-chan struct{}, within time.Duration, what string) error {
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return fmt.Errorf("%s: not within %s", what, within)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// upCallOf waits until ext's phone has a call up that is not in before,
// and returns it.
func upCallOf(ctx context.Context, w *realpbx.World, ext string, within time.Duration) (*phone.Call, error) {
	p, _ := w.Phone(ext)
	dl := time.Now().Add(within)
	for {
		for _, c := range p.Calls() {
			if c.Up() {
				return c, nil
			}
		}
		if time.Now().After(dl) {
			return nil, fmt.Errorf("extension %s answered no call within %s", ext, within)
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// callIn has the outside caller dial the DID and waits until 101 answered
// (after 3 s); it returns the caller's phone and call, 101's leg and the
// moment 101 answered.
func callIn(ctx context.Context, w *realpbx.World) (*phone.Phone, *phone.Call, *phone.Call, time.Time, error) {
	for _, ext := range []string{"101", "102", "103"} {
		p, _ := w.Phone(ext)
		p.SetPolicy(phone.Policy{Mode: phone.AnswerAfter, Delay: 3 * time.Second})
	}
	cp, err := phone.New(ctx, phone.Config{User: caller, DisplayName: callerName, Server: w.PBXAddr(), Transport: w.Transport()})
	if err != nil {
		return nil, nil, nil, time.Time{}, err
	}
	c, err := cp.Dial(ctx, did)
	if err != nil {
		cp.Close()
		return nil, nil, nil, time.Time{}, err
	}
	if err := waitFor(ctx, c.Answered(), 30*time.Second, "caller answered by 101"); err != nil {
		cp.Close()
		return nil, nil, nil, time.Time{}, err
	}
	answered := time.Now()
	leg, err := upCallOf(ctx, w, "101", 5*time.Second)
	if err != nil {
		cp.Close()
		return nil, nil, nil, time.Time{}, err
	}
	return cp, c, leg, answered, nil
}

// attended: 101 talks 10 s with the caller, starts the attended transfer
// to 103 (start; with a feature code, 101 then dials 103), 103 answers
// after 3 s, 4 s of consultation, then end (complete or cancel). The
// caller hangs up 9 s after a completed transfer, 7 s after a cancelled
// one.
func attended(ctx context.Context, w *realpbx.World, start, end func(leg *phone.Call) error, completes bool, digits string) (flowTimes, error) {
	cp, c, leg, answered, err := callIn(ctx, w)
	if err != nil {
		return flowTimes{}, err
	}
	defer cp.Close()
	if err := pause(ctx, 10*time.Second); err != nil {
		return flowTimes{}, err
	}
	if err := start(leg); err != nil {
		return flowTimes{}, fmt.Errorf("start the attended transfer: %w", err)
	}
	if digits != "" {
		// A feature code: the transferer dials the target after it.
		if err := pause(ctx, time.Second); err != nil {
			return flowTimes{}, err
		}
		if err := leg.SendDTMF(ctx, digits, "rfc4733"); err != nil {
			return flowTimes{}, err
		}
	}
	consult, err := upCallOf(ctx, w, "103", 30*time.Second)
	if err != nil {
		return flowTimes{}, err
	}
	if err := pause(ctx, 4*time.Second); err != nil {
		return flowTimes{}, err
	}
	if err := end(leg); err != nil {
		return flowTimes{}, fmt.Errorf("end the consultation: %w", err)
	}
	ended := time.Now()
	var t flowTimes
	if completes {
		if err := waitFor(ctx, leg.Done(), 10*time.Second, "101's leg over"); err != nil {
			return t, err
		}
		t.link1 = ended.Sub(answered)
		if err := pause(ctx, 9*time.Second); err != nil {
			return t, err
		}
		if err := c.Hangup(ctx); err != nil {
			return t, err
		}
		t.link2 = time.Since(ended)
		return t, waitFor(ctx, consult.Done(), 10*time.Second, "103 hung up after the caller")
	}
	if err := waitFor(ctx, consult.Done(), 10*time.Second, "103's consultation over"); err != nil {
		return t, err
	}
	if err := pause(ctx, 7*time.Second); err != nil {
		return t, err
	}
	if err := c.Hangup(ctx); err != nil {
		return t, err
	}
	t.link1 = time.Since(answered)
	return t, waitFor(ctx, leg.Done(), 10*time.Second, "101 hung up after the caller")
}

// blind: 101 talks 10 s with the caller and transfers it (xfer); 102
// answers after 3 s; the caller hangs up 10 s after the transfer.
func blind(ctx context.Context, w *realpbx.World, xfer func(leg *phone.Call) error) (flowTimes, error) {
	cp, c, leg, answered, err := callIn(ctx, w)
	if err != nil {
		return flowTimes{}, err
	}
	defer cp.Close()
	if err := pause(ctx, 10*time.Second); err != nil {
		return flowTimes{}, err
	}
	if err := xfer(leg); err != nil {
		return flowTimes{}, fmt.Errorf("blind transfer: %w", err)
	}
	if err := waitFor(ctx, leg.Done(), 10*time.Second, "101's leg over by the transfer"); err != nil {
		return flowTimes{}, err
	}
	var t flowTimes
	transferred := time.Now()
	t.link1 = transferred.Sub(answered)
	target, err := upCallOf(ctx, w, "102", 30*time.Second)
	if err != nil {
		return t, err
	}
	up := time.Now()
	if err := pause(ctx, 10*time.Second-time.Since(transferred)); err != nil {
		return t, err
	}
	if err := c.Hangup(ctx); err != nil {
		return t, err
	}
	t.link2 = time.Since(up)
	return t, waitFor(ctx, target.Done(), 10*time.Second, "102 hung up after the caller")
}

var _ = Describe("Transfers by feature code and manager action on a real Asterisk", func() {
	for _, f := range xferFlows {
		Context(f.name, Ordered, ContinueOnFailure, func() {
			var got *receivers
			var sc *scenario.Scenario
			BeforeAll(func(ctx SpecContext) {
				pre := &scenario.Scenario{Name: f.name, Summary: f.summary, Expect: f.expect(flowTimes{})}
				var times flowTimes
				got = playedWith(ctx, pre, func(ctx context.Context, h *realpbx.Harness) error {
					return h.PlayFunc(ctx, f.name, func(ctx context.Context) error {
						var err error
						times, err = f.play(ctx, h.World)
						return err
					})
				})
				sc = &scenario.Scenario{Name: f.name, Summary: f.summary, Expect: f.expect(times)}
				GinkgoWriter.Printf("%s: link 1 %s, link 2 %s\n", f.name, times.link1, times.link2)
			}, NodeTimeout(3*time.Minute))
			dialectChecks(func() *scenario.Scenario { return sc }, func() *receivers { return got }, f.like, f.pending)
		})
	}
})
