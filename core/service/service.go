// Package service builds a running engine from a configuration: the
// connector named in [pbx], a dialect renderer per [webhook.NAME], and
// delivery. It is the one place that knows every concrete package, so the
// others depend only on the small interfaces they own.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callhook/callhook/core/autodial"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/inspect"
	"github.com/callhook/callhook/core/outbox"
)

// Options tune what the configuration does not say.
type Options struct {
	Logger *slog.Logger
	// Retry is the retry schedule of receivers for which neither their
	// [webhook.NAME] nor [delivery] sets one; zero uses delivery's default.
	Retry delivery.RetryPolicy
	// OnResult sees the outcome of every delivery.
	OnResult func(delivery.Result)
	// OnEvent sees every call event.
	OnEvent func(callmodel.Event)
	// OnAttempt sees every delivery attempt, with the request as sent
	// and the receiver's answer.
	OnAttempt func(delivery.Attempt)
	// Stages run after the engine's own, in order (an inspector).
	Stages []engine.Stage
	// Registry takes the delivery metrics (default: a new registry, served
	// on the admin listener's /metrics).
	Registry *prometheus.Registry
}

// Service is an engine with its durable delivery and admin API.
type Service struct {
	*engine.Engine
	Outbox   *outbox.Outbox
	Registry *prometheus.Registry
	cfg      *config.Config
	log      *slog.Logger
	admin    *http.Server
	adminLn  net.Listener
	// API is the autodial API ([api]), nil when not configured.
	API      *autodial.Server
	autodial *autodial.Registry
	// originator starts autodial calls: the PBX connector.
	originator connector.Originator
	// Recorder handles the calls' recordings ([recordings]), nil when
	// not configured.
	Recorder *Recorder
	// pbx follows the PBX connection and counts its signals (/readyz,
	// /metrics).
	pbx *pbxStage
	// Inspector follows the calls for the admin listener's /inspect/
	// page, nil without an admin listener (inspect.go).
	Inspector *inspect.Inspector
}

// Close stops delivery at once; requests not yet delivered stay in the
// outbox for the next start.
func (s *Service) Close() {
	s.closeAdmin()
	if s.Recorder != nil {
		s.Recorder.close()
	}
	s.Outbox.Close()
}

// Shutdown stops taking new work and waits for requests in flight; what is
// left stays in the outbox.
func (s *Service) Shutdown(ctx context.Context) error {
	s.closeAdmin()
	if s.Recorder != nil {
		if err := s.Recorder.shutdown(ctx); err != nil {
			s.log.Warn("recordings left unconverted", "err", err)
		}
	}
	return s.Outbox.Shutdown(ctx)
}

func (s *Service) closeAdmin() {
	s.closeAPI()
	if s.admin != nil {
		_ = s.admin.Close()
	}
}

// New builds the engine the configuration describes and starts delivering
// what an earlier run left in the outbox. Receivers on private, loopback or
// link-local addresses are refused unless their section sets allow_private.
func New(cfg *config.Config, opts Options) (*Service, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := newConnector(cfg, log)
	if err != nil {
		return nil, err
	}
	svc := &Service{cfg: cfg, log: log, Registry: opts.Registry}
	if svc.Registry == nil {
		svc.Registry = prometheus.NewRegistry()
	}
	policies := map[string]delivery.Policy{}
	var receivers []engine.Receiver
	for _, w := range cfg.Webhooks {
		r, err := newRenderer(cfg, w)
		if err != nil {
			return nil, err
		}
		p, err := newPolicy(cfg, w, opts.Retry)
		if err != nil {
			return nil, err
		}
		policies[w.Name] = p
		receivers = append(receivers, engine.Receiver{Name: w.Name, Renderer: r})
	}
	receivers, stages, err := svc.withAutodial(cfg, receivers, policies, opts.Retry, conn)
	if err != nil {
		return nil, err
	}
	opts = svc.withInspector(cfg, opts, log)
	ob, err := newOutbox(cfg, policies, svc, log, opts.OnResult, opts.OnAttempt)
	if err != nil {
		return nil, err
	}
	svc.Outbox = ob
	if err := ob.Start(context.Background()); err != nil {
		ob.Close()
		return nil, fmt.Errorf("start delivery: %w", err)
	}
	if svc.Recorder, err = newRecorder(cfg, log); err != nil {
		ob.Close()
		return nil, err
	}
	model := newModel(log.With("component", "callmodel"))
	svc.pbx = newPBXStage(model, svc.Registry)
	engineOpts := append([]engine.Option{
		engine.WithLogger(log.With("component", "engine")),
		engine.WithEventHook(opts.OnEvent),
		engine.WithModel(model),
		engine.WithStage(svc.pbx),
	}, stages...)
	if svc.Recorder != nil {
		engineOpts = append(engineOpts, engine.WithStage(svc.Recorder))
	}
	for _, st := range opts.Stages {
		engineOpts = append(engineOpts, engine.WithStage(st))
	}
	var deliverer engine.Deliverer = ob
	if d := noStore(policies); d != nil {
		log.Warn("built with -tags benchnostore: webhooks go straight to the dispatcher, with no outbox and no durability")
		deliverer = d
	}
	svc.Engine = engine.New(conn, receivers, deliverer, engineOpts...)
	if svc.Recorder != nil {
		svc.Recorder.publish = svc.Engine.Publish
	}
	if err := svc.startAPI(cfg, log); err != nil {
		svc.Close()
		return nil, err
	}
	if cfg.Delivery.AdminListen != "" {
		if err := svc.startAdmin(); err != nil {
			svc.Close()
			return nil, err
		}
	}
	return svc, nil
}

