// Package service builds a running engine from a configuration: the
// connector named in [pbx], a dialect renderer per [webhook.NAME], and
// delivery. It is the one place that knows every concrete package, so the
// others depend only on the small interfaces they own.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect/threecx"
	"github.com/callhook/callhook/core/engine"
)

// Options tune what the configuration does not say.
type Options struct {
	Logger *slog.Logger
	// Retry is the delivery retry schedule; zero uses delivery's default.
	Retry delivery.RetryPolicy
	// OnResult sees the outcome of every delivery.
	OnResult func(delivery.Result)
	// OnEvent sees every call event.
	OnEvent func(callmodel.Event)
}

// Service is an engine with its delivery.
type Service struct {
	*engine.Engine
	Dispatcher *delivery.Dispatcher
}

// Close stops delivery; requests not yet sent are reported as failed.
func (s *Service) Close() { s.Dispatcher.Close() }

// deliverer adapts the dispatcher to the engine's interface.
type deliverer struct{ d *delivery.Dispatcher }

func (d deliverer) Enqueue(_ context.Context, r delivery.Request) error { return d.d.Enqueue(r) }
func (d deliverer) Flush(ctx context.Context) error                     { return d.d.Wait(ctx) }

// New builds the engine the configuration describes.
func New(cfg *config.Config, opts Options) (*Service, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := newConnector(cfg, log)
	if err != nil {
		return nil, err
	}
	var receivers []engine.Receiver
	for _, w := range cfg.Webhooks {
		r, err := newRenderer(cfg, w)
		if err != nil {
			return nil, err
		}
		receivers = append(receivers, engine.Receiver{Name: w.Name, Renderer: r})
	}
	sender := delivery.NewSender(delivery.WithSenderLogger(log.With("component", "delivery")))
	dopts := []delivery.DispatcherOption{delivery.WithDispatcherLogger(log.With("component", "dispatcher"))}
	if opts.OnResult != nil {
		dopts = append(dopts, delivery.WithDispatcherResult(opts.OnResult))
	}
	disp := delivery.NewDispatcher(sender.Retrying(opts.Retry), dopts...)
	eng := engine.New(conn, receivers, deliverer{disp},
		engine.WithLogger(log.With("component", "engine")),
		engine.WithEventHook(opts.OnEvent),
	)
	return &Service{Engine: eng, Dispatcher: disp}, nil
}

func newConnector(cfg *config.Config, log *slog.Logger) (engine.Connector, error) {
	switch cfg.PBX.Type {
	case "ami", "pbxsim":
		// pbxsim speaks AMI exactly as Asterisk does; the same connector
		// serves both.
		c, err := ami.New(ami.Config{
			Addr:     cfg.PBX.Address,
			Username: cfg.PBX.Username,
			Secret:   ami.Secret(cfg.PBX.Secret.Reveal()),
			Location: cfg.PBX.Timezone,
			Logger:   log.With("component", "ami"),
		})
		if err != nil {
			return nil, fmt.Errorf("%s:%d: [pbx]: %w", cfg.File, cfg.PBX.Line, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%s:%d: [pbx] type: connector %q is not available", cfg.File, cfg.PBX.Line, cfg.PBX.Type)
}

func newRenderer(cfg *config.Config, w config.Webhook) (engine.Renderer, error) {
	where := fmt.Sprintf("%s:%d: [webhook.%s]", cfg.File, w.Line, w.Name)
	var r engine.Renderer
	switch w.Dialect {
	case "3cx":
		p, err := threecx.ParseProfile(w.Profile)
		if err != nil {
			return nil, fmt.Errorf("%s profile: %w", where, err)
		}
		opts := []threecx.Option{threecx.WithProfile(p)}
		if cfg.PBX.Timezone != nil {
			opts = append(opts, threecx.WithLocation(cfg.PBX.Timezone))
		}
		if w.Method != "" {
			opts = append(opts, threecx.WithMethod(w.Method))
		}
		r = threecx.New(w.Name, w.URL, opts...)
	default:
		return nil, fmt.Errorf("%s dialect: %q is not available in this build yet (available: 3cx)", where, w.Dialect)
	}
	return &receiver{Renderer: r, hook: w}, nil
}

// receiver adds what the configuration says about the HTTP request itself:
// basic auth, extra headers, the timeout.
type receiver struct {
	engine.Renderer
	hook config.Webhook
}

func (r *receiver) Render(ev callmodel.Event) (delivery.Request, bool) {
	req, ok := r.Renderer.Render(ev)
	if !ok {
		return req, false
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	for k, v := range r.hook.Headers {
		req.Header.Set(k, v)
	}
	if r.hook.Username != "" {
		req.Header.Set("Authorization", delivery.BasicAuth(r.hook.Username, r.hook.Password.Reveal()))
	}
	req.Timeout = r.hook.Timeout
	return req, true
}
