package pbxsim_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/scenarios"
)

// The key events written for pbxsim hold for the real Asterisk's session
// of the same scenario where fixtures/sip/ami.yaml names one (real:): the
// list is the real PBX's as much as pbxsim's.
var _ = Describe("the AMI key events of a real capture", func() {
	amiWant, err := loadAMI()
	if err != nil {
		panic(err)
	}
	for _, name := range scenarios.Names() {
		exp := amiWant[name]
		if exp.Real == "" {
			continue
		}
		It("hold for "+exp.Real, func() {
			all, err := readCapture(exp.Real)
			Expect(err).NotTo(HaveOccurred())
			var ms []ami.Message
			for _, m := range all {
				if m.Get("UserEvent") != "CallhookSync" { // the harness's barrier
					ms = append(ms, m)
				}
			}
			exp.Cdrs = nil
			Expect(matchKeyEvents(exp, ms)).To(Succeed())
		})
	}
})
