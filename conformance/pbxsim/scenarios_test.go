package pbxsim_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/scenarios"
)

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
		entries = append(entries, Entry(name, name, SpecTimeout(2*time.Minute)))
	}

	DescribeTable("over SIP/UDP",
		func(ctx SpecContext, name string) {
			sc, err := scenarios.Load(name)
			Expect(err).NotTo(HaveOccurred())
			want, ok := ladders.Scenarios[name]
			Expect(ok).To(BeTrue(), "fixtures/sip/ladders.yaml has no entry for %s", name)

			r, err := play(ctx, sc)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(r.sim.Close)

			By("the SIP exchange, leg by leg")
			Eventually(ctx, func() error {
				return matchLegs(want, ladders.Registration, r.legs())
			}).WithTimeout(10 * time.Second).Should(Succeed())

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
