package service

import (
	"fmt"
	"log/slog"

	"github.com/callhook/callhook/core/autodial"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect/bulutfon"
	"github.com/callhook/callhook/core/engine"
)

// CallbackReceiver is the receiver name of autodial callback_url
// deliveries: every event of a call the autodial API started with a
// callback_url also goes there.
const CallbackReceiver = "autodial-callback"

// bulutfonOptions turns a webhook's section into the dialect's options.
func bulutfonOptions(cfg *config.Config, w config.Webhook) ([]bulutfon.Option, error) {
	where := fmt.Sprintf("%s:%d: [webhook.%s]", cfg.File, w.Line, w.Name)
	p, err := bulutfon.ParseProfile(w.Profile)
	if err != nil {
		return nil, fmt.Errorf("%s profile: %w", where, err)
	}
	events, err := bulutfon.ParseEvents(w.Events)
	if err != nil {
		return nil, fmt.Errorf("%s events: %w", where, err)
	}
	if w.Method != "" && w.Method != "POST" {
		return nil, fmt.Errorf("%s method: bulutfon web hooks are POSTed, not sent with %s", where, w.Method)
	}
	opts := []bulutfon.Option{
		bulutfon.WithProfile(p), bulutfon.WithEvents(events), bulutfon.WithPBXNumber(w.PBXNumber),
		bulutfon.WithAccount(w.DomainID, w.AccountID), bulutfon.WithCDR(w.CDRBase, w.CDRAPIBase),
	}
	if w.Format == "form" {
		opts = append(opts, bulutfon.WithForm())
	}
	if cfg.PBX.Timezone != nil {
		opts = append(opts, bulutfon.WithLocation(cfg.PBX.Timezone))
	}
	return opts, nil
}

func newBulutfon(cfg *config.Config, w config.Webhook) (engine.Renderer, error) {
	opts, err := bulutfonOptions(cfg, w)
	if err != nil {
		return nil, err
	}
	return bulutfon.New(w.Name, w.URL, opts...), nil
}

// modelOptions are the call model's options the configuration sets.
func modelOptions(log *slog.Logger) engine.Option {
	return engine.WithModel(callmodel.New(callmodel.WithLogger(log)))
}

// withAutodial sets up the autodial API's registry when [api] is
// configured: bulutfon webhooks look calls up in it, a callback receiver
// sends autodial calls' events to their callback_url, and the connector
// is watched so calls are claimed before their first event.
func (s *Service) withAutodial(cfg *config.Config, receivers []engine.Receiver, policies map[string]delivery.Policy,
	retry delivery.RetryPolicy, conn engine.Connector) ([]engine.Receiver, engine.Connector) {
	if cfg.API.Listen == "" {
		return receivers, conn
	}
	reg := autodial.NewRegistry()
	s.autodial = reg
	s.originator, _ = conn.(autodial.Originator)
	lookup := func(chain string) (bulutfon.Autodial, bool) {
		c, ok := reg.Lookup(chain)
		if !ok {
			return bulutfon.Autodial{}, false
		}
		return bulutfon.Autodial{AdditionalData: c.AdditionalData, CallbackURL: c.CallbackURL, PBXNumber: c.PBXNumber}, true
	}
	var cbOpts []bulutfon.Option
	for _, r := range receivers {
		rw, ok := r.Renderer.(*receiver)
		if !ok {
			continue
		}
		if d, ok := rw.Renderer.(*bulutfon.Dialect); ok {
			d.SetAutodial(lookup)
			if cbOpts == nil {
				cbOpts, _ = bulutfonOptions(cfg, rw.hook)
			}
		}
	}
	if retry.Attempts == 0 {
		retry = delivery.DefaultRetryPolicy
	}
	cb := bulutfon.New(CallbackReceiver, nil, append(cbOpts, bulutfon.WithAutodial(lookup), bulutfon.WithCallbacks())...)
	policies[CallbackReceiver] = delivery.Policy{Retry: retry, AllowPrivate: cfg.API.AllowPrivate}
	return append(receivers, engine.Receiver{Name: CallbackReceiver, Renderer: cb}), reg.Watch(conn)
}

// startAPI starts the autodial API on the PBX connection.
func (s *Service) startAPI(cfg *config.Config, log *slog.Logger) error {
	if s.autodial == nil {
		return nil
	}
	orig := s.originator
	if orig == nil {
		return fmt.Errorf("%s:%d: [api]: the %s connector cannot start calls", cfg.File, cfg.API.Line, cfg.PBX.Type)
	}
	srv, err := autodial.NewServer(autodial.Config{
		Listen: cfg.API.Listen, Token: cfg.API.Token.Reveal(), Registry: s.autodial, Originator: orig,
		Context: cfg.API.Context, Prefix: cfg.API.Prefix, Trunk: cfg.API.Trunk, Logger: log.With("component", "autodial"),
	})
	if err != nil {
		return fmt.Errorf("%s:%d: [api]: %w", cfg.File, cfg.API.Line, err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("%s:%d: [api]: %w", cfg.File, cfg.API.Line, err)
	}
	s.API = srv
	return nil
}

func (s *Service) closeAPI() {
	if s.API != nil {
		_ = s.API.Close()
	}
}
