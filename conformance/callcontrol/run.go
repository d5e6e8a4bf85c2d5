// Package callcontrol plays the built-in scenarios through pbxsim's 3CX
// front-end: simulator → 3CX Call Control API and XAPI → the engine's
// [pbx] type 3cx connector → every dialect's receivers over HTTP, and
// holds each receiver's requests to its vendor's rules (conformance/check)
// with the scenarios' own expectations, less the few 3CX cannot report
// (Differences).
package callcontrol

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/pbxsim/sim"
)

// Receiver is one webhook of the engine: a dialect variant.
type Receiver struct {
	Name, Dialect string
	Options       map[string]string
	Check         check.Variant
}

// Receivers is one receiver per registered variant of every dialect.
func Receivers() []Receiver {
	var out []Receiver
	for _, d := range check.Dialects() {
		for _, v := range d.Variants {
			name := "crm-" + d.Name
			if v.Name != "" {
				name += "-" + v.Name
			}
			out = append(out, Receiver{Name: name, Dialect: d.Name, Options: v.Options, Check: v})
		}
	}
	return out
}

// Config says how to run.
type Config struct {
	// Speed of the simulator. 3CX's events carry no time, so the engine
	// times what it hears by its own clock: durations in the webhooks are
	// the scenario's only at speed 1 (the default).
	Speed     float64
	Receivers []Receiver
	// StatusInterval is how often the connector reads XAPI (default 100ms).
	StatusInterval time.Duration
	OnEvent        func(callmodel.Event)
	// API, when set, is the engine's [api] section: the autodial API,
	// whose calls the connector places with MakeCall.
	API    *config.API
	Logger *slog.Logger
}

// Run is a simulator serving 3CX's APIs with an engine attached to them.
type Run struct {
	Sim     *sim.Sim
	Service *service.Service
	recvs   map[string]*webhooktest.Server
	cancel  context.CancelFunc
	done    chan error
}

// Start starts the simulator with its 3CX front-end and an engine whose
// [pbx] section is type 3cx, and returns once the engine is connected.
func Start(ctx context.Context, cfg Config) (*Run, error) {
	if cfg.Speed <= 0 {
		cfg.Speed = 1
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := sim.Start(ctx, sim.Config{Speed: cfg.Speed, ThreeCXAddr: "127.0.0.1:0", Logger: cfg.Logger.With("part", "sim")})
	if err != nil {
		return nil, err
	}
	cc := s.ThreeCX()
	conf := &config.Config{
		File: "3cx-conformance",
		PBX: config.NewPBX("3cx", map[string]string{"url": cc.URL(), "client_id": cc.ClientID(), "client_secret": cc.ClientSecret(),
			"status_interval": cfg.StatusInterval.String()}),
		Delivery: config.Delivery{Memory: true},
	}
	if cfg.API != nil {
		conf.API = *cfg.API
	}
	r := &Run{Sim: s, recvs: map[string]*webhooktest.Server{}, done: make(chan error, 1)}
	for _, rc := range cfg.Receivers {
		srv := webhooktest.NewServer()
		r.recvs[rc.Name] = srv
		u, err := url.Parse(srv.URL() + "/hook/" + rc.Name)
		if err != nil {
			r.Close()
			return nil, err
		}
		conf.Webhooks = append(conf.Webhooks, config.Webhook{Name: rc.Name, URL: u, Dialect: rc.Dialect, Options: rc.Options,
			Timeout: 10 * time.Second, AllowPrivate: true})
	}
	svc, err := service.New(conf, service.Options{Logger: cfg.Logger.With("part", "engine"), OnEvent: cfg.OnEvent,
		Retry: delivery.RetryPolicy{Attempts: 3, Min: 100 * time.Millisecond, Max: time.Second}})
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Service = svc
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go func() { r.done <- svc.Run(ectx) }()
	select {
	case <-svc.Connected():
		return r, nil
	case err := <-r.done:
		r.done <- err
		r.Close()
		return nil, fmt.Errorf("engine stopped before it reached the simulator's 3CX API: %w", err)
	case <-ctx.Done():
		r.Close()
		return nil, ctx.Err()
	}
}

// Play plays sc and returns once every webhook it caused was delivered.
func (r *Run) Play(ctx context.Context, sc *scenario.Scenario) error {
	if err := r.Sim.Play(ctx, sc); err != nil {
		return fmt.Errorf("play %s: %w", sc.Name, err)
	}
	token, err := r.Sim.Sync(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.Name, err)
	}
	if err := r.Service.WaitSync(ctx, token); err != nil {
		return fmt.Errorf("%s: webhooks not delivered: %w", sc.Name, err)
	}
	return nil
}

// Requests is what receiver name got, in arrival order.
func (r *Run) Requests(name string) []check.Request {
	srv := r.recvs[name]
	if srv == nil {
		return nil
	}
	var out []check.Request
	for _, c := range srv.Requests() {
		out = append(out, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
	}
	return out
}

// Close stops the engine, the receivers and the simulator.
func (r *Run) Close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if r.Service != nil {
		r.Service.Close()
	}
	for _, srv := range r.recvs {
		srv.Close()
	}
	r.Sim.Close()
}

// Difference is an expectation 3CX cannot meet, and why.
type Difference struct {
	Scenario string // "" for every scenario
	Event    string // the expectation's event
	Why      string
}

// Differences are the expectations 3CX's public APIs give no means to
// meet (docs/3cx-callcontrol.md, "What 3CX does not report").
var Differences = []Difference{
	{Event: "queuememberloginchanged", Why: "XAPI publishes a user's global queue status (Pbx.User QueueStatus) " +
		"and a queue's agents (Pbx.QueueAgent), not an agent's log-in to one queue nor a reason; the Call Control " +
		"API has no event for it"},
}

// Adapt returns sc without the expectations Differences lists.
func Adapt(sc *scenario.Scenario) *scenario.Scenario {
	cp := *sc
	cp.Expect = slices.DeleteFunc(slices.Clone(sc.Expect), func(e scenario.Expect) bool {
		return slices.ContainsFunc(Differences, func(d Difference) bool {
			return (d.Scenario == "" || d.Scenario == sc.Name) && d.Event == e.Event
		})
	})
	return &cp
}
