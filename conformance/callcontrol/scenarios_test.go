package callcontrol_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/callcontrol"
	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/scenarios"
)

// tolerance allows for scheduling jitter: 3CX's events carry no time, so
// the engine times them as it hears them.
const tolerance = time.Second

// parallel scenarios play at once: each plays in real time (see
// callcontrol.Config.Speed) on its own simulator and engine, mostly
// waiting, so running them together keeps the suite to about the longest
// scenario's length times the batches.
const parallel = 6

// played holds each scenario's requests per receiver, or why it failed.
type played struct {
	reqs map[string][]check.Request
	err  error
}

var (
	receivers = callcontrol.Receivers()
	results   = map[string]*played{}
)

// names are the scenarios to play: every built-in one, or the list in
// CALLHOOK_3CX_SCENARIOS (comma-separated) to look at a few.
func names() []string {
	if v := os.Getenv("CALLHOOK_3CX_SCENARIOS"); v != "" {
		return strings.Split(v, ",")
	}
	return scenarios.Names()
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for _, name := range names() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer GinkgoRecover()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := &played{reqs: map[string][]check.Request{}}
			res.err = func() error {
				sc, err := scenarios.Load(name)
				if err != nil {
					return err
				}
				pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
				defer cancel()
				r, err := callcontrol.Start(pctx, callcontrol.Config{Receivers: receivers})
				if err != nil {
					return err
				}
				defer r.Close()
				if err := r.Play(pctx, sc); err != nil {
					return err
				}
				for _, rc := range receivers {
					res.reqs[rc.Name] = r.Requests(rc.Name)
				}
				return nil
			}()
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
}, NodeTimeout(15*time.Minute))

// Every built-in scenario, played once through pbxsim's 3CX Call Control
// API to an engine with every dialect's receivers: each receiver's
// requests meet its vendor's documented rules, with the same expectations
// as over AMI, less the ones 3CX cannot report (callcontrol.Differences).
var _ = Describe("Webhooks of a 3CX PBX", func() {
	var entries []TableEntry
	for _, name := range names() {
		entries = append(entries, Entry(name, name))
	}
	DescribeTable("meet every dialect's vendor rules",
		func(name string) {
			res := results[name]
			Expect(res).NotTo(BeNil(), "the scenario was not played")
			Expect(res.err).NotTo(HaveOccurred())
			sc, err := scenarios.Load(name)
			Expect(err).NotTo(HaveOccurred())
			sc = callcontrol.Adapt(sc)
			total := 0
			for _, rc := range receivers {
				reqs := res.reqs[rc.Name]
				total += len(reqs)
				Expect(check.Failures(rc.Check.Check(sc, reqs, tolerance))).To(Succeed(), "%s (%s)", rc.Name, rc.Dialect)
			}
			Expect(total).To(BeNumerically(">", 0), "the scenario gave no webhook at all")
		},
		entries,
	)
})
