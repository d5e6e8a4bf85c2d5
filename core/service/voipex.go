package service

import (
	"fmt"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/dialect/voipex"
	"github.com/callhook/callhook/core/engine"
)

// newVOIPEX builds a voipex renderer: JSON only (the document's format),
// no profiles, the event subset checked against the document's names, and
// the [extension.NUM] directory for Login and Email.
func newVOIPEX(cfg *config.Config, w config.Webhook) (engine.Renderer, error) {
	where := fmt.Sprintf("%s:%d: [webhook.%s]", cfg.File, w.Line, w.Name)
	if w.Format != "" && w.Format != "json" {
		return nil, fmt.Errorf("%s format: voipex webhooks are JSON (got %q)", where, w.Format)
	}
	if w.Profile != "" && w.Profile != "default" {
		return nil, fmt.Errorf("%s profile: voipex has no profiles (got %q)", where, w.Profile)
	}
	if err := voipex.CheckEvents(w.Events); err != nil {
		return nil, fmt.Errorf("%s events: %w", where, err)
	}
	dir := voipex.Directory{}
	for num, e := range cfg.Extensions {
		dir[num] = voipex.User{Login: e.Login, Email: e.Email}
	}
	opts := []voipex.Option{voipex.WithDirectory(dir)}
	if len(w.Events) > 0 {
		opts = append(opts, voipex.WithEvents(w.Events))
	}
	if cfg.PBX.Timezone != nil {
		opts = append(opts, voipex.WithLocation(cfg.PBX.Timezone))
	}
	return voipex.New(w.Name, w.URL, opts...), nil
}
