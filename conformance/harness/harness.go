// Package harness runs the whole product on one machine: the PBX simulator,
// the engine connected to it over its live AMI interface (the production
// connector), and delivery to a receiver over real HTTP. The conformance
// suites, `callhook sim run` and `callhook demo` all play scenarios through
// it.
package harness

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/connector/ami/amitest"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/pbxsim/sim"
)

// Receiver is one webhook of the engine.
type Receiver struct {
	Name, Dialect string
	Options       map[string]string // the dialect's keys
	URL           *url.URL
}

// Config says what to run.
type Config struct {
	// Dialect, Profile and Target make the engine's one receiver, unless
	// Receivers names several.
	Dialect, Profile string
	Target           *url.URL
	Receivers        []Receiver
	// Speed plays scenarios faster (see sim.Config.Speed). Default 1.
	Speed float64
	// Transport of the simulated phones: "udp" (default) or "tcp".
	Transport string
	// Retry is the delivery schedule; zero: 3 attempts, 200 ms .. 1 s.
	Retry    delivery.RetryPolicy
	OnResult func(delivery.Result)
	OnEvent  func(callmodel.Event)
	// OnAttempt sees every delivery attempt; Stages follow the engine's
	// own (an inspector).
	OnAttempt func(delivery.Attempt)
	Stages    []engine.Stage
	// Ladder makes the simulator keep every call's SIP ladder (SIP).
	Ladder bool
	Logger *slog.Logger
	// ConnectTimeout bounds the engine's first connection. Default 10s.
	ConnectTimeout time.Duration
	// Recordings, when set, is the engine's [recordings] section; the
	// simulator then records answered conversations as WAV files into
	// its MonitorDir, where the engine collects them.
	Recordings *config.Recordings
	// Extensions is the engine's extension directory, the .ini's
	// [extension.NUM] sections (login, email, name), by number: the
	// users dialects such as voipex name in their webhooks.
	Extensions map[string]config.Extension
	// Username and Password, when Username is set, are the webhook's
	// HTTP basic auth credentials (the .ini's username / password).
	Username, Password string
	// Engine, when set, is the engine's configuration as a .ini gave it
	// (config.Parse): its [webhook.NAME] sections are the receivers, with
	// their credentials, signing, headers and dialect keys, and its
	// extensions, [recordings] and [pbx] timezone are kept. The rest is
	// the simulation's: [pbx] is the simulator, the outbox is in memory,
	// there is no admin or autodial API, and every webhook retries on
	// Retry, so a run ends in seconds whatever the file says. Receivers,
	// Dialect, Target and Recordings are then ignored.
	Engine *config.Config
	// Topology is the simulated PBX's numbering plan; default
	// pbx.DefaultTopology (the one the built-in scenarios are written for).
	Topology *pbx.Config
	// Interface is the simulator's live interface the engine connects
	// to: "ami" (default) or "esl" (FreeSWITCH's event socket; the
	// scenarios' originate steps then go through it too).
	Interface string
}

// Harness is a running simulator with an engine attached.
type Harness struct {
	Sim     *sim.Sim
	Service *service.Service
	cancel  context.CancelFunc
	done    chan error
}