func newOutbox(cfg *config.Config, policies map[string]delivery.Policy, svc *Service, log *slog.Logger,
	onResult func(delivery.Result), onAttempt func(delivery.Attempt)) (*outbox.Outbox, error) {
	d := cfg.Delivery
	var ob *outbox.Outbox
	recv := delivery.NewReceivers(
		delivery.NewSender(delivery.WithSenderGuard(), delivery.WithSenderLogger(log.With("component", "delivery"))),
		policies,
		delivery.WithReceiversBreaker(delivery.Breaker{Failures: d.BreakerFailures, Cooldown: d.BreakerCooldown}),
		delivery.WithReceiversAttempt(func(a delivery.Attempt) {
			ob.RecordAttempt(a)
			if onAttempt != nil {
				onAttempt(a)
			}
		}),
		delivery.WithReceiversDisable(func(name, why string) { ob.SaveDisabled(name, why) }),
		delivery.WithReceiversLogger(log.With("component", "delivery")),
	)
	ocfg := outbox.Config{
		Dir: d.Dir, URL: d.NATSURL, Node: d.Node, Replicas: d.Replicas, Partitions: d.Partitions,
		SyncAlways: d.Fsync, LogMaxAge: d.LogMaxAge, Concurrency: d.Concurrency, Logger: log,
	}
	if d.Memory {
		ocfg.Dir = ""
	}
	oopts := []outbox.Option{}
	if onResult != nil {
		oopts = append(oopts, outbox.WithResult(onResult))
	}
	var pending func() float64
	oopts = append(oopts, outbox.WithMetrics(outbox.NewMetrics(svc.Registry, func() float64 { return pending() })))
	var err error
	ob, err = outbox.Open(context.Background(), ocfg, recv, oopts...)
	if err != nil {
		where := "[delivery]"
		if d.Line != 0 {
			where = fmt.Sprintf("%s:%d: [delivery]", cfg.File, d.Line)
		}
		return nil, fmt.Errorf("%s: open outbox: %w", where, err)
	}
	pending = ob.PendingFunc()
	return ob, nil
}

// newPolicy turns a webhook's section into its delivery policy: retry
// schedule (the webhook's keys, else [delivery]'s, else def), signing,
// basic auth and the private-address guard.
func newPolicy(cfg *config.Config, w config.Webhook, def delivery.RetryPolicy) (delivery.Policy, error) {
	where := fmt.Sprintf("%s:%d: [webhook.%s]", cfg.File, w.Line, w.Name)
	retry := def
	for _, r := range []config.Retry{cfg.Delivery.Retry, w.Retry} {
		if r.Attempts > 0 {
			retry.Attempts = r.Attempts
		}
		if r.Min > 0 {
			retry.Min = r.Min
		}
		if r.Max > 0 {
			retry.Max = r.Max
		}
	}
	if retry.Attempts == 0 {
		retry.Attempts = delivery.DefaultRetryPolicy.Attempts
	}
	p := delivery.Policy{Retry: retry, Username: w.Username, Password: w.Password.Reveal(), AllowPrivate: w.AllowPrivate}
	if w.SigningSecret != "" {
		s, err := delivery.NewSigner(w.SigningSecret.Reveal())
		if err != nil {
			return p, fmt.Errorf("%s signing_secret: %w (want whsec_ followed by base64, as Standard Webhooks secrets are)", where, err)
		}
		if w.SigningSecretPrevious != "" {
			if s, err = delivery.NewSigner(w.SigningSecret.Reveal(), w.SigningSecretPrevious.Reveal()); err != nil {
				return p, fmt.Errorf("%s signing_secret_previous: %w (want whsec_ followed by base64, as Standard Webhooks secrets are)", where, err)
			}
		}
		p.Signer = s
	}
	if !w.AllowPrivate {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := delivery.CheckHost(ctx, w.URL.Hostname()); err != nil {
			return p, fmt.Errorf("%s url: %w", where, err)
		}
	}
	return p, nil
}

// newConnector builds the connector of the [pbx] type.
func newConnector(cfg *config.Config, log *slog.Logger) (connector.Connector, error) {
	spec, err := connector.Lookup(cfg.PBX.Type)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: [pbx] type: %w", cfg.File, cfg.PBX.Line, err)
	}
	p := cfg.ConnectorPBX()
	p.Logger = log.With("component", spec.Type)
	c, err := spec.New(p)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: [pbx]: %w", cfg.File, cfg.PBX.Line, err)
	}
	return c, nil
}

// newRenderer builds a webhook's renderer through its dialect.
func newRenderer(cfg *config.Config, w config.Webhook) (engine.Renderer, error) {
	where := fmt.Sprintf("%s:%d: [webhook.%s]", cfg.File, w.Line, w.Name)
	spec, err := dialect.Lookup(w.Dialect)
	if err != nil {
		return nil, fmt.Errorf("%s dialect: %w", where, err)
	}
	dw := cfg.DialectWebhook(w)
	if cfg.Recordings.Enabled() && recordingTargets(cfg)[w.Name] {
		dw.Recordings = &dialect.Recordings{IDInBody: cfg.Recordings.Placement == "body", FullFields: cfg.Recordings.FullFields}
	}
	r, err := spec.New(dw)
	if err != nil {
		var ke *dialect.KeyError
		if errors.As(err, &ke) && w.OptionLines[ke.Key] != 0 {
			return nil, fmt.Errorf("%s:%d: [webhook.%s] %s: %w", cfg.File, w.OptionLines[ke.Key], w.Name, ke.Key, ke.Err)
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &receiver{Renderer: r, hook: w}, nil
}

// receiver adds what the configuration says about the HTTP request itself:
// extra headers and the timeout.
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
	// Basic auth and signing are added at send time by the receiver's
	// policy, so credentials are never stored in the outbox.
	req.Timeout = r.hook.Timeout
	return req, true
}
