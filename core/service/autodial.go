package service

import (
	"fmt"
	"log/slog"

	"github.com/callhook/callhook/core/autodial"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/core/engine"
)

// CallbackReceiver is the receiver name of autodial callback_url
// deliveries: every event of a call the autodial API started with a
// callback_url also goes there.
const CallbackReceiver = "autodial-callback"

// newModel is the call model with the options the configuration sets.
func newModel(log *slog.Logger) *callmodel.Model {
	return callmodel.New(callmodel.WithLogger(log))
}

// withAutodial sets up the autodial API's registry when [api] is
// configured: it is a stage of the pipeline (it attaches what the API
// was told to the call's events), and a callback receiver in the [api]
// callback_dialect's format sends those calls' events to their
// callback_url. The callback renderer takes its options from the first
// webhook of that dialect, so the callback payloads look like the
// webhooks'.
func (s *Service) withAutodial(cfg *config.Config, receivers []engine.Receiver, policies map[string]delivery.Policy,
	retry delivery.RetryPolicy, conn connector.Connector) ([]engine.Receiver, []engine.Option, error) {
	if cfg.API.Listen == "" {
		return receivers, nil, nil
	}
	where := fmt.Sprintf("%s:%d: [api]", cfg.File, cfg.API.Line)
	reg := autodial.NewRegistry()
	s.autodial = reg
	s.originator, _ = conn.(connector.Originator)
	spec, err := dialect.Lookup(cfg.API.Callback())
	if err != nil || spec.Callback == nil {
		return nil, nil, fmt.Errorf("%s callback_dialect: %q has no callback format", where, cfg.API.Callback())
	}
	w := dialect.Webhook{Name: CallbackReceiver, Location: cfg.PBX.Timezone}
	for _, hook := range cfg.Webhooks {
		if hook.Dialect == spec.Name {
			w = cfg.DialectWebhook(hook)
			w.Name, w.URL = CallbackReceiver, nil
			break
		}
	}
	cb, err := spec.Callback(w)
	if err != nil {
		return nil, nil, fmt.Errorf("%s callback_dialect: %w", where, err)
	}
	if retry.Attempts == 0 {
		retry = delivery.DefaultRetryPolicy
	}
	policies[CallbackReceiver] = delivery.Policy{Retry: retry, AllowPrivate: cfg.API.AllowPrivate}
	return append(receivers, engine.Receiver{Name: CallbackReceiver, Renderer: cb}), []engine.Option{engine.WithStage(reg)}, nil
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
