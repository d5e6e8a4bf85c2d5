package threecx_test

import (
	"context"
	"fmt"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// speed plays scenarios ten times faster; the simulator's clock runs ten
// times faster too, so durations in the webhooks stay the scenario's.
const speed = 10

// tolerance allows for scheduling jitter, magnified by the speed-up.
const tolerance = time.Second

// played plays sc through simulator → AMI → engine → HTTP and returns what
// the receiver got. It runs on a goroutine of plays, so it returns errors
// rather than failing the spec.
func played(ctx context.Context, sc *scenario.Scenario, transport string) ([]check.Request, error) {
	recv := webhooktest.NewServer()
	defer recv.Close()
	target, err := url.Parse(recv.URL() + "/hook")
	if err != nil {
		return nil, err
	}
	h, err := harness.Start(ctx, harness.Config{Dialect: "3cx", Target: target, Speed: speed, Transport: transport})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := h.Play(ctx, sc); err != nil {
		return nil, err
	}
	var out []check.Request
	for _, c := range recv.Requests() {
		if c.Path != "/hook" {
			return nil, fmt.Errorf("request to %s, want /hook", c.Path)
		}
		out = append(out, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Body: c.Body})
	}
	return out, nil
}

// plays are the suite's plays, each scenario over each transport, run a
// few at once from BeforeSuite (harness.Plays).
var plays = harness.NewPlays[[]check.Request](0, 2*time.Minute)

var _ = BeforeSuite(func() { suite.Start(plays) })

func pendingNote(sc *scenario.Scenario) string {
	if sc.Pending == "" {
		return ""
	}
	return " (pending: " + sc.Pending + ")"
}

var _ = Describe("3CX webhooks module, end to end", func() {
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
			// Listed, not run: the engine does not yet report this flow.
			decorators = append(decorators, Pending)
		}
		for _, transport := range []string{"udp", "tcp"} {
			var play *harness.Play[[]check.Request]
			if sc.Pending == "" {
				play = plays.Add(name+" over SIP/"+transport, func(ctx context.Context) ([]check.Request, error) {
					return played(ctx, sc, transport)
				})
			}
			Context(name+" over SIP/"+transport+pendingNote(sc), decorators, func() {
				var reqs []check.Request
				BeforeAll(func(ctx SpecContext) {
					reqs = suite.Played(ctx, play)
				}, NodeTimeout(3*time.Minute))

				It("sends the scenario's events in order with the documented values", func() {
					Expect(rules.Expected(sc, reqs, tolerance)).To(Succeed())
				})
				It("sends each event as a GET with its fields as query parameters", func() {
					for _, r := range reqs {
						Expect(rules.Transport(r)).To(Succeed())
					}
				})
				It("carries exactly the fields the document lists for each event", func() {
					for _, r := range reqs {
						Expect(rules.Fields(r)).To(Succeed())
					}
				})
				It("uses only the documented values of usertype, trtype, finishtype and transfer", func() {
					for _, r := range reqs {
						Expect(rules.Values(r)).To(Succeed())
					}
				})
				It("gives ids of the form yyMMddHHmmss_N-L", func() {
					for _, r := range reqs {
						Expect(rules.ID(r)).To(Succeed())
					}
				})
				It("keeps one date-time and call number across the call's events", func() {
					Expect(rules.Chain(reqs)).To(Succeed())
				})
			})
		}
	}
})
