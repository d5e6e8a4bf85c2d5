package pbxsim_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPBXSim(t *testing.T) {
	RegisterFailHandler(Fail)
	// Generous: the suite shares two cores with whatever else runs.
	SetDefaultEventuallyTimeout(30 * time.Second)
	RunSpecs(t, "pbxsim SIP and AMI", Label("conformance"))
}
