package pbxsim_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// played is what one play left to check: the PBX's SIP ladders and its
// AMI stream.
type played struct {
	legs   []Leg
	events []ami.Message
}

// plays are the suite's plays, one per scenario, run a few at once from
// BeforeSuite (harness.Plays).
var plays = harness.NewPlays[*played](0, 2*time.Minute)

// playLadders plays sc and gives its SIP exchange up to 10 s after the
// play to match want (the last ACKs and 200s may still be on their way),
// then keeps the ladders and the AMI stream and closes the simulator.
func playLadders(ctx context.Context, sc *scenario.Scenario, want []ExpectedLeg, reg []string) (*played, error) {
	r, err := play(ctx, sc)
	if err != nil {
		return nil, err
	}
	defer r.sim.Close()
	if want != nil {
		settle, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
	settling:
		for matchLegs(want, reg, r.legs()) != nil {
			select {
			case <-tick.C:
			case <-settle.Done():
				break settling // the spec shows what does not match
			}
		}
	}
	return &played{legs: r.legs(), events: r.events}, nil
}

var _ = BeforeSuite(func() { suite.Start(plays) })

var _ = Describe("pbxsim plays every built-in scenario", func() {
	ladders, err := loadLadders()
	if err != nil {
		panic(err)
	}
	amiWant, err := loadAMI()
	if err != nil {
		panic(err)
	}
	var entries []TableEntry
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		want := ladders.Scenarios[name]
		pl := plays.Add(name, func(ctx context.Context) (*played, error) {
			return playLadders(ctx, sc, want, ladders.Registration)
		})
		entries = append(entries, Entry(name, name, pl, SpecTimeout(3*time.Minute)))
	}

	DescribeTable("over SIP/UDP",
		func(ctx SpecContext, name string, pl *harness.Play[*played]) {
			want, ok := ladders.Scenarios[name]
			Expect(ok).To(BeTrue(), "fixtures/sip/ladders.yaml has no entry for %s", name)

			r := suite.Played(ctx, pl)

			By("the SIP exchange, leg by leg")
			Expect(matchLegs(want, ladders.Registration, r.legs)).To(Succeed())

			By("the AMI sequence")
			exp, ok := amiWant[name]
			Expect(ok).To(BeTrue(), "fixtures/sip/ami.yaml has no entry for %s", name)
			var amiErr error
			if exp.Capture != "" {
				amiErr = compareCapture(exp.Capture, r.events)
			} else {
				amiErr = matchKeyEvents(exp, r.events)
			}
			Expect(amiErr).NotTo(HaveOccurred())
		},
		entries,
	)
})