// Start starts the simulator and the engine and returns once the engine is
// logged in to the simulator's AMI.
func Start(ctx context.Context, cfg Config) (*Harness, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry == (delivery.RetryPolicy{}) {
		cfg.Retry = delivery.RetryPolicy{Attempts: 3, Min: 200 * time.Millisecond, Max: time.Second}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.Engine != nil && cfg.Engine.Recordings.Enabled() {
		rc := cfg.Engine.Recordings
		cfg.Recordings = &rc
	}
	simCfg := sim.Config{Speed: cfg.Speed, Transport: cfg.Transport, Logger: cfg.Logger.With("part", "sim"), Topology: cfg.Topology}
	if cfg.Interface == "esl" {
		simCfg.ESLAddr, simCfg.ESLOriginate = "127.0.0.1:0", true
	}
	if cfg.Recordings != nil {
		simCfg.Recordings = cfg.Recordings.MonitorDir
	}
	if cfg.Ladder {
		topo := pbx.DefaultTopology()
		topo.Ladder = true
		simCfg.Topology = &topo
	}
	s, err := sim.Start(ctx, simCfg)
	if err != nil {
		return nil, err
	}
	simPBX := config.NewPBX("pbxsim", map[string]string{"address": s.AMIAddr(), "username": s.AMIUser(), "secret": s.AMISecret()})
	if cfg.Interface == "esl" {
		simPBX = config.NewPBX("esl", map[string]string{"address": s.ESLAddr(), "password": s.ESLPassword()})
	}
	var conf *config.Config
	if cfg.Engine != nil {
		conf = engineConfig(cfg.Engine, simPBX)
	} else {
		conf = &config.Config{File: "harness", PBX: simPBX, Extensions: cfg.Extensions}
		recvs := cfg.Receivers
		if len(recvs) == 0 {
			recvs = []Receiver{{Name: "target", Dialect: cfg.Dialect, Options: profileOption(cfg.Profile), URL: cfg.Target}}
		}
		for _, r := range recvs {
			conf.Webhooks = append(conf.Webhooks, config.Webhook{
				Name: r.Name, URL: r.URL, Dialect: r.Dialect, Options: r.Options, Timeout: 10 * time.Second,
				// The simulator's receivers are on loopback, which the
				// engine refuses unless allowed (allow_private in a .ini).
				AllowPrivate: true,
				Username:     cfg.Username, Password: config.Secret(cfg.Password),
			})
		}
		if cfg.Recordings != nil {
			conf.Recordings = *cfg.Recordings
		}
	}
	svc, err := service.New(conf, service.Options{
		Logger:    cfg.Logger.With("part", "engine"),
		Retry:     cfg.Retry,
		OnResult:  cfg.OnResult,
		OnEvent:   cfg.OnEvent,
		OnAttempt: cfg.OnAttempt,
		Stages:    cfg.Stages,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &Harness{Sim: s, Service: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- svc.Run(ectx) }()
	t := time.NewTimer(cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-svc.Connected():
		return h, nil
	case err := <-h.done:
		h.done <- err
		h.Close()
		return nil, fmt.Errorf("engine stopped before it reached the simulator: %w", err)
	case <-t.C:
		h.Close()
		return nil, fmt.Errorf("engine did not reach the simulator's AMI at %s within %s", s.AMIAddr(), cfg.ConnectTimeout)
	case <-ctx.Done():
		h.Close()
		return nil, ctx.Err()
	}
}

// Play plays sc and returns once every webhook it caused was delivered or
// given up.
func (h *Harness) Play(ctx context.Context, sc *scenario.Scenario) error {
	if err := h.Sim.Play(ctx, sc); err != nil {
		return fmt.Errorf("play %s: %w", sc.Name, err)
	}
	// The sync event follows the scenario's last PBX event on the AMI
	// stream, so once the engine handled it, every webhook is queued.
	token, err := h.Sim.Sync(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.Name, err)
	}
	if err := h.Service.WaitSync(ctx, token); err != nil {
		return fmt.Errorf("%s: webhooks not delivered: %w", sc.Name, err)
	}
	if h.Service.Recorder == nil {
		return nil
	}
	// The calls' recordings are converted once their webhooks are stored,
	// and their POSTs follow: wait for those too.
	done := make(chan struct{})
	go func() { h.Service.Recorder.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("%s: recordings not converted: %w", sc.Name, ctx.Err())
	}
	if err := h.Service.Outbox.Flush(ctx); err != nil {
		return fmt.Errorf("%s: recording webhooks not delivered: %w", sc.Name, err)
	}
	return nil
}

// engineConfig is a .ini's configuration with the simulation's parts in
// place of [pbx], [delivery] and [api] (see Config.Engine).
func engineConfig(file *config.Config, simPBX config.PBX) *config.Config {
	conf := *file
	simPBX.Timezone = file.PBX.Timezone
	conf.PBX = simPBX
	conf.Delivery = config.Delivery{Memory: true}
	conf.API = config.API{}
	conf.Webhooks = slices.Clone(file.Webhooks)
	for i := range conf.Webhooks {
		conf.Webhooks[i].Retry = config.Retry{}
	}
	return &conf
}

// Close stops the engine, delivery and the simulator.
func (h *Harness) Close() error {
	h.cancel()
	<-h.done
	h.Service.Close()
	return h.Sim.Close()
}

// profileOption is the dialect key of a profile, none for the default.
func profileOption(profile string) map[string]string {
	if profile == "" {
		return nil
	}
	return map[string]string{"profile": profile}
}

// Replay feeds stream, a recorded AMI session's events, to an engine over
// real TCP (amitest) with one webhook per receiver, waits until every
// webhook it caused is delivered, and returns what each receiver got, by
// name, in arrival order. A recorded stream is fed the same way to any
// number of engines: the tool of comparisons and of checks on real PBX
// captures.
func Replay(ctx context.Context, stream []byte, recvs []Receiver, extensions map[string]config.Extension) (map[string][]webhooktest.Captured, error) {
	const token = "callhook-replay-done"
	src, err := amitest.NewServer(append(slices.Clip(stream), "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: CallhookSync\r\nToken: "+token+"\r\n\r\n"...))
	if err != nil {
		return nil, err
	}
	defer src.Close()
	cfg := &config.Config{
		File:       "replay",
		PBX:        config.NewPBX("ami", map[string]string{"address": src.Addr(), "username": "admin", "secret": "secret"}),
		Delivery:   config.Delivery{Memory: true},
		Extensions: extensions,
	}
	cfg.PBX.Timezone = time.UTC
	servers := map[string]*webhooktest.Server{}
	for _, r := range recvs {
		srv := webhooktest.NewServer()
		defer srv.Close()
		servers[r.Name] = srv
		u, err := url.Parse(srv.URL() + "/hook/" + r.Name)
		if err != nil {
			return nil, err
		}
		cfg.Webhooks = append(cfg.Webhooks, config.Webhook{Name: r.Name, URL: u, Dialect: r.Dialect, Options: r.Options,
			Timeout: 10 * time.Second, AllowPrivate: true})
	}
	svc, err := service.New(cfg, service.Options{Retry: delivery.RetryPolicy{Attempts: 3, Min: 100 * time.Millisecond, Max: time.Second}})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer svc.Close()
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- svc.Run(ectx) }()
	defer func() { cancel(); <-done }()
	if err := svc.WaitSync(ctx, token); err != nil {
		return nil, fmt.Errorf("replay: the engine did not deliver everything before the stream's end: %w", err)
	}
	out := map[string][]webhooktest.Captured{}
	for name, srv := range servers {
		out[name] = srv.Requests()
	}
	return out, nil
}
