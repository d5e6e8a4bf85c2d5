package bulutfon_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

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
	sim    *sim.Sim
	svc    *service.Service
	recvs  []*webhooktest.Server
	cancel context.CancelFunc
	done   chan error
}

// hook is one [webhook.NAME] of the world's configuration.
type hook struct {
	name, number, format, profile, user, pass string
	events                                    []string
	recv                                      *webhooktest.Server
}

// startWorld starts the simulator, each hook's receiver and an engine
// with one webhook per hook, and returns once the engine is connected.
// It returns errors rather than failing a spec: plays call it from
// goroutines of their own.
func startWorld(ctx context.Context, api bool, hooks ...*hook) (w *world, err error) {
	s, err := sim.Start(ctx, sim.Config{Speed: speed})
	if err != nil {
		return nil, err
	}
	w = &world{sim: s}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
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
		w.recvs = append(w.recvs, h.recv)
		u, err := url.Parse(h.recv.URL() + "/hook")
		if err != nil {
			return nil, err
		}
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
	if err != nil {
		return nil, err
	}
	w.svc = svc
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.done = cancel, make(chan error, 1)
	go func() { w.done <- svc.Run(ectx) }()
	select {
	case <-svc.Connected():
		return w, nil
	case err := <-w.done:
		w.done <- err
		return nil, fmt.Errorf("engine stopped before it reached the simulator: %w", err)
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the engine to reach the simulator's AMI at %s: %w", s.AMIAddr(), ctx.Err())
	}
}

// close stops the engine, the receivers and the simulator.
func (w *world) close() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	if w.svc != nil {
		w.svc.Close()
	}
	for _, r := range w.recvs {
		r.Close()
	}
	w.sim.Close()
}

// settled waits until every webhook of what the PBX did so far is
// delivered.
func (w *world) settled(ctx context.Context) error {
	token, err := w.sim.Sync(ctx)
	if err != nil {
		return err
	}
	if err := w.svc.WaitSync(ctx, token); err != nil {
		return fmt.Errorf("webhooks not delivered: %w", err)
	}
	return nil
}

// played plays sc and waits until its webhooks are delivered.
func (w *world) played(ctx context.Context, sc *scenario.Scenario) error {
	if err := w.sim.Play(ctx, sc); err != nil {
		return fmt.Errorf("play %s: %w", sc.Name, err)
	}
	if err := w.settled(ctx); err != nil {
		return fmt.Errorf("%s: %w", sc.Name, err)
	}
	return nil
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
