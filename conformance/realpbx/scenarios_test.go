package realpbx_test

import (
	"context"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/realpbx"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// tolerance allows for a real PBX's timing (ring timers, media setup).
const tolerance = 1500 * time.Millisecond

// played plays sc on Asterisk, with the engine on its AMI, and returns
// what the receiver got.
func played(ctx context.Context, sc *scenario.Scenario) []check.Request {
	recv := webhooktest.NewServer()
	DeferCleanup(recv.Close)
	u, err := url.Parse(recv.URL() + "/hook")
	Expect(err).NotTo(HaveOccurred())
	h, err := realpbx.Start(ctx, realpbx.Config{Target: target, Dialect: "3cx", URL: u})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.Close)
	Expect(h.Play(ctx, sc)).To(Succeed())
	var out []check.Request
	for _, c := range recv.Requests() {
		out = append(out, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Body: c.Body})
	}
	return out
}

// The same expectations as the simulator's suite (conformance/threecx):
// a scenario must give the same webhooks through a real PBX.
var _ = Describe("3CX webhooks from a real Asterisk", func() {
	rules, err := check.NewThreeCX()
	if err != nil {
		panic(err)
	}
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		decorators := []any{Ordered}
		if sc.Pending != "" {
			decorators = append(decorators, Pending)
		}
		Context(name, decorators, func() {
			var reqs []check.Request
			BeforeAll(func(ctx SpecContext) {
				reqs = played(ctx, sc)
			}, NodeTimeout(3*time.Minute))

			It("sends the scenario's events in order with the documented values", func() {
				Expect(rules.Expected(sc, reqs, tolerance)).To(Succeed())
			})
			It("sends each event with exactly the documented fields and values", func() {
				for _, r := range reqs {
					Expect(rules.Transport(r)).To(Succeed())
					Expect(rules.Fields(r)).To(Succeed())
					Expect(rules.Values(r)).To(Succeed())
					Expect(rules.ID(r)).To(Succeed())
				}
			})
			It("keeps one date-time and call number across the call's events", func() {
				Expect(rules.Chain(reqs)).To(Succeed())
			})
		})
	}
})
