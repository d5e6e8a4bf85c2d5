package bulutfon_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// variants are the webhooks every scenario is played to at once: each
// encoding with each profile.
var variants = []struct{ format, profile string }{
	{"json", "current"}, {"form", "current"}, {"json", "legacy"}, {"form", "legacy"},
}

// playVariants plays sc to one webhook per variant at once and returns
// the hooks, their receivers holding what each got. It runs on a
// goroutine of plays, so it returns errors rather than failing the spec.
func playVariants(ctx context.Context, sc *scenario.Scenario) (*played, error) {
	hooks := make([]*hook, len(variants))
	for i, v := range variants {
		p := ""
		if v.profile == "legacy" {
			p = "legacy"
		}
		hooks[i] = &hook{name: v.format + "-" + v.profile, format: v.format, profile: p}
	}
	w, err := startWorld(ctx, false, hooks...)
	if err != nil {
		return nil, err
	}
	defer w.close()
	if err := w.played(ctx, sc); err != nil {
		return nil, err
	}
	return &played{hooks: hooks}, nil
}

// played is what one play gave: its hooks, whose receivers hold what each
// got, and the autodial API's answer.
type played struct {
	hooks  []*hook
	answer map[string]string
}

// plays are the suite's plays, run a few at once from BeforeSuite
// (harness.Plays): one per scenario, the bindings' and the autodial's.
var plays = harness.NewPlays[*played](0, 2*time.Minute)

var _ = BeforeSuite(func() { suite.Start(plays) })

var _ = Describe("Bulutfon web hooks, end to end", func() {
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		decorators := []any{Ordered}
		note := ""
		if sc.Pending != "" {
			decorators = append(decorators, Pending)
			note = " (pending: " + sc.Pending + ")"
		}
		var play *harness.Play[*played]
		if sc.Pending == "" {
			play = plays.Add(name, func(ctx context.Context) (*played, error) { return playVariants(ctx, sc) })
		}
		Context(name+note, decorators, func() {
			var hooks []*hook
			BeforeAll(func(ctx SpecContext) {
				hooks = suite.Played(ctx, play).hooks
			}, NodeTimeout(3*time.Minute))

			for i, v := range variants {
				Context("as "+v.format+", "+v.profile+" profile", func() {
					rules, err := check.NewBulutfon(v.profile, v.format == "form")
					if err != nil {
						panic(err)
					}
					It("sends the events the documents call for, in order, with the scenario's values", func() {
						reqs, _ := requests(hooks[i])
						Expect(rules.Expected(sc, reqs, tolerance)).To(Succeed())
					})
					It("POSTs each event in the webhook's encoding", func() {
						reqs, types := requests(hooks[i])
						for j, r := range reqs {
							Expect(rules.Transport(r, types[j])).To(Succeed())
						}
					})
					It("carries exactly the fields the document lists for each event", func() {
						reqs, _ := requests(hooks[i])
						for _, r := range reqs {
							p, err := rules.Decode(r)
							Expect(err).NotTo(HaveOccurred())
							Expect(rules.Fields(p)).To(Succeed(), string(r.Body))
						}
					})
					It("uses documented values, one uuid, microsecond timestamps and numbers that keep their digits", func() {
						reqs, _ := requests(hooks[i])
						for _, r := range reqs {
							p, err := rules.Decode(r)
							Expect(err).NotTo(HaveOccurred())
							Expect(rules.Values(p, time.Now())).To(Succeed(), string(r.Body))
						}
					})
				})
			}
		})
	}
})

// "Gelen Faks": a fax the PBX itself receives on its fax line is
// announced with fax_init, after the call's call_init, with the example's
// caller, callee and direction (the played scenario above holds the
// requests to it).
var _ = Describe("Bulutfon fax_init", func() {
	It("is expected for the fax the PBX receives in fax-inbound", func() {
		sc, err := scenarios.Load("fax-inbound")
		Expect(err).NotTo(HaveOccurred())
		rules, err := check.NewBulutfon("current", false)
		Expect(err).NotTo(HaveOccurred())
		var types []string
		for _, w := range rules.ExpectedEvents(sc) {
			types = append(types, w.Type)
			if w.Type == "fax_init" {
				Expect(w.Caller).To(Equal("2125559876"))
				Expect(w.Callee).To(Equal("2125550700"))
				Expect(w.Direction).To(Equal("IN"))
			}
		}
		Expect(types).To(Equal([]string{"call_init", "fax_init", "call_hangup", "missing_call"}))
		Expect(rules.Rules.Profiles["current"].Events).To(HaveKey("fax_init"))
	})
})
