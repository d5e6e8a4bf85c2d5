package realpbx_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/realpbx"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/signal"
)

// The AMI connector asks Asterisk to send only what it reads
// (ami.EventFilters); the scenarios' specs run with those filters on.
var _ = Describe("The AMI connector's event filters on a real Asterisk", func() {
	It("are all accepted when the connector logs in", func(ctx SpecContext) {
		logs := &lockedBuffer{}
		c, err := ami.New(ami.Config{Addr: target.AMI, Username: target.AMIUser, Secret: ami.Secret(target.AMISecret),
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		Expect(err).NotTo(HaveOccurred())
		connected := make(chan struct{})
		var once sync.Once
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- c.Run(rctx, signal.HandlerFunc(func(_ context.Context, s signal.Signal) error {
				if s.Kind == signal.Connected {
					once.Do(func() { close(connected) })
				}
				return nil
			}))
		}()
		Eventually(connected).WithTimeout(15 * time.Second).Should(BeClosed())
		cancel()
		Expect(<-done).To(Succeed())
		GinkgoWriter.Print(logs.String())
		Expect(logs.String()).To(ContainSubstring(`msg="ami event filters added"`))
		Expect(logs.String()).NotTo(ContainSubstring("refused"))
	}, SpecTimeout(30*time.Second))

	It("keep out what the connector does not read", func(ctx SpecContext) {
		var filters [][2]string
		for _, f := range ami.EventFilters("") {
			filters = append(filters, [2]string{f.MatchCriteria, f.Filter})
		}
		got, err := realpbx.FilterProbe(ctx, target, filters)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(ConsistOf("VarSet mixmonitor_filename=/tmp/probe.wav", "VarSet mixmonitor_filename=", "UserEvent CallhookFilterProbe"))

		unfiltered, err := realpbx.FilterProbe(ctx, target, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(unfiltered).To(ContainElements("VarSet CALLHOOK_FILTER_PROBE=1", "VarSet CALLHOOK_FILTER_PROBE=",
			"VarSet mixmonitor_filename=/tmp/probe.wav", "UserEvent CallhookFilterProbe"))
	}, SpecTimeout(30*time.Second))
})

// lockedBuffer is a log sink for several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
