package realpbx_test

import (
	"context"
	"net/url"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/realpbx"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// tolerance allows for a real PBX's timing (ring timers, media setup).
const tolerance = 1500 * time.Millisecond

// bulutfonVariants are the Bulutfon webhooks every scenario is played to
// at once, as in conformance/bulutfon: each encoding with each profile.
var bulutfonVariants = []struct{ format, profile string }{
	{"json", "current"}, {"form", "current"}, {"json", "legacy"}, {"form", "legacy"},
}

// directory is the engine's extension directory for VOIPEX (Login,
// Email), as in conformance/voipex: 103 is left out, so its events must
// carry neither.
var directory = map[string]config.Extension{
	"101": {Number: "101", Login: "alice", Email: "alice@example.com", Name: "Alice"},
	"102": {Number: "102", Login: "bob", Email: "bob@example.com", Name: "Bob"},
	"104": {Number: "104", Login: "dave", Email: "dave@example.com", Name: "Dave"},
}

// The VOIPEX receiver's "login/heslo" for HTTP basic auth.
const voipexLogin, voipexPassword = "crm-hook", "s3cret:with colon"

// receivers are what one play delivered to: the 3CX receiver, one per
// Bulutfon variant, and the VOIPEX receiver.
type receivers struct {
	threecx  []check.Request
	bulutfon [][]check.Request
	btypes   [][]string // each Bulutfon request's Content-Type
	voipex   []check.Request
}

func requests(s *webhooktest.Server) ([]check.Request, []string) {
	var out []check.Request
	var types []string
	for _, c := range s.Requests() {
		out = append(out, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
		types = append(types, c.Header.Get("Content-Type"))
	}
	return out, types
}

// played plays sc once on Asterisk, with one engine on its AMI delivering
// to a receiver per dialect variant, and returns what each receiver got.
func played(ctx context.Context, sc *scenario.Scenario) *receivers {
	return playedWith(ctx, sc, func(ctx context.Context, h *realpbx.Harness) error { return h.Play(ctx, sc) })
}

// playedWith is played with play doing the calls; sc gives the
// expectations (the order of members rung at once).
func playedWith(ctx context.Context, sc *scenario.Scenario, play func(context.Context, *realpbx.Harness) error) *receivers {
	newRecv := func(path string) (*webhooktest.Server, *url.URL) {
		s := webhooktest.NewServer()
		DeferCleanup(s.Close)
		u, err := url.Parse(s.URL() + path)
		Expect(err).NotTo(HaveOccurred())
		return s, u
	}
	t3, u3 := newRecv("/hook")
	hooks := []config.Webhook{{Name: "threecx", URL: u3, Dialect: "3cx", Timeout: 10 * time.Second, AllowPrivate: true}}
	var bs []*webhooktest.Server
	for _, v := range bulutfonVariants {
		s, u := newRecv("/hook")
		bs = append(bs, s)
		profile := ""
		if v.profile == "legacy" {
			profile = "legacy"
		}
		hooks = append(hooks, config.Webhook{
			Name: "bulutfon-" + v.format + "-" + v.profile, URL: u, Dialect: "bulutfon", Options: map[string]string{
				"format": v.format, "profile": profile, "domain_id": "1234", "account_id": "5678",
				"cdr_url": "https://pbx.example.com/call-records", "cdr_api_url": "https://api.example.com/v2/cdr",
			},
			Timeout: 10 * time.Second, AllowPrivate: true,
		})
	}
	tv, uv := newRecv("/voipex")
	hooks = append(hooks, config.Webhook{Name: "voipex", URL: uv, Dialect: "voipex", Timeout: 10 * time.Second,
		Username: voipexLogin, Password: config.Secret(voipexPassword), AllowPrivate: true})

	h, err := realpbx.Start(ctx, realpbx.Config{Target: target, Webhooks: hooks, Extensions: directory,
		RecordDir: os.Getenv(realpbx.EnvRecord)})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.Close)
	Expect(play(ctx, h)).To(Succeed())

	out := &receivers{}
	out.threecx, _ = requests(t3)
	for _, s := range bs {
		r, t := requests(s)
		out.bulutfon = append(out.bulutfon, r)
		out.btypes = append(out.btypes, t)
	}
	out.voipex, _ = requests(tv)
	// Members rung at once ring in the phones' order (check.InRingingOrder).
	out.threecx = check.InRingingOrder(sc, out.threecx, check.ThreeCXRinging)
	out.voipex = check.InRingingOrder(sc, out.voipex, check.VOIPEXRinging)
	for _, r := range out.voipex {
		GinkgoWriter.Printf("voipex %s\n", r.Body)
	}
	for _, r := range out.threecx {
		GinkgoWriter.Printf("3cx %s\n", r.RawQuery)
	}
	return out
}

// The same expectations as the simulator's suites (conformance/threecx,
// conformance/bulutfon, conformance/voipex): a scenario must give the same
// webhooks through a real PBX, in every dialect, from one play.
var _ = Describe("Scenarios on a real Asterisk", func() {
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		decorators := []any{Ordered, ContinueOnFailure}
		note := ""
		if sc.Pending != "" {
			decorators = append(decorators, Pending)
			note = " (pending: " + sc.Pending + ")"
		}
		Context(name+note, decorators, func() {
			var got *receivers
			BeforeAll(func(ctx SpecContext) {
				got = played(ctx, sc)
			}, NodeTimeout(3*time.Minute))
			dialectChecks(func() *scenario.Scenario { return sc }, func() *receivers { return got }, "", nil)
		})
	}
})

