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
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/connector/ami/amitest"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/pbxsim/scenario"
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
func record(ctx context.Context, sc *scenario.Scenario) ([]byte, error) {
	s, err := sim.Start(ctx, sim.Config{Speed: speed})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rec, err := amitest.Record(ctx, s.AMIAddr(), s.AMIUser(), s.AMISecret())
	if err != nil {
		return nil, err
	}
	defer rec.Close()
	if err := s.Play(ctx, sc); err != nil {
		return nil, fmt.Errorf("play %s: %w", sc.Name, err)
	}
	token, err := s.Sync(ctx)
	if err != nil {
		return nil, err
	}
	if err := rec.WaitFor(ctx, "Token", token); err != nil {
		return nil, fmt.Errorf("waiting for the sync event %s on the AMI: %w", token, err)
	}
	return rec.Stream(), nil
}

// delivered is what one receiver got.
type delivered struct {
	reqs  []check.Request // in arrival order
	lines []string        // webhook id, method, path and query, body; sorted
}

// deliver runs an engine, configured with the given receivers, on stream
// and returns what each receiver got, by name.
func deliver(ctx context.Context, stream []byte, rs ...receiver) (map[string]delivered, error) {
	var recvs []harness.Receiver
	for _, r := range rs {
		recvs = append(recvs, harness.Receiver{Name: r.name, Dialect: r.dialect, Options: r.options})
	}
	got, err := harness.Replay(ctx, stream, recvs, nil)
	if err != nil {
		return nil, err
	}
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
	return out, nil
}

// compared is what one play gave: what each receiver got beside every
// other dialect, and alone.
type compared struct {
	together, alone map[string]delivered
}

// compare records sc's AMI stream and feeds it to an engine with every
// receiver, then to one engine per receiver alone. It runs on a goroutine
// of plays, so it returns errors rather than failing the spec.
func compare(ctx context.Context, sc *scenario.Scenario) (*compared, error) {
	stream, err := record(ctx, sc)
	if err != nil {
		return nil, err
	}
	rs := receivers()
	c := &compared{alone: map[string]delivered{}}
	if c.together, err = deliver(ctx, stream, rs...); err != nil {
		return nil, fmt.Errorf("every receiver together: %w", err)
	}
	for _, r := range rs {
		got, err := deliver(ctx, stream, r)
		if err != nil {
			return nil, fmt.Errorf("%s alone: %w", r.name, err)
		}
		c.alone[r.name] = got[r.name]
	}
	return c, nil
}

// plays are the suite's plays, one per scenario, run a few at once from
// BeforeSuite (harness.Plays).
var plays = harness.NewPlays[*compared](0, 3*time.Minute)

var _ = BeforeSuite(func() { suite.Start(plays) })

// One recorded call flow, fed to an engine with every dialect's receivers
// at once: each receiver's requests meet its vendor's documented rules
// (the dialect's registered checks). Fed again to an engine with each
// receiver alone: every receiver gets byte-identical requests, webhook ids
// included, whatever else is configured beside it.
var _ = Describe("A receiver's webhooks", func() {
	entries := []TableEntry{}
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		play := plays.Add(name, func(ctx context.Context) (*compared, error) { return compare(ctx, sc) })
		entries = append(entries, Entry(name, sc, play, SpecTimeout(4*time.Minute)))
	}
	DescribeTable("meet the vendor's rules beside every other dialect, and are the same alone",
		func(ctx SpecContext, sc *scenario.Scenario, play *harness.Play[*compared]) {
			c := suite.Played(ctx, play)
			rs := receivers()
			for _, r := range rs {
				Expect(check.Failures(r.check.Check(sc, c.together[r.name].reqs, tolerance))).To(Succeed(),
					"%s (%s) beside every other dialect", r.name, r.dialect)
			}
			total := 0
			for _, r := range rs {
				together, alone := c.together[r.name], c.alone[r.name]
				Expect(together.lines).To(Equal(alone.lines),
					"%s (%s) alone got:\n%s\nbeside the others:\n%s", r.name, r.dialect,
					strings.Join(alone.lines, "\n"), strings.Join(together.lines, "\n"))
				total += len(alone.lines)
			}
			Expect(total).To(BeNumerically(">", 0), "the scenario gave no webhook at all")
		},
		entries,
	)
})
