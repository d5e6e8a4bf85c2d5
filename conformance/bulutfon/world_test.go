package bulutfon_test

import (
	"context"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/pbxsim/sim"
)

// speed plays scenarios ten times faster; the simulator's clock runs ten
// times faster too, so durations in the webhooks stay the scenario's.
const speed = 10

// tolerance allows for scheduling jitter, magnified by the speed-up.
const tolerance = time.Second

// world is the simulator with an engine connected over AMI, built from a
// configuration as `callhook serve` builds it.
type world struct {
	sim *sim.Sim
	svc *service.Service
}

// hook is one [webhook.NAME] of the world's configuration.
type hook struct {
	name, number, format, profile, user, pass string
	events                                    []string
	recv                                      *webhooktest.Server
}

func start(ctx context.Context, api bool, hooks ...*hook) *world {
	s, err := sim.Start(ctx, sim.Config{Speed: speed})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	cfg := &config.Config{
		File:     "bulutfon-suite",
		PBX:      config.NewPBX("pbxsim", map[string]string{"address": s.AMIAddr(), "username": s.AMIUser(), "secret": s.AMISecret()}),
		Delivery: config.Delivery{Memory: true},
	}
	if api {
		cfg.API = config.API{Listen: "127.0.0.1:0", Token: "autodial-token-0123456789", Context: "from-internal", Prefix: "9",
			Trunk: "trunk", AllowPrivate: true, Line: 1}
	}
	for _, h := range hooks {
		h.recv = webhooktest.NewServer()
		DeferCleanup(h.recv.Close)
		u, err := url.Parse(h.recv.URL() + "/hook")
		Expect(err).NotTo(HaveOccurred())
		cfg.Webhooks = append(cfg.Webhooks, config.Webhook{
			Name: h.name, URL: u, Dialect: "bulutfon", Options: map[string]string{
				"format": h.format, "profile": h.profile, "pbx_number": h.number, "events": strings.Join(h.events, ","),
				"domain_id": "1234", "account_id": "5678",
				"cdr_url": "https://pbx.example.com/call-records", "cdr_api_url": "https://api.example.com/v2/cdr",
			},
			Username: h.user, Password: config.Secret(h.pass), Timeout: 10 * time.Second,
			AllowPrivate: true,
		})
	}
	svc, err := service.New(cfg, service.Options{Retry: delivery.RetryPolicy{Attempts: 3, Min: 200 * time.Millisecond, Max: time.Second}})
	Expect(err).NotTo(HaveOccurred())
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- svc.Run(ectx) }()
	DeferCleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	Eventually(svc.Connected()).Should(BeClosed())
	return &world{sim: s, svc: svc}
}

// settle waits until every webhook of what the PBX did so far is delivered.
func (w *world) settle(ctx context.Context) {
	token, err := w.sim.Sync(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(w.svc.WaitSync(ctx, token)).To(Succeed())
}

func (w *world) play(ctx context.Context, sc *scenario.Scenario) {
	Expect(w.sim.Play(ctx, sc)).To(Succeed())
	w.settle(ctx)
}

// requests returns what h's receiver got.
func requests(h *hook) ([]check.Request, []string) {
	var out []check.Request
	var types []string
	for _, c := range h.recv.Requests() {
		out = append(out, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Body: c.Body})
		types = append(types, c.Header.Get("Content-Type"))
	}
	return out, types
}
