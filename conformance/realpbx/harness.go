package realpbx

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// Config says what to run against a Target.
type Config struct {
	Target           *Target
	Dialect, Profile string
	URL              *url.URL // the receiver
	// Webhooks, when set, are the engine's webhooks instead of the one
	// Dialect/Profile/URL make: one play delivered to several receivers
	// (each dialect, format and profile at once).
	Webhooks []config.Webhook
	// Extensions is the engine's extension directory ([extension.NUM]).
	Extensions map[string]config.Extension
	OnResult   func(delivery.Result)
	Logger     *slog.Logger
	// RecordDir, when set, is where Play writes each scenario's AMI
	// session (scenario-NAME.log), raw as Asterisk sent it.
	RecordDir string
}

// Harness is the phones on a real Asterisk and an engine connected to its
// AMI, delivering to a receiver: conformance/harness with Asterisk in
// place of the simulator.
type Harness struct {
	World     *World
	Service   *service.Service
	recordDir string
	cancel    context.CancelFunc
	done      chan error
}

// Start registers the phones and starts the engine, returning once it is
// logged in to Asterisk's AMI.
func Start(ctx context.Context, cfg Config) (*Harness, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w, err := NewWorld(ctx, cfg.Target, cfg.Logger.With("part", "phones"))
	if err != nil {
		return nil, err
	}
	hooks := cfg.Webhooks
	if len(hooks) == 0 {
		hooks = []config.Webhook{{
			Name: "target", URL: cfg.URL, Dialect: cfg.Dialect, Options: map[string]string{"profile": cfg.Profile}, Timeout: 10 * time.Second,
			// The receivers of the suite and of parity are on loopback.
			AllowPrivate: true,
		}}
	}
	conf := &config.Config{
		File: "realpbx",
		PBX: config.NewPBX("ami", map[string]string{"address": cfg.Target.AMI, "username": cfg.Target.AMIUser,
			"secret": cfg.Target.AMISecret}),
		Webhooks:   hooks,
		Extensions: cfg.Extensions,
		Delivery:   config.Delivery{Memory: true},
	}
	svc, err := service.New(conf, service.Options{
		Logger:   cfg.Logger.With("part", "engine"),
		Retry:    delivery.RetryPolicy{Attempts: 3, Min: 200 * time.Millisecond, Max: time.Second},
		OnResult: cfg.OnResult,
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start engine: %w", err)
	}
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &Harness{World: w, Service: svc, recordDir: cfg.RecordDir, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- svc.Run(ectx) }()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-svc.Connected():
		return h, nil
	case err := <-h.done:
		h.done <- err
		h.Close()
		return nil, fmt.Errorf("engine stopped before it reached Asterisk's AMI at %s: %w", cfg.Target.AMI, err)
	case <-t.C:
		h.Close()
		return nil, fmt.Errorf("engine did not log in to Asterisk's AMI at %s within 15s", cfg.Target.AMI)
	case <-ctx.Done():
		h.Close()
		return nil, ctx.Err()
	}
}

// Play plays sc and returns once every webhook it caused was delivered or
// given up.
func (h *Harness) Play(ctx context.Context, sc *scenario.Scenario) error {
	return h.PlayFunc(ctx, "scenario-"+sc.Name, func(ctx context.Context) error {
		return wrap("play "+sc.Name+" on Asterisk", h.World.Play(ctx, sc))
	})
}

// PlayFunc runs play (anything that makes calls on the PBX), then waits
// as Play does until every webhook it caused was delivered; with a
// RecordDir the AMI session of it all is written to RecordDir/name.log.
func (h *Harness) PlayFunc(ctx context.Context, name string, play func(context.Context) error) error {
	var rec *Recorder
	if h.recordDir != "" {
		r, err := Record(ctx, h.World.target)
		if err != nil {
			return err
		}
		defer r.Close()
		rec = r
	}
	if err := play(ctx); err != nil {
		return err
	}
	token, err := h.World.Sync(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if rec != nil {
		if err := rec.Stop(ctx, token, filepath.Join(h.recordDir, name+".log")); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return wrap(name+": webhooks not delivered", h.Service.WaitSync(ctx, token))
}

// Close stops the engine, delivery and the phones.
func (h *Harness) Close() error {
	h.cancel()
	<-h.done
	h.Service.Close()
	return h.World.Close()
}
