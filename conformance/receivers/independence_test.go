package receivers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/connector/ami/amitest"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// speed plays the scenarios; the recorded stream, not the speed, is what
// every engine below is fed.
const speed = 10

// tolerance allows for scheduling jitter, magnified by the speed-up.
const tolerance = time.Second

// receiver is one [webhook.NAME] of the configurations compared.
type receiver struct {
	name, dialect string
	options       map[string]string // the dialect's keys
	check         check.Variant
}

// receivers are one webhook per registered conformance variant of every
// dialect (Bulutfon's encodings and profiles each): the richest mix a CRM
// team could configure, and every dialect the build has.
func receivers() []receiver {
	var out []receiver
	for _, d := range check.Dialects() {
		for _, v := range d.Variants {
			name := "crm-" + d.Name
			if v.Name != "" {
				name += "-" + v.Name
			}
			out = append(out, receiver{name: name, dialect: d.Name, options: v.Options, check: v})
		}
	}
	return out
}

// record plays the scenario on the simulator and returns the AMI stream
// an engine would have read, up to and including the sync event after the
// scenario's last call.
func record(ctx context.Context, name string) []byte {
	sc, err := scenarios.Load(name)
	Expect(err).NotTo(HaveOccurred())
	s, err := sim.Start(ctx, sim.Config{Speed: speed})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	rec, err := amitest.Record(ctx, s.AMIAddr(), s.AMIUser(), s.AMISecret())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(rec.Close)
	Expect(s.Play(ctx, sc)).To(Succeed())
	token, err := s.Sync(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(rec.WaitFor(ctx, "Token", token)).To(Succeed())
	return rec.Stream()
}

// delivered is what one receiver got.
type delivered struct {
	reqs  []check.Request // in arrival order
	lines []string        // webhook id, method, path and query, body; sorted
}

// deliver runs an engine, configured with the given receivers, on stream
// and returns what each receiver got, by name.
func deliver(ctx context.Context, stream []byte, rs ...receiver) map[string]delivered {
	var recvs []harness.Receiver
	for _, r := range rs {
		recvs = append(recvs, harness.Receiver{Name: r.name, Dialect: r.dialect, Options: r.options})
	}
	got, err := harness.Replay(ctx, stream, recvs, nil)
	Expect(err).NotTo(HaveOccurred())
	out := map[string]delivered{}
	for name, cs := range got {
		var d delivered
		for _, c := range cs {
			d.reqs = append(d.reqs, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
			d.lines = append(d.lines, fmt.Sprintf("%s %s %s?%s %s", c.Header.Get(delivery.HeaderWebhookID), c.Method, c.Path, c.RawQuery, c.Body))
		}
		slices.Sort(d.lines)
		out[name] = d
	}
	return out
}

// One recorded call flow, fed to an engine with every dialect's receivers
// at once: each receiver's requests meet its vendor's documented rules
// (the dialect's registered checks). Fed again to an engine with each
// receiver alone: every receiver gets byte-identical requests, webhook ids
// included, whatever else is configured beside it.
var _ = Describe("A receiver's webhooks", func() {
	entries := []TableEntry{}
	for _, name := range scenarios.Names() {
		entries = append(entries, Entry(name, name, SpecTimeout(3*time.Minute)))
	}
	DescribeTable("meet the vendor's rules beside every other dialect, and are the same alone",
		func(ctx SpecContext, name string) {
			sc, err := scenarios.Load(name)
			Expect(err).NotTo(HaveOccurred())
			stream := record(ctx, name)
			rs := receivers()
			together := deliver(ctx, stream, rs...)
			for _, r := range rs {
				Expect(check.Failures(r.check.Check(sc, together[r.name].reqs, tolerance))).To(Succeed(),
					"%s (%s) beside every other dialect", r.name, r.dialect)
			}
			total := 0
			for _, r := range rs {
				alone := deliver(ctx, stream, r)
				Expect(together[r.name].lines).To(Equal(alone[r.name].lines),
					"%s (%s) alone got:\n%s\nbeside the others:\n%s", r.name, r.dialect,
					strings.Join(alone[r.name].lines, "\n"), strings.Join(together[r.name].lines, "\n"))
				total += len(alone[r.name].lines)
			}
			Expect(total).To(BeNumerically(">", 0), "the scenario gave no webhook at all")
		},
		entries,
	)
})
