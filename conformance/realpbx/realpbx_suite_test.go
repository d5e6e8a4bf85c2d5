package realpbx_test

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/realpbx"
)

func TestRealPBX(t *testing.T) {
	if err := realpbx.Available(t.Context()); errors.Is(err, realpbx.ErrNoTarget) || errors.Is(err, realpbx.ErrNoDocker) {
		t.Skip(err.Error())
	}
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	RunSpecs(t, "Scenarios on a real Asterisk", Label("realpbx"))
}

// target is the Asterisk every spec plays on.
var target *realpbx.Target

var _ = BeforeSuite(func(ctx SpecContext) {
	t, err := realpbx.FromEnv(ctx)
	if errors.Is(err, realpbx.ErrNoTarget) || errors.Is(err, realpbx.ErrNoDocker) {
		Skip(err.Error())
	}
	if t != nil {
		DeferCleanup(t.Close, NodeTimeout(30*time.Second))
	}
	Expect(err).NotTo(HaveOccurred())
	target = t
	GinkgoWriter.Printf("Asterisk (%s): SIP %s, AMI %s\n", t.Kind(), t.SIP, t.AMI)
	if t.Local != nil {
		GinkgoWriter.Printf("Asterisk under %s, scratch folder %s\n", t.Local.Prefix, t.Local.Dir)
	}
}, NodeTimeout(3*time.Minute))