// dialectChecks are the specs of every dialect for one play: sc gives the
// expectations and got what the receivers got, both read when the specs
// run. like, when set, names the built-in scenario whose VOIPEX-only
// events (check.VOIPEXExtra) the play shares. pending marks a dialect's
// ("3cx", "bulutfon", "voipex") expectation specs pending with the
// reason: what the engine's call model lacks to report the play.
func dialectChecks(sc func() *scenario.Scenario, got func() *receivers, like string, pending map[string]string) {
	threecx, err := check.NewThreeCX()
	if err != nil {
		panic(err)
	}
	voipex, err := check.NewVOIPEX()
	if err != nil {
		panic(err)
	}
	// expected is It for the specs of the expected events, Pending
	// with the reason when the engine cannot report them yet.
	expected := func(dialect, text string, body func()) {
		if why := pending[dialect]; why != "" {
			It(text+" (pending, engine: "+why+")", Pending, body)
			return
		}
		It(text, body)
	}
	Context("3CX", func() {
		expected("3cx", "sends the scenario's events in order with the documented values", func() {
			Expect(threecx.Expected(sc(), got().threecx, tolerance)).To(Succeed())
		})
		It("sends each event as a GET with exactly the documented fields, values and id", func() {
			for _, r := range got().threecx {
				Expect(threecx.Transport(r)).To(Succeed())
				Expect(threecx.Fields(r)).To(Succeed())
				Expect(threecx.Values(r)).To(Succeed())
				Expect(threecx.ID(r)).To(Succeed())
			}
		})
		It("keeps one date-time and call number across the call's events", func() {
			Expect(threecx.Chain(got().threecx)).To(Succeed())
		})
	})

	for i, v := range bulutfonVariants {
		Context("Bulutfon as "+v.format+", "+v.profile+" profile", func() {
			rules, err := check.NewBulutfon(v.profile, v.format == "form")
			if err != nil {
				panic(err)
			}
			expected("bulutfon", "sends the events the documents call for, in order, with the scenario's values", func() {
				Expect(rules.Expected(sc(), got().bulutfon[i], tolerance)).To(Succeed())
			})
			It("POSTs each event in the webhook's encoding with exactly the document's fields and values", func() {
				for j, r := range got().bulutfon[i] {
					Expect(rules.Transport(r, got().btypes[i][j])).To(Succeed())
					p, err := rules.Decode(r)
					Expect(err).NotTo(HaveOccurred())
					Expect(rules.Fields(p)).To(Succeed(), string(r.Body))
					Expect(rules.Values(p, time.Now())).To(Succeed(), string(r.Body))
				}
			})
		})
	}

	Context("VOIPEX", func() {
		expected("voipex", "sends NewCall, the call's moments and its CDR in order with the documented values", func() {
			s := sc()
			name := s.Name
			if like != "" {
				name = like
			}
			wants := check.VOIPEXExpect(&scenario.Scenario{Name: name, Expect: s.Expect})
			Expect(voipex.ExpectedWants(s.Name, wants, got().voipex, tolerance)).To(Succeed())
		})
		It("POSTs JSON with basic auth, the document's fields and the directory's users", func() {
			for _, r := range got().voipex {
				Expect(r.Path).To(Equal("/voipex"))
				Expect(voipex.Transport(r)).To(Succeed())
				Expect(voipex.Auth(r, voipexLogin, voipexPassword)).To(Succeed())
				Expect(voipex.Fields(r)).To(Succeed())
				Expect(voipex.Users(r, directory)).To(Succeed())
			}
		})
		It("keeps the call's one Asterisk UniqueId across its events", func() {
			Expect(voipex.Chain(got().voipex)).To(Succeed())
		})
	})
}
