package callcontrol

import (
	"fmt"
	"strings"
	"time"

	"github.com/callhook/callhook/core/connector"
)

// keys of a [pbx] section of type 3cx.
var keys = map[string]connector.Key{
	"url": {Doc: "the PBX's web address, e.g. https://pbx.example.com (its FQDN, with the port when not 443)",
		Required: true, Check: checkURL},
	"client_id":     {Doc: "the API client's Client ID (Integrations > API; the route point's DN)", Required: true},
	"client_secret": {Doc: "the API client's key, shown once when the client is created", Required: true, Secret: true},
	"xapi": {Doc: "on (default): read forwarding, queue log-in, extensions, queue agents and the call log from the " +
		"configuration API (XAPI access needed); off: calls only", Check: checkOnOff},
	"status_interval": {Doc: "how often XAPI is read for status changes besides the moments the event stream prompts it (default 5s)",
		Check: checkInterval},
}

func checkOnOff(v string) error {
	switch strings.ToLower(v) {
	case "on", "off", "yes", "no", "true", "false":
		return nil
	}
	return fmt.Errorf("want on or off, got %q", v)
}

func checkInterval(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 100*time.Millisecond {
		return fmt.Errorf("want a duration of at least 100ms, e.g. 5s, got %q", v)
	}
	return nil
}

func init() {
	connector.Register(connector.Spec{
		Type: "3cx",
		Doc:  "3CX v20's Call Control API (events, MakeCall) and configuration API (XAPI: status)",
		Keys: keys,
		New: func(p connector.PBX) (connector.Connector, error) {
			cfg := Config{
				URL: p.Option("url"), ClientID: p.Option("client_id"), ClientSecret: Secret(p.Option("client_secret")),
				Location: p.Location, Logger: p.Logger,
			}
			switch strings.ToLower(p.Option("xapi")) {
			case "off", "no", "false":
				cfg.NoXAPI = true
			}
			if v := p.Option("status_interval"); v != "" {
				cfg.StatusInterval, _ = time.ParseDuration(v)
			}
			return New(cfg)
		},
	})
}
