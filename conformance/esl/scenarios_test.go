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
	"github.com/callhook/callhook/core/webhooktest"
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
// what each receiver got, by name.
func playESL(ctx context.Context, name string, vs []variant) map[string][]check.Request {
	sc, err := scenarios.Load(name)
	Expect(err).NotTo(HaveOccurred())
	recvs := map[string]*webhooktest.Server{}
	var rs []harness.Receiver
	for _, v := range vs {
		srv := webhooktest.NewServer()
		DeferCleanup(srv.Close)
		recvs[v.name] = srv
		u, err := url.Parse(srv.URL() + "/hook/" + v.name)
		Expect(err).NotTo(HaveOccurred())
		rs = append(rs, harness.Receiver{Name: v.name, Dialect: v.dialect, Options: v.check.Options, URL: u})
	}
	h, err := harness.Start(ctx, harness.Config{Interface: "esl", Receivers: rs, Speed: speed})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.Close)
	Expect(h.Play(ctx, sc)).To(Succeed())
	out := map[string][]check.Request{}
	for n, srv := range recvs {
		for _, c := range srv.Requests() {
			out[n] = append(out[n], check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
		}
	}
	return out
}

// Every built-in scenario, played on the simulator and watched through
// FreeSWITCH's event socket: each dialect variant's webhooks meet its
// vendor's documented rules, the same checks as through the AMI.
var _ = Describe("Webhooks from a FreeSWITCH event socket", func() {
	entries := []TableEntry{}
	for _, name := range scenarios.Names() {
		entries = append(entries, Entry(name, name, SpecTimeout(3*time.Minute)))
	}
	DescribeTable("meet every dialect's vendor rules",
		func(ctx SpecContext, name string) {
			sc, err := scenarios.Load(name)
			Expect(err).NotTo(HaveOccurred())
			vs := variants()
			got := playESL(ctx, name, vs)
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
