package esl_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// speed plays the scenarios ten times faster; the simulator's clock runs
// as fast, so the webhooks' durations stay the scenario's.
const speed = 10

// tolerance allows for scheduling jitter, magnified by the speed-up.
const tolerance = time.Second

// variant is one [webhook.NAME] of the engine: one registered
// conformance variant of a dialect.
type variant struct {
	name, dialect string
	check         check.Variant
}

func variants() []variant {
	var out []variant
	for _, d := range check.Dialects() {
		for _, v := range d.Variants {
			name := "crm-" + d.Name
			if v.Name != "" {
				name += "-" + v.Name
			}
			out = append(out, variant{name: name, dialect: d.Name, check: v})
		}
	}
	return out
}

// playESL plays the scenario through simulator → event socket → the
// engine's esl connector → every dialect variant at once, and returns
// what each receiver got, by name. It runs on a goroutine of plays, so it
// returns errors rather than failing the spec.
func playESL(ctx context.Context, sc *scenario.Scenario, vs []variant) (map[string][]check.Request, error) {
	recvs := map[string]*webhooktest.Server{}
	var rs []harness.Receiver
	for _, v := range vs {
		srv := webhooktest.NewServer()
		defer srv.Close()
		recvs[v.name] = srv
		u, err := url.Parse(srv.URL() + "/hook/" + v.name)
		if err != nil {
			return nil, err
		}
		rs = append(rs, harness.Receiver{Name: v.name, Dialect: v.dialect, Options: v.check.Options, URL: u})
	}
	h, err := harness.Start(ctx, harness.Config{Interface: "esl", Receivers: rs, Speed: speed})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := h.Play(ctx, sc); err != nil {
		return nil, err
	}
	out := map[string][]check.Request{}
	for n, srv := range recvs {
		for _, c := range srv.Requests() {
			out[n] = append(out[n], check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
		}
	}
	return out, nil
}

// played is what one play gave: each receiver's requests, by name, and
// (for the FreeSWITCH fields) what the switch said of the call's first
// channel.
type played struct {
	reqs            map[string][]check.Request
	created, hungUp map[string]string
}

// plays are the suite's plays, run a few at once from BeforeSuite
// (harness.Plays).
var plays = harness.NewPlays[*played](0, 2*time.Minute)

var _ = BeforeSuite(func() { suite.Start(plays) })

// Every built-in scenario, played on the simulator and watched through
// FreeSWITCH's event socket: each dialect variant's webhooks meet its
// vendor's documented rules, the same checks as through the AMI.
var _ = Describe("Webhooks from a FreeSWITCH event socket", func() {
	vs := variants()
	entries := []TableEntry{}
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		play := plays.Add(name, func(ctx context.Context) (*played, error) {
			reqs, err := playESL(ctx, sc, vs)
			return &played{reqs: reqs}, err
		})
		entries = append(entries, Entry(name, sc, play, SpecTimeout(3*time.Minute)))
	}
	DescribeTable("meet every dialect's vendor rules",
		func(ctx SpecContext, sc *scenario.Scenario, play *harness.Play[*played]) {
			got := suite.Played(ctx, play).reqs
			total := 0
			var failed []string
			for _, v := range vs {
				if err := check.Failures(v.check.Check(sc, got[v.name], tolerance)); err != nil {
					failed = append(failed, fmt.Sprintf("%s (%s):\n%v", v.name, v.dialect, err))
				}
				total += len(got[v.name])
			}
			if len(failed) > 0 {
				Fail(strings.Join(failed, "\n"))
			}
			Expect(total).To(BeNumerically(">", 0), "the scenario gave no webhook at all")
		},
		entries,
	)
})
